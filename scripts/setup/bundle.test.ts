/**
 * setup.sh --bundle with bundles of the scratch app (fast; src/release/bundle.test.ts installs
 * the real one): the release layout, idempotence, switching and pruning, the installer inside a
 * release, and every refusal leaving the root as it was (bad signature, modified file, wrong
 * architecture, wrong Node ABI, not enough disk, a release that does not run).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildScratch, fakeAbiAddon, addNativePackage, makeKeys, readEntries, type TestKeys, writeEntries } from '../../src/release/testing';
import { LOG_REL, makeRoot, makeSource, manifest, modeOf, runSetup, TERMINAL_FLAGS, useScratchApp } from './testkit';

const isRoot = process.getuid?.() === 0;
const app = useScratchApp();
const arch = process.arch;

let keys: TestKeys;
let out: string;
const bundles: Record<string, string> = {};

/** A bundle of the scratch app as version v (dist/src/cli/main.js says which). */
async function bundleOf(v: string): Promise<string> {
  if (bundles[v]) return bundles[v];
  const scratch = makeSource(fs.mkdtempSync(path.join(app.base, `src-${v}-`)));
  fs.appendFileSync(path.join(scratch.source, 'dist', 'src', 'cli', 'main.js'), `exports.release = ${JSON.stringify(v)};\n`);
  const r = await buildScratch({ ...scratch, keys, outDir: out, version: v });
  return (bundles[v] = r.file);
}

beforeAll(async () => {
  keys = makeKeys(app.base);
  out = path.join(app.base, 'bundles');
  for (const v of ['1.0.0', '1.1.0', '1.2.0']) await bundleOf(v);
});

const bundleFlags = (root: string, file: string) => ['--root', root, '--bundle', file, '--release-key', keys.pubFile, '--non-interactive', ...TERMINAL_FLAGS];

