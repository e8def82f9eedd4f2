/**
 * Test support for several relay replicas on one PostgreSQL database: each replica is its own
 * process (`qrpos relay` from the source, so `kill -9` is real), and terminals are WebSocket
 * clients that reconnect from their cursor the way the terminal daemon does.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { ServerMessageSchema, type RelayEvent } from '../../link/protocol';
import { freePort } from '../../shared/testing/free-port';
import { until } from './testkit';

const ROOT = path.resolve(__dirname, '../../..');

export interface ReplicaOptions {
  /** A folder of its own (config, secrets, data). */
  dir: string;
  omise: { url: string; secretKey: string; webhookSecret: string };
  /** The PostgreSQL URL every replica shares. */
  storeUrl: string;
  adminToken: string;
  /** Extra relay config fields. */
  config?: Record<string, unknown>;
  /** Starts the process (a benchmark runs it under a CPU limit); default child_process.spawn. */
  spawn?: (cmd: string, args: string[], opts: SpawnOptions) => ChildProcess;
}

export interface ReplicaProcess {
  readonly url: string;
  readonly port: number;
  readonly proc: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGKILL: no shutdown of any kind. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `qrpos relay` with a config of its own and waits until /healthz answers. */
export async function spawnReplica(o: ReplicaOptions): Promise<ReplicaProcess> {
  fs.mkdirSync(o.dir, { recursive: true });
  const port = await freePort();
  const secretsFile = path.join(o.dir, 'relay.secrets.json');
  fs.writeFileSync(secretsFile, JSON.stringify({ omiseSecretKey: o.omise.secretKey, webhookSecret: o.omise.webhookSecret, adminToken: o.adminToken, storeUrl: o.storeUrl }), {
    mode: 0o600,
  });
  const configFile = path.join(o.dir, 'relay.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      version: 1,
      listen: { host: '127.0.0.1', port },
      country: 'TH',
      omise: { baseUrl: o.omise.url, timeoutMs: 5000 },
      dataDir: path.join(o.dir, 'data'),
      secretsFile,
      store: 'postgres',
      heartbeatMs: 1000,
      pairing: { perAddressBurst: 1000, maxPendingPerAddress: 1000, globalBurst: 1000 },
      ...o.config,
    }),
  );
  const proc = (o.spawn ?? spawn)(process.execPath, ['--import', 'tsx', '-e', `require('./src/cli/main').main(process.argv.slice(1)).then((c) => process.exit(c))`, 'relay', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, NOTIFY_SOCKET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await until(
    async () => {
      if (proc.exitCode !== null) throw new Error(`replica exited with ${proc.exitCode}: ${out}`);
      return (await fetch(`${url}/healthz`).catch(() => null))?.ok;
    },
    'the replica to answer',
    60_000,
    100,
  );
  return {
    url,
    port,
    proc,
    output: () => out,
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A terminal's link as the daemon keeps it: it connects from the last sequence number it
 * received, acknowledges every event, answers pings, and reconnects (to whichever replica the
 * balancer picks) when the connection drops, when the handshake does not finish in time, or when
 * the relay goes quiet for longer than its heartbeat allows (as the daemon does).
 */
export class LiveTerminal {
  /** Every event received, in order. */
  readonly events: { seq: number; event: RelayEvent }[] = [];
  /** Events received again with a sequence number already seen. */
  duplicates = 0;
  connects = 0;
  lastSeq = 0;
  /** Told each new event as it arrives (a benchmark times them). */
  onEvent: ((seq: number, event: RelayEvent) => void) | undefined;
  /** Connections given up: handshakes that did not finish, links that went quiet. */
  timeouts = 0;
  private ws: WebSocket | undefined;
  private stopped = false;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly credential: string,
    /** The relays' heartbeat interval (the replicas here are started with 1 s). */
    private readonly heartbeatMs = 1000,
  ) {}

  start(): void {
    if (this.stopped) return;
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/v1/stream?after=${this.lastSeq}`, {
      headers: { authorization: `Bearer ${this.credential}` },
      handshakeTimeout: Math.max(2000, this.heartbeatMs * 2),
    });
    this.ws = ws;
    let heardAt = Date.now();
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (Date.now() - heardAt <= this.heartbeatMs * 3 || ws.readyState !== WebSocket.OPEN) return;
      this.timeouts++;
      ws.terminate();
    }, this.heartbeatMs);
    ws.on('open', () => {
      this.connects++;
      heardAt = Date.now();
    });
    // The relay probes a quiet link with WebSocket pings (the ws stack answers them).
    ws.on('ping', () => (heardAt = Date.now()));
    ws.on('message', (data: WebSocket.RawData) => {
      heardAt = Date.now();
      const m = ServerMessageSchema.parse(JSON.parse((data as Buffer).toString('utf8')));
      if (m.type === 'ping') return ws.send(JSON.stringify({ type: 'pong', at: new Date().toISOString() }));
      if (m.type !== 'event') return;
      if (m.seq <= this.lastSeq) {
        this.duplicates++;
      } else {
        this.lastSeq = m.seq;
        this.events.push({ seq: m.seq, event: m.event });
        this.onEvent?.(m.seq, m.event);
      }
      ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
    });
    ws.on('error', (err) => {
      if (/timed out/i.test(err.message)) this.timeouts++;
    });
    ws.on('close', () => {
      if (this.ws === ws) clearInterval(this.watchdog);
      if (!this.stopped) setTimeout(() => this.start(), 100);
    });
  }

  /** How the link stands, for a test that failed. */
  describe(): string {
    const states = ['connecting', 'open', 'closing', 'closed'];
    const kinds = new Map<string, number>();
    for (const { event } of this.events) {
      const k = event.kind === 'sale.updated' ? `sale ${event.sale.status}` : event.kind;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    const told = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
    return `connects ${this.connects}, timeouts ${this.timeouts}, last seq ${this.lastSeq}, ${this.events.length} events (${told}), link ${this.ws ? states[this.ws.readyState] : 'none'}`;
  }

  /** The sales this terminal was told reached `status`, with how many times each. */
  salesWith(status: string): Map<string, number> {
    const n = new Map<string, number>();
    for (const { event } of this.events) {
      if (event.kind === 'sale.updated' && event.sale.status === status) n.set(event.sale.saleId, (n.get(event.sale.saleId) ?? 0) + 1);
    }
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.terminate();
    });
  }
}
