/**
 * For the release tests: throwaway signing keys, small bundles of a tiny app (scripts/setup's
 * scratch app, with the real installer), and reading/rewriting a bundle's entries to tamper with.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildRelease, type BuildResult } from './build';
import { Tar } from './lib';

export const REPO = path.resolve(__dirname, '..', '..');

export interface TestKeys {
  privFile: string;
  pubFile: string;
  id: string;
}

/** A throwaway Ed25519 pair in dir: <name>.pem (0600) and <name>.pub. */
export function makeKeys(dir: string, name = 'test-key'): TestKeys {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const privFile = path.join(dir, `${name}.pem`);
  const pubFile = path.join(dir, `${name}.pub`);
  fs.writeFileSync(privFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const id = crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  return { privFile, pubFile, id };
}

/** An ELF file of this machine's architecture that names Node ABI `abi` (as a V8-API addon does). */
export function fakeAbiAddon(abi: number, machine = process.arch === 'arm64' ? 183 : 62): Buffer {
  const head = Buffer.alloc(64);
  head.write('\x7fELF', 0, 'latin1');
  head[4] = 2; // 64-bit
  head[5] = 1; // little-endian
  head[6] = 1;
  head.writeUInt16LE(3, 16); // ET_DYN
  head.writeUInt16LE(machine, 18);
  return Buffer.concat([head, Buffer.from(`\0node_register_module_v${abi}\0`, 'latin1')]);
}

/** Adds node_modules/fake-native (built/Release/fake.node = `binary`) to a scratch app and its lock. */
export function addNativePackage(source: string, nodeModules: string, binary: Buffer): void {
  const dir = path.join(nodeModules, 'fake-native');
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fake-native', version: '1.0.0' }) + '\n');
  fs.writeFileSync(path.join(dir, 'binding.gyp'), '{}\n');
  fs.writeFileSync(path.join(dir, 'build', 'Release', 'fake.node'), binary);
  const lockFile = path.join(source, 'package-lock.json');
  const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as { packages: Record<string, unknown> };
  lock.packages['node_modules/fake-native'] = { version: '1.0.0' };
  fs.writeFileSync(lockFile, JSON.stringify(lock, null, 2) + '\n');
}

/** A bundle of a scratch app (testkit's makeSource) with the real installer, signed with `keys`. */
export function buildScratch(o: { source: string; nodeModules: string; keys: TestKeys; outDir: string; version: string; arch?: string }): Promise<BuildResult> {
  return buildRelease({
    repo: o.source,
    dist: path.join(o.source, 'dist'),
    installerDir: path.join(REPO, 'scripts'),
    nodeModules: o.nodeModules,
    keyFile: o.keys.privFile,
    publicKeyFile: o.keys.pubFile,
    outDir: o.outDir,
    version: o.version,
    arch: o.arch,
    level: 1,
  });
}

export interface Entry {
  name: string;
  data: Buffer;
  mode: number;
}

export async function readEntries(file: string): Promise<Entry[]> {
  const out: Entry[] = [];
  await Tar.readTarGz(fs.createReadStream(file), {
    onFile: (name, _size, mode) => {
      const chunks: Buffer[] = [];
      return { write: (c) => chunks.push(Buffer.from(c)), end: () => out.push({ name, data: Buffer.concat(chunks), mode }) };
    },
  });
  return out;
}

export async function writeEntries(entries: Entry[], file: string): Promise<void> {
  await Tar.writeTarGz(entries, fs.createWriteStream(file), { level: 1 });
}

/**
 * This checkout compiled by tsc into outDir (a dist/ of its own: the checkout's may be rebuilt
 * meanwhile). Type errors elsewhere in a checkout others are editing do not stop these tests:
 * tsc still writes the JavaScript, and that is used (with a warning); no output at all is an error.
 */
export function compileDist(outDir: string): string {
  const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(REPO, 'tsconfig.json'), '--outDir', outDir], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) {
    if (!fs.existsSync(path.join(outDir, 'src', 'cli', 'main.js'))) throw new Error(`tsc wrote nothing:\n${r.stdout}${r.stderr}`);
    process.stderr.write(`compileDist: tsc reported type errors (used its output anyway):\n${`${r.stdout}${r.stderr}`.trim().split('\n').slice(0, 5).join('\n')}\n`);
  }
  return outDir;
}

/** A real bundle of this checkout: the compiled `dist`, the checkout's production node_modules, signed with `keys`. */
export function buildReal(o: { dist: string; keys: TestKeys; outDir: string; version: string }): Promise<BuildResult> {
  return buildRelease({ repo: REPO, dist: o.dist, keyFile: o.keys.privFile, publicKeyFile: o.keys.pubFile, outDir: o.outDir, version: o.version, level: 1 });
}

/** Replaces `from` (exactly once) by `to` in a file of a compiled release: a release that differs for a test. */
export function patchOnce(file: string, from: string, to: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${file}: "${from}" found ${n} times`);
  fs.writeFileSync(file, text.replace(from, to));
}
