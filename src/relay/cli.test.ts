import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pairing } from './pairing';
import { openSqliteStore } from './sqlite-store';
import { call, relayCli, startRig, type Rig } from './testing/testkit';

/** Any raw control character but the newlines that end lines, or a right-to-left override. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/;
const HOSTILE = 'till\u001b[2J\u001b[1;1Hshop\r\nfake-approved  \u202eevil';

describe('relay: client-supplied text never reaches the operator console raw', () => {
  let rig: Rig;
  let configFile: string;

  beforeAll(async () => {
    rig = await startRig();
    configFile = path.join(rig.dir, 'relay.json');
    fs.writeFileSync(configFile, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, omise: { baseUrl: rig.sim.url } }));
  });
  afterAll(async () => {
    await rig.close();
  });

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
    expect(rig.relay.store.listPendingPairings(new Date().toISOString())).toHaveLength(0);
  });

  it('refuses control characters in an operator rename (CLI and admin API)', async () => {
    const { terminalId } = await rig.pair('till-ok');
    const bad = await relayCli(['terminals', 'rename', terminalId, 'a\u001b]0;x\u0007', '--config', configFile]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/control characters/);
    const api = await call(rig.relay.url, 'POST', `/admin/terminals/${terminalId}/rename`, { token: rig.secrets.adminToken, body: { name: 'x\ny' } });
    expect(api.status).toBe(400);
    expect(rig.relay.store.terminalById(terminalId)?.name).toBe('till-ok');
  });

  it('prints names stored before this check with every control character escaped', async () => {
    // A row written by an older relay (no intake check): straight into the store.
    const store = openSqliteStore(rig.config.dataDir);
    try {
      new Pairing(store, () => new Date(), { codeTtlMs: 600_000, maxPending: 10 }).start({ name: HOSTILE, version: '1\u001b[31m' }, '127.0.0.1');
    } finally {
      store.close();
    }
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
