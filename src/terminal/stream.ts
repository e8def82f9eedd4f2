/**
 * The relay's event stream: one authenticated WebSocket, resumed after the last sequence number
 * the journal committed. Each event is acknowledged only after `onEvent` (the journal commit)
 * returns, so a crash between the two means a redelivery, never a loss. Silence is noticed
 * within two heartbeat intervals; reconnects back off exponentially with jitter.
 */
import type { PaymentMethod } from '../domain/methods';
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { REVOKED_MESSAGE, ServerMessageSchema, type RelayEvent } from '../link/protocol';
import type { Logger } from '../shared/log';
import { backoffDelay } from '../shared/backoff';

export interface StreamOptions {
  baseUrl: string;
  credential: () => string | undefined;
  heartbeatMs: number;
  /** The last committed sequence number (read at every connect). */
  lastSeq: () => number;
  /** Commit the event; the ack is sent when this returns. Throwing drops the connection (redelivery). */
  onEvent: (seq: number, event: RelayEvent) => void | Promise<void>;
  log: Logger;
  backoff?: { baseMs: number; maxMs: number };
}

/** The close code the relay sends when it revokes the terminal (relay/stream.ts). */
const CLOSE_REVOKED = 4401;

export interface StreamEvents {
  online: [boolean];
  unauthorized: [];
  /** The relay closed the stream because the operator revoked this terminal. */
  revoked: [];
  hello: [{ terminalId: string; lastSeq: number; methods?: PaymentMethod[] }];
}

export class RelayStream extends EventEmitter<StreamEvents> {
  private ws: WebSocket | null = null;
  private running = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastHeard = 0;
  private heartbeatMs: number;
  private queue: Promise<void> = Promise.resolve();
  /** Connections on which an apply failed: nothing after the failed event may be applied from them. */
  private readonly broken = new WeakSet<WebSocket>();
  online = false;
  /** Highest sequence acknowledged on this connection, for the status endpoint. */
  lastAcked = 0;

  constructor(private readonly opts: StreamOptions) {
    super();
    this.heartbeatMs = opts.heartbeatMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      await new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        const t = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        ws.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        ws.close(1001, 'terminal stopping');
      });
    }
    this.setOnline(false);
    await this.queue.catch(() => undefined);
  }

  /** Drop the connection now and reconnect (tests, re-pair). */
  kick(): void {
    this.ws?.terminate();
  }

  private setOnline(v: boolean): void {
    if (this.online === v) return;
    this.online = v;
    this.emit('online', v);
  }

  private connect(): void {
    if (!this.running) return;
    const cred = this.opts.credential();
    if (!cred) {
      this.scheduleReconnect();
      return;
    }
    const url = new URL(this.opts.baseUrl.replace(/\/+$/, '') + '/v1/stream');
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('after', String(this.opts.lastSeq()));
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${cred}` }, handshakeTimeout: Math.max(2000, this.heartbeatMs * 2) });
    this.ws = ws;
    this.lastHeard = Date.now();
    ws.on('unexpected-response', (_req, res) => {
      this.opts.log.warn('relay refused the stream', { status: res.statusCode });
      if (res.statusCode !== 401 && res.statusCode !== 403) {
        res.resume();
        ws.terminate();
        return;
      }
      // The answer says whether the operator revoked this terminal (the screen then says so).
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.once('close', () => {
        this.emit(body.includes(REVOKED_MESSAGE) ? 'revoked' : 'unauthorized');
        ws.terminate();
      });
    });
    ws.on('message', (data) => {
      this.lastHeard = Date.now();
      this.onMessage(ws, String(data));
    });
    ws.on('ping', () => {
      this.lastHeard = Date.now();
    });
    ws.on('pong', () => {
      this.lastHeard = Date.now();
    });
    ws.on('error', (err) => {
      this.opts.log.debug('stream error', { error: err.message });
    });
    ws.on('close', (code) => {
      if (code === CLOSE_REVOKED) this.emit('revoked');
      if (this.ws === ws) this.ws = null;
      this.stopHeartbeat();
      this.setOnline(false);
      this.scheduleReconnect();
    });
  }

  private onMessage(ws: WebSocket, text: string): void {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.opts.log.warn('stream: message is not JSON; dropped');
      return;
    }
    const parsed = ServerMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.opts.log.warn('stream: unknown message; dropped', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).slice(0, 3) });
      return;
    }
    const msg = parsed.data;
    switch (msg.type) {
      case 'hello':
        this.attempt = 0;
        if (msg.heartbeatMs > 0) this.heartbeatMs = Math.min(this.opts.heartbeatMs, msg.heartbeatMs);
        this.startHeartbeat(ws);
        this.emit('hello', { terminalId: msg.terminalId, lastSeq: msg.lastSeq, ...(msg.methods ? { methods: msg.methods } : {}) });
        this.setOnline(true);
        break;
      case 'ping':
        this.send(ws, { type: 'pong', at: new Date().toISOString() });
        break;
      case 'pong':
        break;
      case 'event': {
        const { seq, event } = msg;
        // Events are applied strictly one after another, in arrival order.
        this.queue = this.queue.then(async () => {
          if (this.ws !== ws || this.broken.has(ws)) return;
          try {
            await this.opts.onEvent(seq, event);
          } catch (err) {
            // Applying a later event now would move the cursor past this one and lose it.
            this.broken.add(ws);
            this.opts.log.error('stream: applying an event failed; reconnecting for redelivery', { seq, error: (err as Error).message });
            ws.terminate();
            return;
          }
          this.lastAcked = Math.max(this.lastAcked, seq);
          this.send(ws, { type: 'ack', seq });
        });
        break;
      }
    }
  }

  private send(ws: WebSocket, msg: unknown): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  private startHeartbeat(ws: WebSocket): void {
    this.stopHeartbeat();
    // Ping when quiet for half an interval; give up after 1.5 intervals of silence, so a dead
    // link is noticed within two heartbeat intervals.
    this.heartbeatTimer = setInterval(() => {
      const quiet = Date.now() - this.lastHeard;
      if (quiet > this.heartbeatMs * 1.5) {
        this.opts.log.warn('stream: no sign of life; reconnecting', { heartbeatMs: this.heartbeatMs, quietMs: quiet });
        ws.terminate();
        return;
      }
      if (quiet >= this.heartbeatMs / 2) this.send(ws, { type: 'ping', at: new Date().toISOString() });
    }, Math.max(25, Math.floor(this.heartbeatMs / 4)));
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer) return;
    const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: 500, maxMs: 30_000 };
    const delay = backoffDelay(this.attempt++, baseMs, maxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }
}
