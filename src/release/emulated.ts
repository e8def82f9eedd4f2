/**
 * Does a bundle for another architecture run there? Checked on this machine under qemu-user with
 * that architecture's Node.js (Debian 13's nodejs, 20.19), both from the root that
 * scripts/release/cross.sh builds (its libraries are the sysroot qemu loads from):
 *
 *   npm run release -- check-emulated FILE [--root DIR] [--no-sale]
 *
 * 1. the bundle as a device reads it (signature, every file), and its manifest's arch;
 * 2. every native module (.node) the manifest lists: an ELF of that machine, and loaded with
 *    process.dlopen by the emulated Node.js (a SQLite extension, not a Node addon, must load as a
 *    shared library: "did not self-register" is its expected answer);
 * 3. the release's own self-test (scripts/release/selftest.cjs) under emulation;
 * 4. one sale through the app under emulation (dist/src/release/smoke-sale.js: simulator, relay,
 *    terminal, PAID).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { M, Install, RELEASE_DIR, type Arch, type Manifest } from './lib';
import type { SmokeResult } from './smoke-sale';

export class EmulationError extends Error {}

export interface Emulator {
  arch: Arch;
  /** The static qemu-user binary (qemu-aarch64, qemu-arm). */
  qemu: string;
  /** The root whose libraries the emulated programs load (qemu -L). */
  sysroot: string;
  /** That architecture's node, inside the sysroot. */
  node: string;
}

const QEMU: Partial<Record<Arch, string>> = { arm64: 'qemu-aarch64', arm: 'qemu-arm' };

/** Where scripts/release/cross.sh keeps its root: $QRPOS_CROSS_ROOT, else /var/tmp/qrpos-cross-<debian arch>. */
export function crossRoot(arch: Arch): string {
  return process.env.QRPOS_CROSS_ROOT || `/var/tmp/qrpos-cross-${M.ARCHES[arch].deb}`;
}

/** The emulator for `arch` in `root`, or why there is none (a sentence that says how to make it). */
export function findEmulator(arch: Arch, root = crossRoot(arch)): Emulator | string {
  const qemuName = QEMU[arch];
  if (!qemuName) return `no emulator for linux-${arch} (arm64 and arm only)`;
  const qemu = path.join(root, 'opt', 'qemu', qemuName);
  const node = path.join(root, 'opt', `node-${M.ARCHES[arch].deb}`, 'usr', 'bin', 'node');
  for (const f of [qemu, node]) {
    if (!fs.existsSync(f)) return `${f} is missing: build the root with sudo scripts/release/cross.sh --arch ${arch} --root-only${root === crossRoot(arch) ? '' : ` --root ${root}`}`;
  }
  return { arch, qemu, sysroot: root, node };
}

