/**
 * A failed start shows why and waits: the real `qrpos terminal` in its own process, with a
 * screen that is a PNG file, for each cause (bad config, missing keypad, unreadable journal,
 * status port taken). Each test reads the status endpoint, the screen and the log, then fixes
 * the cause and sees the terminal start, with no exit and no restart in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createCanvas, loadImage } from 'canvas';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { MemoryDisplay } from '../../drivers/display/memory';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { memoryLogger } from '../shared/log';
import { fatalModel, startTerminal } from './daemon';
import { Journal, JOURNAL_SCHEMA_VERSION } from './journal';
import { describeStartFailure, superviseTerminal } from './supervisor';
import { SystemdNotifier } from '../shared/service';
import { terminalConfig } from './testing/rig';
import { ScreenRenderer } from './screens/renderer';
import { THEME } from './screens/theme';
import type { FatalStatus, TerminalStatus } from './status-server';
import { REPO_ROOT, childEnv } from './testing/bundle';
import { freePort } from '../shared/testing/free-port';

const W = 320;
const H = 240;
let dir: string;
let cliJs: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-fatal-'));
  // One bundle of the real `qrpos terminal` command, so each start is a plain `node` start.
  const entry = path.join(dir, 'entry.ts');
  const cli = JSON.stringify(path.join(REPO_ROOT, 'src', 'terminal', 'cli'));
  fs.writeFileSync(entry, `import { command } from ${cli};\nvoid command.run(process.argv.slice(2)).then((code) => { process.exitCode = code; });\n`);
  cliJs = path.join(dir, 'qrpos.js');
  const esbuild = require('esbuild') as typeof import('esbuild');
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: cliJs,
    external: ['canvas', 'better-sqlite3', 'node-hid', 'onoff', 'serialport', '@serialport/*', 'koffi', 'epoll', 'bufferutil', 'utf-8-validate'],
    logLevel: 'error',
  });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Child {
  proc: ChildProcess;
  lines: () => { msg: string; level: string; [k: string]: unknown }[];
  exited: boolean;
}
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exited) continue;
    c.proc.kill('SIGTERM');
    await new Promise((r) => c.proc.once('exit', r));
  }
});

function startCli(configFile: string): Child {
  const proc = spawn(process.execPath, [cliJs, '--config', configFile], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const child: Child = {
    proc,
    exited: false,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; level: string }),
  };
  proc.once('exit', () => (child.exited = true));
  children.push(child);
  return child;
}

async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function getStatus(port: number): Promise<TerminalStatus | FatalStatus | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/status', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as TerminalStatus | FatalStatus);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}


/** A config whose screen is a PNG file; `over` replaces top-level fields. */
function writeConfig(name: string, port: number, over: Record<string, unknown> = {}): { file: string; png: string; data: string } {
  const base = path.join(dir, name);
  fs.mkdirSync(base, { recursive: true });
  const png = path.join(base, 'screen.png');
  const data = path.join(base, 'data');
  const secrets = path.join(base, 'secrets.json');
  fs.writeFileSync(secrets, JSON.stringify({ supervisorPin: '1234' }), { mode: 0o600 });
  const file = path.join(base, 'terminal.json');
  const cfg = {
    version: 1,
    relayUrl: 'http://127.0.0.1:9',
    merchantName: 'Fatal Test Shop',
    currency: 'THB',
    dataDir: data,
    secretsFile: secrets,
    statusListen: `127.0.0.1:${port}`,
    drivers: { keypad: { driver: 'virtual' }, display: { driver: 'png', path: png, width: W, height: H } },
    ...over,
  };
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return { file, png, data };
}

function rewrite(file: string, change: (cfg: Record<string, unknown>) => void): void {
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(cfg);
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
}

/** The screen as pixels (null while there is no PNG yet). */
async function screenPixels(png: string): Promise<Uint8ClampedArray | null> {
  if (!fs.existsSync(png)) return null;
  const img = await loadImage(fs.readFileSync(png));
  const c = createCanvas(W, H);
  c.getContext('2d').drawImage(img, 0, 0);
  return c.getContext('2d').getImageData(0, 0, W, H).data;
}

