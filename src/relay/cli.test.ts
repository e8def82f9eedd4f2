import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pairing } from './pairing';
import { openSqliteStore } from './sqlite-store';
import { call, connectStream, logLeaks, operatorConfig, relayCli, startRig, until, type Rig } from './testing/testkit';

/** Any raw control character but the newlines that end lines, or a right-to-left override. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/;
const HOSTILE = 'till\u001b[2J\u001b[1;1Hshop\r\nfake-approved  \u202eevil';

/** One relay for both: the operator's CLI with the rig's config (address, admin token). */
describe('relay: the operator CLI against a running relay', () => {
  let rig: Rig;
  let configFile: string;

  beforeAll(async () => {
    rig = await startRig();
    configFile = operatorConfig(rig);
  });
  afterAll(async () => {
    await rig.close();
  });

  describe('client-supplied text never reaches the operator console raw', () => {
    it('refuses control characters in pairing fields at intake, with the field named', async () => {
      for (const body of [
        { name: HOSTILE, version: '0.1.0' },
        { name: 'till-9', version: '0.1.0\r\n' },
        { name: 'till-9', version: '0.1.0', device: 'pi\u0007' },
      ]) {
        const r = await call(rig.relay.url, 'POST', '/v1/pair', { body });
        expect(r.status).toBe(400);
        expect(JSON.stringify(r.body)).toMatch(/control characters/);
      }
      expect(await rig.relay.store.listPendingPairings(new Date().toISOString())).toHaveLength(0);
    });

    it('refuses control characters in an operator rename (CLI and admin API)', async () => {
      const { terminalId } = await rig.pair('till-ok');
      const bad = await relayCli(['terminals', 'rename', terminalId, 'a\u001b]0;x\u0007', '--config', configFile]);
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/control characters/);
      const api = await call(rig.relay.url, 'POST', `/admin/terminals/${terminalId}/rename`, { token: rig.secrets.adminToken, body: { name: 'x\ny' } });
      expect(api.status).toBe(400);
      expect((await rig.relay.store.terminalById(terminalId))?.name).toBe('till-ok');
    });

    it('prints names stored before this check with every control character escaped', async () => {
      // A row written by an older relay (no intake check): straight into the running relay's store.
      await new Pairing(rig.relay.store, () => new Date(), { codeTtlMs: 600_000, maxPending: 10 }).start({ name: HOSTILE, version: '1\u001b[31m' }, '127.0.0.1');
      const pending = await relayCli(['terminals', 'pending', '--config', configFile]);
      expect(pending.code).toBe(0);
      expect(pending.out).not.toMatch(RAW_CONTROL);
      expect(pending.out.trimEnd().split('\n')).toHaveLength(1);
      expect(pending.out).toContain('till\\x1b[2J\\x1b[1;1Hshop\\x0d\\x0afake-approved  \\u202eevil');
      const code = pending.out.split(' ')[0];

      const approved = await relayCli(['terminals', 'approve', code, '--config', configFile]);
      expect(approved.code).toBe(0);
      const list = await relayCli(['terminals', 'list', '--config', configFile]);
      expect(list.out).not.toMatch(RAW_CONTROL);
      expect(list.out).toContain('\\x1b[2J');
      // JSON output stays JSON: the characters are escaped by JSON itself and parse back unchanged.
      const json = await relayCli(['terminals', 'list', '--json', '--config', configFile]);
      expect(json.out).not.toMatch(RAW_CONTROL);
      expect((JSON.parse(json.out) as { name: string }[]).map((t) => t.name)).toContain(HOSTILE);
    });
  });

  describe('changes terminals through the relay', () => {
    it('approves a pending pairing: the waiting terminal collects its credential and connects', async () => {
      const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'pi-front', version: '0.1.0', device: 'test' } });
      expect(started.status).toBe(201);
      const pending = await relayCli(['terminals', 'pending', '--json', '--config', configFile]);
      expect(pending.code).toBe(0);
      const code = (JSON.parse(pending.out) as { code: string; name: string }[]).find((p) => p.name === 'pi-front')!.code;
      const before = await call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
      expect(before.body.status).toBe('pending');

      const approved = await relayCli(['terminals', 'approve', code, '--name', 'Front till', '--config', configFile]);
      expect(approved.err).toBe('');
      expect(approved.code).toBe(0);
      expect(approved.out).toMatch(/^approved: terminal term_[0-9a-f]+ "Front till"; it collects its credential on its next poll\n$/);

      const polled = await call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
      expect(polled.body.status).toBe('approved');
      expect(approved.out).toContain(polled.body.terminalId);
      const me = await rig.api('GET', '/v1/me', polled.body.credential);
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({ terminalId: polled.body.terminalId, name: 'Front till' });
      const t = await connectStream(rig.relay.url, polled.body.credential, 0);
      try {
        // The list comes from the relay, which knows the stream is open (not inferred from last-seen).
        const list = await relayCli(['terminals', 'list', '--config', configFile]);
        expect(list.code).toBe(0);
        expect(list.out).toMatch(new RegExp(`^${polled.body.terminalId}\\s+Front till\\s+online`, 'm'));
      } finally {
        await t.close();
      }
    });

    it('revokes a connected terminal: the relay closes its stream at once and refuses its credential', async () => {
      const { terminalId, credential } = await rig.pair('till-live');
      const t = await connectStream(rig.relay.url, credential, 0);
      const revoked = await relayCli(['terminals', 'revoke', terminalId, '--config', configFile]);
      expect(revoked.err).toBe('');
      expect(revoked.code).toBe(0);
      expect(revoked.out).toBe(`revoked ${terminalId} "till-live": its credential no longer works and its stream is closed\n`);
      // The relay closed it while answering the CLI, not on a later poll of the database.
      await until(() => t.closed, 'the stream closed after the CLI revoke', 1000);
      expect(t.closed?.code).toBe(4401);
      expect((await rig.api('GET', '/v1/me', credential)).status).toBe(401);
      const list = await relayCli(['terminals', 'list', '--json', '--config', configFile]);
      expect((JSON.parse(list.out) as { id: string; revoked: boolean; online: boolean }[]).find((x) => x.id === terminalId)).toMatchObject({ revoked: true, online: false });
    });

    it('keeps the messages and exit codes of the operator’s mistakes', async () => {
      const { terminalId } = await rig.pair('till-mistakes');
      const cases: [string[], RegExp][] = [
        [['terminals', 'approve', 'ZZZ-999'], /^qrpos relay: no pending pairing with code ZZZ-999 \(expired, already decided, or mistyped\)\n$/],
        [['terminals', 'approve', 'x'], /^qrpos relay: no pending pairing with code /],
        [['terminals', 'reject', 'ZZZ-999'], /^qrpos relay: no pending pairing with code ZZZ-999\n$/],
        [['terminals', 'rename', 'term_nope', 'New name'], /^qrpos relay: no terminal term_nope\n$/],
        [['terminals', 'revoke', 'term_nope'], /^qrpos relay: no terminal term_nope\n$/],
        [['terminals', 'revoke', 'not a/terminal'], /^qrpos relay: no terminal not a\/terminal\n$/],
        [['terminals', 'rename', terminalId, 'x'.repeat(65)], /^qrpos relay: terminal name .*\(1–64 characters, no control characters\)\n$/],
      ];
      for (const [argv, err] of cases) {
        const r = await relayCli([...argv, '--config', configFile]);
        expect(r.code, argv.join(' ')).toBe(1);
        expect(r.err, argv.join(' ')).toMatch(err);
        expect(r.out).toBe('');
      }
      await expect(relayCli(['terminals', 'rename', terminalId, '--config', configFile])).rejects.toThrow(/terminals rename: <name> is required/);
      await expect(relayCli(['terminals', 'frobnicate', '--config', configFile])).rejects.toThrow(/unknown terminals command "frobnicate"/);
      expect(await rig.relay.store.terminalById(terminalId)).toMatchObject({ name: 'till-mistakes', revokedAt: null });
    });

    it('a wrong admin token is refused, and no error or log line carries a token', async () => {
      const secretsFile = path.join(rig.dir, 'wrong.secrets.json');
      const wrongToken = 'wrong-admin-token-0123456789abcdef';
      fs.writeFileSync(secretsFile, JSON.stringify({ ...rig.secrets, adminToken: wrongToken }), { mode: 0o600 });
      const wrongConfig = path.join(rig.dir, 'wrong.json');
      fs.writeFileSync(wrongConfig, JSON.stringify({ ...JSON.parse(fs.readFileSync(configFile, 'utf8')), secretsFile }));
      const { terminalId } = await rig.pair('till-guarded');
      const r = await relayCli(['terminals', 'revoke', terminalId, '--config', wrongConfig]);
      expect(r.code).toBe(1);
      expect(r.err).toBe('qrpos relay: admin token required\n');
      expect((await rig.relay.store.terminalById(terminalId))?.revokedAt).toBeNull();
      expect(logLeaks(rig, [wrongToken])).toEqual([]);
    });
  });
});

