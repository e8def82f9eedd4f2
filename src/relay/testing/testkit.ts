/**
 * Test support for the relay: a real simulator, a real relay on loopback, terminals paired
 * through the real pairing API, and WebSocket clients. Used by the relay's tests and benchmark.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { ServerMessageSchema, type ServerMessage } from '../../link/protocol';
import { memoryLogger, type Logger } from '../../shared/log';
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '../../simulator/server';
import { parseRelayConfig, type RelayConfig, type RelayConfigInput, type RelaySecrets } from '../config';
import { startRelay, type RelayHandle } from '../server';
import type { RelayStore } from '../store';
import { command as relayCommand } from '../cli';

/** Polls `fn` until it returns something truthy, or fails after `timeoutMs`. */
export async function until<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A clock that ticks with real time from a chosen instant and can be moved: the relay and the
 * simulator of a rig share one, so a test's result never depends on the hour it runs at.
 */
export class TestClock {
  private offsetMs: number;
  constructor(start: Date) {
    this.offsetMs = start.getTime() - Date.now();
  }
  /** 10:00 UTC today (the void window of a charge made now is open for six hours). */
  static morning(): TestClock {
    const d = new Date();
    return new TestClock(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 10, 0, 0)));
  }
  readonly now = (): Date => new Date(Date.now() + this.offsetMs);
  set(at: Date): void {
    this.offsetMs = at.getTime() - Date.now();
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export class TestTerminal {
  readonly messages: ServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData) => {
      this.messages.push(ServerMessageSchema.parse(JSON.parse((data as Buffer).toString('utf8'))));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  events(): Extract<ServerMessage, { type: 'event' }>[] {
    return this.messages.filter((m): m is Extract<ServerMessage, { type: 'event' }> => m.type === 'event');
  }

  /** Waits for a condition over received messages, woken by each message. */
  async waitFor<T>(fn: () => T, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  ack(seq: number): void {
    this.ws.send(JSON.stringify({ type: 'ack', seq }));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

export function connectStream(baseUrl: string, credential: string, after?: number): Promise<TestTerminal> {
  const u = `${baseUrl.replace(/^http/, 'ws')}/v1/stream${after !== undefined ? `?after=${after}` : ''}`;
  const ws = new WebSocket(u, { headers: { authorization: `Bearer ${credential}` } });
  const t = new TestTerminal(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(t));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`stream refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export interface ApiResult<T = unknown> {
  status: number;
  body: T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
export async function call<T = any>(baseUrl: string, method: string, p: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiResult<T>> {
  const res = await fetch(baseUrl + p, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';

export interface Rig {
  dir: string;
  sim: SimulatorHandle;
  relay: RelayHandle;
  config: RelayConfig;
  secrets: RelaySecrets;
  log: ReturnType<typeof memoryLogger>;
  /** Pairs a terminal through the HTTP API and the operator's approval. */
  pair(name?: string): Promise<{ terminalId: string; credential: string }>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON answers
  api<T = any>(method: string, p: string, credential: string, body?: unknown): Promise<ApiResult<T>>;
  restartRelay(): Promise<RelayHandle>;
  close(): Promise<void>;
}

export async function startRig(
  opts: {
    config?: Partial<RelayConfigInput>;
    sim?: SimulatorOptions;
    relayLog?: Logger;
    omiseTimeoutMs?: number;
    clock?: TestClock;
    /** The relay's store, opened anew at each (re)start (default: the config's, SQLite in dataDir). */
    store?: (config: RelayConfig) => RelayStore;
  } = {},
): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-'));
  const log = memoryLogger('debug');
  const clock = opts.clock?.now;
  const sim = await startSimulator({ country: 'TH', clock, ...opts.sim });
  const config = parseRelayConfig({
    version: 1,
    listen: { host: '127.0.0.1', port: 0 },
    country: 'TH',
    omise: { baseUrl: sim.url, timeoutMs: opts.omiseTimeoutMs ?? 2000 },
    dataDir: path.join(dir, 'data'),
    heartbeatMs: 1000,
    statusStaleMs: 0,
    reconcile: { intervalMs: 3_600_000, webhookOverdueMs: 0 },
    shutdownGraceMs: 1000,
    // Tests pair many terminals from 127.0.0.1; pairing-limits.test.ts sets the limits it tests.
    pairing: { perAddressBurst: 1000, maxPendingPerAddress: 1000, globalBurst: 1000 },
    ...opts.config,
  });
  const secrets: RelaySecrets = {
    omisePublicKey: sim.publicKey,
    omiseSecretKey: sim.secretKey,
    webhookSecret: sim.webhookSecret,
    adminToken: ADMIN_TOKEN,
  };
  const start = () => startRelay({ config, secrets, log: opts.relayLog ?? log, clock, ...(opts.store ? { store: opts.store(config) } : {}) });
  const rig: Rig = {
    dir,
    sim,
    relay: await start(),
    config,
    secrets,
    log,
    async pair(name = 'till-1') {
      const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name, version: '0.1.0', device: 'test' } });
      if (started.status !== 201) throw new Error(`pair: ${started.status}`);
      await rig.relay.approvePairing(started.body.code);
      const polled = await call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
      if (polled.body.status !== 'approved') throw new Error('pair: not approved');
      return { terminalId: polled.body.terminalId as string, credential: polled.body.credential as string };
    },
    api(method, p, credential, body) {
      return call(rig.relay.url, method, p, { token: credential, body });
    },
    async restartRelay() {
      await rig.relay.stop();
      rig.relay = await start();
      sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
      return rig.relay;
    },
    async close() {
      await rig.relay.stop();
      await sim.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
  return rig;
}

let saleCounter = 0;
export function newSaleId(prefix = 'sale'): string {
  saleCounter++;
  return `${prefix}_${Date.now().toString(36)}_${saleCounter}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * What the relay's logs so far leak: its secrets, any of `more`, a QR download URL (named, not
 * quoted, so a failing test does not print them). Empty when clean; a log with no lines at all
 * counts as a problem, since it would prove nothing.
 */
export function logLeaks(rig: Rig, more: string[] = []): string[] {
  const all = rig.log.lines.join('\n');
  const secrets: [string, string | undefined][] = [
    ['Omise secret key', rig.secrets.omiseSecretKey],
    ['Omise public key', rig.secrets.omisePublicKey],
    ['webhook secret', rig.secrets.webhookSecret],
    ['admin token', rig.secrets.adminToken],
    ...more.map((m, i): [string, string] => [`extra secret #${i + 1}`, m]),
  ];
  const leaks = secrets.filter(([, v]) => v && all.includes(v)).map(([name]) => name);
  if (/\/downloads\//.test(all)) leaks.push('a QR download URL');
  if (!rig.log.lines.length) leaks.push('no log lines at all');
  return leaks;
}

/**
 * The config file the operator CLI reads for the rig's relay: the relay's data directory, its
 * listen address (where the admin API answers) and a secrets file with the admin token.
 */
export function operatorConfig(rig: Rig): string {
  const configFile = path.join(rig.dir, 'relay.json');
  const secretsFile = path.join(rig.dir, 'relay.secrets.json');
  fs.writeFileSync(secretsFile, JSON.stringify(rig.secrets), { mode: 0o600 });
  fs.writeFileSync(
    configFile,
    JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, heartbeatMs: rig.config.heartbeatMs, listen: { host: '127.0.0.1', port: rig.relay.port }, secretsFile, omise: { baseUrl: rig.sim.url } }),
  );
  return configFile;
}

/** Runs `qrpos relay …` in this process and returns its exit code and what it printed. */
export async function relayCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  process.stdout.write = (s: string | Uint8Array) => ((out += String(s)), true);
  process.stderr.write = (s: string | Uint8Array) => ((err += String(s)), true);
  try {
    return { code: await relayCommand.run(argv), out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}
