/**
 * The terminal on a small Pi: the terminal process limited to a share of one core (default 20 %,
 * about a Pi Zero 2 W / Pi 3 core next to this machine's), and the same terminal unlimited as the
 * reference, in the same run; the relay and the Omise simulator run unconstrained on loopback, as
 * they would on the merchant's server. Prints, limited next to unlimited with their ratio:
 *  1. cold start of `qrpos terminal` (the service's command, the unit's environment) to the first
 *     frame on the display and to READY=1 on the notify socket (target limited: first frame <= 1.5 s)
 *  2. key → frame on the display, p50/p99 (target limited: p99 <= 16 ms)
 *  3. Enter → QR on the display, p50/p99 (target limited: p50 <= 40 ms)
 *  4. RSS and private memory of the terminal after start and every 250 sales (target limited:
 *     <= 70 MB and flat over 1,000 sales)
 * and the share of a core each process actually used, so a figure is never read without the CPU
 * it had. How the limit is applied is printed (cgroup v2 cpu.max, systemd-run CPUQuota, cgroup v1
 * cfs quota, or a SIGSTOP/SIGCONT duty cycle; see lib/cpu-limit.ts).
 *
 * The display is a framebuffer on a regular file (480×320 RGB565, an SPI panel's), the keys come
 * through the tty keypad driver from a pipe, and a frame counts when the framebuffer write is done:
 * for 2–4 the daemon runs under testing/bench-child.ts, which reports each frame on fd 3; the time
 * is taken in this process, from the key written to the pipe to the report read, so time the
 * terminal waits for CPU counts.
 *
 * Run: npx tsx scripts/bench/small-pi.ts [--cpu 20] [--limiter v2|systemd|v1|duty] [--cold-runs 5]
 *      [--keys 300] [--sales 1000] [--only cold|sales] [--no-build] [--cli <another checkout>/scripts/qrpos.cjs]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { makeFakeFb } from '../../drivers/display/testing';
import { parseFlags } from '../../src/shared/args';
import { writeSecrets } from '../../src/terminal/secrets';
import { terminalUnitEnvironment } from '../../src/terminal/service-env';
import { childEnv, REPO_ROOT } from '../../src/terminal/testing/bundle';
import { terminalConfig, waitFor } from '../../src/terminal/testing/rig';
import { getStatus, pct, QRPOS_CLI, startBackend, stopChild, type Backend } from './lib/backend';

type Status = { state: string; unsynced: number; link: { online: boolean } };
import { cpuLimiter, cpuSeconds, unlimited, type Limiter, type LimiterKind } from './lib/cpu-limit';
import { runMain } from './lib/run';

/** --node-args (a trial). */
let nodeArgs: string[] = [];
const WIDTH = 480;
const HEIGHT = 320;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ensureBuilt(build: boolean): void {
  const entry = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (build || !fs.existsSync(entry)) {
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'ignore' });
    if (r.status !== 0 || !fs.existsSync(entry)) throw new Error(`build failed (npm run build exit ${r.status})`);
  }
}

/** A terminal config for the device under test: framebuffer on a file, keys from stdin. */
function deviceConfig(dir: string, relayUrl: string, statusSock: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const fb = makeFakeFb(dir, WIDTH, HEIGHT, 16);
  const cfg = terminalConfig(dir, relayUrl, {
    statusListen: statusSock,
    link: { heartbeatMs: 15_000, requestTimeoutMs: 10_000 },
    drivers: { keypad: { driver: 'tty' }, display: { driver: 'framebuffer', device: fb.device, sysfsDir: fb.sysfsDir, tty: null, width: WIDTH, height: HEIGHT } },
  });
  const file = path.join(dir, 'terminal.json');
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

/** systemd's end of the notify socket: a Python datagram socket, printing each message with CLOCK_MONOTONIC in ns. */
function notifyReceiver(sock: string): { child: ChildProcess; next(match: RegExp, afterMs: number, timeoutMs: number): Promise<number> } {
  const py = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    m = s.recv(4096)
    print(time.monotonic_ns(), m.decode(errors="replace").replace("\\n", " "), flush=True)
`;
  const child = spawn('python3', ['-c', py, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const seen: { at: number; msg: string }[] = [];
  let wake: (() => void) | null = null;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const m = /^(\d+) (.*)$/.exec(line);
    if (m) seen.push({ at: Number(BigInt(m[1])) / 1e6, msg: m[2] });
    else seen.push({ at: nowMs(), msg: line });
    wake?.();
  });
  return {
    child,
    async next(match, afterMs, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = seen.find((s) => s.at >= afterMs && match.test(s.msg));
        if (hit) return hit.at;
        if (Date.now() > end) throw new Error(`no ${match} on the notify socket within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
    },
  };
}