/** Runs the emulated node with args; stdout and stderr as text. */
export function runEmulated(emu: Emulator, args: string[], o: { cwd?: string; timeoutMs?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(emu.qemu, ['-L', emu.sysroot, emu.node, ...args], {
    cwd: o.cwd,
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 600_000,
    maxBuffer: 16 << 20,
    env: { PATH: '/usr/bin:/bin', HOME: os.tmpdir(), LANG: 'C.UTF-8', TZ: 'UTC' },
  });
  if (r.error) throw new EmulationError(`${emu.qemu} ${emu.node} ${args[0] ?? ''}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lastJson<T>(what: string, r: { status: number | null; stdout: string; stderr: string }): T {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new EmulationError(`${what} printed no result (exit ${r.status}):\n  ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-10).join('\n  ')}`);
  }
}

export interface NativeCheck {
  path: string;
  package: string;
  kind: string;
  /** The ELF machine is the architecture's. */
  elf: boolean;
  /** "ok", "ok (shared library, not a Node addon)", or the error dlopen gave. */
  load: string;
  loaded: boolean;
}

/**
 * Each native module of an unpacked release: its ELF machine, and process.dlopen of it by the
 * emulated Node.js (one process for all, in the manifest's order).
 */
export function checkNatives(dir: string, manifest: Pick<Manifest, 'native'>, emu: Emulator): NativeCheck[] {
  const natives = manifest.native;
  const script =
    'const out = []; for (const f of JSON.parse(process.argv[1])) { try { process.dlopen({ exports: {} }, f); out.push("ok"); }' +
    ' catch (e) { out.push(String(e && e.message).split("\\n")[0]); } } console.log(JSON.stringify(out));';
  const files = natives.map((n) => path.join(dir, n.path));
  const answers = natives.length ? lastJson<string[]>('the dlopen check', runEmulated(emu, ['-e', script, JSON.stringify(files)])) : [];
  return natives.map((n, i) => {
    const info = M.elfInfo(fs.readFileSync(files[i]));
    const elf = info?.machine === M.ARCHES[emu.arch].elf;
    let load = answers[i] ?? 'no answer';
    let loaded = load === 'ok';
    if (!loaded && n.kind === 'none' && /did not self-register/.test(load)) {
      load = 'ok (shared library, not a Node addon)';
      loaded = true;
    }
    return { path: n.path, package: n.package, kind: n.kind, elf, load, loaded };
  });
}

export interface SelftestReport {
  ok: boolean;
  node: string;
  abi: string;
  arch: string;
  results: { name: string; ok: boolean; detail: string }[];
}

export interface EmulatedReport {
  file: string;
  version: string;
  arch: Arch;
  bytes: number;
  natives: NativeCheck[];
  selftest: SelftestReport;
  sale: SmokeResult | null;
  seconds: { read: number; natives: number; selftest: number; sale: number; total: number };
  /** What failed ([] = the bundle runs on that architecture). */
  problems: string[];
}

/** Checks a bundle for `arch` under emulation; the problems found are in the report (and nothing throws for them). */
export async function checkBundleEmulated(
  file: string,
  o: { arch: Arch; emulator: Emulator; keys?: string; sale?: boolean; log?: (line: string) => void },
): Promise<EmulatedReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const since = (t: number) => (Date.now() - t) / 1000;
  const keys = M.loadPublicKeys(o.keys ?? path.join(RELEASE_DIR, 'release-key.pub'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-emulated-'));
  try {
    // Unpacked as a device unpacks it: the signature and every file checked on the way.
    let t = Date.now();
    const dir = path.join(scratch, 'release');
    const { manifest } = await Install.readBundle(path.resolve(file), { keys, into: dir });
    const read = since(t);
    const problems: string[] = [];
    if (manifest.arch !== o.arch) problems.push(`the manifest says linux-${manifest.arch}, not linux-${o.arch}`);

    t = Date.now();
    log(`loading ${manifest.native.length} native modules under ${path.basename(o.emulator.qemu)} ...`);
    const natives = checkNatives(dir, manifest, o.emulator);
    for (const n of natives) {
      if (!n.elf) problems.push(`${n.path}: not a linux-${o.arch} ELF`);
      if (!n.loaded) problems.push(`${n.path}: does not load: ${n.load}`);
    }
    if (manifest.arch === o.arch && natives.length === 0) problems.push('the manifest lists no native module');
    const nativesSeconds = since(t);

    t = Date.now();
    log('self-test under emulation ...');
    const selftest = lastJson<SelftestReport>('selftest.cjs', runEmulated(o.emulator, [path.join(dir, 'scripts', 'release', 'selftest.cjs'), '--json'], { cwd: dir }));
    if (selftest.arch !== o.arch) problems.push(`the self-test ran as ${selftest.arch}, not ${o.arch}`);
    for (const r of selftest.results.filter((x) => !x.ok)) problems.push(`self-test ${r.name}: ${r.detail}`);
    const selftestSeconds = since(t);

    t = Date.now();
    let sale: SmokeResult | null = null;
    if (o.sale !== false) {
      log('one sale under emulation (simulator, relay, terminal) ...');
      const r = runEmulated(o.emulator, [path.join(dir, 'dist', 'src', 'release', 'smoke-sale.js')], { cwd: dir });
      const got = lastJson<SmokeResult & { error?: string }>('smoke-sale.js', r);
      if (got.ok && got.arch === o.arch) sale = got;
      else problems.push(`the sale: ${got.error ?? `ran as ${got.arch}`}`);
    }
    return {
      file: path.resolve(file),
      version: manifest.version,
      arch: o.arch,
      bytes: fs.statSync(file).size,
      natives,
      selftest,
      sale,
      seconds: { read, natives: nativesSeconds, selftest: selftestSeconds, sale: since(t), total: since(t0) },
      problems,
    };
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** The report as lines for a person. */
export function describeReport(r: EmulatedReport): string {
  const s = r.seconds;
  const lines = [
    `${path.basename(r.file)}: qrpos ${r.version}, ${(r.bytes / 1e6).toFixed(1)} MB, checked under emulation as linux-${r.arch}`,
    ...r.natives.map((n) => `  ${n.elf && n.loaded ? 'ok  ' : 'FAIL'} ${n.path} (${n.package}, ${n.kind}): ${n.elf ? '' : 'wrong ELF machine; '}${n.load}`),
    `  self-test: ${r.selftest.results.filter((x) => x.ok).length}/${r.selftest.results.length} passed (Node.js ${r.selftest.node}, ${r.selftest.arch}, ABI ${r.selftest.abi})`,
    r.sale
      ? `  sale: ${r.sale.amount} THB satang PAID on ${r.sale.arch}, Node.js ${r.sale.node}: paired ${r.sale.seconds.paired.toFixed(1)} s, QR ${r.sale.seconds.qr.toFixed(1)} s, PAID ${r.sale.seconds.paid.toFixed(1)} s, synced ${r.sale.seconds.synced.toFixed(1)} s`
      : '  sale: not run',
    `  ${s.total.toFixed(1)} s: read ${s.read.toFixed(1)} s, native modules ${s.natives.toFixed(1)} s, self-test ${s.selftest.toFixed(1)} s, sale ${s.sale.toFixed(1)} s`,
    r.problems.length ? `FAILED:\n  ${r.problems.join('\n  ')}` : `good: runs on linux-${r.arch}`,
  ];
  return `${lines.join('\n')}\n`;
}
