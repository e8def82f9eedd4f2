/**
 * qrpos relay against a smee.io-style relay, side by side in one run:
 * `npx tsx scripts/bench/relay-vs-smee.ts [--terminals 1000] [--rate 300] [--seconds 7] [--rounds 2] [--ceiling 100,200,300,500,700,900] [--step-seconds 2]`
 *
 * The reference is what most developers know as a webhook relay: smee.io. Its server is not
 * published on npm (only its client is), so the reference here is built the way the smee.io
 * server is, from the same npm packages: Fastify 5 with helmet, CORS and request logging, an
 * in-memory EventEmitter per channel, Server-Sent Events, nothing on disk, no acknowledgement
 * and no resume. Its subscribers are the npm `smee-client` (5.x), one channel each. qrpos' are
 * WebSocket terminals that acknowledge every event, and its relay verifies each webhook's
 * signature, re-reads the charge from the Omise simulator and stores the result durably
 * (SQLite on the real disk) before the 2xx and before the event goes out.
 *
 * Same subscriber count, same webhook bodies and headers, same rate. The phases alternate
 * (qrpos, smee, qrpos, smee, …) so a host that slows down mid-run slows both; only ratios are
 * reported, each with the CPU share each server had, never an absolute figure of a quiet minute.
 * The ceiling is the rate at which a server's hop p99 first exceeds 50 ms, stepping through
 * `--ceiling` (each step `--step-seconds` long), again alternating.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { ServerMessage } from '../../src/link/protocol';
import { OmiseClient } from '../../src/omise/client';
import { signWebhook } from '../../src/omise/webhook-signature';
import { parseFlags } from '../../src/shared/args';
import { chargeCompleteBodies, fmt, hostCheck, paidSaleCharges, pct, rpc, type PreparedSale } from './relay';
import { connectInHalves } from './lib/halves';

type Msg = { id: number; cmd: string; [k: string]: unknown };
type Usage = { user: number; system: number };
const CEILING_P99_MS = 50;

// ---------------------------------------------------------------- child: the smee.io-style server

async function smeeChild(): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { default: helmet } = await import('@fastify/helmet');
  const { default: cors } = await import('@fastify/cors');
  // Request logging as the smee.io server has it (to stdout, which the bench discards).
  const app = Fastify({ logger: true });
  await app.register(cors, { origin: '*' });
  await app.register(helmet, { contentSecurityPolicy: false });
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const channel = { type: 'object', properties: { channel: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9-_]+$' } } };
  const subscribers = new Set<http.ServerResponse>();
  setInterval(() => {
    for (const res of subscribers) res.write('event: ping\ndata: {}\n\n');
  }, 30_000).unref();
  app.get<{ Params: { channel: string } }>('/:channel', { schema: { params: channel } }, (req, reply) => {
    if (req.headers.accept !== 'text/event-stream') return reply.status(404).send();
    const res = reply.raw;
    res.socket?.setTimeout(0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    let n = 0;
    const send = (payload: unknown) => res.write(`id: ${n++}\ndata: ${JSON.stringify(payload)}\n\n`);
    bus.on(req.params.channel, send);
    subscribers.add(res);
    res.on('close', () => {
      bus.removeListener(req.params.channel, send);
      subscribers.delete(res);
    });
    res.write(`id: ${n++}\nevent: ready\ndata: {}\n\n`);
    void reply.hijack();
  });
  app.post<{ Params: { channel: string } }>('/:channel', { schema: { params: channel, body: { type: 'object' } } }, (req, reply) => {
    bus.emit(req.params.channel, { ...req.headers, body: req.body, query: req.query, timestamp: Date.now() });
    return reply.status(200).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  serveRpc({ stop: () => app.close() });
  process.send!({ id: 0, body: { url: `http://127.0.0.1:${addr.port}` } });
}

/** The commands both reference children answer (the relay's are in relay.ts). */
function serveRpc(o: { stop: () => Promise<unknown> }): void {
  const gc = () => {
    for (let i = 0; i < 3; i++) (globalThis as { gc?: () => void }).gc?.();
  };
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: Msg) => {
    void (async () => {
      const reply = (body: unknown) => process.send!({ id: m.id, body });
      if (m.cmd === 'cpu') return reply(process.cpuUsage());
      if (m.cmd === 'mem') {
        gc();
        await new Promise((r) => setTimeout(r, 200));
        gc();
        return reply(process.memoryUsage());
      }
      if (m.cmd === 'stop') {
        await o.stop();
        reply(true);
        setTimeout(() => process.exit(0), 50);
      }
    })();
  });
}