describe('setup.sh --bundle', () => {
  let root: string;
  let first: ReturnType<typeof runSetup>;
  beforeAll(() => {
    root = makeRoot(app.base);
    first = runSetup(bundleFlags(root, bundles['1.0.0']));
  });
  const at = (rel: string) => path.join(root, rel);

  it('unpacks the release into /opt/qrpos/releases/<version> and points current at it', () => {
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('bundle good: qrpos 1.0.0');
    expect(first.stdout).toContain('installed release 1.0.0 in /opt/qrpos/releases/1.0.0');
    expect(fs.readlinkSync(at('opt/qrpos/current'))).toBe('releases/1.0.0');
    expect(fs.existsSync(at('opt/qrpos/previous'))).toBe(false);
    expect(fs.readFileSync(at('opt/qrpos/current/dist/src/cli/main.js'), 'utf8')).toContain('exports.release = "1.0.0"');
    expect(modeOf(at('opt/qrpos/releases/1.0.0'))).toBe('0755');
    expect(modeOf(at('opt/qrpos/current/scripts/setup.sh'))).toBe('0755');
    expect(modeOf(at('opt/qrpos/current/package.json'))).toBe('0644');
    expect(fs.existsSync(at('opt/qrpos/current/manifest.json.sig'))).toBe(true);
    if (isRoot) expect(fs.statSync(at('opt/qrpos/current/package.json')).uid).toBe(0);
    // Units and udev rules from the release; the command runs current.
    expect(fs.readFileSync(at('etc/systemd/system/qrpos-terminal.service'), 'utf8')).toBe(fs.readFileSync(at('opt/qrpos/current/systemd/qrpos-terminal.service'), 'utf8'));
    expect(fs.readFileSync(at('usr/local/bin/qrpos'), 'utf8')).toMatch(/^exec \/\S+ \/opt\/qrpos\/current\/scripts\/qrpos\.cjs "\$@"$/m);
    // Runtime libraries only: no compiler, no -dev packages, no npm.
    const apt = /would run: apt-get install (.*)\)/.exec(first.stdout)?.[1] ?? '';
    expect(apt).toContain('libcairo2');
    expect(apt).not.toMatch(/build-essential|-dev\b|python3|npm/);
    expect(fs.readFileSync(at(LOG_REL), 'utf8')).not.toContain('npm ci');
    expect(fs.readdirSync(at('opt/qrpos/releases'))).toEqual(['1.0.0']); // no half-unpacked folder left
  });

  it('changes nothing when run again with the same bundle, also from the installed release itself', () => {
    const before = manifest(root);
    const again = runSetup(bundleFlags(root, bundles['1.0.0']));
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('release 1.0.0: unchanged');
    expect(again.stdout).toContain('done: everything was already in place (unchanged)');
    expect(manifest(root)).toEqual(before);
    // The release's own installer trusts the key it shipped with: no --release-key.
    const own = spawnSync('bash', [at('opt/qrpos/current/scripts/setup.sh'), '--root', root, '--bundle', bundles['1.0.0'], '--non-interactive'], { encoding: 'utf8', input: '' });
    expect(own.stderr).toBe('');
    expect(own.stdout).toContain('done: everything was already in place (unchanged)');
    expect(manifest(root)).toEqual(before);
  });

  it('switches to a newer bundle keeping the old one as previous, and prunes beyond --keep', () => {
    const r = runSetup(bundleFlags(root, bundles['1.1.0']));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('switched /opt/qrpos/current to releases/1.1.0 (previous: 1.0.0)');
    expect(r.stdout).toMatch(/skipped under --root \(would run: systemctl restart qrpos-terminal.service\)/);
    expect(fs.readlinkSync(at('opt/qrpos/previous'))).toBe('releases/1.0.0');
    const r2 = runSetup([...bundleFlags(root, bundles['1.2.0']), '--keep', '2']);
    expect(r2.status).toBe(0);
    expect(r2.stdout).toContain('removed old release 1.0.0 (keeping 2)');
    expect(fs.readdirSync(at('opt/qrpos/releases')).sort()).toEqual(['1.1.0', '1.2.0']);
    expect(fs.readlinkSync(at('opt/qrpos/current'))).toBe('releases/1.2.0');
    expect(fs.readlinkSync(at('opt/qrpos/previous'))).toBe('releases/1.1.0');
    // Back to 1.1.0 by installing it again: current and previous trade places, nothing removed.
    const back = runSetup([...bundleFlags(root, bundles['1.1.0']), '--keep', '2']);
    expect(back.stdout).toContain('release 1.1.0: unchanged');
    expect(back.stdout).toContain('switched /opt/qrpos/current to releases/1.1.0 (previous: 1.2.0)');
    expect(fs.readdirSync(at('opt/qrpos/releases')).sort()).toEqual(['1.1.0', '1.2.0']);
    expect(fs.readFileSync(at('opt/qrpos/history'), 'utf8').trim().split('\n').map((l) => l.split('\t').slice(1).join(' '))).toEqual([
      'activate 1.0.0 ',
      'activate 1.1.0 1.0.0',
      'activate 1.2.0 1.1.0',
      'activate 1.1.0 1.2.0',
    ]);
  });

  it('repairs an installed release whose files were changed, and removes what a killed install left', () => {
    const file = at('opt/qrpos/releases/1.1.0/dist/src/cli/main.js');
    fs.appendFileSync(file, '// changed on the device\n');
    fs.mkdirSync(at('opt/qrpos/releases/.incoming-999999999-1'));
    const r = runSetup(bundleFlags(root, bundles['1.1.0']));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('removed /opt/qrpos/releases/.incoming-999999999-1 (left by an install that did not finish)');
    expect(r.stdout).toContain('replaced (its files differed) release 1.1.0');
    expect(fs.readFileSync(file, 'utf8')).not.toContain('changed on the device');
  });

  it('--dry-run checks the bundle and says what it would do, changing nothing', () => {
    const before = manifest(root, []);
    const r = runSetup([...bundleFlags(root, bundles['1.0.0']), '--dry-run']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('would install release 1.0.0 in /opt/qrpos/releases/1.0.0');
    expect(r.stdout).toContain('would switch /opt/qrpos/current to releases/1.0.0');
    expect(manifest(root, [])).toEqual(before);
  });

  it('--uninstall removes every release and the links', () => {
    const r = runSetup(['--root', root, '--uninstall']);
    expect(r.status).toBe(0);
    expect(fs.existsSync(at('opt/qrpos'))).toBe(false);
  });
});