/** The PNG on "the display" becomes exactly the fatal screen of this problem. */
async function expectFatalScreen(png: string, problem: { title: string; reason: string[]; action: string[] }): Promise<void> {
  const r = new ScreenRenderer({ width: W, height: H });
  r.render(fatalModel(problem));
  const want = Buffer.from(r.canvas.getContext('2d').getImageData(0, 0, W, H).data);
  let got = null as Uint8ClampedArray | null;
  try {
    await until('the fatal screen', async () => {
      got = await screenPixels(png);
      return got !== null && want.equals(Buffer.from(got));
    });
  } finally {
    // The header band is the error colour (a readable failure when the frames differ).
    const red = parseInt(THEME.error.slice(1), 16);
    expect(got ? [got[8], got[9], got[10]] : null).toEqual([(red >> 16) & 255, (red >> 8) & 255, red & 255]);
  }
}

const cannotStart = (c: Child) => c.lines().filter((l) => l.msg === 'the terminal cannot start; waiting for the problem to be fixed');

async function expectRunning(c: Child, port: number): Promise<TerminalStatus> {
  const st = await until('the terminal to start', async () => {
    const s = await getStatus(port);
    return s && s.state !== 'fatal' && !(s as TerminalStatus).problem ? (s as TerminalStatus) : null;
  });
  expect(c.exited).toBe(false);
  return st;
}

