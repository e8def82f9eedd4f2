/**
 * Hand-written code against the well-kept library for the same job, side by side in one run
 * (docs/architecture.md, "Libraries and hand-written code", holds the decisions these numbers back):
 *
 *   args     the qrpos flag layer: the old hand-written tokenizer, util.parseArgs alone, and
 *            src/shared/args.ts as it is now (our typed layer on util.parseArgs)
 *   log      src/shared/log.ts against pino 10: pino with our redaction and escaping (the only
 *            drop-in: pino's own `redact` takes fixed paths, ours goes by the words of any field's
 *            name at any depth), pino with nothing of ours, and pino's buffered asynchronous sink
 *   http     node:http clients (src/terminal/http-client.ts, the relay's src/relay/http-fetch.ts,
 *            both on src/shared/http-request.ts) against the built-in fetch (undici)
 *   route    the relay's routes as its server matches them (string compares and regexes, in
 *            src/relay/server.ts), as a table of regexes (src/simulator/server.ts), and find-my-way
 *   backoff  src/shared/backoff.ts against exponential-backoff
 *
 * For each piece:
 *  - cold load: a fresh `node -e` child (with the terminal unit's NODE_OPTIONS and malloc settings)
 *    requires the module and makes one call (for an HTTP client, one request to a loopback server):
 *    median over --runs children of the time that took, the CPU share the child got meanwhile
 *    (process.cpuUsage ÷ wall time: below ~90% the machine took the core away), and the RSS and
 *    V8 heap it added; once in a bare node, and once after zod and ws, which every qrpos program
 *    loads anyway (with node:http, https, net, tls, crypto and stream): what a library costs a
 *    program is what it adds to those, and the summary gives that figure first;
 *  - per call: blocks of calls in this process, the candidates interleaved round after round; CPU
 *    time per call (process.cpuUsage), with the CPU share of the block.
 * Each figure is also given as a ratio to the hand-written code, the median of the ratios of the
 * same round: the machine is shared and noisy, so only figures from the same minute are compared.
 * Our modules are compiled the way they run (esbuild, one CommonJS file each; npm packages are
 * loaded from node_modules as in production). The old hand-written flag tokenizer, and the two
 * hand-written routers, are kept below as the reference.
 *
 * Run: npx tsx scripts/bench/libraries.ts [--runs 15] [--rounds 5] [--only args,log,http,route,backoff]
 *      [--quick]   (npm run bench -- libraries runs it with the defaults)
 * The args check (old and new parser agree on every argument list tried) makes it exit 1 on a mismatch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parseFlags } from '../../src/shared/args';
import { terminalUnitEnvironment } from '../../src/terminal/service-env';

const REPO = path.resolve(__dirname, '..', '..');
const FLAGS = {
  runs: { type: 'number' as const, description: 'cold children per candidate', default: 15 },
  rounds: { type: 'number' as const, description: 'interleaved rounds of the per-call blocks', default: 5 },
  only: { description: 'comma-separated pieces: args,log,http,route,backoff' },
  quick: { type: 'boolean' as const, description: 'a smoke run: 3 children, 2 rounds, smaller blocks' },
};

// ---------------------------------------------------------------------------------------------
// The hand-written references (compiled into their own modules, like our code, for cold loads).

/** src/shared/args.ts's tokenizer before it stood on util.parseArgs, verbatim. */
const HAND_WRITTEN_ARGS = `
export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}
type Spec = { type?: 'string' | 'number' | 'boolean' | 'list'; default?: string | number | boolean; required?: boolean };
export function parseFlags(argv: string[], specs: Record<string, Spec>, opts: { positionals?: number } = {}) {
  const flags: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) flags[name] = spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new UsageError(\`unknown flag --\${name}\`);
    const type = spec.type ?? 'string';
    if (type === 'boolean') {
      if (eq !== -1) {
        const v = arg.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new UsageError(\`--\${name} takes true or false, got "\${v}"\`);
        flags[name] = v === 'true';
      } else flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(\`--\${name} needs a value\`);
      i++;
    }
    if (type === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(\`--\${name} must be a number, got "\${value}"\`);
      flags[name] = n;
    } else if (type === 'list') {
      const prev = flags[name];
      flags[name] = [...(Array.isArray(prev) ? prev : []), value];
    } else flags[name] = value;
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && flags[name] === undefined) throw new UsageError(\`--\${name} is required\`);
  }
  if (opts.positionals !== undefined && positionals.length > opts.positionals) {
    throw new UsageError(\`unexpected argument "\${positionals[opts.positionals]}"\`);
  }
  return { flags, positionals };
}
`;

/**
 * The relay's routes, matched as src/relay/server.ts matches them: string compares in order,
 * a prefix test before each group, a regex for each route with an id (route names, no handlers).
 */
