/**
 * Terminal daemon benchmark: prints
 *  1. keypress → frame on the display, p50/p99 at 480×320 (target p99 <= 8 ms)
 *  2. Enter → QR on screen with the relay and simulator on loopback, p50/p99 (target p50 <= 40 ms)
 *  3. RSS of a terminal process after 250/500/750/1000 sales (target <= 100 MB and flat)
 *  4. cold start of `node scripts/qrpos.cjs terminal --config …` to the idle screen (target <= 1.5 s)
 *
 * As in production, the Omise simulator and the relay are separate programs: each runs in its
 * own child process (`node scripts/qrpos.cjs sim …`, `node scripts/qrpos.cjs relay --config …`)
 * on loopback, so their CPU time is not the terminal's and the RSS printed is the terminal's
 * alone. The terminal runs in this process for 1 and 2 (real daemon, FakeKeypad, MemoryDisplay)
 * and in a child process of its own for 3 and 4.
 *
 * Run: npx tsx scripts/bench/terminal.ts [--sales 1000] [--qr-sales 100] [--keys 2000] [--no-build]
 *      [--only keys|qr|cold|rss] [--no-unit-env] [--diagnose] [--rss-node-flags=<extra node flags>]
 * The terminal processes (3 and 4) get the environment of systemd/qrpos-terminal.service (its
 * NODE_OPTIONS and malloc settings), read from the unit file; --no-unit-env runs them with
 * node's defaults instead. --diagnose adds, at each RSS mark, V8's heap figures before and after
 * a forced full GC and the largest mappings (set QRPOS_HEAP_SNAPSHOT_DIR for heap snapshots).
 * (the simulator, the relay and step 4 run the compiled program in dist/; it is built unless --no-build.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { MemoryDisplay } from '../../drivers/display/memory';
import type { KeyName } from '../../drivers/keypad/contract';
import { parseFlags } from '../../src/shared/args';
import { silentLogger } from '../../src/shared/log';
import { startTerminal } from '../../src/terminal/daemon';
import { writeSecrets } from '../../src/terminal/secrets';
import { TERMINAL_UNIT, terminalUnitEnvironment } from '../../src/terminal/service-env';
import { bundleChild, childEnv, REPO_ROOT } from '../../src/terminal/testing/bundle';
import { terminalConfig, waitFor } from '../../src/terminal/testing/rig';
import { getStatus, pct, rssMb, startBackend } from './lib/backend';
import { runMain } from './lib/run';

const ms = (n: number) => `${n.toFixed(2)} ms`;

function ensureBuilt(build: boolean): void {
  const entry = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (build || !fs.existsSync(entry)) {
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
    if (!fs.existsSync(entry)) throw new Error(`build failed (tsc exit ${r.status})`);
  }
}

async function keypressToFrame(n: number, dir: string): Promise<void> {
  const keypad = new FakeKeypad();
  const display = new MemoryDisplay(480, 320);
  const config = terminalConfig(dir, 'http://127.0.0.1:9', { dataDir: path.join(dir, 'keys'), secretsFile: path.join(dir, 'keys', 'secrets.json') });
  // A stored credential skips pairing; the relay is unreachable, which entry does not need.
  writeSecrets(config.secretsFile, { credential: 'bench-not-a-real-credential', terminalId: 'term_bench' });
  const handle = await startTerminal({ config, drivers: { keypad, display }, log: silentLogger, statusListen: null });
  const lat: number[] = [];
  let waiting: ((t: number) => void) | null = null;
  handle.onFrame((f) => {
    if (f.keyAt !== null && waiting) waiting(performance.now() - f.keyAt);
  });
  // Digits, backspace and clear: what a cashier does; every press changes the amount shown.
  const cycle: KeyName[] = ['1', '2', '3', '4', 'backspace', '5', '00', 'clear'];
  for (let i = 0; i < n + 50; i++) {
    const k = cycle[i % cycle.length];
    const took = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no frame after key ${k} (state ${handle.status().state})`)), 5000);
      waiting = (v) => {
        clearTimeout(t);
        resolve(v);
      };
      keypad.press(k);
    });
    if (i >= 50) lat.push(took); // warm-up excluded
  }
  await handle.stop();
  console.log(`keypress → frame on display (480x320, ${n} presses): p50 ${ms(pct(lat, 50))}  p99 ${ms(pct(lat, 99))}  max ${ms(Math.max(...lat))}   target p99 <= 8 ms`);
}

async function enterToQr(n: number, dir: string): Promise<void> {
  const backend = await startBackend(dir);
  try {
    const tdir = fs.mkdtempSync(path.join(dir, 'qr-'));
    const config = terminalConfig(tdir, backend.relayUrl, { statusListen: '127.0.0.1:0', link: { heartbeatMs: 15_000, requestTimeoutMs: 10_000 } });
    writeSecrets(config.secretsFile, await backend.pair('bench'));
    const keypad = new FakeKeypad();
    const display = new MemoryDisplay(480, 320);
    const handle = await startTerminal({ config, drivers: { keypad, display }, log: silentLogger });
    try {
      await waitFor(() => handle.status().link.online, 'online', 10_000);
      let enterAt = 0;
      let onFrame: ((kind: string) => void) | null = null;
      handle.onFrame((f) => onFrame?.(f.model.kind));
      /**
       * One pass of sales: key the amount, wait for it on screen, press Enter and time the QR.
       * `quiet`: also wait until the previous sale's background work (its expire at Omise, the
       * record sync) is through, as it is when a cashier starts the next sale seconds later;
       * otherwise the create queues behind that work in the terminal's serial outbox.
       */
      const pass = async (count: number, quiet: boolean): Promise<{ qr: number[]; creating: number[] }> => {
        const qr: number[] = [];
        const creating: number[] = [];
        const warm = 5;
        for (let i = 0; i < count + warm; i++) {
          for (const d of String(15000 + i)) keypad.press(d as KeyName);
          await handle.idle();
          if (quiet) await waitFor(() => handle.status().unsynced === 0, 'outbox and records synced', 10_000, 1);
          let sawCreating = 0;
          const took = await new Promise<number>((resolve) => {
            onFrame = (kind) => {
              if (kind === 'creating' && !sawCreating) sawCreating = performance.now() - enterAt;
              if (kind === 'qr') resolve(performance.now() - enterAt);
            };
            enterAt = performance.now();
            keypad.press('enter');
          });
          onFrame = null;
          if (i >= warm) {
            qr.push(took);
            creating.push(sawCreating);
          }
          keypad.press('cancel');
          keypad.press('clear');
          await waitFor(() => handle.status().state === 'idle', 'idle', 10_000, 1);
        }
        return { qr, creating };
      };
      const q = await pass(n, true);
      console.log(`Enter → QR on screen (relay + simulator on loopback in their own processes, ${n} sales): p50 ${ms(pct(q.qr, 50))}  p99 ${ms(pct(q.qr, 99))}   target p50 <= 40 ms`);
      console.log(`  of which Enter → "creating" on the display (sale journaled with fsync, then drawn): p50 ${ms(pct(q.creating, 50))}  p99 ${ms(pct(q.creating, 99))}`);
      const b2b = await pass(n, false);
      console.log(`  back to back (next sale keyed the moment the previous cancel shows idle): p50 ${ms(pct(b2b.qr, 50))}  p99 ${ms(pct(b2b.qr, 99))}`);
    } finally {
      await handle.stop();
    }
    // The relay's own share: the same create request straight to it, no terminal involved.
    const other = await backend.pair('bench-direct');
    const direct: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await fetch(`${backend.relayUrl}/v1/sales`, {
        method: 'POST',
        headers: { authorization: `Bearer ${other.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ saleId: `BENCH_${Date.now()}_${i}`, amount: 15000 + i, currency: 'THB' }),
      });
      await res.text();
      if (!res.ok) throw new Error(`relay answered ${res.status} to a direct create`);
      direct.push(performance.now() - t0);
    }
    console.log(`  of which the relay alone (POST /v1/sales → answer with QR, ${n} requests): p50 ${ms(pct(direct, 50))}  p99 ${ms(pct(direct, 99))}`);
  } finally {
    await backend.close();
  }
}

/**
 * Where a process's RSS is: the node executable's pages (file-backed, the same for any node
 * program), other files (shared libraries, fonts) and anonymous memory (V8's heap, malloc).
 */
function rssParts(pid: number): string {
  let exe = 0;
  let files = 0;
  let anon = 0;
  let name = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1];
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    if (name === process.execPath || name.endsWith('/bin/node')) exe += kb;
    else if (name.startsWith('/')) files += kb;
    else anon += kb;
  }
  const f = (kb: number) => `${(kb / 1024).toFixed(1)}`;
  return `node executable ${f(exe)} + libraries/fonts ${f(files)} + heap/anonymous ${f(anon)} MB`;
}

/** --diagnose: the largest mappings by RSS (anonymous ones grouped by size class). */
function topMappings(pid: number, n = 12): string {
  const rows = new Map<string, number>();
  let name = '';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      name = head[3] || `anonymous (${size >= 65536 ? '>= 64 MB' : size >= 1024 ? '1-64 MB' : '< 1 MB'} mappings)`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) rows.set(name, (rows.get(name) ?? 0) + Number(rss[1]));
  }
  return [...rows]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, kb]) => `      ${(kb / 1024).toFixed(1).padStart(6)} MB  ${k}`)
    .join('\n');
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)}`;

/**
 * --diagnose: ask the terminal for its memory figures (SIGUSR2 → testing/child.ts), before and
 * after a forced full GC, to tell what the daemon retains from garbage not yet collected.
 */
async function memoryFigures(child: ChildProcess, file: string): Promise<string> {
  const seen = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
  child.kill('SIGUSR2');
  const line = await waitFor(
    () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)[seen] : undefined),
    'memory figures',
    60_000,
    20,
  );
  type Mem = NodeJS.MemoryUsage;
  const m = JSON.parse(line) as { before: Mem; after: Mem; gc: boolean; snapshot: string | null; spacesBefore: { name: string; size: number; used: number; physical: number }[] };
  const spaces = m.spacesBefore.filter((x) => x.physical > 65536).map((x) => `${x.name.replace(/_space$/, '')} ${mb(x.used)}/${mb(x.physical)}`).join(', ');
  const f = (u: Mem) => `heap used ${mb(u.heapUsed)} of ${mb(u.heapTotal)}, external ${mb(u.external)} (array buffers ${mb(u.arrayBuffers)}), rss ${mb(u.rss)}`;
  return `    before GC: ${f(m.before)}\n    V8 spaces before GC, used/resident MB: ${spaces}\n    ${m.gc ? 'after full GC' : 'no --expose-gc, same'}: ${f(m.after)}${m.snapshot ? `\n    heap snapshot ${m.snapshot}` : ''}`;
}

/**
 * The environment of the terminal processes (RSS run, cold start): the systemd unit's
 * `Environment=` lines (NODE_OPTIONS with the V8 heap settings, the malloc settings), read from
 * systemd/qrpos-terminal.service so the benchmark measures what the device runs. Replaces any
 * NODE_OPTIONS of this process (tsx's loaders are not the daemon's).
 */
function deviceEnv(useUnit: boolean): Record<string, string> {
  return useUnit ? terminalUnitEnvironment() : { NODE_OPTIONS: '' };
}

function describeEnv(env: Record<string, string>): string {
  const shown = Object.entries(env)
    .filter(([k]) => k !== 'NODE_ENV')
    .map(([k, v]) => `${k}=${v.includes(' ') ? `"${v}"` : v}`)
    .join(' ');
  return shown === 'NODE_OPTIONS=' ? 'node defaults, no unit settings' : `from ${path.relative(REPO_ROOT, TERMINAL_UNIT)}: ${shown}`;
}

async function rssAfterSales(total: number, dir: string, nodeFlags: string[], diagnose: boolean, unitEnv: Record<string, string>): Promise<void> {
  const backend = await startBackend(dir);
  try {
    const childJs = await bundleChild(path.join(dir, 'child.js'));
    const cred = await backend.pair('rss');
    const tdir = path.join(dir, 'rss');
    const cfg = terminalConfig(tdir, backend.relayUrl, { statusListen: path.join(tdir, 'status.sock'), link: { heartbeatMs: 15_000, requestTimeoutMs: 10_000 } });
    fs.mkdirSync(tdir, { recursive: true });
    writeSecrets(cfg.secretsFile, cred);
    const file = path.join(tdir, 'terminal.json');
    fs.writeFileSync(file, JSON.stringify(cfg));
    const one = '1 5 0 0 0 enter @qr cancel @wait:5 clear @idle';
    const keys = `@online ${one}`;
    const memFile = path.join(dir, 'memory.jsonl');
    const diag: Record<string, string> = diagnose ? { QRPOS_CHILD_MEM_FILE: memFile, ...(process.env.QRPOS_HEAP_SNAPSHOT_DIR ? { QRPOS_CHILD_HEAP_SNAPSHOT_DIR: process.env.QRPOS_HEAP_SNAPSHOT_DIR } : {}) } : {};
    const flags = diagnose ? [...nodeFlags, '--expose-gc'] : nodeFlags;
    const child = spawn(process.execPath, [...flags, childJs, file], { env: childEnv({ ...unitEnv, QRPOS_CHILD_KEYS: keys, QRPOS_CHILD_REPEAT: String(total), QRPOS_LOG_LEVEL: 'error', ...diag }), stdio: ['ignore', 'ignore', 'inherit'] });
    const journal = path.join(cfg.dataDir, 'journal.sqlite');
    await waitFor(() => fs.existsSync(path.join(tdir, 'status.sock')), 'child up', 15_000);
    const count = () => {
      const db = new Database(journal, { readonly: true });
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM sales').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    await new Promise((r) => setTimeout(r, 300));
    console.log(`terminal process environment (${describeEnv(unitEnv)})`);
    if (diagnose) console.log(await memoryFigures(child, memFile));
    console.log(`RSS of the terminal process${nodeFlags.length ? ` (node ${nodeFlags.join(' ')})` : ''} after start: ${rssMb(child.pid!).toFixed(1)} MB  (${rssParts(child.pid!)})`);
    child.kill('SIGUSR1');
    const started = Date.now();
    const marks: string[] = [];
    for (const at of Array.from({ length: Math.floor(total / 250) }, (_, i) => (i + 1) * 250).concat(total % 250 ? [total] : [])) {
      await waitFor(() => count() >= at, `${at} sales`, 30 * 60_000, 200);
      marks.push(`${at}: ${rssMb(child.pid!).toFixed(1)} MB`);
      console.log(`  after ${at} sales: RSS ${rssMb(child.pid!).toFixed(1)} MB  (${rssParts(child.pid!)}; ${((Date.now() - started) / 1000).toFixed(0)} s)`);
      if (diagnose) console.log(`${topMappings(child.pid!)}\n${await memoryFigures(child, memFile)}`);
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    console.log(`RSS of the terminal process after sales: ${marks.join(', ')}   target <= 100 MB and flat`);
    console.log(`  (not counted: the relay ${rssMb(backend.relayPid).toFixed(1)} MB and the simulator ${rssMb(backend.simPid).toFixed(1)} MB, separate processes)`);
  } finally {
    await backend.close();
  }
}

async function coldStart(runs: number, dir: string, unitEnv: Record<string, string>): Promise<void> {
  const backend = await startBackend(dir);
  try {
    const cred = await backend.pair('cold');
    const times: number[] = [];
    const idleRss: number[] = [];
    for (let i = 0; i < runs; i++) {
      const tdir = path.join(dir, `cold${i}`);
      const sock = path.join(tdir, 'status.sock');
      const cfg = terminalConfig(tdir, backend.relayUrl, { statusListen: sock });
      fs.mkdirSync(tdir, { recursive: true });
      writeSecrets(cfg.secretsFile, cred);
      const file = path.join(tdir, 'terminal.json');
      fs.writeFileSync(file, JSON.stringify(cfg));
      const t0 = performance.now();
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'qrpos.cjs'), 'terminal', '--config', file], { stdio: 'ignore', env: { ...process.env, ...unitEnv, QRPOS_LOG_LEVEL: 'error' } });
      await waitFor(async () => (fs.existsSync(sock) ? (await getStatus<{ screen: string }>(sock))?.screen === 'idle' : false), 'idle', 20_000, 5);
      times.push(performance.now() - t0);
      // The real `qrpos terminal` (dist/, modules loaded one by one) next to the RSS run's bundled
      // daemon: their idle RSS should match, or the RSS run does not stand for the product.
      await new Promise((r) => setTimeout(r, 300));
      idleRss.push(rssMb(child.pid!));
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    console.log(`cold start to idle screen (${runs} runs; ${describeEnv(unitEnv)}): p50 ${ms(pct(times, 50))}  max ${ms(Math.max(...times))}   target <= 1500 ms`);
    console.log(`  RSS of \`qrpos terminal\` at the idle screen: p50 ${pct(idleRss, 50).toFixed(1)} MB`);
  } finally {
    await backend.close();
  }
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2), {
    sales: { type: 'number', description: 'sales for the RSS run', default: 1000 },
    'qr-sales': { type: 'number', description: 'sales for Enter → QR', default: 100 },
    keys: { type: 'number', description: 'key presses', default: 2000 },
    'cold-runs': { type: 'number', description: 'cold starts', default: 5 },
    'no-build': { type: 'boolean', description: 'do not rebuild dist/' },
    only: { type: 'string', description: 'keys, qr, rss or cold' },
    'no-unit-env': { type: 'boolean', description: "RSS run and cold start: node's defaults instead of the systemd unit's Environment= settings" },
    diagnose: { type: 'boolean', description: 'RSS run: also print heap used / external before and after a forced GC at each mark (adds --expose-gc)' },
    'rss-node-flags': { type: 'string', description: 'node flags for the terminal process of the RSS run, e.g. "--max-semi-space-size=1"', default: '' },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-bench-terminal-'));
  const only = flags.only as string | undefined;
  try {
    console.log(`terminal benchmark (node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)})`);
    if (only !== 'keys') ensureBuilt(!flags['no-build']);
    if (!only || only === 'keys') await keypressToFrame(Number(flags.keys), dir);
    if (!only || only === 'qr') await enterToQr(Number(flags['qr-sales']), dir);
    const unitEnv = deviceEnv(!flags['no-unit-env']);
    if (!only || only === 'cold') await coldStart(Number(flags['cold-runs']), dir, unitEnv);
    if (!only || only === 'rss') await rssAfterSales(Number(flags.sales), dir, String(flags['rss-node-flags']).split(/\s+/).filter(Boolean), Boolean(flags.diagnose), unitEnv);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
