/**
 * The client boundary: the pinned API version on every request, HTTP 429 retried within a budget
 * (backoff, Retry-After), and every answer checked against the schemas once.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../shared/log';
import { rejectionOf } from '../shared/testing/rejection';
import { ENDPOINTS } from '../simulator/faults';
import { startSimulator, type SimulatorHandle } from '../simulator/server';
import { OMISE_API_VERSION, OmiseError, OmiseResponseError } from './api';
import { OmiseClient } from './client';

const PKEY = 'pkey_test_boundary1';
const SKEY = 'skey_test_boundary1';
let sim: SimulatorHandle;
const log = memoryLogger();

function client(over: Partial<ConstructorParameters<typeof OmiseClient>[0]> = {}): OmiseClient {
  return new OmiseClient({ baseUrl: sim.url, publicKey: PKEY, secretKey: SKEY, timeoutMs: 2000, log, rateLimit: { baseMs: 10, maxMs: 40 }, ...over });
}

const rejection = (p: Promise<unknown>) => rejectionOf(p, OmiseError);

beforeAll(async () => {
  sim = await startSimulator({ publicKey: PKEY, secretKey: SKEY });
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => {
  sim.faults.reset();
  log.lines.length = 0;
});

describe('Omise-Version', () => {
  it(`every request names ${OMISE_API_VERSION}, and the simulator records what each asked for`, async () => {
    expect(OMISE_API_VERSION).toBe('2019-05-29');
    const c = client();
    const before = sim.requests().length;
    const src = await c.createSource({ type: 'alipayplus_mpm', amount: 5000, currency: 'THB' });
    const ch = await c.createCharge({ amount: 5000, currency: 'THB', source: src.id, metadata: { k: 'v' } });
    await c.retrieveCharge(ch.id);
    await c.listCharges({ limit: 5 });
    await c.downloadDocument(ch.source.scannable_code!.image.download_uri);
    await c.markAsPaid(ch.id);
    const rf = await c.createRefund(ch.id, { amount: 100 });
    await c.listRefunds(ch.id);
    const evs = await c.listEvents({ limit: 3, order: 'reverse_chronological' });
    await c.retrieveEvent(evs.data[0].id);
    const ch2 = await c.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    await c.expireCharge(ch2.id);
    await c.markAsFailed((await c.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } })).id);
    expect(rf.object).toBe('refund');
    const seen = sim.requests().slice(before);
    expect(new Set(seen.map((r) => r.endpoint))).toEqual(
      new Set([
        'POST /sources',
        'POST /charges',
        'GET /charges/:id',
        'GET /charges',
        'GET download',
        'POST /charges/:id/mark_as_paid',
        'POST /charges/:id/refunds',
        'GET /charges/:id/refunds',
        'GET /events',
        'GET /events/:id',
        'POST /charges/:id/expire',
        'POST /charges/:id/mark_as_failed',
      ]),
    );
    for (const r of seen) expect(r, r.endpoint).toEqual({ endpoint: r.endpoint, omiseVersion: OMISE_API_VERSION });
    expect(ENDPOINTS).toContain('GET /charges/:id');
  });

  it('the simulator records a request that names no version as null', async () => {
    const res = await fetch(`${sim.url}/charges`, { headers: { authorization: `Basic ${Buffer.from(`${SKEY}:`).toString('base64')}` } });
    expect(res.status).toBe(200);
    expect(sim.requests().at(-1)).toEqual({ endpoint: 'GET /charges', omiseVersion: null });
    const viaHttp = (await (await fetch(`${sim.url}/_sim/requests`)).json()) as { requests: { omiseVersion: string | null }[] };
    expect(viaHttp.requests.at(-1)?.omiseVersion).toBeNull();
  });
});

describe('HTTP 429', () => {
  const waits = (): number[] => log.records().filter((e) => e.msg === 'omise rate limited; retrying').map((e) => e.waitMs as number);

  it('is retried with jittered backoff until it passes: one charge', async () => {
    sim.faults.set({ endpoints: { 'POST /charges': { failNext: 3, errorStatus: 429 } } });
    const before = sim.charges().length;
    const ch = await client({ random: () => 1 }).createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    expect(ch.status).toBe('pending');
    expect(sim.charges().length - before).toBe(1);
    expect(waits()).toEqual([10, 20, 40]);
  });

  it('honours Retry-After in seconds and as an HTTP date (the server’s wait, not the backoff)', async () => {
    sim.faults.set({ endpoints: { 'GET /charges': { failNext: 1, errorStatus: 429, retryAfterSeconds: 0 } } });
    await client().listCharges();
    expect(waits()).toEqual([0]);
    log.lines.length = 0;
    sim.faults.set({ endpoints: { 'GET /charges': { failNext: 1, errorStatus: 429, retryAfterSeconds: 1, retryAfterForm: 'http-date' } } });
    await client({ clock: () => sim.now() }).listCharges();
    const [w] = waits();
    expect(w).toBeGreaterThanOrEqual(1000);
    expect(w).toBeLessThanOrEqual(2000);
  });

  it('stops within the budget: a Retry-After past it is not waited for, and the error says rate limited', async () => {
    sim.faults.set({ endpoints: { 'POST /charges': { failNext: 5, errorStatus: 429, retryAfterSeconds: 30 } } });
    const before = sim.requests().length;
    const e = await rejection(client().createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } }, { retryBudgetMs: 5000 }));
    expect(e).toMatchObject({ kind: 'api', status: 429, code: 'too_many_requests', rateLimited: true, outcomeUnknown: false });
    expect(e.message).toContain('Retry-After: 30');
    expect(sim.requests().length - before).toBe(1);
    // A budget of 0 never retries.
    sim.faults.set({ endpoints: { 'GET /charges': { failNext: 1, errorStatus: 429 } } });
    expect((await rejection(client().listCharges(undefined, { retryBudgetMs: 0 }))).rateLimited).toBe(true);
  });

  it('an abort ends the wait', async () => {
    sim.faults.set({ endpoints: { 'GET /charges': { failNext: 1, errorStatus: 429, retryAfterSeconds: 1 } } });
    const ac = new AbortController();
    const p = client().listCharges(undefined, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    expect((await rejection(p)).kind).toBe('aborted');
  });
});

describe('answers checked against the schemas', () => {
  it('extra fields Omise may add pass through', async () => {
    const addField: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body = (await res.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, some_new_field: { nested: true } }), { status: res.status, headers: res.headers });
    };
    const ch = await client({ fetch: addField }).createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    expect((ch as unknown as Record<string, unknown>).some_new_field).toEqual({ nested: true });
    expect(ch.fee).toBeGreaterThan(0);
  });

  const cases: [string, Parameters<SimulatorHandle['faults']['set']>[0], (c: OmiseClient, id: string) => Promise<unknown>, string][] = [
    ['a charge without status', { endpoints: { 'GET /charges/:id': { malformNext: 1, malformField: 'status' } } }, (c, id) => c.retrieveCharge(id), 'status'],
    ['a charge whose created_at is a number', { endpoints: { 'GET /charges/:id': { malformNext: 1, malformField: 'created_at', malformMode: 'mistyped' } } }, (c, id) => c.retrieveCharge(id), 'created_at'],
    ['a charge whose QR link is a number', { endpoints: { 'GET /charges/:id': { malformNext: 1, malformField: 'source.scannable_code.image.download_uri', malformMode: 'mistyped' } } }, (c, id) => c.retrieveCharge(id), 'source.scannable_code.image.download_uri'],
    ['an expire answer without metadata', { endpoints: { 'POST /charges/:id/expire': { malformNext: 1, malformField: 'metadata' } } }, (c, id) => c.expireCharge(id), 'metadata'],
    ['a list without total', { endpoints: { 'GET /charges': { malformNext: 1, malformField: 'total' } } }, (c) => c.listCharges(), 'total'],
  ];
  for (const [name, faults, call, field] of cases) {
    it(`${name} is an OmiseResponseError naming the field, logged without values or keys`, async () => {
      const c = client();
      const ch = await c.createCharge({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { secretish: 'do-not-log-me' } });
      sim.faults.set(faults);
      const e = await rejection(call(c, ch.id));
      expect(e).toBeInstanceOf(OmiseResponseError);
      expect(e).toMatchObject({ kind: 'bad_response', code: 'bad_response', outcomeUnknown: true });
      expect((e as OmiseResponseError).issues).toContain(field);
      const logged = log.records().find((l) => l.msg === 'omise answer failed its schema');
      expect(logged?.issues).toContain(field);
      const text = log.lines.join('\n') + e.message;
      for (const secret of [SKEY, PKEY, 'do-not-log-me', ch.id]) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/downloads\/[0-9A-F]{16}/);
    });
  }
});