const HAND_WRITTEN_ROUTES = `
export function route(method: string, p: string): [string, string?] | undefined {
  let m: RegExpExecArray | null;
  if (p === '/healthz') return ['healthz'];
  if (p === '/readyz') return ['readyz'];
  if (p === '/metrics' && method === 'GET') return ['metrics'];
  if (p === '/webhooks/omise' && method === 'POST') return ['webhook'];
  if (p === '/v1/pair' && method === 'POST') return ['pairStart'];
  if ((m = /^\\/v1\\/pair\\/([A-Za-z0-9_]{1,64})$/.exec(p)) && method === 'GET') return ['pairPoll', m[1]];
  if (p.startsWith('/v1/')) {
    if (p === '/v1/me' && method === 'GET') return ['me'];
    if (p === '/v1/sales' && method === 'POST') return ['createSale'];
    if (p === '/v1/sales' && method === 'GET') return ['listSales'];
    if ((m = /^\\/v1\\/sales\\/([^/]+)$/.exec(p)) && method === 'GET') return ['getSale', m[1]];
    if ((m = /^\\/v1\\/sales\\/([^/]+)\\/expire$/.exec(p)) && method === 'POST') return ['expireSale', m[1]];
    if ((m = /^\\/v1\\/sales\\/([^/]+)\\/refunds$/.exec(p)) && method === 'POST') return ['refund', m[1]];
    if (p === '/v1/records' && method === 'POST') return ['records'];
    return undefined;
  }
  if (p.startsWith('/admin/')) {
    if (p === '/admin/terminals' && method === 'GET') return ['terminals'];
    if (p === '/admin/pairings' && method === 'GET') return ['pairings'];
    if (p === '/admin/pairings/approve' && method === 'POST') return ['approve'];
    if (p === '/admin/pairings/reject' && method === 'POST') return ['reject'];
    if ((m = /^\\/admin\\/terminals\\/([A-Za-z0-9_]+)\\/rename$/.exec(p)) && method === 'POST') return ['rename', m[1]];
    if ((m = /^\\/admin\\/terminals\\/([A-Za-z0-9_]+)\\/revoke$/.exec(p)) && method === 'POST') return ['revoke', m[1]];
    if (p === '/admin/late-payments' && method === 'GET') return ['latePayments'];
    if (p === '/admin/report' && method === 'GET') return ['report'];
    if (p === '/admin/sales' && method === 'GET') return ['adminSales'];
  }
  return undefined;
}
`;

/** The relay's routes as one table of (method, anchored regex), as src/simulator/server.ts routes. */
const ROUTE_LIST: [string, string, string][] = [
  ['GET', '/healthz', 'healthz'],
  ['GET', '/readyz', 'readyz'],
  ['GET', '/metrics', 'metrics'],
  ['POST', '/webhooks/omise', 'webhook'],
  ['POST', '/v1/pair', 'pairStart'],
  ['GET', '/v1/pair/:id', 'pairPoll'],
  ['GET', '/v1/me', 'me'],
  ['POST', '/v1/sales', 'createSale'],
  ['GET', '/v1/sales', 'listSales'],
  ['GET', '/v1/sales/:id', 'getSale'],
  ['POST', '/v1/sales/:id/expire', 'expireSale'],
  ['POST', '/v1/sales/:id/refunds', 'refund'],
  ['POST', '/v1/records', 'records'],
  ['GET', '/admin/terminals', 'terminals'],
  ['GET', '/admin/pairings', 'pairings'],
  ['POST', '/admin/pairings/approve', 'approve'],
  ['POST', '/admin/pairings/reject', 'reject'],
  ['POST', '/admin/terminals/:id/rename', 'rename'],
  ['POST', '/admin/terminals/:id/revoke', 'revoke'],
  ['GET', '/admin/late-payments', 'latePayments'],
  ['GET', '/admin/report', 'report'],
  ['GET', '/admin/sales', 'adminSales'],
];

const TABLE_ROUTES = `
const LIST: [string, string, string][] = ${JSON.stringify(ROUTE_LIST)};
const TABLE = LIST.map(([method, pattern, name]) => ({
  method,
  name,
  re: new RegExp('^' + pattern.replace(/:id/g, '([^/]+)') + '$'),
}));
export function route(method: string, p: string): [string, string?] | undefined {
  for (const r of TABLE) {
    if (r.method !== method) continue;
    const m = r.re.exec(p);
    if (m) return m[1] === undefined ? [r.name] : [r.name, m[1]];
  }
  return undefined;
}
`;

const FIND_MY_WAY_ROUTES = `
import FindMyWay from 'find-my-way';
const LIST: [string, string, string][] = ${JSON.stringify(ROUTE_LIST)};
const router = FindMyWay({ ignoreTrailingSlash: false });
const names = new Map<unknown, string>();
for (const [method, pattern, name] of LIST) {
  const handler = () => name;
  names.set(handler, name);
  router.on(method as 'GET', pattern, handler);
}
export function route(method: string, p: string): [string, string?] | undefined {
  const found = router.find(method as 'GET', p);
  if (!found) return undefined;
  const name = names.get(found.handler)!;
  return found.params.id === undefined ? [name] : [name, found.params.id];
}
`;

// ---------------------------------------------------------------------------------------------
// Statistics and output.

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const pct = (x: number): string => `${Math.round(x * 100)}%`;
const ratio = (x: number): string => (Number.isFinite(x) ? `×${x.toFixed(2)}` : '—');
const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? pad(c, widths[i]) : lpad(c, widths[i]))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

/** Summary lines for the architecture doc's table, printed again at the end. */
const summary: string[] = [];

// ---------------------------------------------------------------------------------------------
// Cold load in a fresh child.

interface ColdSample {
  /** From before the first require to after the first call's answer. */
  ms: number;
  cpuShare: number;
  rssKb: number;
  heapKb: number;
  /** The whole child, spawn to exit, seen from here. */
  processMs: number;
}

