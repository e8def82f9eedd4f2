import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryLogger } from '../shared/log';
import { rejectionOf } from '../shared/testing/rejection';
import { startSimulator, type SimulatorHandle } from '../simulator/server';
import { OmiseClient } from './client';
import { OmiseError } from './api';

const PKEY = 'pkey_test_clienttest1';
const SKEY = 'skey_test_clienttest1';

let sim: SimulatorHandle;
let client: OmiseClient;
const log = memoryLogger();

const rejection = (p: Promise<unknown>) => rejectionOf(p, OmiseError);

function noSecretsIn(text: string): void {
  expect(text).not.toContain(PKEY);
  expect(text).not.toContain(SKEY);
  expect(text).not.toMatch(/downloads\/[0-9A-F]{16}/);
}

beforeAll(async () => {
  sim = await startSimulator({ publicKey: PKEY, secretKey: SKEY });
  client = new OmiseClient({ baseUrl: sim.url, publicKey: PKEY, secretKey: SKEY, timeoutMs: 2000, log });
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => sim.faults.reset());

describe('OmiseClient against the simulator', () => {
  it('creates a source with the public key and a charge from it', async () => {
    const src = await client.createSource({ type: 'alipayplus_mpm', amount: 150000, currency: 'THB' });
    expect(src).toMatchObject({ object: 'source', amount: 150000, currency: 'THB', scannable_code: null, charge_status: 'unknown', livemode: false });
    expect(src.id).toMatch(/^src_test_[a-z0-9]{19}$/);
    const ch = await client.createCharge({ amount: 150000, currency: 'THB', source: src.id, metadata: { sale: 's-1', terminal: 't-1' }, description: 'coffee' });
    expect(ch).toMatchObject({ object: 'charge', status: 'pending', amount: 150000, fee: 2475, fee_vat: 173, net: 147352, description: 'coffee' });
    expect(ch.metadata).toEqual({ sale: 's-1', terminal: 't-1' });
    expect(ch.source.id).toBe(src.id);
    expect(ch.source.scannable_code?.image.download_uri).toMatch(new RegExp(`^${sim.url}/charges/${ch.id}/documents/docu_test_[a-z0-9]+/downloads/[0-9A-F]{16}$`));
  });

  it('creates a charge with an inline source, retrieves, lists, expires it', async () => {
    const expiresAt = new Date(sim.now().getTime() + 3600_000).toISOString();
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' }, expires_at: expiresAt });
    expect(ch.expires_at).toBe(expiresAt.replace(/\.\d{3}Z$/, 'Z'));
    expect((await client.retrieveCharge(ch.id)).id).toBe(ch.id);
    const list = await client.listCharges({ order: 'reverse_chronological', limit: 1 });
    expect(list).toMatchObject({ object: 'list', limit: 1, offset: 0, order: 'reverse_chronological' });
    expect(list.data.map((c) => c.id)).toEqual([ch.id]);
    expect(list.total).toBeGreaterThanOrEqual(2);
    const future = await client.listCharges({ from: new Date(sim.now().getTime() + 86400_000).toISOString() });
    expect(future.data).toEqual([]);
    const expired = await client.expireCharge(ch.id);
    expect(expired).toMatchObject({ status: 'expired', expired: true });
    expect(expired.expired_at).not.toBeNull();
    const again = await rejection(client.expireCharge(ch.id));
    expect(again).toMatchObject({ kind: 'api', status: 400, code: 'failed_expire' });
  });

  it('marks paid, refunds (void), lists refunds and events', async () => {
    const ch = await client.createCharge({ amount: 10000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    const paid = await client.markAsPaid(ch.id);
    expect(paid).toMatchObject({ status: 'successful', paid: true, refundable: true });
    const r = await client.createRefund(ch.id, { amount: 4000, metadata: { reason: 'test' } });
    expect(r).toMatchObject({ object: 'refund', amount: 4000, charge: ch.id, metadata: { reason: 'test' } });
    const refunds = await client.listRefunds(ch.id);
    expect(refunds.data.map((x) => x.id)).toEqual([r.id]);
    const after = await client.retrieveCharge(ch.id);
    expect(after.refunded_amount).toBe(4000);
    const tooMuch = await rejection(client.createRefund(ch.id, { amount: 6001 }));
    expect(tooMuch).toMatchObject({ status: 400, code: 'failed_refund' });
    const events = await client.listEvents({ order: 'reverse_chronological', limit: 4 });
    expect(events.data.map((e) => e.key)).toEqual(['charge.update', 'refund.create', 'charge.complete', 'charge.create']);
    const ev = await client.retrieveEvent(events.data[2].id);
    expect(ev).toMatchObject({ object: 'event', key: 'charge.complete' });
    expect((ev.data as { id: string }).id).toBe(ch.id);
  });

  it('marks failed with a code and downloads the QR document', async () => {
    const ch = await client.createCharge({ amount: 2000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    const doc = await client.downloadDocument(ch.source.scannable_code!.image.download_uri);
    expect(doc.contentType).toBe('image/svg+xml');
    expect(doc.body.toString('utf8')).toContain('<svg');
    const failed = await client.markAsFailed(ch.id, 'insufficient_fund');
    expect(failed).toMatchObject({ status: 'failed', failure_code: 'insufficient_fund', failure_message: 'insufficient fund' });
    const ch2 = await client.createCharge({ amount: 2000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    expect((await client.markAsFailed(ch2.id)).failure_code).toBe('failed_processing');
  });

  it('reports API errors with status and code, without keys or URLs', async () => {
    const notFound = await rejection(client.retrieveCharge('chrg_test_doesnotexist0000000'));
    expect(notFound).toMatchObject({ kind: 'api', status: 404, code: 'not_found' });
    const small = await rejection(client.createCharge({ amount: 1999, currency: 'THB', source: { type: 'alipayplus_mpm' } }));
    expect(small).toMatchObject({ status: 400, code: 'invalid_charge' });
    expect(small.message).toContain('฿20.00');
    expect(small.outcomeUnknown).toBe(false);
    const currency = await rejection(client.createCharge({ amount: 5000, currency: 'SGD', source: { type: 'alipayplus_mpm' } }));
    expect(currency).toMatchObject({ status: 400, code: 'invalid_charge' });

    const ch = await client.createCharge({ amount: 2000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    const uri = ch.source.scannable_code!.image.download_uri;
    const wrongDoc = await rejection(client.downloadDocument(uri.replace(/[0-9A-F]{16}$/, '0000000000000000')));
    expect(wrongDoc).toMatchObject({ status: 404, code: 'not_found' });
    sim.faults.update({ endpoints: { 'GET download': { failNext: 1, errorStatus: 503 } } });
    const dlFail = await rejection(client.downloadDocument(uri));
    expect(dlFail).toMatchObject({ status: 503, code: 'backend_error' });
    for (const e of [notFound, small, currency, wrongDoc, dlFail]) noSecretsIn(`${e.message} ${e.stack ?? ''}`);
  });

  it('uses the right key: wrong keys and the public key outside sources are authentication failures', async () => {
    const wrong = new OmiseClient({ baseUrl: sim.url, publicKey: 'pkey_test_wrong', secretKey: 'skey_test_wrong' });
    const e1 = await rejection(wrong.listCharges());
    expect(e1).toMatchObject({ kind: 'api', status: 401, code: 'authentication_failure' });
    const e2 = await rejection(wrong.createSource({ type: 'alipayplus_mpm', amount: 5000, currency: 'THB' }));
    expect(e2.code).toBe('authentication_failure');
    noSecretsIn(e1.message + e2.message);
    expect(e1.message).not.toContain('skey_test_wrong');

    // A client holding only the public key: sources work, charges do not even go out.
    const pub = new OmiseClient({ baseUrl: sim.url, publicKey: PKEY });
    await expect(pub.createSource({ type: 'alipayplus_mpm', amount: 5000, currency: 'THB' })).resolves.toMatchObject({ object: 'source' });
    expect(await rejection(pub.listCharges())).toMatchObject({ status: 0, code: 'missing_key' });
    // The public key sent where the secret key belongs is refused by the server.
    const swapped = new OmiseClient({ baseUrl: sim.url, publicKey: PKEY, secretKey: PKEY });
    expect(await rejection(swapped.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } }))).toMatchObject({
      status: 401,
      code: 'authentication_failure',
    });
  });

  it('times out on a hung endpoint and aborts on request', async () => {
    sim.faults.update({ endpoints: { 'GET /charges': { hang: true } } });
    const t0 = Date.now();
    const e = await rejection(client.listCharges(undefined, { timeoutMs: 150 }));
    expect(e).toMatchObject({ kind: 'timeout', status: 0, code: 'timeout' });
    expect(e.outcomeUnknown).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);

    const ac = new AbortController();
    const p = client.listCharges(undefined, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect(await rejection(p)).toMatchObject({ kind: 'aborted', code: 'aborted' });
    const pre = new AbortController();
    pre.abort();
    expect(await rejection(client.retrieveEvent('evnt_test_x', { signal: pre.signal }))).toMatchObject({ kind: 'aborted' });
  });

  it('reports 5xx as outcome unknown, and a lost answer after the charge was created', async () => {
    sim.faults.update({ endpoints: { 'POST /charges': { dropResponseNext: 1 } } });
    const before = sim.charges().length;
    const e = await rejection(client.createCharge({ amount: 3000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { sale: 'lost-1' } }));
    expect(e).toMatchObject({ kind: 'api', status: 500, code: 'backend_error' });
    expect(e.outcomeUnknown).toBe(true);
    expect(sim.charges().length).toBe(before + 1);
    expect(sim.charges().some((c) => c.metadata.sale === 'lost-1')).toBe(true);

    sim.faults.update({ endpoints: { 'POST /charges': { dropResponseNext: 1, dropResponseMode: 'reset' } } });
    const reset = await rejection(client.createCharge({ amount: 3000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { sale: 'lost-2' } }));
    expect(reset.kind).toBe('network');
    expect(reset.outcomeUnknown).toBe(true);
    expect(sim.charges().some((c) => c.metadata.sale === 'lost-2')).toBe(true);
  });

  it('reports refused connections and non-JSON answers', async () => {
    const odd: Server = createServer((req, res) => {
      if (req.url === '/charges') res.end('<html>proxy error</html>');
      else {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>bad gateway</html>');
      }
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    const port = (odd.address() as AddressInfo).port;
    try {
      const c = new OmiseClient({ baseUrl: `http://127.0.0.1:${port}`, secretKey: SKEY });
      expect(await rejection(c.listCharges())).toMatchObject({ kind: 'bad_response', status: 200 });
      const gw = await rejection(c.retrieveCharge('chrg_test_abc'));
      expect(gw).toMatchObject({ kind: 'api', status: 502, code: 'server_error' });
      expect(gw.outcomeUnknown).toBe(true);
    } finally {
      await new Promise<void>((r) => odd.close(() => r()));
    }
    // A port nothing listens on (a server that never had a connection, now closed).
    const spare: Server = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const sparePort = (spare.address() as AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    const refused = new OmiseClient({ baseUrl: `http://127.0.0.1:${sparePort}`, secretKey: SKEY });
    const e = await rejection(refused.listCharges());
    expect(e).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
    expect(() => new OmiseClient({ baseUrl: 'not a url' })).toThrow(/baseUrl/);
    expect(await rejection(client.retrieveCharge('../etc/passwd'))).toMatchObject({ code: 'invalid_id' });
  });

  it('never logs keys or download URLs', () => {
    expect(log.lines.length).toBeGreaterThan(0);
    for (const line of log.lines) noSecretsIn(line);
  });
});
