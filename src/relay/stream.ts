/**
 * The event stream: one WebSocket per terminal, events pushed in sequence order from the store,
 * cumulative acks, heartbeats. Delivery is at least once: an event leaves the store only when
 * acknowledged, and a reconnect with `after=<last acked>` replays everything after it.
 *
 * Acks are written in small batches (every ACK_FLUSH_MS): losing an ack only means a redelivery,
 * and batching keeps fsyncs off the hot path when thousands of terminals ack at once.
 */
import type { PaymentMethod } from '../domain/methods';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { ClientMessageSchema, type ServerMessage } from '../link/protocol';
import type { Logger } from '../shared/log';
import type { GroupCommit } from './group-commit';
import type { RelayMetrics } from './metrics';
import type { RelayStore, StoredEvent, TerminalRow } from './store';

const BATCH = 200;
const ACK_FLUSH_MS = 20;
/** Stop writing to a socket that is this far behind; resume when it drains. */
const HIGH_WATER = 1 << 20;
/**
 * A failed read of a terminal's events (the store busy or briefly unreachable) is tried again
 * after this long, doubling up to READ_RETRY_MAX_MS: nothing else would send those events until
 * the terminal's next one is published, which may be never.
 */
const READ_RETRY_MS = 200;
const READ_RETRY_MAX_MS = 5000;
/**
 * Terminal rows are written in one order, by id, in every transaction that writes several of them
 * (acks, last-seen times). On PostgreSQL two such transactions running at once (a relay's acks
 * beside its last-seen times, or beside another relay's acks) otherwise lock the same rows in
 * opposite orders and deadlock. Each deadlock waits out PostgreSQL's deadlock_timeout (1 s) before
 * one side is retried; under load they kept each other going for over a minute while the
 * publishes of new events waited for the same rows, and paid sales reached their terminals a
 * minute late.
 */
function inTerminalOrder<T>(items: T[], id: (item: T) => string): T[] {
  return items.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}
/**
 * An ack exactly as terminals serialise it (anything else goes through the schema): a JSON
 * integer (no leading zero) small enough to be exact.
 */
const ACK_FRAME = /^\{"type":"ack","seq":(0|[1-9]\d{0,14})\}$/;
export const CLOSE_REVOKED = 4401;
export const CLOSE_REPLACED = 4409;
export const CLOSE_SHUTDOWN = 1001;

interface Conn {
  ws: WebSocket;
  terminalId: string;
  sentSeq: number;
  /** The highest seq this connection knows to be stored; above sentSeq means a pump is due. */
  knownSeq: number;
  lastHeard: number;
  lastPing: number;
  pumping: boolean;
  /** Something was committed while a pump's read was in flight: read again before stopping. */
  again: boolean;
  /** Reads of its events that failed in a row (each retried later). */
  readFailures: number;
  address: string | null;
  slot: number;
  lastSeenWritten: number;
}

/**
 * Heartbeat work is spread over ticks about this far apart (at least 10 per half interval), not
 * done for all at once: with 5,000 terminals and 10 slices, each tick pinged 500 sockets (1,000
 * writes) and stalled every other message by tens of milliseconds.
 */
const HEARTBEAT_TICK_MS = 50;
const MIN_SLICES = 10;

export interface StreamOptions {
  store: RelayStore;
  log: Logger;
  metrics: RelayMetrics;
  clock: () => Date;
  heartbeatMs: number;
  /** Shares commits with the other writers (acks and last-seen times are not urgent). */
  commit: GroupCommit;
  /** The payment methods the terminal may offer, told in hello (absent: hello names none). */
  methodsOf?: (terminal: TerminalRow) => PaymentMethod[];
}