describe('a failed start shows why and waits', () => {
  it('bad config: fatal screen, status and one log line; fixing the file starts the terminal', async () => {
    const port = await freePort();
    const { file, png } = writeConfig('config', port, { currency: 'XXX' });
    const c = startCli(file);
    const st = (await until('the fatal status', () => getStatus(port))) as FatalStatus;
    expect(st.state).toBe('fatal');
    expect(st.screen).toBe('fatal');
    expect(st.problem.stage).toBe('config');
    expect(st.problem.reason.join(' ')).toContain('currency');
    await expectFatalScreen(png, st.problem);
    await until('the log line', () => cannotStart(c).length === 1);
    // SIGHUP with the file still wrong: tried again, the same problem is not logged again.
    c.proc.kill('SIGHUP');
    await until('the retry', () => c.lines().some((l) => l.msg === 'reload (SIGHUP): trying again'));
    await until('the fatal status again', async () => (await getStatus(port))?.state === 'fatal');
    expect(cannotStart(c)).toHaveLength(1);
    rewrite(file, (cfg) => (cfg.currency = 'THB'));
    const running = await expectRunning(c, port);
    expect(running.merchantName).toBe('Fatal Test Shop');
    expect(c.lines().some((l) => l.msg === 'terminal started after the problem was fixed')).toBe(true);
  });

  it('missing keypad device: the screen says so until the keypad is fixed (reload)', async () => {
    const port = await freePort();
    const { file, png } = writeConfig('keypad', port);
    rewrite(file, (cfg) => ((cfg.drivers as { keypad: unknown }).keypad = { driver: 'hid', path: path.join(dir, 'no-such-hidraw') }));
    const c = startCli(file);
    const st = (await until('the keypad problem', async () => {
      const s = await getStatus(port);
      return s && 'problem' in s && s.problem ? s : null;
    })) as TerminalStatus;
    expect(st.problem!.stage).toBe('keypad');
    expect(st.problem!.reason.join(' ')).toContain('no-such-hidraw');
    await until('the fatal frame', () => c.lines().some((l) => l.msg === 'cannot take sales: no keypad'));
    await expectFatalScreen(png, st.problem!);
    rewrite(file, (cfg) => ((cfg.drivers as { keypad: unknown }).keypad = { driver: 'virtual' }));
    c.proc.kill('SIGHUP');
    await expectRunning(c, port);
  });

  it('unreadable journal: fatal screen and status; once it is readable, a reload starts the terminal', async () => {
    const port = await freePort();
    const { file, png, data } = writeConfig('journal', port);
    // A folder where the journal file should be: SQLite cannot open it, whoever runs the test.
    fs.mkdirSync(path.join(data, 'journal.sqlite'), { recursive: true });
    const c = startCli(file);
    const st = (await until('the fatal status', () => getStatus(port))) as FatalStatus;
    expect(st.state).toBe('fatal');
    expect(st.problem.stage).toBe('journal');
    expect(st.problem.reason[0]).toContain('journal.sqlite');
    await expectFatalScreen(png, st.problem);
    await until('the log line', () => cannotStart(c).length === 1);
    fs.rmdirSync(path.join(data, 'journal.sqlite'));
    c.proc.kill('SIGHUP');
    await expectRunning(c, port);
  });

  it('display that cannot be opened: no screen to draw on, so the status says why (screen none); a fixed config starts it', async () => {
    const port = await freePort();
    const { file, png } = writeConfig('display', port);
    rewrite(file, (cfg) => ((cfg.drivers as { display: unknown }).display = { driver: 'framebuffer', device: path.join(dir, 'no-such-fb') }));
    const c = startCli(file);
    const st = (await until('the fatal status', () => getStatus(port))) as FatalStatus;
    expect(st.state).toBe('fatal');
    expect(st.screen).toBe('none');
    expect(st.problem.stage).toBe('display');
    expect(st.problem.reason.join(' ')).toContain('no-such-fb');
    await until('the log line', () => cannotStart(c).length === 1);
    rewrite(file, (cfg) => ((cfg.drivers as { display: unknown }).display = { driver: 'png', path: png, width: W, height: H }));
    await expectRunning(c, port);
    await until('a frame on the PNG display', () => fs.existsSync(png));
  });

  it('status port taken: fatal screen and log (no endpoint to answer); freeing it and reloading starts the terminal', async () => {
    const holder = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    const { file, png } = writeConfig('port', port);
    const c = startCli(file);
    const line = await until('the log line', () => cannotStart(c)[0]);
    expect(line.stage).toBe('status');
    expect(line.problem).toBe('Status port in use');
    await expectFatalScreen(png, { title: line.problem as string, reason: line.reason as string[], action: line.action as string[] });
    await new Promise((r) => holder.close(r));
    c.proc.kill('SIGHUP');
    await expectRunning(c, port);
    expect(cannotStart(c)).toHaveLength(1);
  });
  it('a fix saved while the problem is being shown (before the file is watched) is not missed', async () => {
    const port = await freePort();
    const { file } = writeConfig('race', port, { currency: 'XXX' });
    const log = memoryLogger('debug');
    let stop!: (s: NodeJS.Signals) => void;
    const stopSignal = new Promise<NodeJS.Signals>((r) => (stop = r));
    // Told the start failed (after the file was read, before the problem screen and the watch):
    // the operator's fix lands exactly in that window.
    class FixingNotifier extends SystemdNotifier {
      override ready(status: string): void {
        if (status.startsWith('cannot start')) rewrite(file, (cfg) => (cfg.currency = 'THB'));
        super.ready(status);
      }
    }
    const started: string[] = [];
    const done = superviseTerminal({
      configFile: file,
      log,
      notifier: new FixingNotifier(log, {}),
      version: 'test',
      watchIntervalMs: 50,
      stopSignal,
      start: (config) => {
        started.push(config.currency);
        return Promise.resolve({ stop: () => Promise.resolve() } as unknown as Awaited<ReturnType<Parameters<typeof superviseTerminal>[0]['start']>>);
      },
    });
    try {
      await until('the start after the fix', () => started.length === 1, 5000);
      expect(started).toEqual(['THB']);
      expect(log.lines.some((l) => l.includes('config file changed: trying again'))).toBe(true);
    } finally {
      stop('SIGTERM');
      expect(await done).toBe(0);
    }
  });
});

describe('the reasons a start fails', () => {
  it('a journal a newer release migrated: says so and points at that release, not at permissions', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-newer-'));
    try {
      const config = terminalConfig(dir, 'http://127.0.0.1:9');
      fs.mkdirSync(config.dataDir, { recursive: true });
      const file = path.join(config.dataDir, 'journal.sqlite');
      Journal.open(file, { log: memoryLogger() }).journal.close();
      const db = new Database(file);
      db.pragma(`user_version = ${JOURNAL_SCHEMA_VERSION + 1}`);
      db.close();
      const before = fs.readFileSync(file);
      const err = await startTerminal({ config, drivers: { keypad: new FakeKeypad(), display: new MemoryDisplay(320, 240) }, log: memoryLogger(), statusListen: null }).then(
        () => null,
        (e: unknown) => e,
      );
      const p = describeStartFailure(err, '/etc/qrpos/terminal.json', config, 0);
      expect(p.stage).toBe('journal');
      expect(p.title).toBe('Journal from a newer release');
      expect(p.action.join(' ')).toMatch(/qrpos upgrade/);
      expect(p.action.join(' ')).not.toMatch(/writable/);
      expect(fs.readFileSync(file)).toEqual(before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
