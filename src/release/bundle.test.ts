/**
 * The real bundle of this checkout, built once (from the built dist/ and this machine's
 * node_modules, signed with a throwaway key): what it holds and leaves out, that verify accepts
 * it and refuses it changed, and setup.sh --bundle installing it twice into a scratch root with
 * no compiler, make, python or npm on PATH, after which the release runs: `qrpos --version` and
 * the self-test that loads every native module (better-sqlite3 opens a database, canvas draws,
 * node-hid, serialport, koffi, epoll load). Prints the sizes and times.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRoot, manifest, runSetup, TERMINAL_FLAGS } from '../../scripts/setup/testkit';
import { buildRelease, type BuildResult } from './build';
import { M } from './lib';
import { makeKeys, readEntries, REPO, type TestKeys, writeEntries } from './testing';

const RELEASE_CJS = path.join(REPO, 'scripts', 'release', 'release.cjs');
const built = fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js'));
if (!built) console.warn('bundle.test: dist/ is not built (npm run build); the real-bundle tests are skipped');

/** A PATH of this machine's commands without compilers, make, python or npm. */
function pathWithoutCompilers(dir: string): string {
  const banned = /^(cc|c\+\+|as|ld|make|gmake|tcc|python.*|pip.*|npm|npx|node-gyp|gcc.*|g\+\+.*|cpp.*|clang.*|ld\..*|(x86_64|aarch64|arm)-linux-gnu.*-.*)$/;
  for (const from of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (!fs.existsSync(from)) continue;
    for (const name of fs.readdirSync(from)) {
      if (banned.test(name) || fs.existsSync(path.join(dir, name))) continue;
      fs.symlinkSync(path.join(from, name), path.join(dir, name));
    }
  }
  return dir;
}

