import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OmiseClient } from '../omise/client';
import { startSimulator, type SimulatorHandle } from './server';

/** Same keys and same JSON value types, recursively (arrays: element shapes of the first element). */
function shapeDiff(expected: unknown, actual: unknown, path = '$'): string[] {
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  if (kind(expected) !== kind(actual)) return [`${path}: expected ${kind(expected)}, got ${kind(actual)}`];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    return expected.length > 0 && actual.length > 0 ? shapeDiff(expected[0], actual[0], `${path}[0]`) : [];
  }
  if (kind(expected) !== 'object') return [];
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  const out: string[] = [];
  for (const k of Object.keys(e)) if (!(k in a)) out.push(`${path}.${k}: missing`);
  for (const k of Object.keys(a)) if (!(k in e)) out.push(`${path}.${k}: unexpected`);
  for (const k of Object.keys(e)) if (k in a && k !== 'metadata') out.push(...shapeDiff(e[k], a[k], `${path}.${k}`));
  return out;
}

const fixture = (name: string): unknown => JSON.parse(readFileSync(join(__dirname, 'fixtures', name), 'utf8'));

let sim: SimulatorHandle;
let client: OmiseClient;
beforeAll(async () => {
  sim = await startSimulator({ publicKey: 'pkey_test_shape', secretKey: 'skey_test_shape' });
  client = new OmiseClient({ baseUrl: sim.url, publicKey: 'pkey_test_shape', secretKey: 'skey_test_shape' });
});
afterAll(async () => {
  await sim.stop();
});

describe('simulator responses have the seed shapes', () => {
  it('the comparison itself notices differences', () => {
    expect(shapeDiff({ a: 1, b: { c: null } }, { a: '1', b: { c: null, d: 2 } })).toEqual(['$.a: expected number, got string', '$.b.d: unexpected']);
  });

  it('source and charge (with a source id) match the seed examples', async () => {
    const src = await client.createSource({ type: 'alipayplus_mpm', amount: 150000, currency: 'THB' });
    expect(shapeDiff(fixture('seed-source.json'), src)).toEqual([]);
    const ch = await client.createCharge({ amount: 150000, currency: 'THB', source: src.id });
    expect(shapeDiff(fixture('seed-charge.json'), ch)).toEqual([]);
    expect(shapeDiff(fixture('seed-scannable-code.json'), ch.source.scannable_code)).toEqual([]);
    const seed = fixture('seed-charge.json') as Record<string, unknown>;
    // The fee arithmetic and the fixed fields are the seed's, too.
    for (const k of ['amount', 'net', 'fee', 'fee_vat', 'interest', 'funding_amount', 'refunded_amount', 'transaction_fees', 'platform_fee', 'status', 'capture', 'livemode']) {
      expect(ch[k as keyof typeof ch], k).toEqual(seed[k]);
    }
    expect(ch.id).toMatch(/^chrg_test_[a-z0-9]{19}$/);
    expect(ch.location).toBe(`/charges/${ch.id}`);
    expect(ch.refunds.location).toBe(`/charges/${ch.id}/refunds`);
    expect(ch.source.scannable_code?.image.id).toMatch(/^docu_test_[a-z0-9]{19}$/);
    expect(ch.source.scannable_code?.image.location).toBe(`/charges/${ch.id}/documents/${ch.source.scannable_code?.image.id}`);
    expect(Date.parse(ch.expires_at) - Date.parse(ch.created_at)).toBe(86400_000);
    expect(ch.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('an inline-source charge, retrieved and listed, keeps the shape', async () => {
    const ch = await client.createCharge({ amount: 150000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    expect(shapeDiff(fixture('seed-charge.json'), await client.retrieveCharge(ch.id))).toEqual([]);
    const list = await client.listCharges({ limit: 100 });
    for (const c of list.data) expect(shapeDiff(fixture('seed-charge.json'), c)).toEqual([]);
    expect(shapeDiff((fixture('seed-charge.json') as { refunds: unknown }).refunds, { ...list, data: [] })).toEqual([]);
  });

  it('SG and MY accounts charge their currency with their fee schedule', async () => {
    for (const [country, currency, amount, fee, vat] of [
      ['SG', 'SGD', 10000, 280, 25],
      ['MY', 'MYR', 10000, 180, 14],
    ] as const) {
      const s = await startSimulator({ country, publicKey: 'pkey_test_c', secretKey: 'skey_test_c' });
      try {
        const c = new OmiseClient({ baseUrl: s.url, secretKey: 'skey_test_c' });
        const ch = await c.createCharge({ amount, currency, source: { type: 'alipayplus_mpm' } });
        expect(ch).toMatchObject({ currency, fee, fee_vat: vat, net: amount - fee - vat });
        await expect(c.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } })).rejects.toMatchObject({ code: 'invalid_charge' });
        await expect(c.createCharge({ amount: 99, currency, source: { type: 'alipayplus_mpm' } })).rejects.toMatchObject({ code: 'invalid_charge' });
      } finally {
        await s.stop();
      }
    }
  });
});