interface ColdRun {
  firstFrame: number;
  ready: number;
  cpuShare: number;
  /** CPU time the process used until READY=1 (user + system, ms): the work, whatever the load. */
  cpuMs: number;
}

/** One cold start of the service's command: time to the first framebuffer write and to READY=1. */
async function coldStart(limiter: Limiter, cli: string, dir: string, relayUrl: string, notify: ReturnType<typeof notifyReceiver>, notifySock: string, unitEnv: Record<string, string>): Promise<ColdRun> {
  const file = deviceConfig(dir, relayUrl, path.join(dir, 'status.sock'));
  const fbFile = path.join(dir, 'fb');
  let firstFrame = 0;
  const watcher = fs.watch(fbFile, () => {
    if (!firstFrame) firstFrame = nowMs();
  });
  try {
    const t0 = nowMs();
    const child = limiter.spawn(process.execPath, [...nodeArgs, cli, 'terminal', '--config', file], {
      // The keys' pipe stays open (an ended stdin is an unplugged keypad).
      stdio: ['pipe', 'ignore', 'inherit'],
      env: { ...process.env, ...unitEnv, QRPOS_LOG_LEVEL: 'error', NOTIFY_SOCKET: notifySock },
    });
    try {
      const ready = await notify.next(/READY=1/, t0, 60_000);
      const cpu = cpuSeconds(child.pid!);
      await waitFor(() => firstFrame, 'first frame', 10_000, 5);
      return { firstFrame: firstFrame - t0, ready: ready - t0, cpuShare: cpu / ((ready - t0) / 1000), cpuMs: cpu * 1000 };
    } finally {
      await stopChild(child);
    }
  } finally {
    watcher.close();
  }
}

/** --smaps-dir (diagnosis). */
let smapsDir: string | null = null;

function memory(pid: number, tag?: string): { rss: number; priv: number } {
  if (smapsDir && tag) fs.writeFileSync(path.join(smapsDir, `${tag}.smaps`), fs.readFileSync(`/proc/${pid}/smaps`));
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, priv: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
}

/**
 * What the terminal cannot go below whatever its own code does: a `node` with the unit's
 * settings, bare, and with the two native libraries every terminal loads (canvas and its cairo /
 * pango / librsvg, better-sqlite3) and one line of text drawn on a screen-sized canvas. RSS after
 * they settle, in this run, so the terminal's figures can be read against them.
 */
async function floors(unitEnv: Record<string, string>): Promise<{ bare: number; libraries: number }> {
  const programs = {
    bare: '',
    libraries: `const { createCanvas } = require('canvas'); const db = require('better-sqlite3')(':memory:'); db.exec('CREATE TABLE t (a)'); const ctx = createCanvas(${WIDTH}, ${HEIGHT}).getContext('2d'); ctx.font = '20px sans-serif'; ctx.fillText('0123456789 THB', 10, 40);`,
  };
  const out = { bare: NaN, libraries: NaN };
  for (const [name, code] of Object.entries(programs) as [keyof typeof programs, string][]) {
    const child = spawn(process.execPath, [...nodeArgs, '-e', `${code} process.stdout.write('ready\\n'); setInterval(() => {}, 1000);`], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: childEnv(unitEnv) });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.once('exit', (c) => reject(new Error(`the ${name} floor program exited (${c})`)));
      });
      await sleep(1500);
      out[name] = memory(child.pid!).rss;
    } finally {
      await stopChild(child);
    }
  }
  return out;
}

