/**
 * Terminal daemon benchmark: prints
 *  1. keypress → frame on the display, p50/p99 at 480×320 (target p99 <= 8 ms)
 *  2. Enter → QR on screen with the relay and simulator on loopback, p50/p99 (target p50 <= 40 ms)
 *  3. RSS of a terminal process after 250/500/750/1000 sales (target <= 100 MB and flat)
 *  4. cold start of `node scripts/qrpos.cjs terminal --config …` to the idle screen (target <= 1.5 s)
 *
 * Run: npx tsx scripts/bench/terminal.ts [--sales 1000] [--qr-sales 100] [--keys 2000] [--no-build]
 * (3 and 4 need the compiled program in dist/ for step 4; it is built unless --no-build.)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { MemoryDisplay } from '../../drivers/display/memory';
import type { KeyName } from '../../drivers/keypad/contract';
import { parseFlags } from '../../src/shared/args';
import { silentLogger } from '../../src/shared/log';
import { startTerminal } from '../../src/terminal/daemon';
import { writeSecrets } from '../../src/terminal/secrets';
import { bundleChild, childEnv, REPO_ROOT } from '../../src/terminal/testing/bundle';
import { startRig, startTestTerminal, terminalConfig, waitFor } from '../../src/terminal/testing/rig';

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (n: number) => `${n.toFixed(2)} ms`;

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

async function enterToQr(n: number): Promise<void> {
  const rig = await startRig({ heartbeatMs: 15_000 });
  try {
    const t = await startTestTerminal(rig, { credential: await rig.pair('bench'), name: 'bench', config: { link: { heartbeatMs: 15_000, requestTimeoutMs: 10_000 } } });
    await waitFor(() => t.handle.status().link.online, 'online', 10_000);
    const lat: number[] = [];
    let enterAt = 0;
    let resolveQr: (() => void) | null = null;
    t.handle.onFrame((f) => {
      if (f.model.kind === 'qr' && resolveQr) {
        lat.push(performance.now() - enterAt);
        resolveQr();
        resolveQr = null;
      }
    });
    for (let i = 0; i < n + 5; i++) {
      for (const d of String(15000 + i)) t.keypad.press(d as KeyName);
      await new Promise<void>((resolve) => {
        resolveQr = resolve;
        enterAt = performance.now();
        t.keypad.press('enter');
      });
      if (i < 5) lat.pop();
      t.keypad.press('cancel');
      t.keypad.press('clear');
      await waitFor(() => t.handle.status().state === 'idle', 'idle', 10_000, 1);
    }
    await t.handle.stop();
    console.log(`Enter → QR on screen (relay + simulator on loopback, ${n} sales): p50 ${ms(pct(lat, 50))}  p99 ${ms(pct(lat, 99))}   target p50 <= 40 ms`);
    // The relay's own share: the same create request straight to it, no terminal involved.
    const other = await rig.pair('bench-direct');
    const direct: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const res = await fetch(`${rig.relay.url}/v1/sales`, {
        method: 'POST',
        headers: { authorization: `Bearer ${other.credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ saleId: `BENCH_${Date.now()}_${i}`, amount: 15000 + i, currency: 'THB' }),
      });
      await res.text();
      direct.push(performance.now() - t0);
    }
    console.log(`  of which the relay alone (POST /v1/sales → answer with QR, ${n} requests): p50 ${ms(pct(direct, 50))}  p99 ${ms(pct(direct, 99))}`);
  } finally {
    await rig.close();
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function rssAfterSales(total: number, dir: string): Promise<void> {
  const rig = await startRig({ heartbeatMs: 15_000, omiseTimeoutMs: 10_000 });
  try {
    const childJs = await bundleChild(path.join(dir, 'child.js'));
    const cred = await rig.pair('rss');
    const tdir = path.join(dir, 'rss');
    const cfg = terminalConfig(tdir, rig.relay.url, { statusListen: path.join(tdir, 'status.sock'), link: { heartbeatMs: 15_000, requestTimeoutMs: 10_000 } });
    fs.mkdirSync(tdir, { recursive: true });
    writeSecrets(cfg.secretsFile, cred);
    const file = path.join(tdir, 'terminal.json');
    fs.writeFileSync(file, JSON.stringify(cfg));
    const one = '1 5 0 0 0 enter @qr cancel @wait:5 clear @idle';
    const keys = ['@online', ...Array.from({ length: total }, () => one)].join(' ');
    const child = spawn(process.execPath, [childJs, file], { env: childEnv({ QRPOS_CHILD_KEYS: keys, QRPOS_LOG_LEVEL: 'error' }), stdio: ['ignore', 'ignore', 'inherit'] });
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
    console.log(`RSS of the terminal process after start: ${rssMb(child.pid!).toFixed(1)} MB`);
    child.kill('SIGUSR1');
    const started = Date.now();
    const marks: string[] = [];
    for (const at of [250, 500, 750, 1000].filter((x) => x <= total).concat(total % 250 ? [total] : [])) {
      await waitFor(() => count() >= at, `${at} sales`, 30 * 60_000, 200);
      marks.push(`${at}: ${rssMb(child.pid!).toFixed(1)} MB`);
      console.log(`  after ${at} sales: RSS ${rssMb(child.pid!).toFixed(1)} MB  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    console.log(`RSS after sales: ${marks.join(', ')}   target <= 100 MB and flat`);
  } finally {
    await rig.close();
  }
}

function getStatus(sock: string): Promise<{ state: string; screen: string } | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: sock, path: '/status' }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(b) as { state: string; screen: string });
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
  });
}

async function coldStart(runs: number, dir: string, build: boolean): Promise<void> {
  if (build || !fs.existsSync(path.join(REPO_ROOT, 'dist', 'src', 'terminal', 'cli.js'))) {
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
    if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'src', 'terminal', 'cli.js'))) throw new Error(`build failed (tsc exit ${r.status})`);
  }
  const rig = await startRig({ heartbeatMs: 15_000 });
  try {
    const cred = await rig.pair('cold');
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const tdir = path.join(dir, `cold${i}`);
      const sock = path.join(tdir, 'status.sock');
      const cfg = terminalConfig(tdir, rig.relay.url, { statusListen: sock });
      fs.mkdirSync(tdir, { recursive: true });
      writeSecrets(cfg.secretsFile, cred);
      const file = path.join(tdir, 'terminal.json');
      fs.writeFileSync(file, JSON.stringify(cfg));
      const t0 = performance.now();
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'qrpos.cjs'), 'terminal', '--config', file], { stdio: 'ignore', env: { ...process.env, QRPOS_LOG_LEVEL: 'error' } });
      await waitFor(async () => (fs.existsSync(sock) ? (await getStatus(sock))?.screen === 'idle' : false), 'idle', 20_000, 5);
      times.push(performance.now() - t0);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    console.log(`cold start to idle screen (${runs} runs): p50 ${ms(pct(times, 50))}  max ${ms(Math.max(...times))}   target <= 1500 ms`);
  } finally {
    await rig.close();
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
  });
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir() as string, 'qrpos-bench-terminal-'));
  const only = flags.only as string | undefined;
  try {
    console.log(`terminal benchmark (node ${process.version}, ${require('node:os').cpus().length as number} CPUs)`);
    if (!only || only === 'keys') await keypressToFrame(Number(flags.keys), dir);
    if (!only || only === 'qr') await enterToQr(Number(flags['qr-sales']));
    if (!only || only === 'cold') await coldStart(Number(flags['cold-runs']), dir, !flags['no-build']);
    if (!only || only === 'rss') await rssAfterSales(Number(flags.sales), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