describe('relay: the operator CLI when the relay is not running', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  /** Every file of the data directory: its bytes' hash, size and modification time. */
  function snapshot(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    for (const name of fs.readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      const st = fs.statSync(file);
      files[name] = st.isFile() ? `${crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')} ${st.size} ${st.mtimeMs}` : `dir ${st.mtimeMs}`;
    }
    return files;
  }

  it('says so and changes nothing: no command falls back to the database file', async () => {
    const { terminalId } = await rig.pair('till-offline');
    const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'pi-waiting', version: '0.1.0' } });
    expect(started.status).toBe(201);
    const configFile = operatorConfig(rig);
    const url = rig.relay.url;
    await rig.relay.stop();
    const before = snapshot(rig.config.dataDir);
    expect(Object.keys(before)).toContain('relay.db');

    for (const argv of [
      ['approve', started.body.code as string, '--name', 'Back till'],
      ['reject', started.body.code as string],
      ['rename', terminalId, 'Renamed'],
      ['revoke', terminalId],
      ['list'],
      ['pending'],
      ['late-payments'],
    ]) {
      const r = await relayCli(['terminals', ...argv, '--config', configFile]);
      expect(r.code, argv[0]).toBe(1);
      expect(r.out, argv[0]).toBe('');
      expect(r.err, argv[0]).toMatch(new RegExp(`^qrpos relay: the relay at ${url.replace(/\./g, '\\.')} does not answer: start it, or pass --url \\(ECONNREFUSED\\)\\n$`));
      expect(r.err).not.toContain(rig.secrets.adminToken);
    }
    expect(snapshot(rig.config.dataDir)).toEqual(before);
    // The database still holds what the relay left: the terminal is neither renamed nor revoked.
    const store = openSqliteStore(rig.config.dataDir, { readonly: true });
    try {
      expect(await store.terminalById(terminalId)).toMatchObject({ name: 'till-offline', revokedAt: null });
    } finally {
      store.close();
    }
  });
});