describe('setup.sh --bundle refuses, and leaves the root as it was', () => {
  function refused(flags: string[], root = makeRoot(app.base)) {
    // As on a real system: /opt and /var/log are there (the log is the one thing written).
    for (const d of ['opt', 'var/log']) fs.mkdirSync(path.join(root, d), { recursive: true });
    const before = manifest(root);
    const r = runSetup(flags.map((f) => (f === '@ROOT' ? root : f)));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('nothing was installed or changed');
    expect(manifest(root)).toEqual(before); // no /opt/qrpos, no user, no config: only the log
    expect(fs.existsSync(path.join(root, 'opt/qrpos'))).toBe(false);
    return r;
  }

  it('a bundle signed by a key this installer does not trust', () => {
    // Without --release-key: the repository's key, which did not sign the test bundles.
    const r = refused(['--root', '@ROOT', '--bundle', bundles['1.0.0'], '--non-interactive', ...TERMINAL_FLAGS]);
    expect(r.stderr).toContain(`bad signature: the bundle is signed by key ${keys.id.slice(0, 16)}, which is not trusted here`);
  });

  it('a bundle with a modified file, naming it', async () => {
    const entries = await readEntries(bundles['1.0.0']);
    const e = entries.find((x) => x.name.endsWith('/device/udev/99-qrpos.rules'))!;
    e.data = Buffer.from(e.data.toString().replace('MODE="0660"', 'MODE="0666"'));
    const file = path.join(out, 'modified.tar.gz');
    await writeEntries(entries, file);
    const r = refused(['--root', '@ROOT', ...bundleFlags('', file).slice(2)]);
    expect(r.stderr).toContain('modified: device/udev/99-qrpos.rules');
  });

  it('a bundle for another architecture', async () => {
    const other = arch === 'arm64' ? 'x64' : 'arm64';
    const scratch = makeSource(fs.mkdtempSync(path.join(app.base, 'other-arch-')));
    const b = await buildScratch({ ...scratch, keys, outDir: out, version: '1.0.0', arch: other });
    const r = refused(['--root', '@ROOT', ...bundleFlags('', b.file).slice(2)]);
    expect(r.stderr).toContain(`wrong architecture: the bundle is for linux-${other}`);
  });

  it('a bundle whose native module needs another Node ABI', async () => {
    const scratch = makeSource(fs.mkdtempSync(path.join(app.base, 'abi-')));
    addNativePackage(scratch.source, scratch.nodeModules, fakeAbiAddon(999));
    const b = await buildScratch({ ...scratch, keys, outDir: path.join(app.base, 'abi-out'), version: '1.0.0' });
    const r = refused(['--root', '@ROOT', ...bundleFlags('', b.file).slice(2)]);
    expect(r.stderr).toContain('wrong Node.js ABI: fake-native in the bundle is built for Node ABI 999');
    expect(r.stderr).toContain(`has ABI ${process.versions.modules}`);
  });

  it('a release that does not run here (its self-test fails): nothing switched', async () => {
    const root = makeRoot(app.base);
    expect(runSetup(bundleFlags(root, bundles['1.0.0'])).status).toBe(0);
    const scratch = makeSource(fs.mkdtempSync(path.join(app.base, 'broken-')));
    fs.writeFileSync(path.join(scratch.source, 'dist', 'src', 'cli', 'main.js'), "throw new Error('cannot start here');\n");
    const b = await buildScratch({ ...scratch, keys, outDir: path.join(app.base, 'broken-out'), version: '9.9.9' });
    const r = runSetup(bundleFlags(root, b.file));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('FAIL app: cannot start here');
    expect(r.stderr).toContain('release 9.9.9 does not run on this machine');
    expect(fs.readlinkSync(path.join(root, 'opt/qrpos/current'))).toBe('releases/1.0.0');
    expect(fs.readdirSync(path.join(root, 'opt/qrpos/releases'))).toEqual(['1.0.0']);
  });

  // A scratch root whose /opt is an 8 MB tmpfs, in a mount namespace of its own (nothing is
  // mounted on this machine): needs root (or unprivileged user namespaces).
  const unshare = spawnSync('unshare', ['--mount', 'true']).status === 0;
  it.skipIf(!isRoot || !unshare)('not enough disk space for the release', async () => {
    const scratch = makeSource(fs.mkdtempSync(path.join(app.base, 'big-')));
    fs.writeFileSync(path.join(scratch.source, 'device', 'fonts', 'big.ttf'), Buffer.alloc(12 * 1024 * 1024, 1));
    const b = await buildScratch({ ...scratch, keys, outDir: path.join(app.base, 'big-out'), version: '1.0.0' });
    const root = makeRoot(app.base);
    for (const d of ['opt', 'var/log']) fs.mkdirSync(path.join(root, d), { recursive: true });
    const before = manifest(root);
    const script = 'mount -t tmpfs -o size=8m qrpos-test "$1/opt" && shift && exec bash "$@"';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', root, path.join(__dirname, '..', 'setup.sh'), ...bundleFlags(root, b.file)], {
      encoding: 'utf8',
      input: '',
    });
    expect(r.stderr).toMatch(/not enough disk space in \/\S+\/opt\/qrpos\/releases: release 1\.0\.0 needs 2\d\.\d MB \(\d+ files\), [0-8]\.\d MB is free/);
    expect(r.stderr).toContain('nothing was installed or changed');
    expect(r.status).toBe(1);
    expect(manifest(root)).toEqual(before); // the tmpfs was this process's only; the root's /opt is untouched
  });
});