// ---------------------------------------------------------------- parent

interface PhaseResult {
  webhooks: number;
  p50: number;
  p99: number;
  lost: number;
  duplicated: number;
  failed: number;
  cpuMsPerWebhook: number;
  /** Share of one core the server process used during the phase. */
  cpuShare: number;
  writeKbPerWebhook?: number;
}

async function parent(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), {
    terminals: { type: 'number', description: 'subscribers of each relay', default: 1000 },
    rate: { type: 'number', description: 'webhooks per second in the comparison', default: 300 },
    seconds: { type: 'number', description: 'seconds per comparison phase', default: 7 },
    rounds: { type: 'number', description: 'comparison phases per relay (alternating)', default: 2 },
    ceiling: { description: 'rates (webhooks/s) of the ceiling search, comma-separated; "none" skips it', default: '100,200,300,500,700,900' },
    'step-seconds': { type: 'number', description: 'seconds per ceiling step', default: 2 },
    'data-dir': { description: 'where the relay database goes (default: the OS temp dir, on disk here)' },
    'redo-log': { description: 'the relay\'s sqliteRedoLog setting: "on" (writes durable in its redo log, the database committed about once a second) or "off" (the default, as the relay\'s)', default: 'off' },
  });
  const redoLog = String(flags['redo-log']) === 'on';
  const N = flags.terminals as number;
  const RATE = flags.rate as number;
  const SECONDS = flags.seconds as number;
  const ROUNDS = flags.rounds as number;
  const STEP = flags['step-seconds'] as number;
  const ceilingRates = String(flags.ceiling) === 'none' ? [] : String(flags.ceiling).split(',').map(Number).filter((r) => r > 0);
  const limits = fs.existsSync('/proc/self/limits') ? fs.readFileSync('/proc/self/limits', 'utf8') : '';
  const openFiles = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? Infinity);
  if (openFiles < 2 * N + 500) {
    console.error(`ulimit -n is ${openFiles}; ${N} subscribers of two relays need about ${2 * N + 500}. Raise it (ulimit -n ${2 * N + 1000}) or pass --terminals.`);
    process.exit(2);
  }
  const hostBefore = hostCheck();
  const base = typeof flags['data-dir'] === 'string' ? flags['data-dir'] : os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'qrpos-bench-vs-smee-'));
  const relayScript = path.join(__dirname, 'relay.ts');
  // The relay's own log (its warnings say why a webhook or an event was held up), when asked for.
  const relayLog = process.env.QRPOS_BENCH_RELAY_LOG ? fs.openSync(process.env.QRPOS_BENCH_RELAY_LOG, 'a') : 'ignore';
  const spawn = (file: string, arg: string, gc: boolean) =>
    fork(file, [arg], { execArgv: [...process.execArgv, ...(gc ? ['--expose-gc'] : [])], stdio: ['ignore', arg === '--child' ? relayLog : 'ignore', 'inherit', 'ipc'] });
  const first = <T>(cp: ChildProcess) => new Promise<T>((r) => cp.once('message', (m: { body: T }) => r(m.body)));

  const simCp = spawn(relayScript, '--sim', false);
  const simCall = rpc(simCp);
  const sim = await first<{ url: string; publicKey: string; secretKey: string; webhookSecret: string }>(simCp);
  const relayCp = spawn(relayScript, '--child', true);
  const call = rpc(relayCp);
  await first(relayCp);
  const smeeCp = spawn(__filename, '--smee', true);
  const smeeCall = rpc(smeeCp);
  const smee = await first<{ url: string }>(smeeCp);

  const config = {
    version: 1, country: 'TH', listen: { host: '127.0.0.1', port: 0 }, dataDir: path.join(dir, 'data'),
    omise: { baseUrl: sim.url, timeoutMs: 10_000 }, heartbeatMs: 15_000,
    reconcile: { intervalMs: 3_600_000, webhookOverdueMs: 3_600_000 },
    sqliteRedoLog: redoLog,
  };
  const secrets = { omisePublicKey: sim.publicKey, omiseSecretKey: sim.secretKey, webhookSecret: sim.webhookSecret, adminToken: 'bench-admin-token-0123456789abc' };
  const { url } = await call<{ url: string }>('start', { config, secrets });
  console.log(`qrpos relay ${url} (pid ${relayCp.pid}, SQLite in ${config.dataDir}, sqliteRedoLog ${redoLog}), smee.io-style reference ${smee.url} (pid ${smeeCp.pid}), Omise simulator (pid ${simCp.pid})`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  // ---- subscribers: N terminals on qrpos, N smee-client channels on the reference
  const relayMem0 = await call<NodeJS.MemoryUsage>('mem');
  const smeeMem0 = await smeeCall<NodeJS.MemoryUsage>('mem');
  const terms = await call<{ id: string; credential: string }[]>('terminals', { n: N });
  const arrivals = { qrpos: new Map<string, number>(), smee: new Map<string, number>() };
  const dupes = { qrpos: 0, smee: 0 };
  const note = (which: 'qrpos' | 'smee', key: string) => {
    const m = arrivals[which];
    if (m.has(key)) dupes[which]++;
    else m.set(key, performance.now());
  };
  const wsUrl = url.replace(/^http/, 'ws');
  const sockets: WebSocket[] = [];
  const connectTerminal = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}/v1/stream?after=0`, { headers: { authorization: `Bearer ${terms[i].credential}` }, perMessageDeflate: false });
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as ServerMessage;
        if (m.type === 'hello') resolve();
        else if (m.type === 'event') {
          if (m.event.kind === 'sale.updated' && m.event.sale.status === 'successful' && m.event.sale.chargeId) note('qrpos', m.event.sale.chargeId);
          ws.send(JSON.stringify({ type: 'ack', seq: m.seq }));
        }
      });
      ws.once('error', reject);
      sockets.push(ws);
    });
  // Memory after GC at half the subscribers and at all of them (connectInHalves): the second
  // half's growth is the cost of a subscriber; the first half's is printed on its own line.
  let relayMemHalf = relayMem0;
  const rest = await connectInHalves(
    N,
    250,
    (from, to) => Promise.all(Array.from({ length: to - from }, (_, k) => connectTerminal(from + k))),
    async () => void (relayMemHalf = await call<NodeJS.MemoryUsage>('mem')),
  );
  const HALF = N - rest;
  const relayMem1 = await call<NodeJS.MemoryUsage>('mem');

  const { default: SmeeClient } = await import('smee-client');
  const quiet = { info: () => undefined, error: () => undefined };
  const clients: InstanceType<typeof SmeeClient>[] = [];
  const channelOf = (i: number) => `qrpos-bench-${i}`;
  let smeeMemHalf = smeeMem0;
  const connectSmee = (from: number, to: number) =>
    Promise.all(
      Array.from({ length: to - from }, async (_, k) => {
        // forward: false — the subscriber's arrival is the measurement (qrpos' terminals do not forward either).
        const c = new SmeeClient({ source: `${smee.url}/${channelOf(from + k)}`, target: 'http://127.0.0.1:9/unused', logger: quiet, forward: false });
        clients.push(c);
        const events = await c.start();
        events.addEventListener('message', (e: { data: string }) => {
          const d = JSON.parse(e.data) as { body?: { data?: { id?: string } } };
          if (d.body?.data?.id) note('smee', d.body.data.id);
        });
      }),
    );
  await connectInHalves(N, 250, connectSmee, async () => void (smeeMemHalf = await smeeCall<NodeJS.MemoryUsage>('mem')));
  const smeeMem1 = await smeeCall<NodeJS.MemoryUsage>('mem');
  console.log(`${N} qrpos terminals and ${N} smee-client subscribers connected`);

  // ---- the webhooks: paid charges at the simulator, their sales stored at the relay
  const ceilingTotal = ceilingRates.reduce((t, r) => t + Math.round(r * STEP), 0);
  const WARMUP = 200;
  // Each relay gets its own share of the webhooks (a charge is paid once).
  const count = WARMUP + 2 * ROUNDS * Math.round(RATE * SECONDS) + 2 * ceilingTotal;
  const omise = new OmiseClient({ baseUrl: sim.url, publicKey: sim.publicKey, secretKey: sim.secretKey, timeoutMs: 10_000 });
  const tPrep = performance.now();
  const sales = await paidSaleCharges(omise, terms, count);
  for (let i = 0; i < sales.length; i += 500) await call('sales', { items: sales.slice(i, i + 500) });
  for (let i = 0; i < sales.length; i += 100) await Promise.all(sales.slice(i, i + 100).map((s) => omise.markAsPaid(s.chargeId)));
  const bodies = await chargeCompleteBodies(omise);
  console.log(`prepared ${count} paid charges and their signed charge.complete webhooks in ${fmt((performance.now() - tPrep) / 1000, 1)} s`);

  // ---- sending
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const relayHook = new URL(`${url}/webhooks/omise`);
  const smeeBase = new URL(smee.url);
  const termIndex = new Map(terms.map((t, i) => [t.id, i]));
  const sentAt = { qrpos: new Map<string, number>(), smee: new Map<string, number>() };
  let failed = 0;
  const post = (which: 'qrpos' | 'smee', s: PreparedSale, attempt = 0) => {
    const body = bodies.get(s.chargeId)!;
    const ts = Math.floor(Date.now() / 1000);
    if (!attempt) sentAt[which].set(s.chargeId, performance.now());
    const target = which === 'qrpos' ? { port: relayHook.port, path: relayHook.pathname } : { port: smeeBase.port, path: `/${channelOf(termIndex.get(s.terminalId)!)}` };
    const retry = () => {
      failed++;
      if (attempt < 3) setTimeout(() => post(which, s, attempt + 1), 50);
    };
    const req = http.request(
      { host: '127.0.0.1', port: target.port, path: target.path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, 'omise-signature': signWebhook(body, sim.webhookSecret, ts), 'omise-signature-timestamp': String(ts) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? undefined : retry()));
      },
    );
    req.on('error', retry);
    req.end(body);
  };
  let cursor = 0;
  const take = (n: number) => sales.slice(cursor, (cursor += n));
  const phase = async (which: 'qrpos' | 'smee', list: PreparedSale[], rate: number): Promise<PhaseResult> => {
    const server = which === 'qrpos' ? call : smeeCall;
    const cpu0 = await server<Usage>('cpu');
    const io0 = which === 'qrpos' ? await call<{ writeBytes: number }>('io') : undefined;
    const t0 = performance.now();
    let sent = 0;
    while (sent < list.length) {
      const due = Math.min(list.length, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
      while (sent < due) post(which, list[sent++]);
      await new Promise((r) => setTimeout(r, 2));
    }
    const deadline = Date.now() + 30_000;
    const arrived = () => list.filter((s) => arrivals[which].has(s.chargeId)).length;
    while (arrived() < list.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const wall = performance.now() - t0;
    const missing = list.filter((s) => !arrivals[which].has(s.chargeId));
    if (which === 'qrpos' && missing.length) {
      const diag = await call<unknown[]>('diag', { chargeIds: missing.slice(0, 5).map((s) => s.chargeId) });
      console.log(`  qrpos: ${missing.length} events did not arrive; the first ones in the relay's store: ${JSON.stringify(diag)}`);
    }
    const cpu1 = await server<Usage>('cpu');
    const io1 = which === 'qrpos' ? await call<{ writeBytes: number }>('io') : undefined;
    const lat = list.filter((s) => arrivals[which].has(s.chargeId)).map((s) => arrivals[which].get(s.chargeId)! - sentAt[which].get(s.chargeId)!);
    lat.sort((a, b) => a - b);
    const cpuMs = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000;
    return {
      webhooks: list.length,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      lost: list.length - lat.length,
      duplicated: dupes[which],
      failed,
      cpuMsPerWebhook: cpuMs / list.length,
      cpuShare: cpuMs / wall,
      ...(io0 && io1 ? { writeKbPerWebhook: (io1.writeBytes - io0.writeBytes) / list.length / 1024 } : {}),
    };
  };

  await phase('qrpos', take(WARMUP / 2), RATE);
  await phase('smee', take(WARMUP / 2), RATE);
  const runs: Record<'qrpos' | 'smee', PhaseResult[]> = { qrpos: [], smee: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const which of r % 2 ? (['smee', 'qrpos'] as const) : (['qrpos', 'smee'] as const)) {
      const res = await phase(which, take(Math.round(RATE * SECONDS)), RATE);
      runs[which].push(res);
      console.log(`  ${which.padEnd(5)} round ${r + 1}: ${res.webhooks} webhooks at ${RATE}/s  hop p50 ${fmt(res.p50)} ms p99 ${fmt(res.p99)} ms  CPU ${fmt(res.cpuMsPerWebhook, 3)} ms/webhook (${fmt(res.cpuShare * 100, 0)}% of a core)  lost ${res.lost}${res.writeKbPerWebhook !== undefined ? `  disk ${fmt(res.writeKbPerWebhook, 1)} KB/webhook` : ''}`);
    }
  }
  const sum = (which: 'qrpos' | 'smee') => {
    const rs = runs[which];
    const total = rs.reduce((t, r) => t + r.webhooks, 0);
    const avg = (f: (r: PhaseResult) => number) => rs.reduce((t, r) => t + f(r) * r.webhooks, 0) / total;
    return { p50: avg((r) => r.p50), p99: avg((r) => r.p99), cpu: avg((r) => r.cpuMsPerWebhook), share: avg((r) => r.cpuShare), lost: rs.reduce((t, r) => t + r.lost, 0), disk: avg((r) => r.writeKbPerWebhook ?? 0) };
  };
  const q = sum('qrpos');
  const sm = sum('smee');

  // ---- throughput ceiling
  const ceiling: Record<'qrpos' | 'smee', { rate: number; p99: number; share: number } | undefined> = { qrpos: undefined, smee: undefined };
  const lastOk: Record<'qrpos' | 'smee', { rate: number; p99: number; share: number } | undefined> = { qrpos: undefined, smee: undefined };
  const steps: string[] = [];
  for (const rate of ceilingRates) {
    for (const which of ['qrpos', 'smee'] as const) {
      const list = take(Math.round(rate * STEP));
      if (ceiling[which]) continue;
      const res = await phase(which, list, rate);
      steps.push(`${which} ${rate}/s: p99 ${fmt(res.p99, 1)} ms, ${fmt(res.cpuShare * 100, 0)}% of a core${res.lost ? `, ${res.lost} not arrived in 30 s` : ''}`);
      if (res.p99 > CEILING_P99_MS || res.lost) ceiling[which] = { rate, p99: res.p99, share: res.cpuShare };
      else lastOk[which] = { rate, p99: res.p99, share: res.cpuShare };
    }
  }
  const hostAfter = hostCheck();

  const rssPer = (a: NodeJS.MemoryUsage, b: NodeJS.MemoryUsage, n: number) => (b.rss - a.rss) / n;
  const qRss = rssPer(relayMemHalf, relayMem1, rest);
  const sRss = rssPer(smeeMemHalf, smeeMem1, rest);
  const ratio = (a: number, b: number) => (b > 0 ? a / b : NaN);
  const line = (what: string, qv: string, sv: string, r: number, target: number) =>
    console.log(`${what.padEnd(26)} ${qv.padStart(14)} ${sv.padStart(14)} ${`${fmt(r)}×`.padStart(8)}   target ≤ ${target}×: ${r <= target ? 'met' : 'MISSED'}`);
  console.log('');
  console.log(`=== qrpos relay vs smee.io-style relay: ${N} subscribers each, ${ROUNDS} × ${Math.round(RATE * SECONDS)} webhooks at ${RATE}/s each, alternating ===`);
  console.log(`${''.padEnd(26)} ${'qrpos'.padStart(14)} ${'smee'.padStart(14)} ${'ratio'.padStart(8)}`);
  line('CPU per webhook', `${fmt(q.cpu, 3)} ms`, `${fmt(sm.cpu, 3)} ms`, ratio(q.cpu, sm.cpu), 1);
  line('hop p50 (webhook → sub.)', `${fmt(q.p50)} ms`, `${fmt(sm.p50)} ms`, ratio(q.p50, sm.p50), 3);
  line('hop p99', `${fmt(q.p99)} ms`, `${fmt(sm.p99)} ms`, ratio(q.p99, sm.p99), 5);
  line('RSS per subscriber', `${fmt(qRss / 1024, 1)} KB`, `${fmt(sRss / 1024, 1)} KB`, ratio(qRss, sRss), 0.6);
  console.log(
    `${'  first half, one-time too'.padEnd(26)} ${`${fmt(rssPer(relayMem0, relayMemHalf, HALF) / 1024, 1)} KB`.padStart(14)} ${`${fmt(rssPer(smeeMem0, smeeMemHalf, HALF) / 1024, 1)} KB`.padStart(14)}   (RSS growth from none to ${HALF} subscribers, per subscriber; the line above is from ${HALF} to ${N})`,
  );
  console.log(`${'CPU share while measuring'.padEnd(26)} ${`${fmt(q.share * 100, 0)}%`.padStart(14)} ${`${fmt(sm.share * 100, 0)}%`.padStart(14)}   (of one core; the host's other work shows here)`);
  console.log(`${'lost / duplicated'.padEnd(26)} ${`${q.lost} / ${dupes.qrpos}`.padStart(14)} ${`${sm.lost} / ${dupes.smee}`.padStart(14)}   target 0 lost: ${q.lost === 0 ? 'met' : 'MISSED'}; webhook deliveries not answered 2xx (resent): ${failed}`);
  console.log(`${'qrpos disk writes'.padEnd(26)} ${`${fmt(q.disk, 1)} KB`.padStart(14)} ${'—'.padStart(14)}   per webhook, /proc/<relay>/io write_bytes (${redoLog ? 'redo log, ' : ''}WAL and checkpoints); target ≤ 5 KB: ${q.disk <= 5 ? 'met' : 'MISSED'}`);
  if (ceilingRates.length) {
    const desc = (c: { rate: number; p99: number; share: number } | undefined, ok: { rate: number; p99: number; share: number } | undefined) =>
      c
        ? `p99 > ${CEILING_P99_MS} ms at ${c.rate}/s (${fmt(c.p99, 0)} ms, ${fmt(c.share * 100, 0)}% of a core)${ok ? `; held ${ok.rate}/s with ${fmt(ok.share * 100, 0)}%` : '; held no step'}`
        : `held every step up to ${ok?.rate ?? '—'}/s (${ok ? fmt(ok.share * 100, 0) : '—'}% of a core)`;
    console.log(`throughput ceiling         qrpos: ${desc(ceiling.qrpos, lastOk.qrpos)}`);
    console.log(`                           smee:  ${desc(ceiling.smee, lastOk.smee)}`);
    // The highest rate each held; a relay that held every step may hold more (the ratio is then a bound).
    const qc = lastOk.qrpos?.rate;
    const sc = lastOk.smee?.rate;
    console.log(`                           highest rate held, qrpos / smee: ${qc && sc ? `${fmt(qc / sc)}×` : `n/a (${qc ? '' : 'qrpos '}${sc ? '' : 'smee '}missed the first step)`}${!ceiling.qrpos || !ceiling.smee ? ' (a relay that held every step may hold more)' : ''}`);
    console.log(`  steps: ${steps.join('; ')}`);
  }
  console.log(`host speed check: ${fmt(hostBefore, 1)} ms before, ${fmt(hostAfter, 1)} ms after (the same fixed work; higher = this machine was busier), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  for (const ws of sockets) ws.terminate();
  await Promise.all(clients.map((c) => c.stop()));
  agent.destroy();
  await call('stop');
  await smeeCall('stop');
  await simCall('stop');
  fs.rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes('--smee')) void smeeChild();
else
  parent().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
