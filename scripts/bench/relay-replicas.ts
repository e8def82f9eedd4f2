/**
 * How far the relay goes with 1, 2 and 3 replicas on one PostgreSQL database (issue 17, part 2).
 *
 * For each replica count: a fresh database on a throwaway cluster, N `qrpos relay` processes
 * behind a TCP balancer, terminals connected through it (reconnecting WebSocket clients that
 * acknowledge every event), sales made through the relay API and paid at the simulator, then
 * their signed webhooks posted through the balancer at rising rates. Per rate it prints the hop
 * (webhook POST → event at the terminal) p50/p99 and the CPU the replicas and PostgreSQL used;
 * the ceiling is the first rate whose p99 passes 50 ms. The growth is the ratio of each ceiling
 * to the first line's ceiling in the same run: by default one relay on SQLite, the reference.
 * Each relay process is held to --relay-cpu % of one core (a cgroup of its own), as if each ran on
 * a small machine of its own; without that, on a small host the relays, PostgreSQL, the simulator
 * and this load generator share the same cores and more relays cannot add capacity. PostgreSQL
 * and the load are not limited: their CPU shares are printed to show how close the host was to
 * its own limit.
 *
 *   npx tsx scripts/bench/relay-replicas.ts [--replicas sqlite,1,2,3] [--terminals 100] [--rates 25,50,100,150,200,300,400] [--step-seconds 3] [--relay-cpu 25]
 */
