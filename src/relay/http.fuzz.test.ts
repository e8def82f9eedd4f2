/**
 * Fuzz test of the relay's HTTP bodies (jsonBody and the link protocol schemas) through a real
 * relay on loopback: garbage gets a 4xx with an error body, never a 5xx or a dropped connection,
 * and creates nothing.
 */
import fc from 'fast-check';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateSaleRequestSchema, PairRequestSchema, RecordBatchSchema, RefundRequestSchema, TerminalNameSchema } from '../link/protocol';
import { fuzzParams } from '../shared/testing/fuzz';
import { ADMIN_TOKEN, newSaleId, startRig, type Rig } from './testing/testkit';

let rig: Rig;
let cred: string;
let terminalId: string;
let saleId: string;

beforeAll(async () => {
  rig = await startRig();
  ({ credential: cred, terminalId } = await rig.pair());
  saleId = newSaleId();
  const created = await rig.api('POST', '/v1/sales', cred, { saleId, amount: 15000, currency: 'THB' });
  expect(created.status).toBe(200);
});
afterAll(async () => {
  await rig?.close();
});

/** One request with a raw body; a dropped connection fails the test with what was sent. */
async function send(method: string, p: string, body: string | undefined, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(rig.relay.url + p, { method, headers, body });
  } catch (err) {
    throw new Error(`connection dropped on ${method} ${p} (${body?.length ?? 0} bytes): ${String(err)}`, { cause: err });
  }
  return { status: res.status, text: await res.text() };
}

/** A valid body with one to three fields replaced, dropped or added; or any JSON; or any bytes. */
function bodies(valid: Record<string, unknown>): fc.Arbitrary<{ text: string; json: boolean }> {
  const keys = [...Object.keys(valid), 'extra', '__proto__', 'constructor'];
  const mutated = fc
    .array(fc.tuple(fc.constantFrom(...keys), fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: 'binary', maxLength: 80 })), { nil: undefined })), {
      minLength: 1,
      maxLength: 3,
    })
    .map((edits) => {
      const o: Record<string, unknown> = { ...valid };
      for (const [k, v] of edits) {
        if (v === undefined) delete o[k];
        else Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return JSON.stringify(o);
    });
  const text = fc.oneof(
    { weight: 4, arbitrary: mutated },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: mutated.map((t) => t.slice(0, Math.max(0, t.length - 3))) },
  );
  return fc.tuple(text, fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) })).map(([t, json]) => ({ text: t, json }));
}

/** Whether the schema would take this body: those are not garbage and are left out. */
function accepted(schema: z.ZodType, text: string): boolean {
  try {
    return schema.safeParse(text === '' ? {} : JSON.parse(text)).success;
  } catch {
    return false;
  }
}

/** What the relay holds that garbage must not change. */
async function snapshot() {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const pairings = JSON.parse((await send('GET', '/admin/pairings', undefined, admin)).text) as { pairings: unknown[] };
  const sales = JSON.parse((await send('GET', '/admin/sales?limit=500', undefined, admin)).text) as { sales: { saleId: string; status: string; refunds: unknown[] }[] };
  const terminals = JSON.parse((await send('GET', '/admin/terminals', undefined, admin)).text) as { terminals: { name: string }[] };
  return {
    pairings: pairings.pairings.length,
    sales: sales.sales.map((s) => `${s.saleId}:${s.refunds.length}`).sort(),
    terminals: terminals.terminals.map((t) => t.name).sort(),
    records: (await rig.relay.store.countRecords(terminalId)),
  };
}

