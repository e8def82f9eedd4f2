/**
 * The official `omise` npm client (what an Omise integration uses) against the simulator over
 * real HTTP: charges (create, retrieve, list with query parameters, update, expire), sources,
 * refunds and events, each request naming the pinned API version.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Omise from 'omise';
import { OMISE_API_VERSION } from '../omise/api';
import { startSimulator, type SimulatorHandle } from './server';

const PKEY = 'pkey_test_official1';
const SKEY = 'skey_test_official1';
let sim: SimulatorHandle;
let omise: ReturnType<typeof Omise>;
let restoreAgent: () => void;
const T0 = new Date('2026-03-02T03:00:00Z');
let offset = 0;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the client's typings describe card charges; these tests read JSON
type Json = any;

beforeAll(async () => {
  sim = await startSimulator({ publicKey: PKEY, secretKey: SKEY, clock: () => new Date(T0.getTime() + offset) });
  // The official client takes a host name but no port (it always uses 80/443): its requests go
  // through Node's global agent, which is pointed at the simulator's loopback port here.
  const agent = http.globalAgent;
  const original = agent.createConnection.bind(agent);
  type Connect = typeof agent.createConnection;
  agent.createConnection = ((o: http.ClientRequestArgs, cb?: Parameters<Connect>[1]) => original({ ...o, host: '127.0.0.1', port: sim.port }, cb));
  restoreAgent = () => {
    agent.createConnection = original;
  };
  omise = Omise({ publicKey: PKEY, secretKey: SKEY, host: '127.0.0.1', scheme: 'http' as Omise.Scheme, omiseVersion: OMISE_API_VERSION });
});
afterAll(async () => {
  restoreAgent();
  await sim.stop();
});

describe('the official omise client against the simulator', () => {
  let chargeId = '';

  it('sources.create (public key) and charges.create from the source, then retrieve', async () => {
    const src: Json = await omise.sources.create({ type: 'alipayplus_mpm', amount: 150000, currency: 'thb' });
    expect(src).toMatchObject({ object: 'source', type: 'alipayplus_mpm', amount: 150000, currency: 'THB', flow: 'offline' });
    const ch: Json = await omise.charges.create({ amount: 150000, currency: 'thb', source: src.id, metadata: { order: 'A-1', n: 3 }, description: 'coffee' });
    expect(ch).toMatchObject({ object: 'charge', status: 'pending', amount: 150000, currency: 'THB', description: 'coffee', metadata: { order: 'A-1', n: 3 } });
    expect(ch.source.scannable_code.image.download_uri).toMatch(/^http:\/\//);
    chargeId = ch.id;
    expect(((await omise.charges.retrieve(chargeId)) as Json).id).toBe(chargeId);
  });

  it('charges.update changes description and metadata (PATCH) and emits charge.update', async () => {
    const up: Json = await omise.charges.update(chargeId, { description: 'coffee x2', metadata: { order: 'A-2' } } as Json);
    expect(up).toMatchObject({ id: chargeId, description: 'coffee x2', metadata: { order: 'A-2' }, status: 'pending' });
    expect(((await omise.charges.retrieve(chargeId)) as Json).metadata).toEqual({ order: 'A-2' });
    const bad = await omise.charges.update(chargeId, { amount: 1 } as Json).then(
      () => null,
      (e: unknown) => e,
    );
    expect(bad).toMatchObject({ object: 'error', code: 'bad_request' });
    expect(sim.events().filter((e) => e.key === 'charge.update' && (e.data as Json).id === chargeId)).toHaveLength(1);
  });

  it('charges.list sends limit, offset, order, from and to in the query string', async () => {
    offset = 60_000;
    const later: Json = await omise.charges.create({ amount: 5000, currency: 'thb', source: { type: 'alipayplus_mpm' } } as Json);
    const all: Json = await omise.charges.list({ limit: 1, offset: 0, order: 'reverse_chronological' });
    expect(all).toMatchObject({ object: 'list', limit: 1, offset: 0, total: 2, order: 'reverse_chronological' });
    expect(all.data.map((c: Json) => c.id)).toEqual([later.id]);
    const window: Json = await omise.charges.list({ from: '2026-03-02T03:00:30Z', to: '2026-03-02T03:05:00Z' });
    expect(window).toMatchObject({ from: '2026-03-02T03:00:30Z', to: '2026-03-02T03:05:00Z', total: 1, order: 'chronological' });
    expect(window.data[0].id).toBe(later.id);
    const second: Json = await omise.charges.list({ limit: 1, offset: 1 });
    expect(second.data[0].id).toBe(later.id);
  });

  it('charges.expire: status expired, expired_at is when it was expired, expires_at keeps the planned time', async () => {
    const before: Json = await omise.charges.retrieve(chargeId);
    offset = 120_000;
    const ex: Json = await omise.charges.expire(chargeId);
    expect(ex).toMatchObject({ status: 'expired', expired: true, expired_at: '2026-03-02T03:02:00Z', expires_at: before.expires_at });
    const again = await omise.charges.expire(chargeId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(again).toMatchObject({ object: 'error', code: 'failed_expire' });
  });

  it('refunds: createRefund, listRefunds, retrieveRefund on a paid charge', async () => {
    const ch: Json = await omise.charges.create({ amount: 20000, currency: 'thb', source: { type: 'alipayplus_mpm' } } as Json);
    sim.markAsPaid(ch.id);
    const rf: Json = await omise.charges.createRefund(ch.id, { amount: 5000, metadata: { why: 'broken cup' } });
    expect(rf).toMatchObject({ object: 'refund', amount: 5000, charge: ch.id, status: 'closed', voided: true, metadata: { why: 'broken cup' } });
    const list: Json = await omise.charges.listRefunds(ch.id);
    expect(list).toMatchObject({ object: 'list', total: 1 });
    expect(((await omise.charges.retrieveRefund(ch.id, rf.id)) as Json).id).toBe(rf.id);
  });

  it('events: list (query parameters) and retrieve', async () => {
    const list: Json = await omise.events.list({ limit: 3, order: 'reverse_chronological' });
    expect(list).toMatchObject({ object: 'list', limit: 3, order: 'reverse_chronological' });
    // A refund makes refund.create, then charge.update (the charge's refunded amount changed).
    expect(list.data.slice(0, 2).map((e: Json) => e.key)).toEqual(['charge.update', 'refund.create']);
    const ev: Json = await omise.events.retrieve(list.data[1].id);
    expect(ev).toMatchObject({ object: 'event', key: list.data[1].key });
    const keys = (await Promise.all([omise.events.list({ limit: 100 } as Json)]))[0].data.map((e: Json) => e.key);
    expect(new Set(keys)).toEqual(new Set(['charge.create', 'charge.update', 'charge.complete', 'refund.create']));
  });

  it('an unsupported currency and a backend error come back as Omise error objects', async () => {
    const usd = await omise.charges.create({ amount: 5000, currency: 'usd', source: { type: 'alipayplus_mpm' } } as Json).then(
      () => null,
      (e: unknown) => e,
    );
    expect(usd).toMatchObject({ object: 'error', code: 'invalid_charge', message: 'currency is currently not supported' });
    sim.faults.set({ endpoints: { 'GET /charges/:id': { failNext: 1, errorStatus: 500 } } });
    const down = await omise.charges.retrieve(chargeId).then(
      () => null,
      (e: unknown) => e,
    );
    expect(down).toMatchObject({ object: 'error', code: 'backend_error' });
    sim.faults.reset();
  });

  it('every request of the official client named the API version it was configured with', () => {
    const seen = sim.requests();
    expect(seen.length).toBeGreaterThan(15);
    expect(seen.every((r) => r.omiseVersion === OMISE_API_VERSION)).toBe(true);
    expect(new Set(seen.map((r) => r.endpoint))).toEqual(
      new Set([
        'POST /sources',
        'POST /charges',
        'GET /charges/:id',
        'PATCH /charges/:id',
        'GET /charges',
        'POST /charges/:id/expire',
        'POST /charges/:id/refunds',
        'GET /charges/:id/refunds',
        'GET /charges/:id/refunds/:id',
        'GET /events',
        'GET /events/:id',
      ]),
    );
  });
});

describe('charge events (GET /charges/:id/events, not in the official client)', () => {
  it('lists the events of one charge and its refunds, with list parameters', async () => {
    const auth = { authorization: `Basic ${Buffer.from(`${SKEY}:`).toString('base64')}`, 'omise-version': OMISE_API_VERSION };
    const ch: Json = await omise.charges.create({ amount: 9000, currency: 'thb', source: { type: 'alipayplus_mpm' } } as Json);
    sim.markAsPaid(ch.id);
    await omise.charges.createRefund(ch.id, { amount: 100 });
    const res = await fetch(`${sim.url}/charges/${ch.id}/events?order=reverse_chronological&limit=10`, { headers: auth });
    const list = (await res.json()) as Json;
    expect(list).toMatchObject({ object: 'list', total: 4, order: 'reverse_chronological', location: `/charges/${ch.id}/events` });
    expect(list.data.map((e: Json) => e.key)).toEqual(['charge.update', 'refund.create', 'charge.complete', 'charge.create']);
    const missing = await fetch(`${sim.url}/charges/chrg_test_nosuchcharge/events`, { headers: auth });
    expect(missing.status).toBe(404);
  });
});