import type { SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { signWebhook } from '../../src/omise/webhook-signature';
import { parseFlags } from '../../src/shared/args';
import { startSimulator } from '../../src/simulator/server';
import { startBalancer } from '../../src/relay/testing/balancer';
import { startPostgresCluster } from '../../src/relay/testing/postgres-cluster';
import { LiveTerminal, spawnReplica, type ReplicaProcess } from '../../src/relay/testing/replicas';
import { call } from '../../src/relay/testing/testkit';
import { childrenCpuSeconds, cpuLimiter, cpuSeconds, type Limiter } from './lib/cpu-limit';

const ADMIN = 'admin-token-for-the-replica-bench-0123456789';
const P99_LIMIT_MS = 50;

const { flags } = parseFlags(process.argv.slice(2), {
  replicas: { description: "replica counts to run, comma-separated; 'sqlite': one relay on SQLite, the reference", default: 'sqlite,1,2,3' },
  terminals: { type: 'number', description: 'connected terminals', default: 100 },
  rates: { description: 'webhooks per second, each a step', default: '25,50,100,150,200,300,400' },
  'step-seconds': { type: 'number', description: 'seconds per rate step', default: 3 },
  'relay-cpu': { type: 'number', description: 'each relay process limited to this % of one core, as if each had a small machine of its own (0: no limit)', default: 25 },
  'cpu-period-ms': { type: 'number', description: 'the accounting period of the limit: a relay that used its share waits for the next one, so a long period adds latency of its own', default: 10 },
});
const RELAY_CPU = flags['relay-cpu'] as number;
const CPU_PERIOD_US = Math.round((flags['cpu-period-ms'] as number) * 1000);
const COUNTS = String(flags.replicas)
  .split(',')
  .map((x) => (x === 'sqlite' ? ('sqlite' as const) : Number(x)));
if (COUNTS.some((n) => n !== 'sqlite' && !(Number.isInteger(n) && n >= 1 && n <= 8))) throw new Error('--replicas: counts 1-8 or sqlite, comma-separated');
const TERMINALS = flags.terminals as number;
const RATES = String(flags.rates).split(',').map(Number);
const STEP_S = flags['step-seconds'] as number;

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** CPU seconds of the PostgreSQL server: its postmaster, its live backends and the ones that have exited. */
function clusterCpu(pm: number): number {
  let total = cpuSeconds(pm) + childrenCpuSeconds(pm);
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pm) total += cpuSeconds(Number(e)) || 0;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

interface Step {
  rate: number;
  p50: number;
  p99: number;
  sent: number;
  relayCpuShare: number;
  pgCpuShare: number;
  relayCpuMsPerWebhook: number;
}

async function round(which: number | 'sqlite', cluster: Awaited<ReturnType<typeof startPostgresCluster>>, db: string): Promise<Step[]> {
  const url = await cluster.createDatabase(db);
  const n = which === 'sqlite' ? 1 : which;
  const label = which === 'sqlite' ? 'SQLite, 1 relay ' : `PostgreSQL, ${n} relay${n > 1 ? 's' : ' '}`;
  const sim = await startSimulator({ country: 'TH', webhookUrl: null });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `qrpos-bench-replicas-${n}-`));
  const replicas: ReplicaProcess[] = [];
  const limiters: Limiter[] = [];
  const lives: LiveTerminal[] = [];
  try {
    const omise = { url: sim.url, secretKey: sim.secretKey, webhookSecret: sim.webhookSecret };
    for (let i = 0; i < n; i++) {
      const limiter = RELAY_CPU > 0 ? cpuLimiter(RELAY_CPU, undefined, `${which}-${i}`, CPU_PERIOD_US) : undefined;
      if (limiter && !limiters.length && which === COUNTS[0]) console.log(`  (each relay: ${limiter.describe})`);
      if (limiter) limiters.push(limiter);
      replicas.push(
        await spawnReplica({
          dir: path.join(dir, `r${i}`),
          omise,
          storeUrl: url,
          adminToken: ADMIN,
          config: { heartbeatMs: 15_000, ...(which === 'sqlite' ? { store: 'sqlite' } : {}) },
          ...(limiter ? { spawn: (cmd: string, args: string[], opts: SpawnOptions) => limiter.spawn(cmd, args, opts) } : {}),
        }),
      );
    }
    // The set-up (pairing, thousands of sales) runs unlimited where the limiter allows; the limit
    // is put back before the first measured webhook.
    for (const l of limiters) l.enable?.(false);
    const lb = await startBalancer(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
    const creds: string[] = [];
    for (let i = 0; i < TERMINALS; i++) {
      const started = await call(lb.url, 'POST', '/v1/pair', { body: { name: `bench-${i}`, version: '0.1.0', device: 'bench' } });
      if (started.status !== 201) throw new Error(`pair: HTTP ${started.status} ${JSON.stringify(started.body)}`);
      const approved = await call(lb.url, 'POST', '/admin/pairings/approve', { token: ADMIN, body: { code: started.body.code } });
      if (approved.status !== 200) throw new Error(`approve: HTTP ${approved.status} ${JSON.stringify(approved.body)}`);
      const poll = () => call(lb.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
      let polled = await poll();
      // All of them from one address: past the relay's poll limit, wait as a terminal would.
      while (polled.status === 429) {
        await new Promise((r) => setTimeout(r, 250));
        polled = await poll();
      }
      if (typeof polled.body.credential !== 'string') throw new Error(`pair poll: HTTP ${polled.status} ${JSON.stringify(polled.body)}`);
      creds.push(polled.body.credential);
    }
    const sentAt = new Map<string, number>();
    const hops: number[] = [];
    // Paid sales the terminal heard of before their webhook was sent: a relay's own status check
    // of an open sale found the payment first (they arrived, but have no hop to measure).
    const early = new Set<string>();
    let earlyInStep = 0;
    for (const c of creds) {
      const l = new LiveTerminal(lb.url, c);
      l.onEvent = (_seq, e) => {
        if (e.kind !== 'sale.updated' || e.sale.status !== 'successful') return;
        const t = sentAt.get(e.sale.saleId);
        if (t !== undefined) hops.push(performance.now() - t);
        else early.add(e.sale.saleId);
      };
      l.start();
      lives.push(l);
    }
    // Every step's sales, made and paid beforehand (their webhooks are what is measured).
    const total = RATES.reduce((s, r) => s + r * STEP_S, 0);
    const bodies: { saleId: string; body: Buffer }[] = [];
    for (let i = 0; i < total; i += 25) {
      const part = await Promise.all(
        Array.from({ length: Math.min(25, total - i) }, async (_, k) => {
          const saleId = `bench_${n}_${i + k}`;
          const r = await call(lb.url, 'POST', '/v1/sales', { token: creds[(i + k) % creds.length], body: { saleId, amount: 3000 + ((i + k) % 5000), currency: 'THB' } });
          if (r.status !== 200) throw new Error(`sale: HTTP ${r.status} ${JSON.stringify(r.body)}`);
          sim.markAsPaid(r.body.chargeId as string);
          return { saleId, chargeId: r.body.chargeId as string };
        }),
      );
      const events = new Map(sim.events().filter((e) => e.key === 'charge.complete').map((e) => [(e.data as { id: string }).id, e]));
      for (const s of part) bodies.push({ saleId: s.saleId, body: Buffer.from(JSON.stringify(events.get(s.chargeId))) });
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const post = (b: { saleId: string; body: Buffer }): Promise<void> =>
      new Promise((resolve) => {
        const ts = Math.floor(Date.now() / 1000);
        const req = http.request(
          { host: '127.0.0.1', port: lb.port, path: '/webhooks/omise', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': b.body.length, 'omise-signature': signWebhook(b.body, sim.webhookSecret, ts), 'omise-signature-timestamp': String(ts) } },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : setTimeout(() => void post(b).then(resolve), 50)));
          },
        );
        req.on('error', () => setTimeout(() => void post(b).then(resolve), 50));
        req.end(b.body);
      });
    for (const l of limiters) l.enable?.(true);
    if (limiters.some((l) => !l.enable)) console.log('  (the set-up ran at the limit too: this limiter cannot be lifted)');
    const steps: Step[] = [];
    let next = 0;
    for (const rate of RATES) {
      hops.length = 0;
      earlyInStep = 0;
      const count = rate * STEP_S;
      const relayCpu0 = replicas.reduce((s, r) => s + cpuSeconds(r.proc.pid!), 0);
      const pgCpu0 = clusterCpu(cluster.pid);
      const t0 = performance.now();
      const pending: Promise<void>[] = [];
      for (let sent = 0; sent < count; ) {
        const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
        while (sent < due) {
          const b = bodies[next++];
          if (early.has(b.saleId)) earlyInStep++;
          else sentAt.set(b.saleId, performance.now());
          pending.push(post(b));
          sent++;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(pending);
      const deadline = performance.now() + 30_000;
      while (hops.length + earlyInStep < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const wall = (performance.now() - t0) / 1000;
      const relayCpu = replicas.reduce((s, r) => s + cpuSeconds(r.proc.pid!), 0) - relayCpu0;
      const pgCpu = clusterCpu(cluster.pid) - pgCpu0;
      const sorted = [...hops].sort((a, b) => a - b);
      steps.push({ rate, p50: pct(sorted, 50), p99: hops.length + earlyInStep < count ? Infinity : pct(sorted, 99), sent: count, relayCpuShare: relayCpu / wall, pgCpuShare: pgCpu / wall, relayCpuMsPerWebhook: (1000 * relayCpu) / count });
      const s = steps[steps.length - 1];
      console.log(
        `  ${label} ${String(rate).padStart(4)}/s: hop p50 ${f(s.p50)} ms  p99 ${f(s.p99)} ms  (${hops.length + earlyInStep}/${count} arrived${earlyInStep ? `, ${earlyInStep} before their webhook` : ''})  relay${n > 1 ? 's' : ''} ${f(100 * s.relayCpuShare, 0)} % of a core (${f(s.relayCpuMsPerWebhook, 2)} ms CPU per webhook), PostgreSQL ${f(100 * s.pgCpuShare, 0)} %`,
      );
      if (s.p99 > 4 * P99_LIMIT_MS) break; // far past its ceiling: the next rates tell nothing more
    }
    agent.destroy();
    await lb.close();
    return steps;
  } finally {
    for (const l of lives) await l.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    for (const l of limiters) l.close();
    await sim.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${TERMINALS} terminals, rates ${RATES.join(', ')}/s for ${STEP_S} s each; each relay ${RELAY_CPU > 0 ? `limited to ${RELAY_CPU} % of a core` : 'unlimited'}, PostgreSQL and the load unlimited`);
  const cluster = await startPostgresCluster();
  const ceilings: { n: number | 'sqlite'; held: number; first: number | null }[] = [];
  try {
    for (const n of COUNTS) {
      const steps = await round(n, cluster, `bench_r${n}_${Date.now()}`);
      const over = steps.find((s) => s.p99 > P99_LIMIT_MS);
      const held = Math.max(0, ...steps.filter((s) => s.p99 <= P99_LIMIT_MS).map((s) => s.rate));
      ceilings.push({ n, held, first: over?.rate ?? null });
    }
  } finally {
    await cluster.stop();
  }
  const base = ceilings[0]?.held || NaN;
  console.log(`\nthroughput ceiling (hop p99 ≤ ${P99_LIMIT_MS} ms), load average now ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}:`);
  for (const c of ceilings) {
    const name = c.n === 'sqlite' ? 'SQLite, 1 relay' : `PostgreSQL, ${c.n} relay${c.n > 1 ? 's' : ''}`;
    console.log(`  ${name.padEnd(20)} held ${c.held || 'none'}/s${c.first ? `, passed ${P99_LIMIT_MS} ms at ${c.first}/s` : ' (every step held)'}  ×${f(c.held / base, 2)} the first line`);
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
