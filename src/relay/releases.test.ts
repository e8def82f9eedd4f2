/**
 * Fleet updates on a real relay (loopback, real SQLite): bundles signed with a throwaway key the
 * relay is told to trust, a tampered or foreign-signed one refused, a percentage rollout that
 * targets exactly the terminals its stable hash picks, the bundle only for those, reports in the
 * fleet list, and the operator CLI going through the admin API.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSource } from '../../scripts/setup/testkit';
import { buildScratch, makeKeys, readEntries, writeEntries, type TestKeys } from '../release/testing';
import { liveVersions, rolloutBucket } from './releases';
import type { RolloutRow } from './store';
import { call, operatorConfig, relayCli, startRig, type Rig } from './testing/testkit';

async function upload(rig: Rig, file: string, token = rig.secrets.adminToken) {
  const res = await fetch(`${rig.relay.url}/admin/releases`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' }, body: fs.readFileSync(file) });
  return { status: res.status, body: (await res.json()) as { status?: string; release?: { version: string; sha256: string }; error?: { message: string } } };
}

describe('relay: fleet updates', () => {
  let base: string;
  let keys: TestKeys;
  let rig: Rig;
  let good: string;
  let older: string;
  let tampered: string;
  let foreign: string;
  let configFile: string;
  const arch = process.arch;

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-releases-'));
    keys = makeKeys(base);
    const other = makeKeys(base, 'other-key');
    const { source, nodeModules } = makeSource(base);
    good = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out-a'), version: '2.0.0' })).file;
    older = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out-b'), version: '1.9.0' })).file;
    foreign = (await buildScratch({ source, nodeModules, keys: other, outDir: path.join(base, 'out-c'), version: '2.0.1' })).file;
    // Same signature, one file changed after signing.
    const entries = await readEntries(good);
    const victim = entries.find((e) => e.name.endsWith('dist/src/cli/main.js'))!;
    victim.data = Buffer.from(`${victim.data.toString()}\n// changed\n`);
    tampered = path.join(base, 'tampered.tar.gz');
    await writeEntries(entries, tampered);
    rig = await startRig({ config: { releases: { keysFile: keys.pubFile } } });
    configFile = operatorConfig(rig);
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('adds a signed bundle once, and refuses a tampered, a foreign-signed or an unauthenticated one', async () => {
    expect((await upload(rig, good, 'wrong-token-wrong-token-wrong-token')).status).toBe(401);
    const added = await upload(rig, good);
    expect(added.status).toBe(201);
    const sha = crypto.createHash('sha256').update(fs.readFileSync(good)).digest('hex');
    expect(added.body.release).toMatchObject({ version: '2.0.0', sha256: sha });
    const stored = path.join(rig.config.dataDir, 'releases', `qrpos-2.0.0-linux-${arch}.tar.gz`);
    expect(fs.statSync(stored).mode & 0o777).toBe(0o640);
    expect((await upload(rig, good)).body.status).toBe('unchanged');

    const bad = await upload(rig, tampered);
    expect(bad.status).toBe(400);
    expect(bad.body.error?.message).toMatch(/modified: dist\/src\/cli\/main\.js/);
    const untrusted = await upload(rig, foreign);
    expect(untrusted.status).toBe(400);
    expect(untrusted.body.error?.message).toMatch(/refused/);
    // Nothing of the refused uploads stays behind.
    expect(fs.readdirSync(path.join(rig.config.dataDir, 'releases'))).toEqual([`qrpos-2.0.0-linux-${arch}.tar.gz`]);
    expect((await rig.relay.store.listReleases()).map((r) => r.version)).toEqual(['2.0.0']);
  });

  it('rolls out to a stable percentage: exactly the terminals below it get the offer and the bundle', async () => {
    const terms = [];
    for (let i = 0; i < 16; i++) terms.push(await rig.pair(`till-${i}`));
    const r = await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: { percent: 40 } } });
    expect(r.status).toBe(200);
    // The bucket is the first 4 bytes of SHA-256(terminal id) mod 100, computed here on its own.
    const bucket = (id: string) => crypto.createHash('sha256').update(id).digest().readUInt32BE(0) % 100;
    const expected = terms.filter((t) => bucket(t.terminalId) < 40).map((t) => t.terminalId);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(terms.length);
    expect((r.body as { targeted: { id: string }[] }).targeted.map((t) => t.id).sort()).toEqual(expected.sort());
    for (const t of terms) expect(rolloutBucket(t.terminalId)).toBe(bucket(t.terminalId));

    for (const t of terms) {
      const offer = await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential });
      expect(offer.status).toBe(200);
      if (expected.includes(t.terminalId)) expect(offer.body.release).toMatchObject({ version: '2.0.0', arch });
      else expect(offer.body.release).toBeNull();
    }
    const inside = terms.find((t) => expected.includes(t.terminalId))!;
    const outside = terms.find((t) => !expected.includes(t.terminalId))!;
    const got = await fetch(`${rig.relay.url}/v1/release/2.0.0/bundle?arch=${arch}`, { headers: { authorization: `Bearer ${inside.credential}` } });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(fs.readFileSync(good))).toBe(true);
    const refused = await fetch(`${rig.relay.url}/v1/release/2.0.0/bundle?arch=${arch}`, { headers: { authorization: `Bearer ${outside.credential}` } });
    expect(refused.status).toBe(404);
    expect((await fetch(`${rig.relay.url}/v1/release/2.0.0/bundle?arch=${arch}`)).status).toBe(401);
    // Another architecture has no bundle: no offer.
    const otherArch = arch === 'arm64' ? 'x64' : 'arm64';
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${otherArch}`, { token: inside.credential })).body.release).toBeNull();
    // Wider is a superset; a rollout to everyone reaches the rest.
    const wider = await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: { percent: 80 } } });
    const widerIds = (wider.body as { targeted: { id: string }[] }).targeted.map((t) => t.id);
    for (const id of expected) expect(widerIds).toContain(id);
    expect((await call(rig.relay.url, 'POST', '/admin/releases/9.9.9/rollout', { token: rig.secrets.adminToken, body: { target: 'all' } })).status).toBe(404);
  });

  it('records reports: the fleet list shows them, and a failed version is not offered again until rolled out again', async () => {
    const t = await rig.pair('till-report');
    await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: { terminals: ['till-report'] } } });
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential })).body.release?.version).toBe('2.0.0');
    const rep = await call(rig.relay.url, 'POST', '/v1/release/report', { token: t.credential, body: { version: '2.0.0', outcome: 'rolled_back', detail: 'not READY within 60 s' } });
    expect(rep.status).toBe(200);
    const bad = await call(rig.relay.url, 'POST', '/v1/release/report', { token: t.credential, body: { version: '2.0.0', outcome: 'exploded' } });
    expect(bad.status).toBe(400);
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential })).body.release).toBeNull();

    const fleet = await call(rig.relay.url, 'GET', '/admin/fleet', { token: rig.secrets.adminToken });
    const row = (fleet.body as { terminals: { id: string; arch: string; target: string; lastUpgrade: { outcome: string; detail: string } }[] }).terminals.find((x) => x.id === t.terminalId)!;
    expect(row).toMatchObject({ arch, target: '2.0.0', lastUpgrade: { version: '2.0.0', outcome: 'rolled_back', detail: 'not READY within 60 s' } });

    await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: { terminals: [t.terminalId] } } });
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential })).body.release?.version).toBe('2.0.0');
  });

  it('the operator CLI adds, lists and rolls out through the admin API, and shows the fleet', async () => {
    const added = await relayCli(['releases', 'add', older, '--config', configFile]);
    expect(added.err).toBe('');
    expect(added.code).toBe(0);
    expect(added.out).toMatch(/added: qrpos 1\.9\.0 for linux-/);
    const refused = await relayCli(['releases', 'add', tampered, '--config', configFile]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/does not match its signed manifest/);
    const list = await relayCli(['releases', 'list', '--config', configFile]);
    expect(list.out).toMatch(/^1\.9\.0 /m);
    expect(list.out).toMatch(/^2\.0\.0 /m);
    await expect(relayCli(['releases', 'rollout', '1.9.0', '--config', configFile])).rejects.toThrow(/--all, --terminals <a,b> or --percent <n>/);
    const out = await relayCli(['releases', 'rollout', '1.9.0', '--terminals', 'till-3,till-4', '--config', configFile]);
    expect(out.code).toBe(0);
    expect(out.out).toMatch(/to 2 terminal\(s\)/);
    const fleet = await relayCli(['fleet', '--config', configFile]);
    expect(fleet.code).toBe(0);
    expect(fleet.out).toMatch(/till-report .*2\.0\.0 rolled_back/);
    expect(fleet.out).toMatch(/till-3 .*1\.9\.0/);
    const down = await relayCli(['fleet', '--config', configFile, '--url', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/the relay at http:\/\/127\.0\.0\.1:1 does not answer: start it, or pass --url/);
    expect(down.err).not.toContain(rig.secrets.adminToken);
  });
});

describe('relay: which versions live rollouts target', () => {
  const ids = Array.from({ length: 200 }, (_, i) => `term_${i}`);
  const low = ids.find((id) => rolloutBucket(id) < 10)!;
  const high = ids.find((id) => rolloutBucket(id) >= 90)!;
  let n = 0;
  const r = (version: string, target: RolloutRow['target']): RolloutRow => ({ id: ++n, version, target, createdAt: '2026-01-01T00:00:00Z' });
  const terms = [{ id: low, revokedAt: null }, { id: high, revokedAt: null }];

  it('a newer rollout to everyone leaves no older one live; a newer percentage leaves the rest to the older', () => {
    // Newest first, as the store lists them.
    expect([...liveVersions([r('3', { kind: 'all' }), r('2', { kind: 'all' }), r('1', { kind: 'terminals', ids: [low] })], terms)]).toEqual(['3']);
    expect([...liveVersions([r('3', { kind: 'percent', percent: 10 }), r('2', { kind: 'all' })], terms)].sort()).toEqual(['2', '3']);
    // A wider percentage covers a narrower older one.
    expect([...liveVersions([r('3', { kind: 'percent', percent: 50 }), r('2', { kind: 'percent', percent: 20 })], terms)]).toEqual(['3']);
  });

  it('a rollout to named terminals is live while one of them, not revoked, is governed by it', () => {
    expect([...liveVersions([r('2', { kind: 'terminals', ids: [high] }), r('1', { kind: 'terminals', ids: [low] })], terms)].sort()).toEqual(['1', '2']);
    expect([...liveVersions([r('2', { kind: 'terminals', ids: [low] }), r('1', { kind: 'terminals', ids: [low] })], terms)]).toEqual(['2']);
    expect([...liveVersions([r('1', { kind: 'terminals', ids: [low] })], [{ id: low, revokedAt: '2026-01-02T00:00:00Z' }])]).toEqual([]);
    // A newer percentage rollout whose share holds the terminal takes it over.
    expect([...liveVersions([r('2', { kind: 'percent', percent: 10 }), r('1', { kind: 'terminals', ids: [low] })], terms)]).toEqual(['2']);
    expect([...liveVersions([r('2', { kind: 'percent', percent: 10 }), r('1', { kind: 'terminals', ids: [high] })], terms)].sort()).toEqual(['1', '2']);
  });
});

describe('relay: old bundles go (releases remove, the retention rule, crash-safe)', () => {
  let base: string;
  let keys: TestKeys;
  let rig: Rig;
  let configFile: string;
  const bundles: Record<string, string> = {};
  const arch = process.arch;
  const dir = () => path.join(rig.config.dataDir, 'releases');
  const stored = () => fs.readdirSync(dir()).sort();
  const fileOf = (v: string) => `qrpos-${v}-linux-${arch}.tar.gz`;
  const versions = async () => (await rig.relay.store.listReleases()).map((r) => r.version).sort();
  const rollout = (v: string, target: unknown) => call(rig.relay.url, 'POST', `/admin/releases/${v}/rollout`, { token: rig.secrets.adminToken, body: { target } });

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-prune-'));
    keys = makeKeys(base);
    const { source, nodeModules } = makeSource(base);
    for (const v of ['1.0.0', '1.1.0', '1.2.0', '1.3.0']) bundles[v] = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, `out-${v}`), version: v })).file;
    rig = await startRig({ config: { releases: { keysFile: keys.pubFile, keep: 2 } } });
    configFile = operatorConfig(rig);
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  it('keeps the releases.keep newest versions and every version a live rollout targets', async () => {
    const t = await rig.pair('till-prune');
    expect((await upload(rig, bundles['1.0.0'])).status).toBe(201);
    expect((await upload(rig, bundles['1.1.0'])).status).toBe(201);
    expect((await rollout('1.0.0', 'all')).status).toBe(200);
    // Third version, keep 2: 1.0.0 is the oldest, but every terminal is told to run it.
    expect((await upload(rig, bundles['1.2.0'])).status).toBe(201);
    expect(await versions()).toEqual(['1.0.0', '1.1.0', '1.2.0']);
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential })).body.release?.version).toBe('1.0.0');
    // A newer rollout to everyone: 1.0.0 is not live any more; the next upload prunes it and 1.1.0.
    expect((await rollout('1.2.0', 'all')).status).toBe(200);
    expect((await upload(rig, bundles['1.3.0'])).status).toBe(201);
    expect(await versions()).toEqual(['1.2.0', '1.3.0']);
    expect(stored()).toEqual([fileOf('1.2.0'), fileOf('1.3.0')].sort());
    expect(rig.log.records().some((l) => l.msg === 'release removed' && l.version === '1.0.0')).toBe(true);
    // Still what the terminal is told to run, and still served.
    const got = await fetch(`${rig.relay.url}/v1/release/1.2.0/bundle?arch=${arch}`, { headers: { authorization: `Bearer ${t.credential}` } });
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(fs.readFileSync(bundles['1.2.0']))).toBe(true);
  });

  it('releases remove refuses the version a live rollout targets unless --force, and removes others', async () => {
    const refused = await relayCli(['releases', 'remove', '1.2.0', '--config', configFile]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/release 1\.2\.0 is what a live rollout tells terminals to run.*--force/);
    expect(await versions()).toEqual(['1.2.0', '1.3.0']);
    const unknown = await relayCli(['releases', 'remove', '9.9.9', '--config', configFile]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no release 9\.9\.9 here/);
    const otherArch = arch === 'arm64' ? 'x64' : 'arm64';
    const wrongArch = await relayCli(['releases', 'remove', '1.3.0', '--arch', otherArch, '--config', configFile]);
    expect(wrongArch.code).toBe(1);
    expect(wrongArch.err).toMatch(new RegExp(`no release 1\\.3\\.0 for linux-${otherArch} here`));

    const removed = await relayCli(['releases', 'remove', '1.3.0', '--arch', arch, '--config', configFile]);
    expect(removed.err).toBe('');
    expect(removed.code).toBe(0);
    expect(removed.out).toMatch(new RegExp(`removed: qrpos 1\\.3\\.0 for linux-${arch}`));
    expect(await versions()).toEqual(['1.2.0']);
    expect(stored()).toEqual([fileOf('1.2.0')]);

    const forced = await relayCli(['releases', 'remove', '1.2.0', '--force', '--config', configFile]);
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/removed: qrpos 1\.2\.0/);
    expect(forced.out).toMatch(/a live rollout still targets it/);
    expect(await versions()).toEqual([]);
    expect(stored()).toEqual([]);
    // Its terminals are offered nothing now (no bundle to fetch).
    const t = await rig.pair('till-after-remove');
    expect((await call(rig.relay.url, 'GET', `/v1/release?arch=${arch}`, { token: t.credential })).body.release).toBeNull();
  });

  it('a crash between forgetting a bundle and deleting its file leaves an orphan, deleted at the next start', async () => {
    expect((await upload(rig, bundles['1.1.0'])).status).toBe(201);
    expect((await upload(rig, bundles['1.3.0'])).status).toBe(201);
    // What remove() does first, without the second step: the row goes, the file stays.
    expect(await rig.relay.store.deleteRelease('1.1.0', arch)).toBe(true);
    fs.writeFileSync(path.join(dir(), '.upload-0123456789abcdef.tar.gz'), 'half an upload');
    fs.writeFileSync(path.join(dir(), 'notes.txt'), 'the operator keeps this');
    expect(stored()).toContain(fileOf('1.1.0'));
    await rig.restartRelay();
    expect(stored()).toEqual([fileOf('1.3.0'), 'notes.txt'].sort());
    expect(await versions()).toEqual(['1.3.0']);
    expect(rig.log.records().some((l) => String(l.msg).startsWith('a bundle no release names was deleted') && l.file === fileOf('1.1.0'))).toBe(true);
  });
});

describe('relay: a bundle download goes on where it broke off (Range, If-Range)', () => {
  let base: string;
  let rig: Rig;
  let bundle: Buffer;
  let cred: string;
  const arch = process.arch;

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-range-'));
    const keys = makeKeys(base);
    const { source, nodeModules } = makeSource(base);
    const file = (await buildScratch({ source, nodeModules, keys, outDir: path.join(base, 'out'), version: '2.0.0' })).file;
    bundle = fs.readFileSync(file);
    rig = await startRig({ config: { releases: { keysFile: keys.pubFile } } });
    expect((await upload(rig, file)).status).toBe(201);
    const t = await rig.pair('till-range');
    cred = t.credential;
    await call(rig.relay.url, 'POST', '/admin/releases/2.0.0/rollout', { token: rig.secrets.adminToken, body: { target: 'all' } });
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const get = (headers: Record<string, string>) => fetch(`${rig.relay.url}/v1/release/2.0.0/bundle?arch=${arch}`, { headers: { authorization: `Bearer ${cred}`, ...headers } });

  it('answers 206 with the rest from the offset, 200 with all of it when If-Range names other bytes, 416 past the end', async () => {
    const sha = crypto.createHash('sha256').update(bundle).digest('hex');
    const whole = await get({});
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('etag')).toBe(`"${sha}"`);
    await whole.arrayBuffer();

    const from = Math.floor(bundle.length / 3);
    const rest = await get({ range: `bytes=${from}-`, 'if-range': `"${sha}"` });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes ${from}-${bundle.length - 1}/${bundle.length}`);
    expect(Buffer.from(await rest.arrayBuffer()).equals(bundle.subarray(from))).toBe(true);

    const slice = await get({ range: 'bytes=10-19' });
    expect(slice.status).toBe(206);
    expect(Buffer.from(await slice.arrayBuffer()).equals(bundle.subarray(10, 20))).toBe(true);

    const other = await get({ range: `bytes=${from}-`, 'if-range': `"${'0'.repeat(64)}"` });
    expect(other.status).toBe(200);
    expect(Buffer.from(await other.arrayBuffer()).equals(bundle)).toBe(true);

    const past = await get({ range: `bytes=${bundle.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${bundle.length}`);
    // Several ranges or another unit: the whole bundle.
    for (const range of ['bytes=0-1,5-9', 'items=0-1', 'bytes=-500']) {
      const r = await get({ range });
      expect(r.status).toBe(200);
      expect((await r.arrayBuffer()).byteLength).toBe(bundle.length);
    }
  });
});