interface SessionResult {
  keys: number[];
  qr: number[];
  creating: number[];
  /** The relay's own share: the same create sent straight to it, no terminal involved. */
  relay: number[];
  /** The terminal's create as the terminal saw it: request start → the relay's answer. */
  relaySeen: number[];
  /** Each sale's Enter → QR less its own create's round trip: the terminal's own part. */
  own: number[];
  memory: { sales: number; rss: number; priv: number }[];
  cpuShareKeys: number;
  cpuShareSales: number;
  salesSeconds: number;
  /** Share of a core the relay and the simulator used during the sales (unlimited, on loopback). */
  relayCpuShare: number;
  simCpuShare: number;
}

/** The daemon under bench-child.ts: key → frame, then `sales` sales (Enter → QR, memory every 250). */
async function session(limiter: Limiter, childJs: string, dir: string, backend: Backend, keys: number, sales: number, unitEnv: Record<string, string>): Promise<SessionResult> {
  const sock = path.join(dir, 'status.sock');
  const file = deviceConfig(dir, backend.relayUrl, sock);
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { secretsFile: string };
  writeSecrets(cfg.secretsFile, await backend.pair(path.basename(dir)));
  const child = limiter.spawn(process.execPath, [...nodeArgs, childJs, file], {
    stdio: ['pipe', 'ignore', 'inherit', 'pipe'],
    env: childEnv({ ...unitEnv, QRPOS_LOG_LEVEL: 'error' }),
  });
  const events: { at: number; text: string }[] = [];
  let wake: (() => void) | null = null;
  readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on('line', (text) => {
    events.push({ at: nowMs(), text });
    wake?.();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
    wake?.();
  });
  /** The first event matching `re` at or after `after`; its time. */
  const event = async (re: RegExp, after: number, what: string, timeoutMs = 15_000): Promise<number> => {
    const end = nowMs() + timeoutMs;
    for (;;) {
      const hit = events.find((e) => e.at >= after && re.test(e.text));
      if (hit) return hit.at;
      if (exited) throw new Error(`the terminal exited while waiting for ${what}`);
      if (nowMs() > end) throw new Error(`no ${what} within ${timeoutMs} ms (last events: ${events.slice(-5).map((e) => e.text).join(', ')})`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 20);
      });
    }
  };
  const press = (chars: string) => child.stdin!.write(chars);
  try {
    await event(/^ready$/, 0, 'start', 60_000);
    await waitFor(async () => (await getStatus<Status>(sock))?.link.online, 'online', 30_000, 50);
    // 1. keys, spaced as a cashier types (40–120 ms apart), in the entry screen
    const cycle = ['1', '2', '3', '4', '-', '5', 'z', 'c'];
    const keyLat: number[] = [];
    const warm = 30;
    let cpu0 = cpuSeconds(child.pid!);
    let wall0 = nowMs();
    for (let i = 0; i < keys + warm; i++) {
      const t0 = nowMs();
      press(cycle[i % cycle.length]);
      const at = await event(/^frame /, t0, `a frame after key ${cycle[i % cycle.length]}`);
      if (i >= warm) keyLat.push(at - t0);
      events.length = 0;
      await sleep(40 + Math.random() * 80);
    }
    const cpuShareKeys = (cpuSeconds(child.pid!) - cpu0) / ((nowMs() - wall0) / 1000);
    let t = nowMs();
    press('cc');
    await event(/^frame idle$/, t, 'the idle screen');
    // 2. sales: amount, Enter → QR, cancel, clear → idle; memory every 250 sales
    const mem: SessionResult['memory'] = [{ sales: 0, ...memory(child.pid!, `${path.basename(dir)}-0`) }];
    const qr: number[] = [];
    const creating: number[] = [];
    const relay: number[] = [];
    const relaySeen: number[] = [];
    const own: number[] = [];
    const direct = await backend.pair(`${path.basename(dir)}-direct`);
    cpu0 = cpuSeconds(child.pid!);
    const relayCpu0 = cpuSeconds(backend.relayPid);
    const simCpu0 = cpuSeconds(backend.simPid);
    wall0 = nowMs();
    for (let i = 1; i <= sales; i++) {
      events.length = 0;
      t = nowMs();
      press(String(15000 + (i % 5000)));
      await event(/^frame entry$/, t, 'the amount');
      // As when the next customer comes seconds later: the previous sale's expire and records are through.
      await waitFor(async () => (await getStatus<Status>(sock))?.unsynced === 0, 'outbox synced', 30_000, 20);
      await sleep(20);
      const t0 = nowMs();
      press('\r');
      const at = await event(/^frame qr$/, t0, 'the QR');
      const cr = events.find((e) => e.at >= t0 && e.text === 'frame creating');
      const rc = events.find((e) => e.at >= t0 && e.at <= at && /^relay-create /.test(e.text));
      if (i > 5) {
        qr.push(at - t0);
        if (cr) creating.push(cr.at - t0);
        if (rc) {
          const ms = Number(rc.text.split(' ')[1]);
          relaySeen.push(ms);
          own.push(at - t0 - ms);
        }
      }
      t = nowMs();
      press('x');
      await event(/^frame (?!qr$)/, t, 'the screen after cancel');
      t = nowMs();
      press('c');
      await event(/^frame idle$/, t, 'the idle screen after the sale');
      // The direct create in the conditions of the terminal's: the relay done with this sale's
      // expire and records (not racing them), as before each Enter.
      await waitFor(async () => (await getStatus<Status>(sock))?.unsynced === 0, 'outbox synced', 30_000, 20);
      await sleep(20);
      const r0 = nowMs();
      const res = await fetch(`${backend.relayUrl}/v1/sales`, {
        method: 'POST',
        headers: { authorization: `Bearer ${direct.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ saleId: `BENCH_${Date.now()}_${i}`, amount: 15000 + i, currency: 'THB' }),
      });
      await res.text();
      if (!res.ok) throw new Error(`the relay answered ${res.status} to a direct create`);
      if (i > 5) relay.push(nowMs() - r0);
      if (i % 250 === 0 || i === sales) mem.push({ sales: i, ...memory(child.pid!, `${path.basename(dir)}-${i}`) });
    }
    const salesSeconds = (nowMs() - wall0) / 1000;
    const cpuShareSales = (cpuSeconds(child.pid!) - cpu0) / salesSeconds;
    const relayCpuShare = (cpuSeconds(backend.relayPid) - relayCpu0) / salesSeconds;
    const simCpuShare = (cpuSeconds(backend.simPid) - simCpu0) / salesSeconds;
    return { keys: keyLat, qr, creating, relay, relaySeen, own, memory: mem, cpuShareKeys, cpuShareSales, salesSeconds, relayCpuShare, simCpuShare };
  } finally {
    child.stdin!.end();
    await stopChild(child);
  }
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const pctOf = (share: number) => `${(share * 100).toFixed(0)}%`;

function row(what: string, limited: number, reference: number, unit: string, target: string, digits = f1): string {
  return `  ${what.padEnd(34)} ${`${digits(limited)} ${unit}`.padStart(11)} ${`${digits(reference)} ${unit}`.padStart(11)}   ×${(limited / reference).toFixed(2).padEnd(6)} ${target}`;
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), {
    cpu: { type: 'number', description: 'share of one core for the limited terminal, in %', default: 20 },
    limiter: { type: 'string', description: 'v2, systemd, v1 or duty (default: the first that works)' },
    'cold-runs': { type: 'number', description: 'cold starts of each kind (after one warm-up each)', default: 5 },
    keys: { type: 'number', description: 'key presses timed in each session', default: 300 },
    sales: { type: 'number', description: 'sales in each session', default: 1000 },
    only: { type: 'string', description: 'cold or sales' },
    'no-build': { type: 'boolean', description: 'do not run npm run build first' },
    cli: { type: 'string', description: "cold start: the qrpos.cjs to start, e.g. another checkout's built one (default this checkout's)" },
    'node-args': { type: 'string', description: 'a trial: node flags put before the script on the command line (V8 flags NODE_OPTIONS refuses), space-separated' },
    'smaps-dir': { type: 'string', description: 'also copy /proc/<pid>/smaps of each terminal at each memory mark into this folder (where the memory goes)' },
    'node-options': { type: 'string', description: "a trial: node flags added to the unit's NODE_OPTIONS for both terminals (the unit file is what the device runs)" },
  });
  const percent = Number(flags.cpu);
  smapsDir = flags['smaps-dir'] ? path.resolve(String(flags['smaps-dir'])) : null;
  if (smapsDir) fs.mkdirSync(smapsDir, { recursive: true });
  nodeArgs = flags['node-args'] ? String(flags['node-args']).split(/\s+/).filter(Boolean) : [];
  const cli = flags.cli ? path.resolve(String(flags.cli)) : QRPOS_CLI;
  const only = flags.only as string | undefined;
  const limited = cpuLimiter(percent, flags.limiter as LimiterKind | undefined);
  const reference = unlimited();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-bench-small-pi-'));
  const unitEnv = terminalUnitEnvironment();
  if (flags['node-options']) unitEnv.NODE_OPTIONS = `${unitEnv.NODE_OPTIONS ?? ''} ${String(flags['node-options'])}`.trim();
  const load = () => os.loadavg()[0].toFixed(1);
  let backend: Backend | null = null;
  const cleanup: string[] = [];
  try {
    console.log(`small-Pi benchmark (node ${process.version}, ${os.cpus().length} CPUs, load average ${load()})`);
    console.log(`limited terminal: ${percent}% of one core by ${limited.describe}`);
    console.log('reference: the same terminal with no limit, in the same run; relay and simulator unlimited on loopback');
    console.log(`display: framebuffer on a regular file, ${WIDTH}x${HEIGHT} RGB565; keys: tty keypad on a pipe; environment of systemd/qrpos-terminal.service`);
    console.log(`terminal environment: ${Object.entries(unitEnv).map(([k, v]) => `${k}=${v}`).join(' ')}${flags['node-options'] ? ' (NODE_OPTIONS with --node-options added: a trial, not the unit)' : ''}${nodeArgs.length ? `; node ${nodeArgs.join(' ')} (--node-args: a trial)` : ''}`);
    ensureBuilt(!flags['no-build']);
    backend = await startBackend(dir);
    const header = `  ${''.padEnd(34)} ${`${percent}% core`.padStart(11)} ${'unlimited'.padStart(11)}   ratio   target at ${percent}%`;

    if (!only || only === 'cold') {
      const notifySock = path.join(dir, 'notify.sock');
      const notify = notifyReceiver(notifySock);
      try {
        await waitFor(() => fs.existsSync(notifySock), 'notify socket', 10_000);
        const cred = await backend.pair('cold');
        const runs: Record<'limited' | 'reference', ColdRun[]> = { limited: [], reference: [] };
        const n = Number(flags['cold-runs']);
        // Interleaved, so load from elsewhere falls on both alike; run 0 of each is a warm-up.
        for (let i = 0; i <= n; i++) {
          for (const [name, l] of [['limited', limited], ['reference', reference]] as const) {
            const cdir = path.join(dir, `cold-${name}-${i}`);
            fs.mkdirSync(cdir, { recursive: true });
            writeSecrets(path.join(cdir, 'secrets.json'), cred);
            const r = await coldStart(l, cli, cdir, backend.relayUrl, notify, notifySock, unitEnv);
            if (i > 0) runs[name].push(r);
          }
        }
        const get = (rs: ColdRun[], k: keyof ColdRun) => rs.map((r) => r[k]);
        console.log(`\ncold start of \`qrpos terminal\` (${cli}; ${n} runs each, interleaved; load average ${load()})`);
        console.log(header);
        for (const [label, k] of [['→ first frame, p50', 'firstFrame'], ['→ READY=1 (ready), p50', 'ready']] as const) {
          console.log(row(label, pct(get(runs.limited, k), 50), pct(get(runs.reference, k), 50), 'ms', k === 'firstFrame' ? '<= 1500 ms' : ''));
          console.log(row(label.replace('p50', 'max'), Math.max(...get(runs.limited, k)), Math.max(...get(runs.reference, k)), 'ms', ''));
        }
        console.log(row('CPU time until READY=1, p50', pct(get(runs.limited, 'cpuMs'), 50), pct(get(runs.reference, 'cpuMs'), 50), 'ms', ''));
        console.log(`  CPU used until ready: ${pctOf(pct(get(runs.limited, 'cpuShare'), 50))} of a core limited, ${pctOf(pct(get(runs.reference, 'cpuShare'), 50))} unlimited (p50)`);
        const ff = pct(get(runs.limited, 'firstFrame'), 50);
        console.log(`  target at ${percent}% of a core, first frame p50 <= 1500 ms: ${ff.toFixed(0)} ms, ${ff <= 1500 ? 'met' : 'NOT met'}`);
        console.log(`  all runs, first frame / ready ms: limited ${runs.limited.map((r) => `${r.firstFrame.toFixed(0)}/${r.ready.toFixed(0)}`).join(' ')}; unlimited ${runs.reference.map((r) => `${r.firstFrame.toFixed(0)}/${r.ready.toFixed(0)}`).join(' ')}`);
      } finally {
        notify.child.kill('SIGTERM');
      }
    }

    if (!only || only === 'sales') {
      // Bundled as the product's `qrpos terminal` is (scripts/bundle-terminal.cjs), next to it so
      // that paths found from __dirname (fonts, device profiles) resolve alike.
      const childJs = path.join(REPO_ROOT, 'dist', 'src', 'cli', `bench-child-${process.pid}.js`);
      const { bundleTerminal } = require(path.join(REPO_ROOT, 'scripts', 'bundle-terminal.cjs')) as { bundleTerminal: (o: string, x: { entry: string; outfile: string }) => Promise<unknown> };
      await bundleTerminal(path.join(REPO_ROOT, 'dist'), { entry: path.join(REPO_ROOT, 'src', 'terminal', 'testing', 'bench-child.ts'), outfile: childJs });
      cleanup.push(childJs, `${childJs}.map`);
      const sales = Number(flags.sales);
      const keys = Number(flags.keys);
      const res: Record<'limited' | 'reference', SessionResult> = {
        reference: await session(reference, childJs, path.join(dir, 'session-reference'), backend, keys, sales, unitEnv),
        limited: await session(limited, childJs, path.join(dir, 'session-limited'), backend, keys, sales, unitEnv),
      };
      const floor = await floors(unitEnv);
      const L = res.limited;
      const R = res.reference;
      console.log(`\nkeys and sales (${keys} keys, ${sales} sales each; limited run ${L.salesSeconds.toFixed(0)} s of sales, load average ${load()})`);
      console.log(header);
      console.log(row('key → frame p50', pct(L.keys, 50), pct(R.keys, 50), 'ms', '', f2));
      console.log(row('key → frame p99', pct(L.keys, 99), pct(R.keys, 99), 'ms', '<= 16 ms', f2));
      console.log(row('Enter → "creating" p50', pct(L.creating, 50), pct(R.creating, 50), 'ms', '', f2));
      console.log(row('Enter → QR p50', pct(L.qr, 50), pct(R.qr, 50), 'ms', '<= 40 ms', f2));
      console.log(row('  the relay alone (direct POST) p50', pct(L.relay, 50), pct(R.relay, 50), 'ms', '', f2));
      console.log(row("  the terminal's share (p50 − relay)", pct(L.qr, 50) - pct(L.relay, 50), pct(R.qr, 50) - pct(R.relay, 50), 'ms', '', f2));
      console.log(row('  its create, seen by the terminal p50', pct(L.relaySeen, 50), pct(R.relaySeen, 50), 'ms', '', f2));
      console.log(row("  the terminal's own part p50", pct(L.own, 50), pct(R.own, 50), 'ms', '', f2));
      console.log(row("  the terminal's own part p99", pct(L.own, 99), pct(R.own, 99), 'ms', '', f2));
      console.log(row('Enter → QR p99', pct(L.qr, 99), pct(R.qr, 99), 'ms', '', f2));
      for (let i = 0; i < L.memory.length; i++) {
        const a = L.memory[i];
        const b = R.memory[i];
        console.log(row(`RSS after ${a.sales} sales`, a.rss, b.rss, 'MB', i === L.memory.length - 1 ? '<= 70 MB, flat' : ''));
      }
      console.log(`  floor, the same node and settings: bare ${floor.bare.toFixed(1)} MB RSS; with canvas and better-sqlite3 loaded and a line drawn, before any qrpos code, ${floor.libraries.toFixed(1)} MB`);
      console.log(row(`private after ${L.memory[0].sales} sales`, L.memory[0].priv, R.memory[0].priv, 'MB', ''));
      console.log(row(`private after ${L.memory.at(-1)!.sales} sales`, L.memory.at(-1)!.priv, R.memory.at(-1)!.priv, 'MB', ''));
      console.log(`  CPU used: keys ${pctOf(L.cpuShareKeys)} of a core limited, ${pctOf(R.cpuShareKeys)} unlimited; sales ${pctOf(L.cpuShareSales)} limited, ${pctOf(R.cpuShareSales)} unlimited`);
      console.log(`  relay and simulator (unlimited, loopback) during the sales: relay ${pctOf(L.relayCpuShare)} / simulator ${pctOf(L.simCpuShare)} of a core in the limited run, ${pctOf(R.relayCpuShare)} / ${pctOf(R.simCpuShare)} in the unlimited one`);
      console.log("  the terminal's own part: each sale's Enter → QR less the round trip of its own create as the terminal timed it (request start → the relay's answer); the relay alone: the same create POSTed straight to the relay by this process once the outbox is synced");
      const lastL = L.memory.at(-1)!;
      const lastR = R.memory.at(-1)!;
      const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
      console.log(`\ntargets at ${percent}% of a core:`);
      console.log(`  key → frame p99 <= 16 ms: ${pct(L.keys, 99).toFixed(2)} ms, ${verdict(pct(L.keys, 99) <= 16)}`);
      console.log(`  Enter → QR p50 <= 40 ms: ${pct(L.qr, 50).toFixed(2)} ms, ${verdict(pct(L.qr, 50) <= 40)} (the relay alone ${pct(L.relay, 50).toFixed(2)} ms${pct(L.relay, 50) > 40 ? ': over the target by itself on this host' : ''}; the terminal's own part ${pct(L.own, 50).toFixed(2)} ms, unlimited ${pct(R.own, 50).toFixed(2)} ms)`);
      console.log(`  RSS <= 70 MB, flat over ${lastL.sales} sales: ${L.memory[0].rss.toFixed(1)} → ${lastL.rss.toFixed(1)} MB (unlimited ${R.memory[0].rss.toFixed(1)} → ${lastR.rss.toFixed(1)} MB), ${verdict(Math.max(...L.memory.map((m) => m.rss)) <= 70)}; the floor before any qrpos code ${floor.libraries.toFixed(1)} MB, so qrpos's own ${(lastL.rss - floor.libraries).toFixed(1)} MB`);
    }
  } finally {
    await backend?.close();
    limited.close();
    for (const f of cleanup) fs.rmSync(f, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