function expectRefused(r: { status: number; text: string }, what: string): void {
  expect(r.status, `${what} answered ${r.status}: ${r.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(r.status, `${what} answered ${r.status}: ${r.text.slice(0, 200)}`).toBeLessThan(500);
  const body = JSON.parse(r.text) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
}

interface Endpoint {
  name: string;
  method: string;
  path: () => string;
  valid: () => Record<string, unknown>;
  schema: z.ZodType;
  auth: () => string | undefined;
}

const endpoints: Endpoint[] = [
  { name: 'POST /v1/pair', method: 'POST', path: () => '/v1/pair', valid: () => ({ name: 'till-9', version: '0.1.0', device: 'pi' }), schema: PairRequestSchema, auth: () => undefined },
  {
    name: 'POST /v1/sales',
    method: 'POST',
    path: () => '/v1/sales',
    valid: () => ({ saleId: 'fuzzsale_0001', amount: 15000, currency: 'THB', description: 'x' }),
    schema: CreateSaleRequestSchema,
    auth: () => cred,
  },
  {
    name: 'POST /v1/sales/:id/refunds',
    method: 'POST',
    path: () => `/v1/sales/${saleId}/refunds`,
    valid: () => ({ refundId: 'fuzzrefund_01', amount: 100, reason: 'r', mode: 'refund' }),
    schema: RefundRequestSchema,
    auth: () => cred,
  },
  {
    name: 'POST /v1/records',
    method: 'POST',
    path: () => '/v1/records',
    valid: () => ({ records: [{ recordId: 'r1', saleId: null, kind: 'sale', at: '2026-01-01T00:00:00Z', data: {} }] }),
    schema: RecordBatchSchema,
    auth: () => cred,
  },
  {
    name: 'POST /admin/terminals/:id/rename',
    method: 'POST',
    path: () => `/admin/terminals/${terminalId}/rename`,
    valid: () => ({ name: 'till-renamed' }),
    schema: z.object({ name: TerminalNameSchema }),
    auth: () => ADMIN_TOKEN,
  },
  ...['approve', 'reject'].map(
    (action): Endpoint => ({
      name: `POST /admin/pairings/${action}`,
      method: 'POST',
      path: () => `/admin/pairings/${action}`,
      valid: () => ({ code: 'ABCD-1234', name: 'till-2' }),
      schema: z.object({ code: z.string().min(4).max(16), name: TerminalNameSchema.optional() }),
      auth: () => ADMIN_TOKEN,
    }),
  ),
];
describe('relay HTTP bodies (fuzz, real relay on loopback)', () => {
  for (const ep of endpoints) {
    it(`${ep.name}: garbage gets a 4xx error body and creates nothing`, async () => {
      const before = await snapshot();
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(bodies(ep.valid()), async ({ text, json }) => {
          fc.pre(!(json && accepted(ep.schema, text)));
          sent++;
          const token = ep.auth();
          const r = await send(ep.method, ep.path(), text, {
            'content-type': json ? 'application/json' : 'text/plain',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          });
          expectRefused(r, ep.name);
          if (!json && text.length > 0) expect(r.status).toBe(415);
        }),
        fuzzParams(250),
      );
      expect(sent).toBeGreaterThan(150);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('POST /v1/sales with bodies the schema takes but odd values: an answer, never a 5xx', async () => {
    const odd = fc.record({
      saleId: fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
      amount: fc.oneof(fc.constantFrom(1, 19, 20, 2000, 1e300, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2), fc.integer({ min: 1 })),
      currency: fc.constantFrom('THB', 'SGD', 'MYR'),
      createdAt: fc.option(fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.constantFrom('x'.repeat(3000), '+275760-09-13T00:00:00Z', '\x1b[2J')), { nil: undefined }),
      description: fc.option(fc.string({ maxLength: 255, unit: 'binary' }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(odd, async (body) => {
        const r = await send('POST', '/v1/sales', JSON.stringify(body), { 'content-type': 'application/json', authorization: `Bearer ${cred}` });
        expect(r.status, r.text.slice(0, 200)).toBeLessThan(500);
        if (r.status >= 400) expectRefused(r, 'POST /v1/sales');
      }),
      fuzzParams(60),
    );
  });

  it('paths and query strings: 4xx for garbage, never a 5xx', async () => {
    const segment = fc.string({ unit: 'binary', maxLength: 30 }).map((s) => encodeURIComponent(s).replace(/%2F/g, '/'));
    const raw = fc.constantFrom('%', '%zz', '%E0%A4%A', '..', '%00', '?since=%ff', '?limit=1e3', '?limit=-1', '?since=not-a-date');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v1/sales/', '/v1/sales?since=', '/v1/sales?limit=', '/v1/pair/', '/admin/sales?since=', '/admin/terminals/'), fc.oneof(segment, raw), async (base, tail) => {
        const admin = base.startsWith('/admin');
        const r = await send('GET', base + tail, undefined, { authorization: `Bearer ${admin ? ADMIN_TOKEN : cred}` });
        if (r.status < 400) return;
        expectRefused(r, `GET ${base}${tail}`);
      }),
      fuzzParams(300),
    );
  });
});
