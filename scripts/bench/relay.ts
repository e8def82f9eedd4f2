/**
 * Relay benchmark: `npx tsx scripts/bench/relay.ts [--terminals 5000] [--rate 500] [--seconds 10]`
 *
 * The relay runs in a child process (so its memory is measured alone) with its SQLite database
 * on the real disk (WAL, synchronous=FULL). The Omise simulator runs in a second child process,
 * because in production Omise is a remote service: its CPU work (answering the relay's
 * GET /charges/:id) must not delay the terminals' receive timestamps. This process runs only the
 * terminals (real `ws` clients) and the webhook sender. Terminals are paired directly through
 * the store, and the sales with their pending charges are made beforehand (charges created and
 * paid through the simulator's HTTP API, sale rows in the store), so the measured part is only: signed webhook posted → relay verifies, stores, fetches
 * the charge from the simulator, stores the result, publishes → event arrives at the terminal.
 *
 * Needs about 2 × terminals file descriptors; `ulimit -n` must allow that (20000 on the dev VM).
 * `--data-dir /dev/shm` puts the database on tmpfs (to separate disk from CPU effects);
 * BENCH_PROF=<dir> writes a CPU profile of the relay process during the measured part there
 * and prints its top functions by self time (the profiler slows the relay a little).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { Session } from 'node:inspector';
import fs from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { ServerMessage } from '../../src/link/protocol';
import { OmiseClient } from '../../src/omise/client';
import { signWebhook } from '../../src/omise/webhook-signature';
import { parseFlags } from '../../src/shared/args';
import { createLogger } from '../../src/shared/log';
import { startSimulator } from '../../src/simulator/server';
import { hashToken, randomToken } from '../../src/relay/pairing';
import { startRelay, type RelayHandle } from '../../src/relay/server';
import { parseRelayConfig } from '../../src/relay/config';
import { connectInHalves } from './lib/halves';

type Msg = { id: number; cmd: string; [k: string]: unknown };
/** A pending sale made before the measured part: its paid charge and the QR document it holds. */
export type PreparedSale = { terminalId: string; saleId: string; chargeId: string; amount: number; createdAt: string; expiresAt: string; qrSvg: string };

// ---------------------------------------------------------------- child: the relay under test

