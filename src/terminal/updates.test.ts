/**
 * Fleet updates on the terminal, with a real relay (loopback, real SQLite) and a real terminal:
 * a rolled-out bundle is downloaded over the link only while no sale is on screen, checked
 * (SHA-256, signature) and dropped into the spool's ready/ folder; bytes changed on the way are
 * refused and reported; the upgrader's outcome file is reported to the relay. The privileged
 * part (qrpos-upgrade.path running `qrpos upgrade` as root) needs a booted systemd: not here.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { makeSource } from '../../scripts/setup/testkit';
import { silentLogger } from '../shared/log';
import { call, startRig, type Rig } from '../relay/testing/testkit';
import { buildScratch, makeKeys, readEntries, writeEntries, type TestKeys } from '../release/testing';
import { press, startTestTerminal, waitFor, type TestTerminal } from './testing/rig';
import { parseOutcomeFile, spoolPaths, Updater } from './updates';

const arch = process.arch;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

describe('terminal: fleet updates', () => {
  let base: string;
  let keys: TestKeys;
  let rig: Rig;
  let bundle: string;
  let tampered: string;
  const terminals: TestTerminal[] = [];

  const rollout = (target: unknown) => call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target } });
  const fleetRow = async (id: string) =>
    ((await call(rig.relay.url, 'GET', '/admin/fleet', { token: rig.secrets.adminToken })).body as { terminals: { id: string; lastUpgrade: { version: string; outcome: string; detail: string } | null }[] }).terminals.find((t) => t.id === id)!;

  async function terminal(name: string): Promise<{ t: TestTerminal; terminalId: string }> {
    const cred = await rig.pair(name);
    const t = await startTestTerminal({ relayUrl: rig.relay.url, dir: rig.dir }, { credential: cred, name, extra: { updates: { keysFile: keys.pubFile, checkMs: 0, quietMs: 0 } } });
    terminals.push(t);
    await waitFor(() => t.handle.link.online, 'link online');
    return { t, terminalId: cred.terminalId };
  }

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-term-updates-'));
    keys = makeKeys(base);
    const { source, nodeModules } = makeSource(base);
    bundle = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out'), version: '2.0.0' })).file;
    const entries = await readEntries(bundle);
    const victim = entries.find((e) => e.name.endsWith('dist/src/cli/main.js'))!;
    victim.data = Buffer.from(`${victim.data.toString()}// changed after signing\n`);
    tampered = path.join(base, 'tampered.tar.gz');
    await writeEntries(entries, tampered);
    rig = await startRig({ config: { releases: { keysFile: keys.pubFile } } });
    const up = await fetch(`${rig.relay.url}/admin/releases`, { method: 'POST', headers: { authorization: `Bearer ${rig.secrets.adminToken}` }, body: fs.readFileSync(bundle) });
    expect(up.status).toBe(201);
  }, 120_000);
  afterAll(async () => {
    for (const t of terminals) await t.handle.stop();
    await rig?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('downloads a rolled-out release only while idle, verifies it and drops it into ready/', async () => {
    const { t, terminalId } = await terminal('till-up');
    const updates = t.handle.updates!;
    const spool = spoolPaths(path.join(t.config.dataDir, 'upgrades'));
    expect(await updates.checkNow()).toBe('none');
    expect((await rollout({ terminals: [terminalId] })).status).toBe(200);

    // A sale on screen: nothing is downloaded.
    for (const k of '5 0 0 0 enter'.split(' ')) t.keypad.press(k as KeyName);
    await waitFor(() => ['creating', 'qr'].includes(t.handle.machine().mode.kind), 'a sale on screen');
    expect(await updates.checkNow()).toBe('busy');
    expect(fs.readdirSync(spool.incoming)).toEqual([]);
    expect(fs.readdirSync(spool.ready)).toEqual([]);

    t.keypad.press('cancel');
    await waitFor(() => t.handle.machine().mode.kind === 'idle', 'back to idle', 10_000);
    expect(await updates.checkNow()).toBe('ready');
    const ready = path.join(spool.ready, `qrpos-2.0.0-linux-${arch}.tar.gz`);
    expect(sha(ready)).toBe(sha(bundle));
    expect(fs.readdirSync(spool.incoming)).toEqual([]);
    // Already handed over: not downloaded again.
    expect(await updates.checkNow()).toBe('ready');
  });

  it('refuses a bundle whose bytes changed on the way, and reports it as refused', async () => {
    const { t, terminalId } = await terminal('till-mitm');
    await rollout({ terminals: [terminalId] });
    // The relay's copy is changed behind its back (same size): what the terminal receives is not what was announced.
    const stored = path.join(rig.config.dataDir, 'releases', `qrpos-2.0.0-linux-${arch}.tar.gz`);
    const original = fs.readFileSync(stored);
    const changed = Buffer.from(original);
    changed[changed.length - 100] ^= 0xff;
    fs.writeFileSync(stored, changed);
    try {
      expect(await t.handle.updates!.checkNow()).toBe('refused');
    } finally {
      fs.writeFileSync(stored, original);
    }
    const spool = spoolPaths(path.join(t.config.dataDir, 'upgrades'));
    expect(fs.readdirSync(spool.ready)).toEqual([]);
    expect(fs.readdirSync(spool.incoming)).toEqual([]);
    const row = await fleetRow(terminalId);
    expect(row.lastUpgrade).toMatchObject({ version: '2.0.0', outcome: 'refused' });
    expect(row.lastUpgrade?.detail).toMatch(/not the bundle the relay announced/);
    // Reported refused: the relay offers it no more (until rolled out again).
    expect(await t.handle.updates!.checkNow()).toBe('none');
  });

  it('refuses a bundle that matches the announced SHA-256 but not its signed manifest', async () => {
    const dir = fs.mkdtempSync(path.join(base, 'unit-'));
    const reports: unknown[] = [];
    const u = new Updater({
      http: {
        releaseOffer: () => Promise.resolve({ release: { version: '2.0.0', arch: arch as 'x64', sha256: sha(tampered), size: fs.statSync(tampered).size } }),
        downloadBundle: (_v, _a, dest) => {
          fs.copyFileSync(tampered, dest);
          return Promise.resolve({ bytes: fs.statSync(dest).size, sha256: sha(dest), resumedFrom: 0 });
        },
        reportRelease: (r) => {
          reports.push(r);
          return Promise.resolve({ recorded: true as const });
        },
      },
      spoolDir: dir,
      version: '1.0.0',
      keysFile: keys.pubFile,
      isIdle: () => true,
      paired: () => true,
      log: silentLogger,
      checkMs: 0,
    });
    expect(await u.checkNow()).toBe('refused');
    expect(reports).toEqual([{ version: '2.0.0', outcome: 'refused', detail: expect.stringMatching(/does not match its signed manifest/) as unknown }]);
    expect(fs.readdirSync(spoolPaths(dir).ready)).toEqual([]);
    // Not downloaded again.
    expect(await u.checkNow()).toBe('refused');
    expect(reports).toHaveLength(1);
  });

  it("reports the upgrader's outcome file to the relay, which shows it in the fleet list", async () => {
    const { t, terminalId } = await terminal('till-after');
    const spool = spoolPaths(path.join(t.config.dataDir, 'upgrades'));
    fs.mkdirSync(spool.outcome, { recursive: true });
    const file = path.join(spool.outcome, `qrpos-2.0.0-linux-${arch}.txt`);
    fs.writeFileSync(
      file,
      `version=2.0.0\noutcome=rolled_back\nexit=3\nat=2026-01-01T00:00:00Z\n---\nqrpos upgrade: ...\nnot READY within 60 s\x1b[31m\nrolled back to 1.0.0: READY and healthy in 4.1 s\n`,
    );
    fs.writeFileSync(path.join(spool.outcome, 'junk.txt'), 'nothing useful\n');
    expect(await t.handle.updates!.reportOutcomes()).toBe(1);
    expect(fs.readdirSync(spool.outcome)).toEqual([]);
    const row = await fleetRow(terminalId);
    expect(row.lastUpgrade).toMatchObject({ version: '2.0.0', outcome: 'rolled_back' });
    expect(row.lastUpgrade?.detail).toMatch(/not READY within 60 s.*\| rolled back to 1\.0\.0/);
    expect(row.lastUpgrade?.detail).not.toContain('\x1b');
  });

  it('reports an outcome the upgrader left before asking for a release: a release rolled back here is not fetched again', async () => {
    const { t, terminalId } = await terminal('till-rolled-back');
    await rollout({ terminals: [terminalId] });
    const spool = spoolPaths(path.join(t.config.dataDir, 'upgrades'));
    fs.mkdirSync(spool.outcome, { recursive: true });
    // As the release running after a rollback finds it: its check comes before the outcome timer.
    fs.writeFileSync(path.join(spool.outcome, `qrpos-2.0.0-linux-${arch}.txt`), 'version=2.0.0\noutcome=rolled_back\nexit=3\n---\nrolled back to 1.0.0\n');
    const [a, b] = await Promise.all([t.handle.updates!.checkNow(), t.handle.updates!.reportOutcomes()]);
    expect(a).toBe('none');
    expect(b).toBe(1);
    expect(fs.readdirSync(spool.outcome)).toEqual([]);
    expect(fs.existsSync(spool.ready) ? fs.readdirSync(spool.ready) : []).toEqual([]);
    expect((await fleetRow(terminalId)).lastUpgrade).toMatchObject({ version: '2.0.0', outcome: 'rolled_back' });
  });

  it('reads outcome files as the upgrader writes them', () => {
    expect(parseOutcomeFile('version=2.0.0\noutcome=upgraded\nexit=0\n---\nupgraded to 2.0.0\n')).toEqual({ version: '2.0.0', outcome: 'upgraded', detail: 'upgraded to 2.0.0' });
    expect(parseOutcomeFile('version=2.0.0\noutcome=failed\nexit=4\n---\n')).toEqual({ version: '2.0.0', outcome: 'failed', detail: 'qrpos upgrade exit 4' });
    expect(parseOutcomeFile('version=../etc\noutcome=upgraded\n')).toBeUndefined();
    expect(parseOutcomeFile('version=2.0.0\noutcome=exploded\n')).toBeUndefined();
  });

  // The upgrader's script, with a stand-in for `qrpos upgrade`; it writes the outcome as the
  // terminal's user through setpriv, which needs root.
  it.skipIf(process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0)('systemd/qrpos-upgrade-run claims the bundle and leaves an outcome file the terminal reads', () => {
    const dir = fs.mkdtempSync(path.join(base, 'runner-'));
    const spool = spoolPaths(path.join(dir, 'upgrades'));
    fs.mkdirSync(spool.ready, { recursive: true });
    fs.writeFileSync(path.join(spool.ready, 'qrpos-2.0.0-linux-arm64.tar.gz'), 'bundle');
    const fake = path.join(dir, 'qrpos');
    fs.writeFileSync(fake, '#!/bin/sh\necho "qrpos upgrade $2"\necho "new release not READY within 60 s: rolled back to 1.0.0"\nexit 3\n', { mode: 0o755 });
    const r = spawnSync('sh', [path.join(__dirname, '..', '..', 'systemd', 'qrpos-upgrade-run')], {
      env: { PATH: process.env.PATH, QRPOS_UPGRADE_SPOOL: path.join(dir, 'upgrades'), STATE_DIRECTORY: path.join(dir, 'work'), QRPOS_UPGRADE_OWNER: 'root', QRPOS_BIN: fake },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(spool.ready)).toEqual([]);
    expect(fs.readdirSync(path.join(dir, 'work'))).toEqual([]);
    const text = fs.readFileSync(path.join(spool.outcome, 'qrpos-2.0.0-linux-arm64.txt'), 'utf8');
    expect(parseOutcomeFile(text)).toEqual({ version: '2.0.0', outcome: 'rolled_back', detail: expect.stringMatching(/qrpos upgrade .* \| new release not READY within 60 s: rolled back to 1\.0\.0$/) as unknown });
  });
});

describe('terminal: a sale always wins over a fleet download', () => {
  let base: string;
  let keys: TestKeys;
  let rig: Rig;
  let bundle: string;
  let t: TestTerminal;

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-term-pause-'));
    keys = makeKeys(base);
    const { source, nodeModules } = makeSource(base);
    bundle = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out'), version: '2.0.0' })).file;
    // The relay serves bundles slowly (its own throttle): the whole download takes about 3 s.
    const rate = Math.max(1024, Math.floor(fs.statSync(bundle).size / 3));
    rig = await startRig({ config: { releases: { keysFile: keys.pubFile, downloadBytesPerSecond: rate } } });
    const up = await fetch(`${rig.relay.url}/admin/releases`, { method: 'POST', headers: { authorization: `Bearer ${rig.secrets.adminToken}` }, body: fs.readFileSync(bundle) });
    expect(up.status).toBe(201);
    const cred = await rig.pair('till-busy');
    t = await startTestTerminal({ relayUrl: rig.relay.url, dir: rig.dir }, { credential: cred, name: 'till-busy', extra: { updates: { keysFile: keys.pubFile, checkMs: 0, quietMs: 400 } } });
    await waitFor(() => t.handle.link.online, 'link online');
    const r = await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: { terminals: [cred.terminalId] } } });
    expect(r.status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await t?.handle.stop();
    await rig?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('stops the download at the first key, sells with no bundle byte moving, then goes on from where it stopped and hands over a verified bundle', async () => {
    const updates = t.handle.updates!;
    const spool = spoolPaths(path.join(t.config.dataDir, 'upgrades'));
    const partSize = () => {
      const f = fs.existsSync(spool.incoming) ? fs.readdirSync(spool.incoming).find((n) => n.endsWith('.part')) : undefined;
      return f ? fs.statSync(path.join(spool.incoming, f)).size : 0;
    };
    const size = fs.statSync(bundle).size;
    const check = updates.checkNow();
    // Well into the download, far from its end.
    await waitFor(() => partSize() > size / 8, 'a part of the bundle downloaded', 10_000);
    expect(partSize()).toBeLessThan(size / 2);

    press(t, '5');
    // The first key stops it: the check ends as paused, what arrived is kept.
    expect(await check).toBe('paused');
    const kept = partSize();
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(size);
    press(t, '0 0 0 enter');
    await waitFor(() => t.handle.machine().mode.kind === 'qr', 'the QR on screen', 10_000);
    // While the QR is up (longer than the quiet time), no byte of the bundle moves.
    await new Promise((r) => setTimeout(r, 1000));
    expect(t.handle.machine().mode.kind).toBe('qr');
    expect(partSize()).toBe(kept);
    expect(fs.readdirSync(spool.ready)).toEqual([]);

    t.keypad.press('cancel');
    await waitFor(() => t.handle.machine().mode.kind === 'result', 'the cancelled sale', 10_000);
    t.keypad.press('cancel');
    await waitFor(() => t.handle.machine().mode.kind === 'idle', 'back to idle', 10_000);
    // Nobody calls checkNow(): once quiet, the download goes on by itself from the kept bytes.
    const ready = path.join(spool.ready, `qrpos-2.0.0-linux-${arch}.tar.gz`);
    await waitFor(() => fs.existsSync(ready), 'the bundle handed to the upgrader', 20_000, 50);
    expect(updates.lastDownload).toEqual({ resumedFrom: kept, bytes: size });
    expect(sha(ready)).toBe(sha(bundle));
    expect(fs.readdirSync(spool.incoming)).toEqual([]);
    expect(updates.lastResult).toBe('ready');
  }, 60_000);
});