interface ColdCandidate {
  name: string;
  /** JavaScript run in the child (top-level await allowed: it is wrapped in an async function). */
  code: string;
}

/**
 * What every qrpos program has loaded before any of these pieces matters: zod (the config and the
 * link protocol) and ws (the terminal's event stream, the relay's), which bring node:http, https,
 * net, tls, crypto and stream with them. A library's cost to a program is what it adds to that.
 */
const PROGRAM_BASE = ['zod', 'ws'];

let childEnv: NodeJS.ProcessEnv = {};

function coldOnce(c: ColdCandidate, preload: string[]): Promise<ColdSample> {
  const script = `
for (const p of ${JSON.stringify(preload)}) require(p);
const c0 = process.cpuUsage(); const m0 = process.memoryUsage(); const t0 = process.hrtime.bigint();
(async () => { ${c.code} })().then(() => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6; const cpu = process.cpuUsage(c0); const m1 = process.memoryUsage();
  process.stdout.write(JSON.stringify({ ms, cpuShare: (cpu.user + cpu.system) / 1000 / ms, rssKb: (m1.rss - m0.rss) / 1024, heapKb: (m1.heapUsed - m0.heapUsed) / 1024 }));
  process.exit(0);
}, (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });`;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    // From the work folder inside node_modules, so `require('zod')` resolves as in the repo.
    const child = spawn(process.execPath, ['-e', script], { cwd: workDir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`cold child "${c.name}" exited ${code}: ${err.slice(0, 500)}`));
      const s = JSON.parse(out) as Omit<ColdSample, 'processMs'>;
      resolve({ ...s, processMs: Number(process.hrtime.bigint() - started) / 1e6 });
    });
  });
}

export interface ColdResult {
  alone: ColdSample;
  onBase: ColdSample;
  /** Medians of the same-round ratios of `ms` to the reference. */
  ratioAlone: number;
  ratioOnBase: number;
}

/**
 * Runs every candidate `runs` times in a bare node and `runs` times after PROGRAM_BASE, interleaved
 * (the order rotates each round); the first candidate is the reference.
 */
async function cold(title: string, candidates: ColdCandidate[], runs: number): Promise<Map<string, ColdResult>> {
  const modes = [
    { key: 'alone' as const, preload: [] as string[] },
    { key: 'onBase' as const, preload: PROGRAM_BASE },
  ];
  const samples = new Map<string, Record<'alone' | 'onBase', ColdSample[]>>(candidates.map((c) => [c.name, { alone: [], onBase: [] }]));
  const ratios = new Map<string, Record<'alone' | 'onBase', number[]>>(candidates.map((c) => [c.name, { alone: [], onBase: [] }]));
  for (let r = 0; r < runs; r++) {
    for (const mode of modes) {
      const round = new Map<string, ColdSample>();
      for (let i = 0; i < candidates.length; i++) {
        const c = candidates[(i + r) % candidates.length];
        const s = await coldOnce(c, mode.preload);
        round.set(c.name, s);
        samples.get(c.name)![mode.key].push(s);
      }
      const ref = round.get(candidates[0].name)!;
      for (const c of candidates) ratios.get(c.name)![mode.key].push(round.get(c.name)!.ms / ref.ms);
    }
  }
  const med = (xs: ColdSample[]): ColdSample => ({
    ms: median(xs.map((x) => x.ms)),
    cpuShare: median(xs.map((x) => x.cpuShare)),
    rssKb: median(xs.map((x) => x.rssKb)),
    heapKb: median(xs.map((x) => x.heapKb)),
    processMs: median(xs.map((x) => x.processMs)),
  });
  const result = new Map<string, ColdResult>();
  for (const c of candidates) {
    const s = samples.get(c.name)!;
    const q = ratios.get(c.name)!;
    result.set(c.name, { alone: med(s.alone), onBase: med(s.onBase), ratioAlone: median(q.alone), ratioOnBase: median(q.onBase) });
  }
  console.log(`\n${title}: cold load and first call in a fresh node, alone and after ${PROGRAM_BASE.join(' + ')} (median of ${runs}; ratio = median of same-round ratios to "${candidates[0].name}")`);
  const mb = (kb: number) => `${(kb / 1024).toFixed(2)} MB`;
  table(
    ['candidate', 'alone', 'ratio', 'CPU share', '+RSS', '+heap', 'on base', 'ratio', 'CPU share', '+RSS', '+heap', 'whole node'],
    candidates.map((c) => {
      const m = result.get(c.name)!;
      return [
        c.name,
        `${m.alone.ms.toFixed(2)} ms`,
        ratio(m.ratioAlone),
        pct(m.alone.cpuShare),
        mb(m.alone.rssKb),
        mb(m.alone.heapKb),
        `${m.onBase.ms.toFixed(2)} ms`,
        ratio(m.ratioOnBase),
        pct(m.onBase.cpuShare),
        mb(m.onBase.rssKb),
        mb(m.onBase.heapKb),
        `${m.alone.processMs.toFixed(0)} ms`,
      ];
    }),
  );
  return result;
}

