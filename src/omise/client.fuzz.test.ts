/**
 * Fuzz test of how the Omise client reads Omise's answers (status, body, Retry-After): any answer
 * is an object that passed the schema or an OmiseError, never another exception or a hang, and no
 * error repeats the secret key even when the answer quotes it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../shared/testing/fuzz';
import { OmiseError } from './api';
import { OmiseClient } from './client';

const SECRET = 'skey_test_5fuzzfuzzfuzzfuzzfuzz01';
const PUBLIC = 'pkey_test_5fuzzfuzzfuzzfuzzfuzz01';

const charge = {
  object: 'charge',
  id: 'chrg_test_5fuzz000000000000001',
  livemode: false,
  amount: 15000,
  currency: 'THB',
  status: 'pending',
  paid: false,
  metadata: {},
  created_at: '2026-12-06T10:00:00Z',
};

/** What a broken or hostile Omise (or a proxy in front of it) might answer. */
const answer = fc.record({
  status: fc.oneof(fc.constantFrom(200, 201, 400, 401, 404, 422, 429, 500, 502, 503), fc.integer({ min: 200, max: 599 })),
  retryAfter: fc.option(fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('0', '-1', '1e9', 'Wed, 21 Oct 2015 07:28:00 GMT', '99999999999')), { nil: undefined }),
  body: fc.oneof(
    fc.string({ maxLength: 200, unit: 'binary' }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .dictionary(fc.constantFrom(...Object.keys(charge), 'source', 'failure_code', 'refunded_amount', 'expires_at'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
      .map((o) => JSON.stringify({ ...charge, ...o })),
    fc
      .record({
        code: fc.oneof(fc.string({ maxLength: 80 }), fc.jsonValue({ maxDepth: 1 })),
        message: fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 1 })),
        glue: fc.constantFrom(' ', ':', '"', '=', '_', 'x', '\u00e9', '1'),
      })
      .map(({ glue, ...e }) => JSON.stringify({ object: 'error', ...e, message: typeof e.message === 'string' ? `${e.message} key${glue}${SECRET} ${glue}${PUBLIC}` : e.message })),
  ),
});

function clientAnswering(a: { status: number; retryAfter?: string; body: string }): OmiseClient {
  const fakeFetch = (() =>
    Promise.resolve(
      new Response([204, 205, 304].includes(a.status) ? null : a.body, {
        status: a.status,
        headers: { 'content-type': 'application/json', ...(a.retryAfter !== undefined ? { 'retry-after': a.retryAfter.replace(/[^\x20-\x7e]/g, '') } : {}) },
      }),
    )) as typeof fetch;
  return new OmiseClient({ baseUrl: 'http://omise.invalid', secretKey: SECRET, publicKey: PUBLIC, fetch: fakeFetch, timeoutMs: 1000, rateLimit: { baseMs: 1, maxMs: 5, budgetMs: 20 } });
}

describe('Omise client answers (fuzz)', () => {
  it('any answer: a checked object or an OmiseError that names no key', async () => {
    await fc.assert(
      fc.asyncProperty(answer, fc.constantFrom('retrieve', 'create', 'list'), async (a, op) => {
        const client = clientAnswering(a);
        try {
          const out =
            op === 'retrieve'
              ? await client.retrieveCharge(charge.id)
              : op === 'create'
                ? await client.createCharge({ amount: 15000, currency: 'THB', source: { type: 'alipayplus_mpm' } })
                : await client.listCharges();
          expect(a.status).toBeLessThan(300);
          expect(typeof (out as { object: unknown }).object).toBe('string');
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(OmiseError);
          const msg = (e as Error).message;
          expect(msg).not.toContain(SECRET.slice(10));
          expect(msg).not.toContain(PUBLIC.slice(10));
          expect(msg.length).toBeLessThan(1000);
        }
      }),
      fuzzParams(600),
    );
  });
});
