import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../shared/testing/raw-http';
import { newSaleId, startRig, type Rig } from './testkit';

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
});