/** "12.3 ms (×4.56), +1.23 MB RSS" for the summary: a candidate against the reference, on the program's base. */
function coldVs(c: Map<string, ColdResult>, name: string, ref: string): string {
  const m = c.get(name)!;
  const r = c.get(ref)!;
  return `${m.onBase.ms.toFixed(2)} ms (${ratio(m.ratioOnBase)}, RSS ${signedMb(m.onBase.rssKb - r.onBase.rssKb)}; alone ${m.alone.ms.toFixed(2)} ms ${ratio(m.ratioAlone)}, RSS ${signedMb(m.alone.rssKb - r.alone.rssKb)})`;
}
const signedMb = (kb: number): string => `${kb >= 0 ? '+' : '−'}${(Math.abs(kb) / 1024).toFixed(2)} MB`;

// ---------------------------------------------------------------------------------------------
// Per-call blocks in this process.

interface CallCandidate {
  name: string;
  /** Runs the block once (its `calls` calls). */
  block: () => void | Promise<void>;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** CPU µs per call of each candidate, median over rounds, and the median same-round ratio to the first. */
async function perCall(title: string, calls: number, candidates: CallCandidate[], rounds: number): Promise<Map<string, { us: number; ratio: number }>> {
  for (const c of candidates) await c.block(); // warm up: JIT, connections, lazy loads
  const us = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  const shares = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  const ratios = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    const round = new Map<string, number>();
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[(i + r) % candidates.length];
      gc();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await c.block();
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      const cpu = process.cpuUsage(c0);
      const cpuUs = cpu.user + cpu.system;
      round.set(c.name, cpuUs / calls);
      us.get(c.name)!.push(cpuUs / calls);
      shares.get(c.name)!.push(cpuUs / wallUs);
    }
    const ref = round.get(candidates[0].name)!;
    for (const c of candidates) ratios.get(c.name)!.push(round.get(c.name)! / ref);
  }
  console.log(`\n${title}: CPU per call (${calls} calls a block, median of ${rounds} interleaved rounds; ratio to "${candidates[0].name}")`);
  const result = new Map<string, { us: number; ratio: number }>();
  table(
    ['candidate', 'CPU/call', 'ratio', 'CPU share'],
    candidates.map((c) => {
      const m = { us: median(us.get(c.name)!), ratio: median(ratios.get(c.name)!) };
      result.set(c.name, m);
      return [c.name, m.us < 10 ? `${(m.us * 1000).toFixed(0)} ns` : `${m.us.toFixed(1)} µs`, ratio(m.ratio), pct(median(shares.get(c.name)!))];
    }),
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// Building our modules the way they run.

let workDir = '';

async function bundle(name: string, entry: { file?: string; source?: string }): Promise<string> {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = path.join(workDir, `${name}.js`);
  await esbuild.build({
    ...(entry.file ? { entryPoints: [path.join(REPO, entry.file)] } : { stdin: { contents: entry.source!, loader: 'ts', resolveDir: REPO, sourcefile: `${name}.ts` } }),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

const req = <T>(file: string): T => require(file) as T;
const js = (s: string): string => JSON.stringify(s);

// ---------------------------------------------------------------------------------------------
// args

type ParseFn = (argv: string[], specs: Record<string, unknown>, opts?: { positionals?: number }) => unknown;

const ARG_SPECS = {
  config: { description: 'c', required: true },
  port: { type: 'number', description: 'p', default: 4010 },
  verbose: { type: 'boolean', description: 'v' },
  tag: { type: 'list', description: 't' },
  name: { description: 'n' },
};

/** Argument lists for the equivalence check: the cases that matter, then random ones. */
function argCorpus(count: number): string[][] {
  const fixed = [
    [],
    ['--config', 'a.json'],
    ['--config=a.json', '--port', '80', '--verbose', '--tag', 'x', '--tag=y', 'pos'],
    ['--config', 'a', '--port', '-5'],
    ['--config', 'a', '--port', 'abc'],
    ['--config', 'a', '--port', ' '],
    ['--config', 'a', '--port='],
    ['--config', 'a', '--port'],
    ['--config', '--verbose'],
    ['--config', 'a', '--name', '--'],
    ['--config', 'a', '--verbose=true', '--verbose=false'],
    ['--config', 'a', '--verbose=yes'],
    ['--config', 'a', '--verbose='],
    ['--config', 'a', '--verbose', 'x'],
    ['--config', 'a', '--nope'],
    ['--config', 'a', '--nope=1'],
    ['--config', 'a', '--', '--verbose', '-x'],
    ['--config', 'a', '-x', '-abc', '-x=5', '-', '-5', 'p'],
    ['-c', 'a'],
    ['--config', 'a', '---x'],
    ['--config', 'a', '--name', '-x'],
    ['--config', 'a', '--name=--x'],
  ];
  const pool = ['--config', '--config=f', '--port', '--port=1', '--port=x', '--verbose', '--verbose=true', '--verbose=no', '--tag', '--tag=t', '--name', '--nope', '--', '-', '-x', '-ab', '-5', '1', 'x', '', ' ', '--name=', 'true'];
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const out = [...fixed];
  while (out.length < count) out.push(Array.from({ length: Math.floor(rand() * 7) }, () => pool[Math.floor(rand() * pool.length)]));
  return out;
}

function outcome(parse: ParseFn, argv: string[], positionals: number | undefined): string {
  try {
    return JSON.stringify(parse(argv, ARG_SPECS, { positionals }));
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

async function benchArgs(runs: number, rounds: number, quick: boolean): Promise<boolean> {
  const refFile = await bundle('args-handwritten', { source: HAND_WRITTEN_ARGS });
  const nowFile = await bundle('args', { file: 'src/shared/args.ts' });
  const ref = req<{ parseFlags: ParseFn }>(refFile).parseFlags;
  const now = parseFlags as unknown as ParseFn;

  // The same answer, or the same error message, for every argument list.
  const corpus = argCorpus(quick ? 2_000 : 20_000);
  const mismatches = corpus.flatMap((argv) =>
    [undefined, 1].flatMap((p) => {
      const a = outcome(ref, argv, p);
      const b = outcome(now, argv, p);
      return a === b ? [] : [`${JSON.stringify(argv)} (positionals ${p}): hand-written ${a} | now ${b}`];
    }),
  );
  console.log(`\nargs: old and new parser on ${corpus.length * 2} argument lists: ${mismatches.length ? `${mismatches.length} MISMATCHES` : 'the same answer or error message for every one'}`);
  for (const m of mismatches.slice(0, 10)) console.log(`  ${m}`);

  const line = `['--config', '/etc/qrpos/terminal.json', '--port', '4010', '--verbose', '--name=Shop 1']`;
  const specs = JSON.stringify(ARG_SPECS);
  const c = await cold(
    'args',
    [
      { name: 'hand-written', code: `require(${js(refFile)}).parseFlags(${line}, ${specs});` },
      { name: 'util.parseArgs alone', code: `require('node:util').parseArgs({ args: ${line}, options: { config: { type: 'string' }, port: { type: 'string' }, verbose: { type: 'boolean' }, name: { type: 'string' } } });` },
      { name: 'args.ts on parseArgs', code: `require(${js(nowFile)}).parseFlags(${line}, ${specs});` },
    ],
    runs,
  );
  const argvs = corpus.slice(0, 10_000).map((a) => ['--config', 'x', ...a.filter((s) => s !== '--nope' && s !== '--')]);
  const options = { config: { type: 'string' as const }, port: { type: 'string' as const }, verbose: { type: 'boolean' as const }, tag: { type: 'string' as const, multiple: true }, name: { type: 'string' as const } };
  const n = quick ? 2_000 : 10_000;
  const p = await perCall(
    'args (parse 10,000 argument lists; errors included)',
    n,
    [
      { name: 'hand-written', block: () => void argvs.slice(0, n).forEach((a) => outcome(ref, a, undefined)) },
      { name: 'util.parseArgs alone', block: () => void argvs.slice(0, n).forEach((a) => parseArgs({ args: a, options, strict: false, allowPositionals: true })) },
      { name: 'args.ts on parseArgs', block: () => void argvs.slice(0, n).forEach((a) => outcome(now, a, undefined)) },
    ],
    rounds,
  );
  summary.push(
    `args: cold load+parse, hand-written ${c.get('hand-written')!.onBase.ms.toFixed(2)} ms, args.ts on parseArgs ${coldVs(c, 'args.ts on parseArgs', 'hand-written')}; ` +
      `per parse ${p.get('hand-written')!.us.toFixed(2)} µs vs ${p.get('args.ts on parseArgs')!.us.toFixed(2)} µs (${ratio(p.get('args.ts on parseArgs')!.ratio)})`,
  );
  return mismatches.length === 0;
}

// ---------------------------------------------------------------------------------------------
// log

interface LogApi {
  createLogger(o: { level?: string; write?: (l: string) => void }): { info(m: string, f?: Record<string, unknown>): void; child(c: string): { info(m: string, f?: Record<string, unknown>): void } };
  redact(v: unknown): unknown;
  redactText(s: string): string;
}

/** A pino logger dressed as ours: our field and text redaction, our keys (t, level, c, msg), our escaping. */
const PINO_AS_OURS = `
const pino = require('pino');
const { redact, redactText } = require(LOG);
const { escapeJsonText } = require(PRINTABLE);
function pinoLogger(fd, sync) {
  const dest = sync
    ? { write: (s) => { require('fs').writeSync(fd, escapeJsonText(s.slice(0, -1)) + '\\n'); } }
    : pino.destination({ dest: fd, sync: false, minLength: 4096 });
  const p = pino({
    base: null,
    messageKey: 'msg',
    timestamp: () => ',"t":"' + new Date().toISOString() + '"',
    formatters: { level: (label) => ({ level: label }), log: (o) => redact(o) },
  }, dest);
  const wrap = (l) => ({ info: (m, f) => l.info(f || {}, redactText(m)), child: (c) => wrap(l.child({ c })) });
  return wrap(p);
}
`;

const LOG_FIELDS = [
  { saleId: 'sale_0000123', amount: 12345, currency: 'THB', status: 'pending' },
  { saleId: 'sale_0000124', authorization: 'Bearer qrt_abcdefghijklmnop', nested: { supervisorPin: '4829', url: 'https://x/documents/docu_test_1/downloads/ABC123' } },
  { op: 'create charge', attempt: 1, waitMs: 250, error: 'HTTP 429 from https://api.omise.co with skey_test_123456789' },
  { terminal: 'trm_01', name: 'Shop 1 till 2', highestRef: 9182 },
];

async function benchLog(runs: number, rounds: number, quick: boolean): Promise<void> {
  const logFile = await bundle('log', { file: 'src/shared/log.ts' });
  const printableFile = await bundle('printable', { file: 'src/shared/printable.ts' });
  const ours = req<LogApi>(logFile);
  const pinoAsOursFile = path.join(workDir, 'pino-as-ours.js');
  fs.writeFileSync(pinoAsOursFile, `const LOG = ${js(logFile)}; const PRINTABLE = ${js(printableFile)};\n${PINO_AS_OURS}\nmodule.exports = { pinoLogger };\n`);
  const pinoAsOurs = req<{ pinoLogger(fd: number, sync: boolean): ReturnType<LogApi['createLogger']> }>(pinoAsOursFile);
  const pino = require('pino') as typeof import('pino');

  // Our redaction through pino says the same: no secret in the line.
  const probe = path.join(workDir, 'probe.log');
  const probeFd = fs.openSync(probe, 'w');
  pinoAsOurs.pinoLogger(probeFd, true).child('link').info('sent with skey_test_abc', LOG_FIELDS[1]);
  fs.closeSync(probeFd);
  const probeText = fs.readFileSync(probe, 'utf8');
  if (/skey_test|4829|qrt_|docu_test/.test(probeText)) throw new Error(`pino with our redaction leaked: ${probeText}`);

  const devnull = fs.openSync('/dev/null', 'w');
  const lines = quick ? 20_000 : 100_000;
  const oursLog = ours.createLogger({ level: 'info', write: (l) => fs.writeSync(devnull, l + '\n') }).child('relay');
  const pinoRedacting = pinoAsOurs.pinoLogger(devnull, true).child('relay');
  const pinoBare = pino({ base: null }, pino.destination({ dest: devnull, sync: true })).child({ c: 'relay' });
  const asyncDest = pino.destination({ dest: devnull, sync: false, minLength: 4096 });
  const pinoBuffered = pino({ base: null }, asyncDest).child({ c: 'relay' });
  const loop = (f: (m: string, o: Record<string, unknown>) => void) => () => {
    for (let i = 0; i < lines; i++) f('sale event', LOG_FIELDS[i & 3]);
  };
  const p = await perCall(
    `log (${lines.toLocaleString('en')} lines with fields to /dev/null, a quarter of them with secrets)`,
    lines,
    [
      { name: 'log.ts (redacting)', block: loop((m, o) => oursLog.info(m, o)) },
      { name: 'pino + our redaction', block: loop((m, o) => pinoRedacting.info(m, o)) },
      { name: 'pino, no redaction', block: loop((m, o) => pinoBare.info(o, m)) },
      { name: 'pino, no redaction, buffered', block: loop((m, o) => pinoBuffered.info(o, m)) },
    ],
    rounds,
  );
  asyncDest.flushSync();
  fs.closeSync(devnull);

  const c = await cold(
    'log',
    [
      { name: 'log.ts', code: `const fs = require('fs'); const fd = fs.openSync('/dev/null', 'w'); require(${js(logFile)}).createLogger({ write: (l) => fs.writeSync(fd, l + '\\n') }).info('up', { a: 1 });` },
      { name: 'pino', code: `const pino = require('pino'); pino(pino.destination({ dest: '/dev/null', sync: true })).info({ a: 1 }, 'up');` },
      { name: 'pino + our redaction', code: `${PINO_AS_OURS.replace('require(LOG)', `require(${js(logFile)})`).replace('require(PRINTABLE)', `require(${js(printableFile)})`)}\npinoLogger(require('fs').openSync('/dev/null', 'w'), true).info('up', { a: 1 });` },
    ],
    runs,
  );
  summary.push(
    `log: cold load+line, log.ts ${c.get('log.ts')!.onBase.ms.toFixed(2)} ms, pino ${coldVs(c, 'pino', 'log.ts')}, pino + our redaction ${coldVs(c, 'pino + our redaction', 'log.ts')}; ` +
      `per line log.ts ${p.get('log.ts (redacting)')!.us.toFixed(2)} µs, pino + our redaction ${ratio(p.get('pino + our redaction')!.ratio)}, pino bare ${ratio(p.get('pino, no redaction')!.ratio)}, pino bare buffered ${ratio(p.get('pino, no redaction, buffered')!.ratio)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// http

const SERVER = `
const http = require('http');
const answer = JSON.stringify({ saleId: 'sale_0000123', status: 'pending', amount: 12345, currency: 'THB', qr: 'x'.repeat(180) });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }); res.end(answer); });
});
server.keepAliveTimeout = 10000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('disconnect', () => process.exit(0));
`;

function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve({ url: `http://127.0.0.1:${d.toString().trim()}/v1/sales`, child }));
    child.once('exit', (code) => reject(new Error(`loopback server exited ${code}`)));
  });
}

