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
import { rolloutBucket } from './releases';
import { call, relayCli, startRig, type Rig } from './testing/testkit';

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
    configFile = path.join(rig.dir, 'relay.json');
    const secretsFile = path.join(rig.dir, 'relay.secrets.json');
    fs.writeFileSync(secretsFile, JSON.stringify(rig.secrets), { mode: 0o600 });
    fs.writeFileSync(configFile, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, listen: { host: '127.0.0.1', port: rig.relay.port }, secretsFile, omise: { baseUrl: rig.sim.url } }));
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
    expect(rig.relay.store.listReleases().map((r) => r.version)).toEqual(['2.0.0']);
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
    expect(down.err).toMatch(/cannot reach the relay/);
    expect(down.err).not.toContain(rig.secrets.adminToken);
  });
});
