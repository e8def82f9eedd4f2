/**
 * A linux-arm64 bundle of this checkout built on this amd64 machine (the built dist/, the
 * node_modules scripts/release/cross.sh compiled for arm64, signed with a throwaway key), then run
 * under qemu-user with Debian 13's arm64 Node.js: every native module is an arm64 ELF and loads,
 * the release's self-test passes, and one sale goes through simulator, relay and terminal to PAID.
 * Controls: an x64 binary in the same check fails both ways, and the x64 bundle is refused as arm64.
 *
 * Needs the cross root (sudo scripts/release/cross.sh --arch arm64: its qemu, arm64 Node.js and
 * node_modules for this package-lock.json); skipped with that reason where it is missing. It runs
 * only when asked (QRPOS_EMULATED_TEST=1, as `scripts/release/arm64.sh --test` does): whether the
 * normal suite takes 2½ more minutes must not depend on what a machine happens to have in /var/tmp.
 * CI runs the same check through scripts/release/arm64.sh.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelease, type BuildResult } from './build';
import { checkBundleEmulated, checkNatives, crossRoot, describeReport, findEmulator, type Emulator } from './emulated';
import { M } from './lib';
import { makeKeys, REPO, type TestKeys } from './testing';
import { removeScratch, SCRATCH_REMOVAL_MS } from '../shared/testing/scratch';

const DIST = path.join(REPO, 'dist');
const emulator = findEmulator('arm64');
const lockHash = M.sha256File(path.join(REPO, 'package-lock.json')).slice(0, 16);
const armModules = path.join(crossRoot('arm64'), 'build', `arm64-${lockHash}`, 'node_modules');
const missing =
  process.env.QRPOS_EMULATED_TEST !== '1'
    ? 'only with QRPOS_EMULATED_TEST=1 (scripts/release/arm64.sh --test)'
    : typeof emulator === 'string'
    ? emulator
    : !fs.existsSync(path.join(armModules, '..', '.qrpos-cross-done'))
      ? `no arm64 node_modules for this package-lock.json in ${armModules}: run sudo scripts/release/cross.sh --arch arm64`
      : !fs.existsSync(path.join(DIST, 'src', 'release', 'smoke-sale.js'))
        ? 'dist/ is not built (npm run build)'
        : null;
if (missing) console.warn(`emulated.test: skipped: ${missing}`);

describe.skipIf(missing !== null)('a linux-arm64 bundle built on amd64, run under qemu-user', () => {
  const emu = emulator as Emulator;
  let base: string;
  let keys: TestKeys;
  let arm: BuildResult;
  let buildSeconds = 0;

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-emulated-test-'));
    keys = makeKeys(base);
    const t = Date.now();
    arm = await buildRelease({ repo: REPO, arch: 'arm64', nodeModules: armModules, dist: DIST, keyFile: keys.privFile, publicKeyFile: keys.pubFile, outDir: base, version: 'emulated-test', level: 1 });
    buildSeconds = (Date.now() - t) / 1000;
  }, 180_000);
  afterAll(() => removeScratch(base), SCRATCH_REMOVAL_MS);

  it('every .node is an arm64 ELF and loads, the self-test passes, and a sale ends PAID', async () => {
    expect(arm.manifest.arch).toBe('arm64');
    const r = await checkBundleEmulated(arm.file, { arch: 'arm64', emulator: emu, keys: keys.pubFile });
    console.info(`emulated check (bundle built in ${buildSeconds.toFixed(1)} s):\n${describeReport(r)}`);
    expect(r.problems).toEqual([]);
    const packages = new Set(r.natives.map((n) => n.package));
    for (const p of ['better-sqlite3', 'canvas', 'epoll', 'node-hid', '@serialport/bindings-cpp', '@koromix/koffi-linux-arm64']) expect(packages).toContain(p);
    expect(r.natives.every((n) => n.elf && n.loaded)).toBe(true);
    // No musl-libc prebuilds: the devices run glibc, where they do not load.
    expect(r.natives.filter((n) => /musl/.test(n.path))).toEqual([]);
    expect(r.selftest).toMatchObject({ ok: true, arch: 'arm64', abi: '115' });
    expect(r.sale).toMatchObject({ ok: true, arch: 'arm64', amount: 2500 });
    expect(r.sale!.screenPngBytes).toBeGreaterThan(1000);
  }, 900_000);

  it('an x64 binary fails the same check, and the x64 bundle is refused as arm64', async () => {
    const dir = path.join(base, 'tree');
    const x64 = path.join(REPO, 'node_modules', 'epoll', 'build', 'Release', 'epoll.node');
    const a64 = path.join(armModules, 'epoll', 'build', 'Release', 'epoll.node');
    fs.mkdirSync(dir);
    fs.copyFileSync(x64, path.join(dir, 'x64.node'));
    fs.copyFileSync(a64, path.join(dir, 'arm64.node'));
    const got = checkNatives(dir, { native: [{ path: 'x64.node', package: 'epoll', kind: 'abi' }, { path: 'arm64.node', package: 'epoll', kind: 'abi' }] as never }, emu);
    expect(got[0]).toMatchObject({ elf: false, loaded: false });
    expect(got[0].load).not.toBe('ok');
    expect(got[1]).toMatchObject({ elf: true, loaded: true, load: 'ok' });

    const x = await buildRelease({ repo: REPO, dist: DIST, keyFile: keys.privFile, publicKeyFile: keys.pubFile, outDir: path.join(base, 'x64'), version: 'emulated-test', level: 1 });
    const r = await checkBundleEmulated(x.file, { arch: 'arm64', emulator: emu, keys: keys.pubFile, sale: false });
    expect(r.problems).toContain('the manifest says linux-x64, not linux-arm64');
    expect(r.natives.length).toBeGreaterThan(0);
    expect(r.natives.every((n) => !n.elf && !n.loaded)).toBe(true);
  }, 600_000);
});