describe.skipIf(!built)('the real bundle', () => {
  let base: string;
  let keys: TestKeys;
  let result: BuildResult;
  let buildSeconds: number;
  let stem: string;
  let env: NodeJS.ProcessEnv;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-bundle-test-'));
    keys = makeKeys(base);
    const t = process.hrtime.bigint();
    result = await buildRelease({ repo: REPO, dist: path.join(REPO, 'dist'), keyFile: keys.privFile, publicKeyFile: keys.pubFile, outDir: path.join(base, 'release') });
    buildSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    stem = path.basename(result.file, '.tar.gz');
    const bin = path.join(base, 'bin');
    fs.mkdirSync(bin);
    env = { PATH: pathWithoutCompilers(bin), NODE_PATH: '' };
  }, 180_000);
  afterAll(() => {
    if (result) {
      const m = result.manifest;
      console.info(
        `bundle benchmark: ${path.basename(result.file)} ${(result.bytes / 1e6).toFixed(1)} MB (${(m.size / 1e6).toFixed(1)} MB, ${m.count} files unpacked); ` +
          `built in ${buildSeconds.toFixed(1)} s (files ${result.seconds.files.toFixed(1)} s, archive ${result.seconds.archive.toFixed(1)} s, check ${result.seconds.check.toFixed(1)} s; dist as built, no tsc); ` +
          `install from bundle ${timings.install?.toFixed(1)} s, again (unchanged) ${timings.again?.toFixed(1)} s`,
      );
    }
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('is release/qrpos-<git describe>-linux-<arch>.tar.gz with the production packages built for this Node ABI', () => {
    // git describe --tags --always --dirty at build time; a dirty tree's build adds its content hash.
    const m0 = result.manifest;
    expect(m0.describe).toBeTruthy();
    expect(m0.commit).toMatch(/^[0-9a-f]{40}$/);
    const esc = (m0.describe ?? '').replace(/[.+]/g, (c) => `\\${c}`);
    expect(m0.version).toMatch(new RegExp(m0.describe?.endsWith('-dirty') ? `^${esc}\\.[0-9a-f]{8}$` : `^${esc}$`));
    expect(path.basename(result.file)).toBe(`qrpos-${result.manifest.version}-linux-${process.arch}.tar.gz`);
    expect(fs.readFileSync(path.join(base, 'release', '.gitignore'), 'utf8')).toContain('*');
    const m = result.manifest;
    expect(m.arch).toBe(process.arch);
    expect(m.node.abi).toEqual([Number(process.versions.modules)]);
    expect(m.node.builtWith).toBe(process.version);
    const kinds = Object.fromEntries(M.nativeSummary(m.native).map((s) => /^(\S+) \((.*)\)$/.exec(s)!.slice(1, 3)));
    expect(kinds).toMatchObject({
      'better-sqlite3': `Node ABI ${process.versions.modules}`,
      epoll: `Node ABI ${process.versions.modules}`,
      canvas: 'N-API',
      'node-hid': 'N-API',
      '@serialport/bindings-cpp': 'N-API',
    });
    expect(Object.keys(kinds).some((k) => k.startsWith('@koromix/koffi-linux-'))).toBe(true);
    const files = Object.keys(m.files);
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('scripts/release/selftest.cjs');
    expect(files).toContain('device/profiles/pi-ili9486-480x320-usb-numpad.json');
    // Left out: dev packages, .bin links, C++ sources and build intermediates, other platforms' binaries, dist/scripts.
    for (const dev of ['typescript', 'vitest', 'eslint', 'tsx', 'esbuild', '@types', 'playwright-core', 'fast-check']) {
      expect(files.some((f) => f.startsWith(`node_modules/${dev}/`)), dev).toBe(false);
    }
    expect(files.filter((f) => /\/\.bin\/|\/obj\.target\/|\.(cc|cpp|o|gyp)$|^dist\/scripts\//.test(f))).toEqual([]);
    const machine = process.arch === 'arm64' ? 183 : 62;
    for (const n of m.native) expect(M.elfInfo(fs.readFileSync(path.join(REPO, n.path)).subarray(0, 64))?.machine, n.path).toBe(machine);
    expect(result.bytes).toBeLessThan(20e6);
    expect(m.size).toBeLessThan(80e6);
  });

  it('verify accepts it with the key it was signed for, and refuses another key', () => {
    const good = spawnSync(process.execPath, [RELEASE_CJS, 'verify', result.file, '--key', keys.pubFile, '--here'], { encoding: 'utf8' });
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toContain(`fits this machine: linux-${process.arch}`);
    const other = spawnSync(process.execPath, [RELEASE_CJS, 'verify', result.file], { encoding: 'utf8' });
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('which is not trusted here');
  });

  it('verify refuses it with one byte of a dependency changed, naming the file', async () => {
    const entries = await readEntries(result.file);
    const target = `${stem}/node_modules/better-sqlite3/lib/database.js`;
    const e = entries.find((x) => x.name === target)!;
    e.data = Buffer.from(e.data);
    e.data[10] ^= 0x20;
    const file = path.join(base, 'tampered.tar.gz');
    await writeEntries(entries, file);
    const r = spawnSync(process.execPath, [RELEASE_CJS, 'verify', file, '--key', keys.pubFile], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('modified: node_modules/better-sqlite3/lib/database.js');
  });

  describe('installed by setup.sh --bundle with no compiler on PATH', () => {
    let root: string;
    let first: ReturnType<typeof runSetup>;
    beforeAll(() => {
      expect(spawnSync('sh', ['-c', 'command -v gcc || command -v cc || command -v make || command -v python3 || command -v npm'], { env }).status).not.toBe(0);
      root = makeRoot(base);
      const t = process.hrtime.bigint();
      first = runSetup(['--root', root, '--bundle', result.file, '--release-key', keys.pubFile, '--non-interactive', ...TERMINAL_FLAGS], env);
      timings.install = Number(process.hrtime.bigint() - t) / 1e9;
    }, 120_000);
    const at = (rel: string) => path.join(root, rel);

    it('lands in releases/<version> with current pointing at it, after its self-test passed', () => {
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      const version = result.manifest.version;
      expect(fs.readdirSync(at('opt/qrpos/releases'))).toEqual([version]);
      expect(fs.readlinkSync(at('opt/qrpos/current'))).toBe(`releases/${version}`);
      expect(first.stdout).toMatch(new RegExp(`release ${version.replace(/\./g, '\\.')} runs here: selftest: all \\d+ passed`));
      expect(fs.readFileSync(at('var/log/qrpos-setup.log'), 'utf8')).not.toContain('npm ci');
    });

    it('runs: qrpos --version, and every native module loads and works from the release', () => {
      const v = spawnSync(process.execPath, [at('opt/qrpos/current/scripts/qrpos.cjs'), '--version'], { encoding: 'utf8', env });
      expect(v.stderr).toBe('');
      // An installed release names itself by its release version (what `qrpos upgrade` compares).
      expect(v.stdout.trim()).toBe(result.manifest.version);
      const st = spawnSync(process.execPath, [at('opt/qrpos/current/scripts/release/selftest.cjs'), '--json'], { encoding: 'utf8', env, cwd: '/' });
      // This environment has no HOME: when the system's font cache is older than a font folder,
      // fontconfig (inside canvas) says it has nowhere to write a new one, and renders all the
      // same. That line is the only thing allowed on stderr.
      expect(st.stderr.replace(/^Fontconfig error: No writable cache directories\n/gm, '')).toBe('');
      const report = JSON.parse(st.stdout) as { ok: boolean; results: { name: string; ok: boolean; detail: string }[] };
      const by = Object.fromEntries(report.results.map((r) => [r.name, r]));
      for (const name of ['better-sqlite3', 'canvas', 'node-hid', '@serialport/bindings-cpp', 'koffi', 'epoll', 'onoff', 'app']) {
        expect(by[name]?.ok, `${name}: ${by[name]?.detail}`).toBe(true);
      }
      expect(by['better-sqlite3'].detail).toContain('opened a database');
      expect(by.canvas.detail).toContain('PNG');
      expect(report.ok).toBe(true);
      expect(st.status).toBe(0);
    });

    it('a second install of the same bundle, by the installed release\'s own installer, changes nothing', () => {
      const before = manifest(root);
      const t = process.hrtime.bigint();
      const again = spawnSync('bash', [at('opt/qrpos/current/scripts/setup.sh'), '--root', root, '--bundle', result.file, '--non-interactive'], { encoding: 'utf8', env, input: '' });
      timings.again = Number(process.hrtime.bigint() - t) / 1e9;
      expect(again.stderr).toBe('');
      expect(again.stdout).toContain(`release ${result.manifest.version}: unchanged`);
      expect(again.stdout).toContain('done: everything was already in place (unchanged)');
      expect(manifest(root)).toEqual(before);
    });
  });
});
