import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../shared/testing/raw-http';
import { newSaleId, startRig, type Rig } from './testing/testkit';

const raw = rawRequest;

describe('relay: HTTP hygiene', () => {
  let rig: Rig;
  let cred: string;

  beforeAll(async () => {
    rig = await startRig();
    ({ credential: cred } = await rig.pair());
  });
  afterAll(async () => {
    await rig.close();
  });

  it('answers a broken %-escape in the path with 400, not 500', async () => {
    for (const [method, p] of [['GET', '/v1/sales/%E0%A4%A'], ['GET', '/v1/sales/abc%zz12345'], ['POST', '/v1/sales/%/expire']]) {
      const r = await raw(rig.relay.url, { method, path: p, headers: { authorization: `Bearer ${cred}` } });
      expect(r, p).toMatchObject({ status: 400 });
    }
  });

  it('answers a body over the limit with 413 that the client can read (declared or streamed)', async () => {
    const big = Buffer.alloc(rig.config.limits.bodyBytes + 6_000_000, 0x20);
    const headers = { authorization: `Bearer ${cred}`, 'content-type': 'application/json' };
    const declared = await raw(rig.relay.url, { method: 'POST', path: '/v1/records', headers: { ...headers, 'content-length': String(big.length) }, body: big });
    expect(declared).toMatchObject({ status: 413 });
    expect((declared as { body: string }).body).toContain('too_large');
    const streamed = await raw(rig.relay.url, { method: 'POST', path: '/v1/records', headers, body: big, chunked: true });
    expect(streamed).toMatchObject({ status: 413 });
    const webhook = await raw(rig.relay.url, { method: 'POST', path: '/webhooks/omise', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(rig.config.limits.webhookBodyBytes + 6_000_000, 0x20), chunked: true });
    expect(webhook).toMatchObject({ status: 413 });
  });

  it('refuses JSON endpoints a body of another content type with 415, and creates nothing', async () => {
    const before = rig.sim.charges().length;
    const body = Buffer.from(JSON.stringify({ saleId: newSaleId(), amount: 2000, currency: 'THB' }));
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '']) {
      const headers: Record<string, string> = { authorization: `Bearer ${cred}`, 'content-length': String(body.length) };
      if (type) headers['content-type'] = type;
      const r = await raw(rig.relay.url, { method: 'POST', path: '/v1/sales', headers, body });
      expect(r, type || '(none)').toMatchObject({ status: 415 });
    }
    const pair = await raw(rig.relay.url, { method: 'POST', path: '/v1/pair', headers: { 'content-type': 'text/plain' }, body: Buffer.from('{"name":"x","version":"1"}') });
    expect(pair).toMatchObject({ status: 415 });
    expect(rig.sim.charges().length).toBe(before);
    // The same body as JSON (with a charset, or a +json type) is taken.
    const ok = await raw(rig.relay.url, { method: 'POST', path: '/v1/sales', headers: { authorization: `Bearer ${cred}`, 'content-type': 'application/json; charset=utf-8' }, body });
    expect(ok).toMatchObject({ status: 200 });
  });

  it('bounds the times, amounts and texts a terminal sends: 400 naming the field, nothing created', async () => {
    const before = rig.sim.charges().length;
    const sale = (over: Record<string, unknown>) => rig.api('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB', ...over });
    for (const [over, field] of [
      [{ createdAt: 'yesterday' }, 'createdAt'],
      [{ createdAt: '+275760-09-13T00:00:00.000Z' }, 'createdAt'],
      [{ createdAt: '1970-01-01T00:00:00Z' }, 'createdAt'],
      [{ createdAt: `2026-12-06T10:00:00${'0'.repeat(100)}Z` }, 'createdAt'],
      [{ amount: 1e300 }, 'amount'],
      [{ amount: 2000.5 }, 'amount'],
      [{ description: 'a\u001b[2Jb' }, 'description'],
    ] as [Record<string, unknown>, string][]) {
      const r = await sale(over);
      expect(r.status, JSON.stringify(over)).toBe(400);
      expect(r.body.error.message, JSON.stringify(over)).toContain(field);
    }
    const records = await rig.api('POST', '/v1/records', cred, { records: [{ recordId: 'r-bad-time', saleId: null, kind: 'boot', at: 'now', data: {} }] });
    expect(records.status).toBe(400);
    expect(records.body.error.message).toContain('at');
    expect(rig.sim.charges().length).toBe(before);
    // A plausible time and a plain description are taken.
    expect((await sale({ createdAt: new Date().toISOString(), description: 'table 4' })).status).toBe(200);
  });
});
