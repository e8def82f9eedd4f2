import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OmiseClient } from '../omise/client';
import { startSimulator } from './server';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('state file', () => {
  it('keeps charges, refunds and events across a restart, written 0600', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qrpos-sim-'));
    dirs.push(dir);
    const stateFile = join(dir, 'sim.json');
    const keys = { publicKey: 'pkey_test_st', secretKey: 'skey_test_st' };
    const a = await startSimulator({ ...keys, stateFile });
    const c1 = new OmiseClient({ baseUrl: a.url, secretKey: keys.secretKey });
    const ch = await c1.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { sale: 'keep' } });
    await c1.markAsPaid(ch.id);
    await c1.createRefund(ch.id, { amount: 1000 });
    const payload = a.qrTextOf(ch.id);
    await a.stop();
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);

    const b = await startSimulator({ ...keys, stateFile });
    try {
      const c2 = new OmiseClient({ baseUrl: b.url, secretKey: keys.secretKey });
      const again = await c2.retrieveCharge(ch.id);
      expect(again).toMatchObject({ status: 'successful', refunded_amount: 1000, metadata: { sale: 'keep' } });
      expect(b.qrTextOf(ch.id)).toBe(payload);
      expect((await c2.listEvents()).total).toBe(4);
      const next = await c2.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
      const list = await c2.listCharges({ order: 'reverse_chronological' });
      expect(list.data.map((x) => x.id)).toEqual([next.id, ch.id]);
    } finally {
      await b.stop();
    }
  });

  it('refuses a file that is not a state file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qrpos-sim-'));
    dirs.push(dir);
    const stateFile = join(dir, 'bad.json');
    writeFileSync(stateFile, '{"hello":');
    await expect(startSimulator({ stateFile })).rejects.toThrow(/not valid JSON/);
    writeFileSync(stateFile, '{"hello":1}');
    await expect(startSimulator({ stateFile })).rejects.toThrow(/not a simulator state file/);
  });
});