interface HttpClientApi {
  HttpClient: new (base: string) => { request(method: 'POST', url: string, h: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; text: string }>; close(): void };
}
interface LeanFetchApi {
  leanFetch(): typeof fetch & { close(): void };
}

async function benchHttp(runs: number, rounds: number, quick: boolean): Promise<void> {
  const clientFile = await bundle('http-client', { file: 'src/terminal/http-client.ts' });
  const leanFile = await bundle('http-fetch', { file: 'src/relay/http-fetch.ts' });
  const { url, child } = await startServer();
  try {
    const body = JSON.stringify({ saleId: 'sale_0000123', amount: 12345, currency: 'THB', method: 'alipayplus_mpm' });
    const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer t' };
    const terminalClient = new (req<HttpClientApi>(clientFile).HttpClient)(url);
    const lean = req<LeanFetchApi>(leanFile).leanFetch();
    const viaFetch = async () => {
      const r = await fetch(url, { method: 'POST', headers, body });
      await r.text();
    };
    const viaLean = async () => {
      const r = await lean(url, { method: 'POST', headers, body });
      await r.text();
    };
    const viaClient = async () => {
      await terminalClient.request('POST', url, headers, body, 5000);
    };
    const n = quick ? 200 : 1_000;
    const sequential = (f: () => Promise<void>) => async () => {
      for (let i = 0; i < n; i++) await f();
    };
    const concurrent = (f: () => Promise<void>, inFlight: number) => async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next++ < n) await f();
        }),
      );
    };
    const seq = await perCall(
      `http, one at a time (the terminal: ${n} small JSON POSTs to a loopback server in another process)`,
      n,
      [
        { name: 'http-client.ts (terminal)', block: sequential(viaClient) },
        { name: 'http-fetch.ts (relay)', block: sequential(viaLean) },
        { name: 'fetch (undici)', block: sequential(viaFetch) },
      ],
      rounds,
    );
    const par = await perCall(
      `http, 16 in flight (the relay calling Omise: ${n} small JSON POSTs)`,
      n,
      [
        { name: 'http-fetch.ts (relay)', block: concurrent(viaLean, 16) },
        { name: 'fetch (undici)', block: concurrent(viaFetch, 16) },
      ],
      rounds,
    );
    terminalClient.close();
    lean.close();

    const first = `const url = ${js(url)}; const body = ${js(body)}; const headers = ${JSON.stringify(headers)};`;
    const c = await cold(
      'http',
      [
        { name: 'http-client.ts (terminal)', code: `${first} const c = new (require(${js(clientFile)}).HttpClient)(url); await c.request('POST', url, headers, body, 5000); c.close();` },
        { name: 'http-fetch.ts (relay)', code: `${first} const f = require(${js(leanFile)}).leanFetch(); await (await f(url, { method: 'POST', headers, body })).text(); f.close();` },
        { name: 'fetch (undici)', code: `${first} await (await fetch(url, { method: 'POST', headers, body })).text();` },
      ],
      runs,
    );
    summary.push(
      `http: cold load+first request, http-client.ts ${c.get('http-client.ts (terminal)')!.onBase.ms.toFixed(2)} ms, fetch ${coldVs(c, 'fetch (undici)', 'http-client.ts (terminal)')}; ` +
        `CPU per request one at a time ${seq.get('http-client.ts (terminal)')!.us.toFixed(0)} µs vs fetch ${ratio(seq.get('fetch (undici)')!.ratio)}; 16 in flight http-fetch.ts ${par.get('http-fetch.ts (relay)')!.us.toFixed(0)} µs vs fetch ${ratio(par.get('fetch (undici)')!.ratio)}`,
    );
  } finally {
    child.kill();
  }
}