async function child(): Promise<void> {
  let relay: RelayHandle | undefined;
  let profiler: Session | undefined;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let elu = performance.eventLoopUtilization();
  // GC pauses stop the relay's thread like any other work; counted while measuring.
  const gcs: number[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push(e.duration);
  }).observe({ entryTypes: ['gc'] });
  const reply = (id: number, body: unknown) => process.send!({ id, body });
  const gc = () => {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  };
  process.on('message', (raw: Msg) => {
    void (async () => {
      const m = raw;
      switch (m.cmd) {
        case 'start': {
          // QRPOS_BENCH_RELAY_LOG: the relay logs (warnings and up) to stdout, which relay-vs-smee then keeps.
          const log = process.env.QRPOS_BENCH_RELAY_LOG ? createLogger({ level: 'warn' }) : undefined;
          relay = await startRelay({ config: parseRelayConfig(m.config, 'bench relay config'), secrets: m.secrets as never, ...(log ? { log } : {}) });
          return reply(m.id, { url: relay.url });
        }
        case 'loop-reset':
          gcs.length = 0;
          loop.reset();
          elu = performance.eventLoopUtilization();
          return reply(m.id, true);
        case 'elu':
          // The main thread's busy share since loop-reset (the other threads are in 'cpu').
          return reply(m.id, performance.eventLoopUtilization(elu).utilization);
        case 'loop':
          return reply(m.id, { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 });
        case 'cpu':
          return reply(m.id, process.cpuUsage());
        case 'io': {
          // Bytes this process handed to write calls (wchar) and sent to storage (write_bytes).
          const io = fs.existsSync('/proc/self/io') ? fs.readFileSync('/proc/self/io', 'utf8') : '';
          const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)`, 'm').exec(io)?.[1] ?? NaN);
          const redo = (relay?.store as { redoStats?: () => unknown } | undefined)?.redoStats?.();
          return reply(m.id, { wchar: field('wchar'), writeBytes: field('write_bytes'), redo });
        }
        case 'prof-start': {
          profiler = new Session();
          profiler.connect();
          const post = (method: string, params?: object) =>
            new Promise<unknown>((resolve, reject) => profiler!.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
          await post('Profiler.enable');
          await post('Profiler.setSamplingInterval', { interval: 200 });
          await post('Profiler.start');
          return reply(m.id, true);
        }
        case 'prof-stop': {
          const s = profiler!;
          const r = await new Promise<{ profile: object }>((resolve, reject) =>
            s.post('Profiler.stop', (err, v) => (err ? reject(err) : resolve(v))),
          );
          s.disconnect();
          const file = path.join(m.dir as string, `relay-measured-${process.pid}.cpuprofile`);
          fs.writeFileSync(file, JSON.stringify(r.profile));
          return reply(m.id, file);
        }
        case 'diag': {
          // Why events did not arrive: each charge's sale, its terminal's cursors and waiting events.
          const store = relay!.store;
          const out = [];
          for (const chargeId of m.chargeIds as string[]) {
            const sale = await store.saleByChargeId(chargeId);
            const t = sale && (await store.terminalById(sale.terminalId));
            const waiting = t ? await store.eventsAfter(t.id, t.ackedSeq, 5) : [];
            const unsynced = (store as unknown as { unsynced?: Map<string, unknown> }).unsynced;
            out.push({ chargeId, status: sale?.status, terminal: t?.id, lastSeq: t?.lastSeq, ackedSeq: t?.ackedSeq, waiting: waiting.map((e) => e.seq), unsynced: t ? unsynced?.get(t.id) : undefined, unsyncedTerminals: unsynced?.size });
          }
          return reply(m.id, out);
        }
        case 'mem': {
          gc();
          await new Promise((r) => setTimeout(r, 200));
          gc();
          return reply(m.id, process.memoryUsage());
        }
        case 'terminals': {
          const n = m.n as number;
          const at = new Date().toISOString();
          const out: { id: string; credential: string }[] = [];
          await relay!.store.transaction(async () => {
            for (let i = 0; i < n; i++) {
              const credential = randomToken(32);
              const id = `term_bench${i.toString().padStart(5, '0')}`;
              await relay!.store.insertTerminal({ id, name: `bench ${i}`, credentialHash: hashToken(credential), createdAt: at, revokedAt: null, lastSeenAt: null, version: '0', device: null, address: null });
              out.push({ id, credential });
            }
          });
          return reply(m.id, out);
        }
        case 'sales': {
          const at = new Date().toISOString();
          const items = m.items as PreparedSale[];
          await relay!.store.transaction(async () => {
            for (const it of items) {
              await relay!.store.insertSale({
                terminalId: it.terminalId, saleId: it.saleId, method: 'alipayplus_mpm', amount: it.amount, currency: 'THB', description: null, terminalCreatedAt: null,
                status: 'pending', chargeId: it.chargeId, createAttempts: 1, lastAttemptAt: at, createUncertain: false, orphanCheckedAt: at,
                qrText: 'https://example.invalid/qr', qrSvg: it.qrSvg, failureCode: null, failureMessage: null, errorCode: null, errorMessage: null,
                chargeCreatedAt: it.createdAt, chargeExpiresAt: it.expiresAt, paidAt: null, expireRequested: false, refundedAmount: 0,
                checkedAt: at, createdAt: at, updatedAt: at,
              });
            }
          });
          return reply(m.id, items.length);
        }
        case 'flood': {
          const terminalId = m.terminalId as string;
          const n = m.n as number;
          const s = (await relay!.store.salesSince(terminalId, '1970-01-01T00:00:00.000Z', 1))[0];
          const sale = await relay!.sales.view(s, false);
          const at = new Date().toISOString();
          await relay!.store.transaction(async () => {
            for (let i = 0; i < n; i++) await relay!.store.publish(terminalId, at, { kind: 'sale.updated', sale });
          });
          return reply(m.id, (await relay!.store.terminalById(terminalId))!.lastSeq);
        }
        case 'gc':
          return reply(m.id, { count: gcs.length, totalMs: gcs.reduce((t, x) => t + x, 0), maxMs: Math.max(0, ...gcs) });
        case 'stop': {
          await relay?.stop();
          reply(m.id, true);
          setTimeout(() => process.exit(0), 50);
          return;
        }
      }
    })().catch((err: unknown) => {
      process.stderr.write(`bench child: ${String(err)}\n`);
      process.exit(1);
    });
  });
  process.send!({ id: 0, body: 'ready' });
}

// ---------------------------------------------------------------- child: the Omise simulator

async function simChild(): Promise<void> {
  const sim = await startSimulator({ country: 'TH', webhookUrl: null });
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  // How long the simulator takes to answer the relay's GET /charges/:id, from its request event
  // to the response's finish: separates its share of the latency.
  let measuring = false;
  const simStart = new WeakMap<object, number>();
  const simTimes: number[] = [];
  diagnostics.subscribe('http.server.request.start', (m: unknown) => {
    const { request } = m as { request: http.IncomingMessage };
    if (measuring && request.method === 'GET' && request.url?.startsWith('/charges/')) simStart.set(request, performance.now());
  });
  diagnostics.subscribe('http.server.response.finish', (m: unknown) => {
    const { request } = m as { request: http.IncomingMessage };
    const t = simStart.get(request);
    if (t !== undefined) simTimes.push(performance.now() - t);
  });
  const reply = (id: number, body: unknown) => process.send!({ id, body });
  // A crashed bench must not leave a listening simulator behind.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: Msg) => {
    void (async () => {
      switch (m.cmd) {
        case 'measure':
          measuring = m.on as boolean;
          if (measuring) loop.reset();
          return reply(m.id, true);
        case 'times':
          return reply(m.id, simTimes);
        case 'loop':
          return reply(m.id, { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 });
        case 'cpu':
          return reply(m.id, process.cpuUsage());
        case 'stop':
          await sim.stop();
          reply(m.id, true);
          setTimeout(() => process.exit(0), 50);
          return;
      }
    })().catch((err: unknown) => {
      process.stderr.write(`bench simulator child: ${String(err)}\n`);
      process.exit(1);
    });
  });
  // Keys travel over the IPC channel only, never to the output.
  process.send!({ id: 0, body: { url: sim.url, publicKey: sim.publicKey, secretKey: sim.secretKey, webhookSecret: sim.webhookSecret } });
}

// ---------------------------------------------------------------- parent: terminals + sender

export function rpc(cp: ChildProcess) {
  let next = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  cp.on('message', (m: { id: number; body: unknown }) => {
    waiting.get(m.id)?.(m.body);
    waiting.delete(m.id);
  });
  return <T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve as (v: unknown) => void);
      cp.send({ id, cmd, ...args });
    });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The functions a .cpuprofile spent most of its own time in (callees excluded). */
function topSelfTime(file: string, n: number): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : ''}`;
    const us = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`)
    .join('\n');
}

/**
 * How long a fixed piece of JavaScript work (JSON round trips of a charge-sized object) takes
 * right now, median of 7, in a fresh Node process (its heap the same every time). Run while
 * nothing else of the benchmark is busy, it tells a slow (shared, contended) host from a slow
 * relay.
 */
const HOST_CHECK = `
const charge = { object: 'charge', id: 'chrg_test_5z7ee2z8c4qbtxbrb2n', amount: 2500, currency: 'THB', status: 'successful', source: { type: 'alipayplus_mpm', pad: 'x'.repeat(1500) } };
const times = [];
for (let r = 0; r < 7; r++) {
  const t = performance.now();
  for (let i = 0; i < 4000; i++) JSON.parse(JSON.stringify({ ...charge, amount: i }));
  times.push(performance.now() - t);
}
process.stdout.write(String(times.sort((a, b) => a - b)[3]));
`;
export function hostCheck(): number {
  return Number(execFileSync(process.execPath, ['-e', HOST_CHECK], { encoding: 'utf8' }));
}

/**
 * Pending charges for `count` sales spread over the terminals, made at the simulator, each with
 * its QR document (the sale rows hold it, as the relay stores them). Not yet paid.
 */
export async function paidSaleCharges(omise: OmiseClient, terms: { id: string }[], count: number): Promise<PreparedSale[]> {
  const sales: PreparedSale[] = [];
  for (let i = 0; i < count; i += 100) {
    const part = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, k) => {
        const idx = i + k;
        const terminalId = terms[idx % terms.length].id;
        const saleId = `bench_${idx.toString().padStart(6, '0')}`;
        const c = await omise.createCharge({ amount: 2000 + (idx % 1000), currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { qrpos_terminal_id: terminalId, qrpos_sale_id: saleId } });
        const uri = c.source.scannable_code?.image.download_uri;
        if (!uri) throw new Error(`charge ${c.id} has no QR document`);
        const doc = await omise.downloadDocument(uri);
        return { terminalId, saleId, chargeId: c.id, amount: c.amount, createdAt: c.created_at, expiresAt: c.expires_at, qrSvg: doc.body.toString('utf8') };
      }),
    );
    sales.push(...part);
  }
  return sales;
}

/** Every charge.complete event at the simulator, as the webhook body Omise would send, by charge id. */
export async function chargeCompleteBodies(omise: OmiseClient): Promise<Map<string, Buffer>> {
  const bodies = new Map<string, Buffer>();
  for (let offset = 0, total = 1; offset < total; ) {
    const page = await omise.listEvents({ limit: 100, offset, order: 'chronological' });
    for (const e of page.data) if (e.key === 'charge.complete') bodies.set((e.data as { id: string }).id, Buffer.from(JSON.stringify(e)));
    total = page.total;
    offset += page.data.length;
    if (!page.data.length) break;
  }
  return bodies;
}

export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const fmt = (n: number, d = 2) => n.toFixed(d);

async function parent(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), {
    terminals: { type: 'number', description: 'connected terminals', default: 5000 },
    rate: { type: 'number', description: 'webhooks per second', default: 500 },
    seconds: { type: 'number', description: 'measured seconds', default: 10 },
    resume: { type: 'number', description: 'events waiting for the resumed terminal', default: 1000 },
    'data-dir': { description: 'where the relay database goes (default: the OS temp dir, on disk here)' },
  });
  const N = flags.terminals as number;
  const RATE = flags.rate as number;
  const TOTAL = Math.round(RATE * (flags.seconds as number));
  const WARMUP = Math.min(200, TOTAL);
  const limits = fs.existsSync('/proc/self/limits') ? fs.readFileSync('/proc/self/limits', 'utf8') : '';
  const openFiles = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? Infinity);
  if (openFiles < N + 500) {
    console.error(`ulimit -n is ${openFiles}; ${N} terminals need about ${N + 500} per process. Raise it (ulimit -n ${2 * N + 1000}) or pass --terminals.`);
    process.exit(2);
  }

  const hostBefore = hostCheck();
  const base = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'qrpos-bench-relay-'));
  const simCp = fork(__filename, ['--sim'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const simCall = rpc(simCp);
  const sim = await new Promise<{ url: string; publicKey: string; secretKey: string; webhookSecret: string }>((r) =>
    simCp.once('message', (m: { body: { url: string; publicKey: string; secretKey: string; webhookSecret: string } }) => r(m.body)),
  );
  const cp = fork(__filename, ['--child'], { execArgv: [...process.execArgv, '--expose-gc', ...(process.env.RELAY_FLAGS ? process.env.RELAY_FLAGS.split(' ') : [])], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const call = rpc(cp);
  await new Promise<void>((r) => cp.once('message', () => r()));

  const config = {
    version: 1, country: 'TH', listen: { host: '127.0.0.1', port: 0 }, dataDir: path.join(dir, 'data'),
    omise: { baseUrl: sim.url, timeoutMs: 10_000 }, heartbeatMs: 15_000, statusStaleMs: 5_000,
    reconcile: { intervalMs: 3_600_000, webhookOverdueMs: 3_600_000 },
    limits: { bodyBytes: 1_048_576, webhookBodyBytes: 262_144, maxPendingPairings: 100 },
    pairing: { codeTtlMs: 900_000 }, shutdownGraceMs: 2000, trustProxy: false,
    sqliteRedoLog: process.env.QRPOS_BENCH_REDO_LOG === '1',
  };
  const secrets = { omisePublicKey: sim.publicKey, omiseSecretKey: sim.secretKey, webhookSecret: sim.webhookSecret, adminToken: 'bench-admin-token-0123456789abc' };
  const { url } = await call<{ url: string }>('start', { config, secrets });
  const wsUrl = url.replace(/^http/, 'ws');
  console.log(`relay ${url} (child pid ${cp.pid}), simulator ${sim.url} (child pid ${simCp.pid}), data on ${config.dataDir}`);
  console.log(`relay: child pid ${cp.pid}, simulator: child pid ${simCp.pid}, terminals + sender: this process (pid ${process.pid})`);
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, load average ${load()} (other work on this machine skews latency)`);

  const mem0 = await call<NodeJS.MemoryUsage>('mem');
  const terms = await call<{ id: string; credential: string }[]>('terminals', { n: N });

  // ---- connect every terminal
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const seenPaid = new Set<string>();
  const eventAt = new Map<string, number>();
  let duplicates = 0;
  let measuring = false;
  // Connections the relay closed before the end: these benchmark terminals do not reconnect, so
  // a live one dropped by the relay's heartbeat would lose its later events.
  let dropped = 0;
  let finished = false;
  const sockets: WebSocket[] = new Array<WebSocket>(N);
  const connect = (i: number, after = 0, onEvent?: (m: Extract<ServerMessage, { type: 'event' }>, ws: WebSocket) => void) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}/v1/stream?after=${after}`, { headers: { authorization: `Bearer ${terms[i].credential}` }, perMessageDeflate: false });
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as ServerMessage;
        if (m.type === 'hello') resolve(ws);
        else if (m.type === 'event') {
          if (onEvent) return onEvent(m, ws);
          if (m.event.kind === 'sale.updated' && m.event.sale.status === 'successful') {
            const t = sentAt.get(m.event.sale.chargeId!);
            if (seenPaid.has(m.event.sale.saleId)) duplicates++;
            else {
              seenPaid.add(m.event.sale.saleId);
              if (t !== undefined && measuring) {
                latencies.push(performance.now() - t);
                eventAt.set(m.event.sale.chargeId!, performance.now());
              }
            }
          }
          ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
        }
      });
      ws.once('error', reject);
      ws.once('close', () => {
        if (!finished) dropped++;
      });
    });
  const tConnect = performance.now();
  // Memory after GC at half the terminals and at all of them (connectInHalves): the second half's
  // growth is the cost of a terminal.
  let memHalf = mem0;
  const rest = await connectInHalves(
    N,
    250,
    (from, to) => Promise.all(Array.from({ length: to - from }, (_, k) => connect(from + k).then((ws) => (sockets[from + k] = ws)))),
    async () => void (memHalf = await call<NodeJS.MemoryUsage>('mem')),
  );
  console.log(`connected ${N} terminals in ${fmt((performance.now() - tConnect) / 1000, 1)} s`);
  const mem1 = await call<NodeJS.MemoryUsage>('mem');

  // ---- pending charges made beforehand, then paid at the simulator (its own webhooks off)
  const omise = new OmiseClient({ baseUrl: sim.url, publicKey: sim.publicKey, secretKey: sim.secretKey, timeoutMs: 10_000 });
  const count = WARMUP + TOTAL;
  const tPrep = performance.now();
  const sales = await paidSaleCharges(omise, terms, count);
  await call('sales', { items: sales });
  for (let i = 0; i < sales.length; i += 100) await Promise.all(sales.slice(i, i + 100).map((s) => omise.markAsPaid(s.chargeId)));
  const bodies = await chargeCompleteBodies(omise);
  const unsigned = sales.filter((s) => !bodies.has(s.chargeId)).length;
  if (unsigned) throw new Error(`${unsigned} paid charges have no charge.complete event at the simulator`);
  console.log(`prepared ${count} paid charges and their charge.complete events in ${fmt((performance.now() - tPrep) / 1000, 1)} s`);

  // ---- send signed webhooks at the target rate
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const u = new URL(`${url}/webhooks/omise`);
  const httpTimes: number[] = [];
  const answeredAt = new Map<string, number>();
  let httpErrors = 0;
  let retries = 0;
  const errorKinds = new Map<string, number>();
  // Like Omise, a delivery that was not answered 2xx is sent again (freshly signed); its latency
  // still counts from the first attempt.
  const post = (chargeId: string, attempt = 0) => {
    const body = bodies.get(chargeId)!;
    const ts = Math.floor(Date.now() / 1000);
    const t0 = performance.now();
    if (!attempt) sentAt.set(chargeId, t0);
    let failed = false;
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      httpErrors++;
      errorKinds.set(why, (errorKinds.get(why) ?? 0) + 1);
      if (attempt < 3) {
        retries++;
        setTimeout(() => post(chargeId, attempt + 1), 50);
      }
    };
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, 'omise-signature': signWebhook(body, sim.webhookSecret, ts), 'omise-signature-timestamp': String(ts) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}`);
          const now = performance.now();
          answeredAt.set(chargeId, now);
          if (measuring) httpTimes.push(now - sentAt.get(chargeId)!);
        });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    req.end(body);
  };
  const run = async (list: typeof sales, rate: number) => {
    const start = performance.now();
    let sent = 0;
    while (sent < list.length) {
      const due = Math.min(list.length, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < due) post(list[sent++].chargeId);
      await new Promise((r) => setTimeout(r, 2));
    }
    return (performance.now() - start) / 1000;
  };
  const waitAll = async (n: number, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (seenPaid.size < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };
  await run(sales.slice(0, WARMUP), RATE);
  await waitAll(WARMUP, 30_000);
  const parentLoop = monitorEventLoopDelay({ resolution: 1 });
  await call('loop-reset');
  const prof = process.env.BENCH_PROF;
  if (prof) await call('prof-start');
  const childCpu0 = await call<NodeJS.CpuUsage>('cpu');
  type Io = { wchar: number; writeBytes: number; redo?: { records: number; bytes: number; databaseCommits: number } };
  const io0 = await call<Io>('io');
  const simCpu0 = await simCall<NodeJS.CpuUsage>('cpu');
  await simCall('measure', { on: true });
  const parentCpu0 = process.cpuUsage();
  const tMeasure = performance.now();
  parentLoop.enable();
  measuring = true;
  const sendSeconds = await run(sales.slice(WARMUP), RATE);
  await waitAll(count, 60_000);
  measuring = false;
  parentLoop.disable();
  const measuredMs = performance.now() - tMeasure;
  const parentCpu = process.cpuUsage(parentCpu0);
  await simCall('measure', { on: false });
  const childCpu1 = await call<NodeJS.CpuUsage>('cpu');
  const io1 = await call<Io>('io');
  const simCpu1 = await simCall<NodeJS.CpuUsage>('cpu');
  const simCpu = { user: simCpu1.user - simCpu0.user, system: simCpu1.system - simCpu0.system };
  const simLoop = await simCall<{ p50: number; p99: number; max: number }>('loop');
  const simTimes = await simCall<number[]>('times');
  if (prof) {
    const file = await call<string>('prof-stop', { dir: path.resolve(prof) });
    console.log(`relay CPU profile of the measured part: ${file}\n${topSelfTime(file, 20)}`);
  }
  const cpuPct = (u: { user: number; system: number }) => fmt(((u.user + u.system) / 1000 / measuredMs) * 100, 0);
  const childCpu = { user: childCpu1.user - childCpu0.user, system: childCpu1.system - childCpu0.system };
  const childLoop = await call<{ p50: number; p99: number; max: number }>('loop');
  const childGc = await call<{ count: number; totalMs: number; maxMs: number }>('gc');
  const childElu = await call<number>('elu');
  const metricsText = await (await fetch(`${url}/metrics`)).text();
  const buckets = metricsText
    .split('\n')
    .filter((l) => l.startsWith('qrpos_relay_omise_request_seconds_bucket') && l.includes('op="retrieve_charge"'))
    .map((l) => `${/le="([^"]+)"/.exec(l)?.[1]}:${l.split(' ').pop()}`)
    .join(' ');
  const lost = count - seenPaid.size;
  const metric = (name: string) => metricsText.split('\n').filter((l) => l.startsWith(name));
  const commitBuckets = metric('qrpos_relay_commit_seconds_bucket')
    .map((l) => `${/le="([^"]+)"/.exec(l)?.[1]}:${l.split(' ').pop()}`)
    .join(' ');
  const commitCount = Number(metric('qrpos_relay_commit_seconds_count')[0]?.split(' ').pop());
  const commitItems = Number(metric('qrpos_relay_commit_items_total')[0]?.split(' ').pop());

  // Everything is idle again (the terminals are connected but quiet).
  const hostAfter = hostCheck();
  const droppedBeforeResume = dropped;

  // ---- resume a terminal with many waiting events
  const RESUME = flags.resume as number;
  // A terminal that had a sale (the flood repeats its sale view), whatever --rate × --seconds is.
  const victim = (count - 1) % N;
  await new Promise<void>((resolve) => {
    sockets[victim].once('close', () => resolve());
    sockets[victim].close();
  });
  const lastSeq = await call<number>('flood', { terminalId: terms[victim].id, n: RESUME });
  // Everything before the flood was acknowledged: resume right after it.
  const ackedBefore = lastSeq - RESUME;
  let got = 0;
  const tResume = performance.now();
  let firstAt = 0;
  await new Promise<void>((resolve) => {
    void connect(victim, ackedBefore, (m, ws) => {
      if (!firstAt) firstAt = performance.now();
      got++;
      if (m.seq === lastSeq) {
        ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
        resolve();
      }
    }).then((ws) => (sockets[victim] = ws));
  });
  const resumeMs = performance.now() - tResume;

  const sorted = [...latencies].sort((a, b) => a - b);
  const simSorted = [...simTimes].sort((a, b) => a - b);
  // The slowest 1%: did their event wait for the answer's commit, or come after it?
  const slowCut = pct(sorted, 99);
  const slow = [...eventAt].filter(([c, t]) => t - sentAt.get(c)! >= slowCut);
  const slowAfterAnswer = slow.filter(([c, t]) => (answeredAt.get(c) ?? Infinity) < t - 1).length;
  const httpSorted = [...httpTimes].sort((a, b) => a - b);
  const perRss = (mem1.rss - memHalf.rss) / rest;
  const perHeap = (mem1.heapUsed + mem1.external - memHalf.heapUsed - memHalf.external) / rest;
  console.log('');
  console.log('=== relay benchmark ===');
  console.log(`terminals connected:            ${N}   (load average at the end: ${load()})`);
  console.log(`webhooks measured:              ${TOTAL} at ${RATE}/s target, sent in ${fmt(sendSeconds, 2)} s (${fmt(TOTAL / sendSeconds, 0)}/s), ${WARMUP} warm-up before`);
  console.log(`webhook HTTP answer (ms):       p50 ${fmt(pct(httpSorted, 50))}  p99 ${fmt(pct(httpSorted, 99))}  failed deliveries ${httpErrors}${errorKinds.size ? ` (${[...errorKinds].map(([k, n]) => `${k}: ${n}`).join(', ')}; ${retries} resent)` : ''}`);
  console.log(`webhook → event at terminal:    p50 ${fmt(pct(sorted, 50))} ms  p90 ${fmt(pct(sorted, 90))} ms  p99 ${fmt(pct(sorted, 99))} ms  max ${fmt(sorted[sorted.length - 1] ?? NaN)} ms   (target p99 <= 20 ms: ${pct(sorted, 99) <= 20 ? 'met' : 'MISSED'})`);
  console.log(`event-loop delay (ms):          relay p50 ${fmt(childLoop.p50)} p99 ${fmt(childLoop.p99)} max ${fmt(childLoop.max)}; simulator p50 ${fmt(simLoop.p50)} p99 ${fmt(simLoop.p99)} max ${fmt(simLoop.max)}; terminals+sender p50 ${fmt(parentLoop.percentile(50) / 1e6)} p99 ${fmt(parentLoop.percentile(99) / 1e6)} max ${fmt(parentLoop.max / 1e6)}`);
  console.log(`relay GC pauses:                ${childGc.count}, ${fmt(childGc.totalMs, 0)} ms in all, longest ${fmt(childGc.maxMs, 1)} ms`);
  console.log(`relay → simulator GET /charges/:id, cumulative count by seconds: ${buckets}`);
  console.log(`relay group commits (fsyncs):   ${commitCount} holding ${commitItems} writes; cumulative count by seconds: ${commitBuckets}`);
  console.log(`relay disk writes:              ${fmt((io1.writeBytes - io0.writeBytes) / TOTAL / 1024, 1)} KB to storage per webhook (${fmt((io1.wchar - io0.wchar) / TOTAL / 1024, 1)} KB through write calls, sockets included)`);
  if (io0.redo && io1.redo) {
    const r0 = io0.redo;
    const r1 = io1.redo;
    console.log(`relay redo log:                 ${fmt((r1.bytes - r0.bytes) / TOTAL / 1024, 2)} KB per webhook in ${r1.records - r0.records} records; ${r1.databaseCommits - r0.databaseCommits} commits of the database itself`);
  }
  console.log(`simulator answering it (ms):    p50 ${fmt(pct(simSorted, 50))} p99 ${fmt(pct(simSorted, 99))} max ${fmt(simSorted[simSorted.length - 1] ?? NaN)}  (in the simulator's own process)`);
  console.log(`slowest 1% of events:           ${slow.length}, of which ${slowAfterAnswer} arrived after the webhook's 2xx (the charge fetch outlasted the answer)`);
  console.log(`CPU while measuring:            relay ${cpuPct(childCpu)}% of a core (all its threads; its main thread busy ${fmt(childElu * 100, 0)}% of the time), simulator ${cpuPct(simCpu)}%, terminals+sender ${cpuPct(parentCpu)}%`);
  console.log(`host speed check:               ${fmt(hostBefore, 1)} ms before, ${fmt(hostAfter, 1)} ms after for the same fixed work (higher = this machine is slower right now, e.g. other guests on its cores)`);
  console.log(`lost / duplicated:              ${lost} / ${duplicates}   (target: nothing lost: ${lost === 0 ? 'met' : 'MISSED'}); connections the relay closed: ${droppedBeforeResume}`);
  console.log(`relay memory per terminal:      RSS ${fmt(perRss / 1024, 1)} KB, JS heap+external ${fmt(perHeap / 1024, 1)} KB   (target <= 20 KB: ${perRss <= 20 * 1024 ? 'met' : 'MISSED'})`);
  console.log(`relay RSS:                      ${fmt(mem0.rss / 2 ** 20, 1)} MiB idle → ${fmt(memHalf.rss / 2 ** 20, 1)} MiB with ${N - rest} → ${fmt(mem1.rss / 2 ** 20, 1)} MiB with ${N} terminals (per terminal above: the last ${rest})`);
  console.log(`resume with ${RESUME} waiting events:  ${fmt(resumeMs, 1)} ms from connect to the last event (${got} events, first after ${fmt(firstAt - tResume, 1)} ms)`);

  finished = true;
  for (const ws of sockets) ws?.terminate();
  agent.destroy();
  await call('stop');
  await simCall('stop');
  fs.rmSync(dir, { recursive: true, force: true });
}

// Also the relay and simulator children of relay-vs-smee.ts, which imports the helpers above.
if (process.argv.includes('--child')) void child();
else if (process.argv.includes('--sim')) void simChild();
else if (require.main === module)
  parent().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
