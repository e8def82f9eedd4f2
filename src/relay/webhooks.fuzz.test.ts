/**
 * Fuzz test of the webhook intake through a real relay: garbage signed with the rig's webhook
 * secret is refused or ignored cleanly (never a 5xx or a dropped connection), nothing in a body
 * is applied (the relay re-reads the charge from Omise), and no event waits for a retry forever.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../omise/webhook-signature';
import { fuzzParams } from '../shared/testing/fuzz';
import { newSaleId, startRig, until, type Rig } from './testing/testkit';

let rig: Rig;
let cred: string;
let saleId: string;
let chargeId: string;

beforeAll(async () => {
  rig = await startRig();
  ({ credential: cred } = await rig.pair());
  saleId = newSaleId();
  const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 15000, currency: 'THB' });
  expect(created.body.status).toBe('pending');
  chargeId = created.body.chargeId!;
  // Only the fuzz test's webhooks reach the relay.
  rig.sim.setWebhookUrl(null);
});
afterAll(async () => {
  await rig?.close();
});

async function post(body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  let res: Response;
  try {
    res = await fetch(`${rig.relay.url}/webhooks/omise`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  } catch (err) {
    throw new Error(`connection dropped (${body.length} bytes): ${String(err)}`, { cause: err });
  }
  return { status: res.status, text: await res.text() };
}

function signed(body: Buffer, secret = rig.secrets.webhookSecret): Record<string, string> {
  const ts = Math.floor(Date.now() / 1000);
  return { [SIGNATURE_HEADER]: signWebhook(body, secret, ts), [TIMESTAMP_HEADER]: String(ts) };
}

let eventNo = 0;
/** Events shaped like Omise's, with any field replaced by garbage. */
const event = fc
  .record({
    object: fc.oneof({ weight: 6, arbitrary: fc.constant('event') }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
    id: fc.oneof({ weight: 6, arbitrary: fc.constant('unique') }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }, { weight: 1, arbitrary: fc.string({ maxLength: 120, unit: 'binary' }) }),
    key: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('charge.complete', 'refund.create', 'charge.update') }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
    data: fc.oneof(
      { weight: 6, arbitrary: fc.record({
        object: fc.oneof(fc.constantFrom('charge', 'refund', 'customer'), fc.jsonValue({ maxDepth: 1 })),
        id: fc.oneof(fc.constant('the-charge'), fc.stringMatching(/^chrg_test_[a-z0-9]{19}$/), fc.string({ maxLength: 100, unit: 'binary' }), fc.jsonValue({ maxDepth: 1 })),
        charge: fc.oneof(fc.constant('the-charge'), fc.string({ maxLength: 40, unit: 'binary' })),
        status: fc.constantFrom('successful', 'failed', 'expired', 'reversed'),
        paid: fc.constant(true),
        amount: fc.integer(),
      }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    ),
  })
  .map((e) => {
    const ev = { ...e, id: e.id === 'unique' ? `evnt_test_fuzz${eventNo++}` : e.id } as Record<string, unknown>;
    const data = ev.data as Record<string, unknown> | null;
    if (data && typeof data === 'object' && !Array.isArray(data)) {
      if (data.id === 'the-charge') data.id = chargeId;
      if (data.charge === 'the-charge') data.charge = chargeId;
    }
    return ev;
  });

describe('webhook intake (fuzz, real relay on loopback)', () => {
  it('unsigned, badly signed or stale garbage is refused with 4xx and stores nothing', async () => {
    const headers = fc.oneof(
      fc.constant({}),
      fc.record({ [SIGNATURE_HEADER]: fc.string({ maxLength: 140 }), [TIMESTAMP_HEADER]: fc.string({ maxLength: 14 }) }),
      fc.record({ [SIGNATURE_HEADER]: fc.stringMatching(/^[0-9a-f]{64}(,[0-9a-f]{64}){0,9}$/), [TIMESTAMP_HEADER]: fc.integer({ min: 0, max: 2 ** 40 }).map(String) }),
    );
    await fc.assert(
      fc.asyncProperty(event, headers, async (e, h) => {
        const body = Buffer.from(JSON.stringify(e));
        const r = await post(body, h);
        expect(r.status, r.text).toBeGreaterThanOrEqual(400);
        expect(r.status, r.text).toBeLessThan(500);
        if (typeof e.id === 'string') expect(await rig.relay.store.webhookEvent(e.id)).toBeUndefined();
      }),
      fuzzParams(200),
    );
  });

  it('signed garbage bytes are refused cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v)))), async (bytes) => {
        const body = Buffer.from(bytes);
        const r = await post(body, signed(body));
        expect(r.status, r.text).toBeLessThan(500);
        expect([200, 400]).toContain(r.status);
      }),
      fuzzParams(200),
    );
  });

  it('signed events with garbage fields: 200 or 400, nothing applied from the body, none left retrying', async () => {
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(event, async (e) => {
        const body = Buffer.from(JSON.stringify(e));
        const r = await post(body, signed(body));
        expect([200, 400], r.text).toContain(r.status);
        if (r.status === 200) seen.push(e.id as string);
      }),
      fuzzParams(300),
    );
    expect(seen.length).toBeGreaterThan(50);
    // Every stored event settles: done (it named the real charge, re-read from Omise) or ignored.
    for (const id of seen) {
      const row = await until(
        async () => {
          const w = await rig.relay.store.webhookEvent(id);
          return w && w.status !== 'unprocessed' ? w : undefined;
        },
        `webhook event ${JSON.stringify(id).slice(0, 60)} to settle`,
        3000,
      ).catch(async (err: unknown) => {
        const w = await rig.relay.store.webhookEvent(id);
        throw new Error(`${(err as Error).message}: it stays ${w?.status} for object ${JSON.stringify(w?.objectId).slice(0, 60)} (${w?.lastError})`, { cause: err });
      });
      expect(['done', 'ignored']).toContain(row.status);
      if (row.status === 'done') expect(row.objectId).toBe(chargeId);
    }
    // The bodies said successful, failed, expired, reversed: Omise says the charge is still pending.
    const sale = await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, cred);
    expect(sale.body.status).toBe('pending');
    expect(sale.body.paidAt).toBeNull();
  });
});
