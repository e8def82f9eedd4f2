/**
 * Fuzz test of the simulator's request parsing through its HTTP API: form and JSON bodies, query
 * strings and the /_sim control routes. Garbage gets a 4xx Omise-style error, never a 5xx or a
 * dropped connection; the charges it holds change only through valid calls.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeForm, type FormObject } from '../omise/form';
import { fuzzParams } from '../shared/testing/fuzz';
import { startSimulator, type SimulatorHandle } from './server';

let sim: SimulatorHandle;
let chargeId: string;
let auth: string;

beforeAll(async () => {
  sim = await startSimulator({ country: 'TH' });
  auth = `Basic ${Buffer.from(`${sim.secretKey}:`).toString('base64')}`;
  const r = await send('POST', '/charges', encodeForm({ amount: 15000, currency: 'THB', source: { type: 'alipayplus_mpm' } }), 'application/x-www-form-urlencoded');
  expect(r.status, r.text).toBe(200);
  chargeId = (JSON.parse(r.text) as { id: string }).id;
});
afterAll(async () => {
  await sim?.stop();
});

async function send(method: string, p: string, body: string | undefined, type: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(sim.url + p, { method, headers: { authorization: auth, 'content-type': type, ...headers }, body });
  } catch (err) {
    throw new Error(`connection dropped on ${method} ${p} (${body?.length ?? 0} bytes): ${String(err)}`, { cause: err });
  }
  return { status: res.status, text: await res.text() };
}

function expectNo5xx(r: { status: number; text: string }, what: string): void {
  expect(r.status, `${what} answered ${r.status}: ${r.text.slice(0, 200)}`).toBeLessThan(500);
  if (r.status >= 400) {
    const body = JSON.parse(r.text) as { object?: unknown; code?: unknown; message?: unknown };
    expect(body.object).toBe('error');
    expect(typeof body.code).toBe('string');
    expect(typeof body.message).toBe('string');
  }
}

const FIELDS = ['amount', 'currency', 'source', 'type', 'metadata', 'description', 'return_uri', 'expires_at', 'capture', 'platform_type', 'reason', 'voided', 'limit', 'offset', 'order', 'from', 'to'];
const value: fc.Arbitrary<FormObject[string]> = fc.oneof(
  fc.string({ maxLength: 30, unit: 'binary' }),
  fc.integer().map(String),
  fc.constantFrom('15000', '-1', '1e3', '0x10', '99999999999999999999', 'THB', 'XXX', 'alipayplus_mpm', 'true', '', ' '),
  fc.dictionary(fc.constantFrom('type', 'a', 'b', 'order'), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
);
const formBody = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 }).map((o) => encodeForm(o));
const rawBody = fc.oneof(
  fc.string({ maxLength: 120, unit: 'binary' }),
  fc.array(fc.constantFrom('amount', 'source', '[', ']', '=', '&', '%', '%zz', '%5B', '__proto__', 'constructor', '[type]', '1'), { maxLength: 25 }).map((a) => a.join('')),
);
const jsonBody = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })).map((v) => JSON.stringify(v));

describe('simulator request parsing (fuzz, over HTTP)', () => {
  it('Omise API routes: form, JSON and raw garbage bodies get 2xx or a 4xx error, never a 5xx', async () => {
    const route = fc.constantFrom('POST /sources', 'POST /charges', 'PATCH /charges/:id', 'POST /charges/:id/refunds', 'POST /charges/:id/mark_as_failed', 'POST /charges/nope_1/refunds');
    const body = fc.oneof(
      formBody.map((b) => [b, 'application/x-www-form-urlencoded'] as const),
      rawBody.map((b) => [b, 'application/x-www-form-urlencoded'] as const),
      jsonBody.map((b) => [b, 'application/json'] as const),
      rawBody.map((b) => [b, 'application/json; charset=utf-8'] as const),
    );
    await fc.assert(
      fc.asyncProperty(route, body, async (r, [text, type]) => {
        const [method, p] = r.split(' ');
        const res = await send(method, p.replace(':id', chargeId), text, type);
        expectNo5xx(res, `${r} ${JSON.stringify(text).slice(0, 80)}`);
      }),
      fuzzParams(400),
    );
  });

  it('query strings of the list routes: 2xx or a 4xx error, never a 5xx', async () => {
    const query = fc.dictionary(fc.constantFrom('limit', 'offset', 'order', 'from', 'to', '__proto__', 'constructor', 'x'), fc.oneof(fc.string({ maxLength: 30, unit: 'binary' }), fc.constantFrom('-1', '1e9', 'NaN', '2026-13-45', 'reverse_chronological')), {
      maxKeys: 4,
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/charges', '/events', `/charges/:id/refunds`, `/charges/:id/events`), query, async (p, q) => {
        const qs = new URLSearchParams(q).toString();
        const res = await send('GET', `${p.replace(':id', chargeId)}?${qs}`, undefined, 'application/json');
        expectNo5xx(res, `GET ${p}?${qs}`);
      }),
      fuzzParams(300),
    );
  });

  it('/_sim control routes: garbage JSON gets a 4xx error, never a 5xx', async () => {
    const route = fc.constantFrom('POST /_sim/clock', 'POST /_sim/webhook', 'POST /_sim/faults', 'PUT /_sim/faults', `POST /_sim/charges/:id/mark_as_failed`);
    const body = fc.oneof(
      jsonBody,
      rawBody,
      fc.constantFrom('null', '[]', '0', '"x"', '{"advanceMs":1e308}', '{"advanceMs":-1e308}', '{"set":"+275760-09-13T00:00:00.000Z"}', '{"url":"ftp://x"}', '{"url":1}'),
      fc.record({ advanceMs: fc.double() }).map((v) => JSON.stringify(v)),
    );
    const before = await send('GET', '/_sim/clock', undefined, 'application/json');
    await fc.assert(
      fc.asyncProperty(route, body, async (r, text) => {
        const [method, p] = r.split(' ');
        const res = await send(method, p.replace(':id', chargeId), text, 'application/json');
        expectNo5xx(res, `${r} ${JSON.stringify(text).slice(0, 80)}`);
        // Put back what a valid call changed, so the next call starts from the same place.
        if (p === '/_sim/clock' && res.status === 200) await send('POST', '/_sim/clock', JSON.stringify({ set: (JSON.parse(before.text) as { now: string }).now }), 'application/json');
        if (p === '/_sim/faults' && res.status === 200) await send('DELETE', '/_sim/faults', undefined, 'application/json');
        if (p === '/_sim/webhook' && res.status === 200) sim.setWebhookUrl(null);
      }),
      fuzzParams(300),
    );
  });

  it('what the fuzz test found: a clock pushed past the range of dates, or a null body, is a 400 and breaks nothing', async () => {
    for (const body of ['{"advanceMs":1e308}', '{"set":"+275760-09-13T00:00:00.000Z"}', 'null']) {
      expect((await send('POST', '/_sim/clock', body, 'application/json')).status).toBe(400);
    }
    expect((await send('POST', '/_sim/webhook', 'null', 'application/json')).status).toBe(400);
    expect((await send('GET', '/_sim/clock', undefined, 'application/json')).status).toBe(200);
    expect((await send('GET', `/charges/${chargeId}`, undefined, 'application/json')).status).toBe(200);
  });
});
