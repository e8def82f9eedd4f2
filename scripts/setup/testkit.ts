/**
 * For the installer's tests: a scratch root that looks enough like a fresh Raspberry Pi OS
 * (os-release, passwd/group/shadow, a boot partition), a tiny built app to install, and a
 * manifest of every path (type, mode, owner, content hash) to compare runs with.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export const REPO = path.resolve(__dirname, '..', '..');
export const SETUP = path.join(REPO, 'scripts', 'setup.sh');
export const LOG_REL = 'var/log/qrpos-setup.log';

export const ORIGINAL_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait consoleblank=600\n';
export const ORIGINAL_CONFIG = 'dtparam=audio=on\ncamera_auto_detect=1\n\n[pi4]\narm_boost=1\n';

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function makeRoot(base: string, opts: { osVersion?: string; osId?: string } = {}): string {
  const root = fs.mkdtempSync(path.join(base, 'root-'));
  const etc = path.join(root, 'etc');
  fs.mkdirSync(path.join(root, 'boot', 'firmware'), { recursive: true });
  fs.mkdirSync(etc, { recursive: true });
  const version = opts.osVersion ?? '12';
  const codename = ({ '11': 'bullseye', '12': 'bookworm', '13': 'trixie' } as Record<string, string>)[version] ?? 'sid';
  fs.writeFileSync(
    path.join(etc, 'os-release'),
    `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\nVERSION_CODENAME=${codename}\nID=${opts.osId ?? 'debian'}\n`,
  );
  // A board with dialout and video but no gpio/input/plugdev yet: setup must create those.
  fs.writeFileSync(path.join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  fs.writeFileSync(path.join(etc, 'group'), 'root:x:0:\ndialout:x:20:\nvideo:x:44:\n');
  fs.writeFileSync(path.join(etc, 'shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(etc, 'gshadow'), 'root:*::\ndialout:*::\nvideo:*::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(root, 'boot', 'firmware', 'cmdline.txt'), ORIGINAL_CMDLINE);
  fs.writeFileSync(path.join(root, 'boot', 'firmware', 'config.txt'), ORIGINAL_CONFIG);
  return root;
}

/** A built app as setup.sh expects it, with the repo's real device/ and systemd/ files. */
export function makeSource(base: string): { source: string; nodeModules: string } {
  const source = path.join(base, 'app');
  fs.mkdirSync(path.join(source, 'dist', 'src', 'cli'), { recursive: true });
  fs.writeFileSync(path.join(source, 'dist', 'src', 'cli', 'main.js'), "'use strict';\nexports.main = async () => 0;\n");
  // One production dependency (installed from --node-modules) and one dev dependency, which a
  // release leaves out.
  const pkg = { name: 'qrpos', version: '0.0.0-test', dependencies: { 'fake-dep': '1.0.0' }, devDependencies: { 'fake-dev': '1.0.0' } };
  fs.writeFileSync(path.join(source, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const lock = {
    name: 'qrpos',
    version: '0.0.0-test',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'qrpos', version: '0.0.0-test', dependencies: { 'fake-dep': '1.0.0' }, devDependencies: { 'fake-dev': '1.0.0' } },
      'node_modules/fake-dep': { version: '1.0.0' },
      'node_modules/fake-dev': { version: '1.0.0', dev: true },
    },
  };
  fs.writeFileSync(path.join(source, 'package-lock.json'), JSON.stringify(lock, null, 2) + '\n');
  fs.mkdirSync(path.join(source, 'scripts'));
  fs.copyFileSync(path.join(REPO, 'scripts', 'qrpos.cjs'), path.join(source, 'scripts', 'qrpos.cjs'));
  // Font files can be megabytes: they add nothing to what these tests check.
  fs.cpSync(path.join(REPO, 'device'), path.join(source, 'device'), { recursive: true, filter: (f) => !/\.(ttf|otf|ttc|woff2?)$/i.test(f) });
  fs.cpSync(path.join(REPO, 'systemd'), path.join(source, 'systemd'), { recursive: true });
  const nodeModules = path.join(base, 'node_modules');
  for (const dep of ['fake-dep', 'fake-dev']) {
    fs.mkdirSync(path.join(nodeModules, dep), { recursive: true });
    fs.writeFileSync(path.join(nodeModules, dep, 'package.json'), JSON.stringify({ name: dep, version: '1.0.0' }) + '\n');
    fs.writeFileSync(path.join(nodeModules, dep, 'index.js'), 'module.exports = 1;\n', { mode: 0o755 });
  }
  fs.mkdirSync(path.join(nodeModules, '.bin'));
  fs.symlinkSync('../fake-dep/index.js', path.join(nodeModules, '.bin', 'fake-dep'));
  return { source, nodeModules };
}

/**
 * A built app without dependencies (an empty lock file): `npm ci` on it is real but needs no
 * network.
 */
export function makeSourceWithoutDeps(base: string): string {
  const { source } = makeSource(fs.mkdtempSync(path.join(base, 'nodeps-')));
  fs.writeFileSync(path.join(source, 'package.json'), '{ "name": "qrpos", "version": "0.0.0-test" }\n');
  const lock = { name: 'qrpos', version: '0.0.0-test', lockfileVersion: 3, requires: true, packages: { '': { name: 'qrpos', version: '0.0.0-test' } } };
  fs.writeFileSync(path.join(source, 'package-lock.json'), JSON.stringify(lock, null, 2) + '\n');
  return source;
}

export function runSetup(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const r = spawnSync('bash', [SETUP, ...args], {
    encoding: 'utf8',
    input: '',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** path → "type mode uid:gid hash-or-target" for everything under root except the setup log. */
export function manifest(root: string, exclude: string[] = [LOG_REL]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs);
    const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.set(rel, `link ${head} ${fs.readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.set(rel, `dir ${head}`);
      for (const n of fs.readdirSync(abs)) {
        const child = rel ? `${rel}/${n}` : n;
        if (!exclude.includes(child)) walk(child);
      }
    } else out.set(rel, `file ${head} ${crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`);
  };
  walk('');
  return out;
}

export function modeOf(file: string): string {
  return (fs.statSync(file).mode & 0o7777).toString(8).padStart(4, '0');
}

/** uid of a user in the scratch root's own passwd file. */
export function uidIn(root: string, user: string): number | undefined {
  const line = fs.readFileSync(path.join(root, 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  return line ? Number(line.split(':')[2]) : undefined;
}

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** Answers to every terminal question; tests drop or override single flags. */
export const TERMINAL_FLAGS = [
  '--relay-url', 'https://relay.example.com',
  '--country', 'TH',
  '--merchant-name', 'Ran "Noodle" Shop',
  '--profile', 'pi-ili9486-480x320-usb-numpad',
  '--keypad-vid', '1C4F',
  '--keypad-pid', '2',
  '--supervisor-pin', '590271',
];

/**
 * A scratch folder with a tiny built app, made once per test file (beforeAll) and removed after
 * it; `common(root)` gives the flags every non-interactive install into `root` takes.
 */
export function useScratchApp(): { readonly base: string; readonly source: string; readonly nodeModules: string; common(root: string): string[] } {
  let base = '';
  let made = { source: '', nodeModules: '' };
  beforeAll(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-setup-'));
    made = makeSource(base);
  });
  afterAll(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });
  return {
    get base() {
      return base;
    },
    get source() {
      return made.source;
    },
    get nodeModules() {
      return made.nodeModules;
    },
    common: (root) => ['--root', root, '--source', made.source, '--node-modules', made.nodeModules, '--non-interactive'],
  };
}