describe('setup.sh from a checkout, into the release layout', () => {
  it('an install from before releases (the app itself in /opt/qrpos) is moved aside: current replaces it', () => {
    const root = makeRoot(app.base);
    for (const d of ['dist/src/cli', 'node_modules/old-dep', 'scripts', 'device']) fs.mkdirSync(path.join(root, 'opt/qrpos', d), { recursive: true });
    fs.writeFileSync(path.join(root, 'opt/qrpos/dist/src/cli/main.js'), 'old');
    fs.writeFileSync(path.join(root, 'opt/qrpos/package.json'), '{}');
    const r = runSetup([...app.common(root), ...TERMINAL_FLAGS]);
    expect(r.status).toBe(0);
    for (const f of ['dist', 'node_modules', 'scripts', 'device', 'package.json']) {
      expect(r.stdout).toContain(`removed /opt/qrpos/${f}`);
      expect(fs.existsSync(path.join(root, 'opt/qrpos', f))).toBe(false);
    }
    expect(fs.readFileSync(path.join(root, 'opt/qrpos/current/dist/src/cli/main.js'), 'utf8')).toContain('exports.main');
  });

  it('the installer of an installed release, run again to change an answer, keeps that release', () => {
    const root = makeRoot(app.base);
    expect(runSetup([...app.common(root), ...TERMINAL_FLAGS]).status).toBe(0);
    const version = path.basename(fs.readlinkSync(path.join(root, 'opt/qrpos/current')));
    const r = spawnSync('bash', [path.join(root, 'opt/qrpos/current/scripts/setup.sh'), '--root', root, '--non-interactive', '--merchant-name', 'Renamed Shop'], {
      encoding: 'utf8',
      input: '',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`release ${version} (this installer's own): unchanged`);
    expect(r.stdout).toContain('wrote /etc/qrpos/terminal.json');
    expect(fs.readdirSync(path.join(root, 'opt/qrpos/releases'))).toEqual([version]);
  });

  it('a changed checkout becomes a new release; the same checkout again changes nothing', () => {
    const root = makeRoot(app.base);
    const scratch = makeSource(fs.mkdtempSync(path.join(app.base, 'edit-')));
    const flags = ['--root', root, '--source', scratch.source, '--node-modules', scratch.nodeModules, '--non-interactive', ...TERMINAL_FLAGS];
    expect(runSetup(flags).status).toBe(0);
    const v1 = path.basename(fs.readlinkSync(path.join(root, 'opt/qrpos/current')));
    fs.appendFileSync(path.join(scratch.source, 'dist', 'src', 'cli', 'main.js'), '// edited\n');
    const r = runSetup(flags);
    const v2 = path.basename(fs.readlinkSync(path.join(root, 'opt/qrpos/current')));
    expect(v2).not.toBe(v1);
    expect(r.stdout).toContain(`switched /opt/qrpos/current to releases/${v2} (previous: ${v1})`);
    expect(runSetup(flags).stdout).toContain('done: everything was already in place (unchanged)');
  });

  it('refuses --bundle with --source, --node-modules or --uninstall, and a --keep below 2', () => {
    const root = makeRoot(app.base);
    for (const [extra, msg] of [
      [['--source', app.source], '--bundle and --source exclude each other'],
      [['--node-modules', app.nodeModules], '--bundle brings its own node_modules'],
      [['--uninstall'], '--bundle installs; --uninstall needs no bundle'],
      [['--keep', '1'], '--keep: a whole number, at least 2'],
    ] as [string[], string][]) {
      const r = runSetup(['--root', root, '--bundle', bundles['1.0.0'], ...extra]);
      expect(r.status, msg).toBe(2);
      expect(r.stderr).toContain(msg);
    }
    expect(runSetup(['--root', root, '--bundle', path.join(app.base, 'none.tar.gz')]).stderr).toContain('no such file');
  });
});