export class StreamHub {
  private readonly conns = new Map<string, Conn>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false, clientTracking: false });
  private readonly pendingAcks = new Map<string, number>();
  private ackTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly slices: number;
  private readonly slots: Set<Conn>[];
  private nextSlot = 0;
  private tickNo = 0;
  private stopped = false;

  constructor(private readonly o: StreamOptions) {
    this.slices = Math.max(MIN_SLICES, Math.round(o.heartbeatMs / 2 / HEARTBEAT_TICK_MS));
    this.slots = Array.from({ length: this.slices }, () => new Set<Conn>());
  }

  get connectedCount(): number {
    return this.conns.size;
  }

  isConnected(terminalId: string): boolean {
    return this.conns.has(terminalId);
  }

  start(): void {
    this.o.store.watchEvents?.((terminalId) => this.onExternalEvents(terminalId));
    // Every connection is visited once per half interval (in slices, so thousands of terminals do
    // not stall the loop at once): a silent peer is dropped within two intervals of its last frame.
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(5, Math.floor(this.o.heartbeatMs / 2 / this.slices)));
    this.heartbeatTimer.unref();
  }

  /** Takes over an HTTP upgrade already authenticated by the caller. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, terminal: TerminalRow, after: number, address: string | null): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.attach(ws, terminal, after, address).catch((err: unknown) => {
        this.o.log.error('stream: could not attach the terminal', { terminalId: terminal.id, error: err });
        ws.close(1011, 'try again');
      });
    });
  }

  private async attach(ws: WebSocket, terminal: TerminalRow, after: number, address: string | null): Promise<void> {
    if (this.stopped) {
      ws.close(CLOSE_SHUTDOWN, 'shutting down');
      return;
    }
    const id = terminal.id;
    // The resume point is an ack of everything up to it; a terminal claiming more than exists
    // (a restored relay database) is answered from what the relay has, and hello tells it lastSeq.
    const fresh = (await this.o.store.terminalById(id)) ?? terminal;
    if (this.stopped) {
      ws.close(CLOSE_SHUTDOWN, 'shutting down');
      return;
    }
    const prev = this.conns.get(id);
    if (prev) prev.ws.close(CLOSE_REPLACED, 'replaced by a newer connection');
    const start = Math.max(0, Math.min(after, fresh.lastSeq));
    if (start > 0) this.queueAck(id, start);
    const now = Date.now();
    const slot = this.nextSlot++ % this.slices;
    const conn: Conn = { ws, terminalId: id, sentSeq: start, knownSeq: fresh.lastSeq, lastHeard: now, lastPing: now, pumping: false, again: false, readFailures: 0, address, slot, lastSeenWritten: now };
    this.conns.set(id, conn);
    this.slots[slot].add(conn);
    this.touch(id, { address });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(conn, data, isBinary));
    ws.on('pong', () => {
      conn.lastHeard = Date.now();
    });
    ws.on('ping', () => {
      conn.lastHeard = Date.now();
    });
    ws.on('error', (err) => this.o.log.debug('stream socket error', { terminalId: id, error: err.message }));
    ws.on('close', () => {
      this.slots[slot].delete(conn);
      if (this.conns.get(id) === conn) {
        this.conns.delete(id);
        if (!this.stopped) this.touch(id, {});
      }
    });
    const methods = this.o.methodsOf?.(fresh);
    this.send(conn, {
      type: 'hello',
      terminalId: id,
      lastSeq: fresh.lastSeq,
      heartbeatMs: this.o.heartbeatMs,
      serverTime: this.o.clock().toISOString(),
      ...(methods ? { methods } : {}),
    });
    this.o.log.info('terminal connected', { terminalId: id, after: start, lastSeq: fresh.lastSeq });
    this.pump(conn);
  }

  private touch(terminalId: string, info: { address?: string | null }): void {
    const at = this.o.clock().toISOString();
    this.o.commit.run(() => this.o.store.touchTerminal(terminalId, at, info)).catch((err: unknown) => {
      this.o.log.warn('could not record last-seen time', { terminalId, error: err });
    });
  }

  private send(conn: Conn, msg: ServerMessage): void {
    conn.ws.send(JSON.stringify(msg));
  }

  /** An event frame built around the stored JSON (no parse/stringify round trip). */
  private sendEvent(conn: Conn, ev: StoredEvent): void {
    const body = ev.body ?? JSON.stringify(ev.event);
    conn.ws.send(`{"type":"event","seq":${ev.seq},"at":${JSON.stringify(ev.at)},"event":${body}}`);
  }

  private onMessage(conn: Conn, data: RawData, isBinary: boolean): void {
    conn.lastHeard = Date.now();
    if (isBinary) return;
    const text = (data as Buffer).toString('utf8');
    // Acks are most of what terminals send: the exact form they are sent in skips the schema.
    const ack = ACK_FRAME.exec(text);
    if (ack) return this.onAck(conn, Number(ack[1]));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.o.log.debug('stream: non-JSON frame ignored', { terminalId: conn.terminalId });
      return;
    }
    const r = ClientMessageSchema.safeParse(parsed);
    if (!r.success) {
      this.o.log.debug('stream: unknown message ignored', { terminalId: conn.terminalId });
      return;
    }
    const msg = r.data;
    if (msg.type === 'ping') this.send(conn, { type: 'pong', at: this.o.clock().toISOString() });
    else if (msg.type === 'ack') this.onAck(conn, msg.seq);
  }

  private onAck(conn: Conn, acked: number): void {
    // Acking what was never sent would drop events the terminal has not seen.
    const seq = Math.min(acked, conn.sentSeq);
    if (seq > 0) this.queueAck(conn.terminalId, seq);
    // Only when something is known to be waiting: a store read per ack would cost every
    // terminal a query per event.
    if (conn.knownSeq > conn.sentSeq && conn.ws.bufferedAmount < HIGH_WATER) this.pump(conn);
  }

  private queueAck(terminalId: string, seq: number): void {
    const prev = this.pendingAcks.get(terminalId) ?? 0;
    if (seq > prev) this.pendingAcks.set(terminalId, seq);
    if (!this.ackTimer) {
      this.ackTimer = setTimeout(() => void this.flushAcks(), ACK_FLUSH_MS);
      this.ackTimer.unref();
    }
  }

  /** Writes the queued acks: through the group commit, or in a transaction of their own (`direct`, at stop). */
  flushAcks(direct = false): Promise<void> {
    this.ackTimer = undefined;
    if (!this.pendingAcks.size) return Promise.resolve();
    const acks = inTerminalOrder([...this.pendingAcks], ([t]) => t);
    this.pendingAcks.clear();
    const write = async () => {
      let n = 0;
      for (const [t, seq] of acks) n += await this.o.store.ack(t, seq);
      return n;
    };
    const fail = (err: unknown) => this.o.log.error('could not store acks (events will be redelivered)', { error: err });
    return (direct ? this.o.store.transaction(write) : this.o.commit.run(write)).then((removed) => this.o.metrics.eventsAcked.inc(undefined, removed), fail);
  }

  /** Called after a publish has committed. */
  notify(ev: StoredEvent): void {
    const conn = this.conns.get(ev.terminalId);
    if (!conn) return;
    if (ev.seq > conn.knownSeq) conn.knownSeq = ev.seq;
    if (!conn.pumping && ev.seq === conn.sentSeq + 1 && conn.ws.bufferedAmount < HIGH_WATER) {
      conn.sentSeq = ev.seq;
      this.sendEvent(conn, ev);
      this.o.metrics.eventsDelivered.inc();
      // Later events may be stored already: published while this one waited for its fsync, they
      // were not readable past it then, and nothing else will wake the stream for them.
      if (conn.knownSeq > conn.sentSeq) this.pump(conn);
      return;
    }
    this.pump(conn);
  }

  /**
   * Sends everything after sentSeq from the store, in batches, yielding between them. The cursor
   * (sentSeq) is what deduplicates: an event already sent directly by notify() is not read again.
   */
  private pump(conn: Conn): void {
    if (conn.pumping) {
      conn.again = true;
      return;
    }
    conn.pumping = true;
    const step = async (): Promise<void> => {
      if (this.conns.get(conn.terminalId) !== conn || conn.ws.readyState !== conn.ws.OPEN) {
        conn.pumping = false;
        return;
      }
      if (conn.ws.bufferedAmount >= HIGH_WATER) {
        setTimeout(() => void step(), 20).unref();
        return;
      }
      let events: StoredEvent[];
      conn.again = false;
      try {
        events = await this.o.store.eventsAfter(conn.terminalId, conn.sentSeq, BATCH);
      } catch (err) {
        conn.pumping = false;
        const inMs = Math.min(READ_RETRY_MAX_MS, READ_RETRY_MS * 2 ** Math.min(conn.readFailures++, 10));
        this.o.log.error('stream: reading events failed; trying again', { terminalId: conn.terminalId, inMs, error: err });
        setTimeout(() => {
          if (this.conns.get(conn.terminalId) === conn) this.pump(conn);
        }, inMs).unref();
        return;
      }
      conn.readFailures = 0;
      // The connection may have closed or been replaced while the read was in flight.
      if (this.conns.get(conn.terminalId) !== conn || conn.ws.readyState !== conn.ws.OPEN) {
        conn.pumping = false;
        return;
      }
      let revoked = false;
      for (const ev of events) {
        // notify() cannot send while pumping, but a store read may overlap one: never resend.
        if (ev.seq <= conn.sentSeq) continue;
        conn.sentSeq = ev.seq;
        this.sendEvent(conn, ev);
        if (ev.event.kind === 'terminal.updated' && ev.event.revoked) revoked = true;
      }
      if (revoked) {
        // Revoked, perhaps through another relay sharing the store: the terminal is told, then
        // its stream closes as the revoking relay closes its own.
        conn.pumping = false;
        this.kick(conn.terminalId, CLOSE_REVOKED, 'revoked');
        return;
      }
      if (conn.sentSeq > conn.knownSeq) conn.knownSeq = conn.sentSeq;
      this.o.metrics.eventsDelivered.inc(undefined, events.length);
      if (events.length === BATCH || conn.again) setImmediate(() => void step());
      else conn.pumping = false;
    };
    void step();
  }

  /**
   * Events committed by another process sharing the store (another relay replica): a terminal
   * connected here is sent what follows its cursor.
   */
  private onExternalEvents(terminalId: string): void {
    const conn = this.conns.get(terminalId);
    if (!conn) return;
    // Something past the cursor exists: acks resume the pump if it stops at the high-water mark.
    conn.knownSeq = Math.max(conn.knownSeq, conn.sentSeq + 1);
    this.pump(conn);
  }

  /** Closes a terminal's stream (revoked, or the relay stopping). */
  kick(terminalId: string, code: number, reason: string): void {
    const conn = this.conns.get(terminalId);
    if (!conn) return;
    this.conns.delete(terminalId);
    conn.ws.close(code, reason);
    // A peer that does not answer the close handshake must not keep its socket.
    setTimeout(() => conn.ws.terminate(), 1000).unref();
  }

  /**
   * Another process (the CLI) changed the database: close revoked terminals' streams and
   * deliver events it published.
   */
  async syncExternal(): Promise<void> {
    for (const conn of [...this.conns.values()]) {
      const t = await this.o.store.terminalById(conn.terminalId);
      if (!t || t.revokedAt) {
        this.o.log.info('closing stream of revoked terminal', { terminalId: conn.terminalId });
        this.kick(conn.terminalId, CLOSE_REVOKED, 'revoked');
      } else if (t.lastSeq > conn.sentSeq) {
        conn.knownSeq = Math.max(conn.knownSeq, t.lastSeq);
        this.pump(conn);
      }
    }
  }

  private heartbeat(): void {
    const now = Date.now();
    const slot = this.slots[this.tickNo++ % this.slices];
    const seen: string[] = [];
    for (const conn of [...slot]) {
      if (this.conns.get(conn.terminalId) !== conn) {
        slot.delete(conn);
        continue;
      }
      if (now - conn.lastHeard > this.o.heartbeatMs * 1.5) {
        this.o.log.info('dropping silent terminal connection', { terminalId: conn.terminalId, silentMs: now - conn.lastHeard });
        this.conns.delete(conn.terminalId);
        slot.delete(conn);
        conn.ws.terminate();
        this.touch(conn.terminalId, {});
        continue;
      }
      // Only a connection silent for half an interval is probed (at most once per half interval):
      // acks and the terminal's own pings already prove a busy one alive, and at 5,000 terminals
      // probing every one of them doubled the stream's frames. Probing at half an interval leaves
      // a whole interval for the answer before the drop above, even when a busy thread runs these
      // rounds late (waiting for a full interval of silence dropped live terminals that way).
      // A WebSocket ping frame is enough: the peer's stack answers it.
      const half = this.o.heartbeatMs / 2;
      if (now - conn.lastHeard >= half && now - conn.lastPing >= half) {
        conn.lastPing = now;
        conn.ws.ping();
      }
      if (now - conn.lastSeenWritten >= this.o.heartbeatMs) {
        conn.lastSeenWritten = now;
        seen.push(conn.terminalId);
      }
    }
    if (seen.length) {
      const ids = inTerminalOrder(seen, (t) => t);
      const at = this.o.clock().toISOString();
      this.o.commit
        .run(async () => {
          for (const id of ids) await this.o.store.touchTerminal(id, at, {});
        })
        .catch((err: unknown) => this.o.log.warn('could not record last-seen times', { error: err }));
    }
  }

  private async recordSeen(): Promise<void> {
    if (!this.conns.size) return;
    const at = this.o.clock().toISOString();
    const ids = inTerminalOrder([...this.conns.keys()], (t) => t);
    try {
      await this.o.store.transaction(async () => {
        for (const id of ids) await this.o.store.touchTerminal(id, at, {});
      });
    } catch (err) {
      this.o.log.warn('could not record last-seen times', { error: err });
    }
  }

  /**
   * Closes every stream; terminals reconnect (to this relay after a restart, or another). Resolves
   * once the last acks and last-seen times are written.
   */
  stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    if (this.ackTimer) clearTimeout(this.ackTimer);
    const written = Promise.all([this.flushAcks(true), this.recordSeen()]).then(() => undefined);
    for (const conn of this.conns.values()) {
      conn.ws.close(CLOSE_SHUTDOWN, 'relay shutting down');
      setTimeout(() => conn.ws.terminate(), 500).unref();
    }
    this.conns.clear();
    this.wss.close();
    return written;
  }
}