// ---------------------------------------------------------------------------------------------
// route

type RouteFn = (method: string, p: string) => [string, string?] | undefined;

async function benchRoute(runs: number, rounds: number, quick: boolean): Promise<void> {
  const handFile = await bundle('route-handwritten', { source: HAND_WRITTEN_ROUTES });
  const tableFile = await bundle('route-table', { source: TABLE_ROUTES });
  const fmwFile = await bundle('route-find-my-way', { source: FIND_MY_WAY_ROUTES });
  const hand = req<{ route: RouteFn }>(handFile).route;
  const tab = req<{ route: RouteFn }>(tableFile).route;
  const fmw = req<{ route: RouteFn }>(fmwFile).route;
  // Traffic as the relay sees it: mostly sales, records and webhooks, some admin, some 404s.
  const mix: [string, string][] = [
    ['POST', '/v1/sales'],
    ['GET', '/v1/sales/sale_01HZX3'],
    ['POST', '/v1/records'],
    ['POST', '/webhooks/omise'],
    ['POST', '/v1/sales/sale_01HZX3/expire'],
    ['GET', '/v1/me'],
    ['GET', '/healthz'],
    ['GET', '/v1/pair/pair_abc'],
    ['POST', '/admin/terminals/trm_01/revoke'],
    ['GET', '/admin/report'],
    ['GET', '/v1/nothing'],
    ['POST', '/v1/sales/sale_01HZX3/refunds'],
  ];
  for (const [m, p] of mix) {
    const a = JSON.stringify(hand(m, p));
    if (a !== JSON.stringify(tab(m, p)) || a !== JSON.stringify(fmw(m, p))) throw new Error(`routers disagree on ${m} ${p}: ${a} / ${JSON.stringify(tab(m, p))} / ${JSON.stringify(fmw(m, p))}`);
  }
  const n = quick ? 100_000 : 500_000;
  const loop = (f: RouteFn) => () => {
    for (let i = 0; i < n; i++) {
      const [m, p] = mix[i % mix.length];
      f(m, p);
    }
  };
  const p = await perCall(
    `route (${n.toLocaleString('en')} look-ups over the relay's ${ROUTE_LIST.length} routes)`,
    n,
    [
      { name: 'relay if-chain', block: loop(hand) },
      { name: 'regex table (simulator)', block: loop(tab) },
      { name: 'find-my-way', block: loop(fmw) },
    ],
    rounds,
  );
  const c = await cold(
    'route',
    [
      { name: 'relay if-chain', code: `require(${js(handFile)}).route('POST', '/v1/sales');` },
      { name: 'regex table (simulator)', code: `require(${js(tableFile)}).route('POST', '/v1/sales');` },
      { name: 'find-my-way', code: `require(${js(fmwFile)}).route('POST', '/v1/sales');` },
    ],
    runs,
  );
  summary.push(
    `route: cold load+22 routes+1 look-up, if-chain ${c.get('relay if-chain')!.onBase.ms.toFixed(2)} ms, find-my-way ${coldVs(c, 'find-my-way', 'relay if-chain')}; ` +
      `per look-up if-chain ${(p.get('relay if-chain')!.us * 1000).toFixed(0)} ns, regex table ${ratio(p.get('regex table (simulator)')!.ratio)}, find-my-way ${ratio(p.get('find-my-way')!.ratio)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// backoff

interface BackoffApi {
  nextRetryDelay(attempt: number, policy: { baseMs: number; maxMs: number }, retryAfter: number | undefined): number;
}

async function benchBackoff(runs: number, rounds: number, quick: boolean): Promise<void> {
  const file = await bundle('backoff', { file: 'src/shared/backoff.ts' });
  const ours = req<BackoffApi>(file);
  const { backOff } = require('exponential-backoff') as typeof import('exponential-backoff');
  const n = quick ? 100 : 300;
  // A call that fails twice, then succeeds; both sides wait 0 ms (a timer turn) between tries.
  const flaky = () => {
    let left = 2;
    return () => (left-- > 0 ? Promise.reject(new Error('busy')) : Promise.resolve(1));
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const p = await perCall(
    `backoff (${n} calls that fail twice then succeed, 0 ms waits)`,
    n,
    [
      {
        name: 'backoff.ts + a loop',
        block: async () => {
          for (let i = 0; i < n; i++) {
            const f = flaky();
            for (let attempt = 0; ; attempt++) {
              try {
                await f();
                break;
              } catch {
                await sleep(ours.nextRetryDelay(attempt, { baseMs: 0, maxMs: 0 }, undefined));
              }
            }
          }
        },
      },
      {
        name: 'exponential-backoff',
        block: async () => {
          for (let i = 0; i < n; i++) await backOff(flaky(), { startingDelay: 0, maxDelay: 0, jitter: 'full', numOfAttempts: 5 });
        },
      },
    ],
    rounds,
  );
  const c = await cold(
    'backoff',
    [
      { name: 'backoff.ts', code: `require(${js(file)}).nextRetryDelay(3, { baseMs: 250, maxMs: 4000 }, undefined);` },
      { name: 'exponential-backoff', code: `await require('exponential-backoff').backOff(() => Promise.resolve(1));` },
    ],
    runs,
  );
  summary.push(
    `backoff: cold load+call, backoff.ts ${c.get('backoff.ts')!.onBase.ms.toFixed(2)} ms, exponential-backoff ${coldVs(c, 'exponential-backoff', 'backoff.ts')}; ` +
      `CPU per retried call ${p.get('backoff.ts + a loop')!.us.toFixed(0)} µs vs ${ratio(p.get('exponential-backoff')!.ratio)}`,
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), FLAGS, { positionals: 0 });
  const quick = flags.quick === true;
  const runs = quick ? 3 : (flags.runs as number);
  const rounds = quick ? 2 : (flags.rounds as number);
  const pieces = typeof flags.only === 'string' ? flags.only.split(',') : ['args', 'log', 'http', 'route', 'backoff'];
  const known = ['args', 'log', 'http', 'route', 'backoff'];
  const unknown = pieces.filter((p) => !known.includes(p));
  if (unknown.length) throw new Error(`--only: unknown piece(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);

  childEnv = { ...process.env, ...terminalUnitEnvironment() };
  // Inside node_modules, so the compiled modules find pino and the others as our build does.
  const cache = path.join(REPO, 'node_modules', '.cache');
  fs.mkdirSync(cache, { recursive: true });
  workDir = fs.mkdtempSync(path.join(cache, 'qrpos-bench-libraries-'));
  console.log(`libraries — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0].toFixed(2)}`);
  console.log(`cold children run with the terminal unit's environment: NODE_OPTIONS="${childEnv.NODE_OPTIONS ?? ''}"`);
  let ok = true;
  try {
    const base = await cold('baseline', [{ name: 'empty node -e', code: '' }], runs);
    summary.push(`baseline: an empty node -e, spawn to exit ${base.get('empty node -e')!.alone.processMs.toFixed(0)} ms`);
    if (pieces.includes('args')) ok = (await benchArgs(runs, rounds, quick)) && ok;
    if (pieces.includes('log')) await benchLog(runs, rounds, quick);
    if (pieces.includes('http')) await benchHttp(runs, rounds, quick);
    if (pieces.includes('route')) await benchRoute(runs, rounds, quick);
    if (pieces.includes('backoff')) await benchBackoff(runs, rounds, quick);
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`\nsummary (load ${os.loadavg()[0].toFixed(2)}):`);
  for (const s of summary) console.log(`  ${s}`);
  if (!ok) {
    console.log('\nFAILED: the flag parser does not answer as the hand-written one did');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
