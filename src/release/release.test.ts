/**
 * Release bundles from a tiny app (fast): what `verify` accepts and what it refuses (a changed,
 * extra or missing file, a changed manifest, another key, a link, a path out of the bundle),
 * the architecture and Node ABI checks, the signing key's handling, and the release folder
 * (current/previous switched by rename, old releases pruned).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSource } from '../../scripts/setup/testkit';
import { buildRelease, BuildError, crossArchMessage } from './build';
import { loadOrCreateSigningKey, KeyError } from './keys';
import { Install, M } from './lib';
import { addNativePackage, buildScratch, fakeAbiAddon, makeKeys, readEntries, REPO, type TestKeys, writeEntries } from './testing';
import { removeScratch, SCRATCH_REMOVAL_MS } from '../shared/testing/scratch';

const RELEASE_CJS = path.join(REPO, 'scripts', 'release', 'release.cjs');
const here = { arch: process.arch, abi: Number(process.versions.modules), node: process.version };

let base: string;
let keys: TestKeys;
let app: { source: string; nodeModules: string };
let bundle: string;
let stem: string;

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-release-test-'));
  keys = makeKeys(base);
  app = makeSource(fs.mkdtempSync(path.join(base, 'app-')));
  const r = await buildScratch({ ...app, keys, outDir: path.join(base, 'out'), version: '1.0.0-test' });
  bundle = r.file;
  stem = `qrpos-1.0.0-test-linux-${process.arch}`;
});
afterAll(() => removeScratch(base), SCRATCH_REMOVAL_MS);

function verify(file: string, extra: string[] = ['--key', keys.pubFile]) {
  return spawnSync(process.execPath, [RELEASE_CJS, 'verify', file, ...extra], { encoding: 'utf8' });
}

async function tampered(name: string, change: (entries: Awaited<ReturnType<typeof readEntries>>) => void): Promise<string> {
  const entries = await readEntries(bundle);
  change(entries);
  const out = path.join(base, `${name}.tar.gz`);
  await writeEntries(entries, out);
  return out;
}

describe('a bundle', () => {
  it('is named by version and arch, starts with its signed manifest and lists every file with its SHA-256', async () => {
    expect(path.basename(bundle)).toBe(`${stem}.tar.gz`);
    const entries = await readEntries(bundle);
    expect(entries.slice(0, 2).map((e) => e.name)).toEqual([`${stem}/manifest.json`, `${stem}/manifest.json.sig`]);
    const manifest = M.parseManifest(entries[0].data);
    expect(manifest).toMatchObject({ version: '1.0.0-test', arch: process.arch, source: 'bundle', platform: 'linux' });
    const files = entries.slice(2);
    expect(files.map((e) => e.name.slice(stem.length + 1)).sort()).toEqual(Object.keys(manifest.files).sort());
    for (const e of files) expect(M.sha256(e.data), e.name).toBe(manifest.files[e.name.slice(stem.length + 1)].sha256);
    // The production dependency is in, the dev one is not; the installer and its key are.
    expect(manifest.files['node_modules/fake-dep/index.js']).toMatchObject({ mode: '0755' });
    expect(Object.keys(manifest.files).some((f) => f.includes('fake-dev'))).toBe(false);
    for (const f of ['scripts/setup.sh', 'scripts/setup/lib.sh', 'scripts/release/release.cjs', 'scripts/release/selftest.cjs', 'systemd/qrpos-terminal.service', 'device/udev/99-qrpos.rules']) {
      expect(manifest.files[f], f).toBeDefined();
    }
    expect(Object.keys(manifest.files).some((f) => f.endsWith('.test.ts') || f.endsWith('testkit.ts'))).toBe(false);
    // It ships the public key it was signed for, which its installer then trusts.
    expect(entries.find((e) => e.name === `${stem}/scripts/release/release-key.pub`)?.data.toString()).toBe(fs.readFileSync(keys.pubFile, 'utf8'));
  });

  it('verifies: good signature, every file as listed', () => {
    const r = verify(bundle, ['--key', keys.pubFile, '--here']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`good: ${stem}.tar.gz: qrpos 1.0.0-test for linux-${process.arch}`);
    expect(r.stdout).toContain(`signed by key ${keys.id.slice(0, 16)}`);
  });

  it('stops being read when its signal is aborted (an AbortError, not a refusal; a half-written folder removed), and reads in full again', async () => {
    const keyList = M.loadPublicKeys(keys.pubFile);
    const before = new AbortController();
    before.abort();
    await expect(Install.readBundle(bundle, { keys: keyList, signal: before.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // Aborted midway: once the signature is checked and the first files are being written.
    const midway = new AbortController();
    const into = path.join(base, 'aborted-unpack');
    const read = Install.readBundle(bundle, {
      keys: keyList,
      into,
      signal: midway.signal,
      onManifest: () => {
        midway.abort();
        return undefined;
      },
    });
    const err = await read.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(err).not.toBeInstanceOf(M.ReleaseError);
    expect(fs.existsSync(into)).toBe(false);
    const again = await Install.readBundle(bundle, { keys: keyList, signal: new AbortController().signal });
    expect(again.manifest.version).toBe('1.0.0-test');
  });

  it('is refused with one file changed, naming it', async () => {
    // One byte flipped (same size: only the SHA-256 tells), and a line added to another file.
    const file = await tampered('modified', (entries) => {
      const e = entries.find((x) => x.name === `${stem}/dist/src/cli/main.js`)!;
      e.data = Buffer.from(e.data);
      e.data[0] ^= 0x01;
    });
    const r = verify(file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the bundle does not match its signed manifest');
    expect(r.stderr).toContain('modified: dist/src/cli/main.js (its SHA-256 differs from the signed manifest)');
    expect(r.stderr.match(/modified:/g)).toHaveLength(1);
    const longer = await tampered('longer', (entries) => {
      const e = entries.find((x) => x.name === `${stem}/package.json`)!;
      e.data = Buffer.concat([e.data, Buffer.from('\n')]);
    });
    expect(verify(longer).stderr).toContain('modified: package.json');
  });

  it('is refused with a file added, or one left out', async () => {
    const extra = await tampered('extra', (entries) => entries.push({ name: `${stem}/dist/src/cli/backdoor.js`, data: Buffer.from('x'), mode: 0o644 }));
    const r = verify(extra);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not in the signed manifest: dist/src/cli/backdoor.js');

    const missing = await tampered('missing', (entries) => entries.splice(entries.findIndex((e) => e.name === `${stem}/device/udev/99-qrpos.rules`), 1));
    const m = verify(missing);
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('missing from the bundle: device/udev/99-qrpos.rules');
  });

  it('is refused when the manifest was changed after signing, or signed by another key', async () => {
    const edited = await tampered('edited-manifest', (entries) => {
      const m = JSON.parse(entries[0].data.toString()) as { files: Record<string, { sha256: string }> };
      m.files['dist/src/cli/main.js'].sha256 = '0'.repeat(64);
      entries[0].data = Buffer.from(JSON.stringify(m, null, 2) + '\n');
    });
    const r = verify(edited);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bad signature: manifest.json does not match its signature');

    // Signed, correctly, by a key the verifier does not trust (the repo's shipped key here).
    const other = verify(bundle, []);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(`bad signature: the bundle is signed by key ${keys.id.slice(0, 16)}, which is not trusted here`);
    expect(other.stderr).toContain('release-key.pub');

    // A forged signature under the trusted key's id.
    const forged = await tampered('forged', (entries) => {
      const sig = JSON.parse(entries[1].data.toString()) as { signature: string };
      const bytes = Buffer.from(sig.signature, 'base64');
      bytes[0] ^= 1;
      sig.signature = bytes.toString('base64');
      entries[1].data = Buffer.from(JSON.stringify(sig));
    });
    expect(verify(forged).stderr).toContain('bad signature: manifest.json does not match its signature');
  });

  it('is refused when it is not a bundle at all: not gzip, no manifest first, no signature', async () => {
    const junk = path.join(base, 'junk.tar.gz');
    fs.writeFileSync(junk, 'not a tarball');
    expect(verify(junk).stderr).toContain('is not a gzipped bundle');
    const reordered = await tampered('reordered', (entries) => entries.reverse());
    expect(verify(reordered).stderr).toContain('it must begin with <folder>/manifest.json');
    const unsigned = await tampered('unsigned', (entries) => entries.splice(1, 1));
    expect(verify(unsigned).stderr).toContain('not a signed qrpos release bundle');
    expect(verify(path.join(base, 'nope.tar.gz')).stderr).toContain('no such file');
  });

  it('refuses a link inside, and writes nothing for a path that leaves the bundle', async () => {
    // GNU tar, files in bundle order, plus a symbolic link.
    const dir = fs.mkdtempSync(path.join(base, 'link-'));
    const entries = await readEntries(bundle);
    for (const e of entries) {
      fs.mkdirSync(path.dirname(path.join(dir, e.name)), { recursive: true });
      fs.writeFileSync(path.join(dir, e.name), e.data);
    }
    fs.symlinkSync('/etc/passwd', path.join(dir, stem, 'passwd'));
    const withLink = path.join(base, 'with-link.tar.gz');
    const names = [...entries.map((e) => e.name), `${stem}/passwd`];
    const tar = spawnSync('tar', ['-czf', withLink, '-C', dir, '--no-recursion', ...names]);
    expect(tar.status).toBe(0);
    const r = verify(withLink);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${stem}/passwd: a symbolic link; a release bundle holds regular files only`);

    const escaping = await tampered('escaping', (list) => list.splice(2, 0, { name: `${stem}/../escaped.txt`, data: Buffer.from('out'), mode: 0o644 }));
    const app = fs.mkdtempSync(path.join(base, 'escape-app-'));
    await expect(Install.unpackBundle(escaping, { app, keys: M.loadPublicKeys(keys.pubFile), here })).rejects.toThrow('not in the signed manifest: ../escaped.txt');
    expect(fs.existsSync(path.join(app, 'releases', 'escaped.txt'))).toBe(false);
    expect(fs.readdirSync(path.join(app, 'releases'))).toEqual([]); // the half-unpacked folder is gone
  });
});

describe('the tar format', () => {
  it('round-trips long names (ustar prefix, pax) and modes, and GNU tar reads it the same', async () => {
    const long = `top/${'d'.repeat(120)}/${'n'.repeat(99)}.js`;
    const longer = `top/${'x'.repeat(200)}/${'y'.repeat(150)}.js`;
    const entries = [
      { name: 'top/manifest.json', data: Buffer.from('{}'), mode: 0o644 },
      { name: long, data: Buffer.from('a'), mode: 0o755 },
      { name: longer, data: Buffer.alloc(70_000, 7), mode: 0o644 },
    ];
    const file = path.join(base, 'names.tar.gz');
    await writeEntries(entries, file);
    const back = await readEntries(file);
    expect(back.map((e) => [e.name, e.data.length, e.mode])).toEqual(entries.map((e) => [e.name, e.data.length, e.mode]));
    expect(back[2].data.equals(entries[2].data)).toBe(true);
    const gnu = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' });
    expect(gnu.stdout.trim().split('\n')).toEqual(entries.map((e) => e.name));
  });
});

describe('architecture and Node ABI', () => {
  it('a bundle for another architecture is refused on this one, naming both', async () => {
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    // The scratch app has no native module, so it packages for any architecture.
    const r = await buildScratch({ ...app, keys, outDir: path.join(base, 'out'), version: '1.0.0-other', arch: other });
    expect(path.basename(r.file)).toBe(`qrpos-1.0.0-other-linux-${other}.tar.gz`);
    expect(verify(r.file).status).toBe(0); // fine as a file
    const v = verify(r.file, ['--key', keys.pubFile, '--here']);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(`wrong architecture: the bundle is for linux-${other}`);
    expect(v.stderr).toContain(`this machine is linux-${process.arch}`);
  });

  it('a bundle whose native module needs another Node ABI is refused, naming the module and both ABIs', async () => {
    const scratch = makeSource(fs.mkdtempSync(path.join(base, 'abi-')));
    addNativePackage(scratch.source, scratch.nodeModules, fakeAbiAddon(999));
    const r = await buildScratch({ ...scratch, keys, outDir: path.join(base, 'out'), version: '1.0.0-abi999' });
    expect(r.manifest.node.abi).toEqual([999]);
    expect(r.manifest.native).toEqual([{ path: 'node_modules/fake-native/build/Release/fake.node', package: 'fake-native', version: '1.0.0', kind: 'abi', abi: 999 }]);
    // binding.gyp marks a node-gyp package: its sources and build intermediates stay out.
    expect(Object.keys(r.manifest.files).filter((f) => f.startsWith('node_modules/fake-native/'))).toEqual([
      'node_modules/fake-native/build/Release/fake.node',
      'node_modules/fake-native/package.json',
    ]);
    const v = verify(r.file, ['--key', keys.pubFile, '--here']);
    expect(v.status).toBe(1);
    expect(v.stderr).toContain(`wrong Node.js ABI: fake-native in the bundle is built for Node ABI 999`);
    expect(v.stderr).toContain(`this Node.js ${process.version} has ABI ${process.versions.modules}`);
  });

  it('packages for another architecture only from node_modules built for it, and says how otherwise', async () => {
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    await expect(buildRelease({ repo: app.source, keyFile: keys.privFile, arch: other, outDir: path.join(base, 'out') })).rejects.toThrow(BuildError);
    const msg = crossArchMessage('arm64', 'x64');
    expect(msg).toContain('cannot build a linux-arm64 bundle on this linux-x64 machine');
    expect(msg).toContain('npm run release -- --arch arm64 --node-modules');
    expect(msg).toContain('scripts/bootstrap.sh && npm run release');
    expect(msg).toContain('scripts/release/cross.sh');
    // node_modules whose native binary is for this machine, not the target: refused by name.
    const scratch = makeSource(fs.mkdtempSync(path.join(base, 'cross-')));
    addNativePackage(scratch.source, scratch.nodeModules, fakeAbiAddon(115));
    await expect(buildScratch({ ...scratch, keys, outDir: path.join(base, 'out'), version: '1.0.0-cross', arch: other })).rejects.toThrow(
      `fake-native 1.0.0: none of its native binaries is for linux-${other}`,
    );
  });
});

describe('the signing key', () => {
  it('is made on first use, 0600 in a 0700 folder, with a message naming the file and its public key', () => {
    const file = path.join(base, 'home', '.config', 'qrpos', 'release-key.pem');
    const lines: string[] = [];
    const { key, created } = loadOrCreateSigningKey(file, (l) => lines.push(l));
    expect(created).toBe(true);
    expect(key.asymmetricKeyType).toBe('ed25519');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(lines.join('\n')).toContain(`created a new release signing key: ${file} (mode 0600)`);
    expect(lines.join('\n')).toContain('BEGIN PUBLIC KEY');
    const again = loadOrCreateSigningKey(file, () => undefined);
    expect(again.created).toBe(false);
    expect(M.keyId(again.key)).toBe(M.keyId(key));
  });

  it('is refused when others can read it, and the build refuses a key devices would not trust', async () => {
    const loose = path.join(base, 'loose.pem');
    fs.copyFileSync(keys.privFile, loose);
    fs.chmodSync(loose, 0o644);
    expect(() => loadOrCreateSigningKey(loose, () => undefined)).toThrow(KeyError);
    expect(() => loadOrCreateSigningKey(loose, () => undefined)).toThrow('chmod 600');
    const stranger = makeKeys(base, 'stranger');
    await expect(buildRelease({ repo: app.source, dist: path.join(app.source, 'dist'), installerDir: path.join(REPO, 'scripts'), nodeModules: app.nodeModules, keyFile: stranger.privFile, publicKeyFile: keys.pubFile, outDir: path.join(base, 'out'), version: 'x' })).rejects.toThrow(
      `is not one of the keys in ${keys.pubFile}`,
    );
  });

  it('the shipped public key file may hold several keys (rotation); each verifies its own signatures', () => {
    const second = makeKeys(base, 'second');
    const both = path.join(base, 'both.pub');
    fs.writeFileSync(both, `# old and new\n${fs.readFileSync(keys.pubFile, 'utf8')}${fs.readFileSync(second.pubFile, 'utf8')}`);
    expect(verify(bundle, ['--key', both]).status).toBe(0);
    expect(M.loadPublicKeys(both).map((k) => k.id)).toEqual([keys.id, second.id]);
    expect(M.loadPublicKeys(path.join(REPO, 'scripts', 'release', 'release-key.pub'))).toHaveLength(1);
  });
});

describe('the release folder', () => {
  async function installed(app: string, version: string): Promise<void> {
    const r = await buildScratch({ ...appSource(), keys, outDir: path.join(base, 'out'), version });
    const u = await Install.unpackBundle(r.file, { app, keys: M.loadPublicKeys(keys.pubFile), here, owner: process.pid });
    if (u.status !== 'unchanged') Install.commitRelease(app, u.dir, version);
  }
  const appSource = () => app;

  it('switches current by renaming a new link over it, keeps previous, and prunes beyond --keep by last use', async () => {
    const dir = fs.mkdtempSync(path.join(base, 'opt-'));
    await installed(dir, '1.0.0');
    expect(Install.activate(dir, '1.0.0', { keep: 3 })).toMatchObject({ switched: true, was: undefined, removed: [] });
    await installed(dir, '1.1.0');
    expect(Install.activate(dir, '1.1.0', { keep: 3 })).toMatchObject({ switched: true, was: '1.0.0', removed: [] });
    for (const v of ['1.2.0', '1.3.0']) await installed(dir, v);
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe('releases/1.1.0');
    expect(fs.readlinkSync(path.join(dir, 'previous'))).toBe('releases/1.0.0');
    expect(fs.lstatSync(path.join(dir, 'current')).isSymbolicLink()).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp'))).toEqual([]);
    // Four releases, keep 3: current, previous, and of the others the one current most lately
    // (1.0.0); 1.3.0, never current, goes.
    const r = Install.activate(dir, '1.2.0', { keep: 3 });
    expect(r.removed).toEqual(['1.3.0']);
    expect(fs.readdirSync(path.join(dir, 'releases')).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    // Again the same: nothing to do.
    expect(Install.activate(dir, '1.2.0', { keep: 3 })).toMatchObject({ switched: false, removed: [] });
    // Back to the previous one (a rollback by hand): previous is then what was current.
    expect(Install.activate(dir, '1.1.0', { keep: 2 })).toMatchObject({ switched: true, was: '1.2.0', removed: ['1.0.0'] });
    expect(fs.readlinkSync(path.join(dir, 'previous'))).toBe('releases/1.2.0');
    expect(Install.readHistory(dir).map((h) => `${h.version}<${h.from ?? ''}`)).toEqual(['1.0.0<', '1.1.0<1.0.0', '1.2.0<1.1.0', '1.1.0<1.2.0']);
  });

  it('unpacked under umask 0077 (qrpos-upgrade.service), the manifest and every file stay readable to the service user', async () => {
    const dir = fs.mkdtempSync(path.join(base, 'opt-'));
    const old = process.umask(0o077);
    try {
      await installed(dir, '3.0.0');
    } finally {
      process.umask(old);
    }
    const rel = path.join(dir, 'releases', '3.0.0');
    // The running program reads its version from manifest.json: unreadable, it reports none.
    for (const f of ['manifest.json', 'manifest.json.sig']) expect((fs.statSync(path.join(rel, f)).mode & 0o777).toString(8)).toBe('644');
    const unreadable: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        const mode = fs.lstatSync(p).mode;
        if (!e.isSymbolicLink() && (mode & 0o004) === 0) unreadable.push(path.relative(rel, p));
        if (e.isDirectory()) walk(p);
      }
    };
    walk(rel);
    expect(unreadable).toEqual([]);
  });

  it('re-unpacking an intact release writes nothing; a damaged one is replaced', async () => {
    const dir = fs.mkdtempSync(path.join(base, 'opt-'));
    await installed(dir, '2.0.0');
    const file = path.join(base, 'out', `qrpos-2.0.0-linux-${process.arch}.tar.gz`);
    const pub = M.loadPublicKeys(keys.pubFile);
    expect((await Install.unpackBundle(file, { app: dir, keys: pub, here })).status).toBe('unchanged');
    fs.chmodSync(path.join(dir, 'releases', '2.0.0', 'package.json'), 0o644);
    fs.appendFileSync(path.join(dir, 'releases', '2.0.0', 'package.json'), ' ');
    const again = await Install.unpackBundle(file, { app: dir, keys: pub, here });
    expect(again.status).toBe('repair');
    expect(Install.commitRelease(dir, again.dir, '2.0.0')).toBe('replaced');
    expect(M.treeProblems(path.join(dir, 'releases', '2.0.0'), again.manifest)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'releases'))).toEqual(['2.0.0']);
  });

  it('checks the space a release needs before writing, against the folder it goes to', async () => {
    const m = M.parseManifest((await readEntries(bundle))[0].data);
    const need = Install.spaceNeeded(m);
    expect(need).toBeGreaterThan(m.size);
    expect(Install.freeBytes(path.join(base, 'no', 'such', 'dir'))).toBeGreaterThan(0);
  });
});
