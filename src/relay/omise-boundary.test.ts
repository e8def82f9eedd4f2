/**
 * Omise's rate limits and malformed answers at the relay: HTTP 429 is retried and never fails a
 * sale; an answer that fails the client's schema never marks one.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { OMISE_API_VERSION } from '../omise/api';
import { logLeaks, newSaleId, startRig, TestClock, type ApiResult, type Rig } from './testing/testkit';

describe('relay: Omise rate limits and malformed answers', () => {
  let rig: Rig;
  let cred: string;
  const clock = TestClock.morning();

  beforeAll(async () => {
    rig = await startRig({ omiseTimeoutMs: 2000, clock });
    ({ credential: cred } = await rig.pair());
  });
  afterEach(() => rig.sim.faults.reset());
  afterAll(async () => {
    await rig.close();
  });

  const chargesOf = (saleId: string) => rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === saleId);
  /** A SaleView on 200, `{ error: { code, message } }` otherwise. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read both answer shapes
  const create = (saleId: string): Promise<ApiResult<any>> => rig.api('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
  const createRequests = () => rig.sim.requests().filter((r) => r.endpoint === 'POST /charges').length;

  it('429s within the deadline are retried (Retry-After honoured): one answer, exactly one charge', async () => {
    rig.sim.faults.set({ endpoints: { 'POST /charges': { failNext: 3, errorStatus: 429, retryAfterSeconds: 0 } } });
    const saleId = newSaleId();
    const before = createRequests();
    const r = await create(saleId);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('pending');
    expect(createRequests() - before).toBe(4);
    await rig.relay.reconcile();
    expect(chargesOf(saleId)).toHaveLength(1);
    expect(chargesOf(saleId)[0].id).toBe(r.body.chargeId);
  });

  it('429s with backoff and no Retry-After: the terminal’s retries of the same sale end with exactly one charge', async () => {
    rig.sim.faults.set({ endpoints: { 'POST /charges': { failNext: 6, errorStatus: 429 } } });
    const saleId = newSaleId();
    const statuses: number[] = [];
    let last: ApiResult<SaleView & { error: { code: string } }> | undefined;
    for (let i = 0; i < 20 && last?.status !== 200; i++) {
      last = await create(saleId);
      statuses.push(last.status);
      if (last.status !== 200) {
        expect(last.status).toBe(503);
        expect(last.body.error.code).toBe('omise_unavailable');
      }
    }
    expect(last?.body.status).toBe('pending');
    await rig.relay.reconcile();
    expect(chargesOf(saleId)).toHaveLength(1);
  });

  it('429 past the sale’s deadline: the retryable "could not create" error, never create_failed, and no charge', async () => {
    rig.sim.faults.set({ endpoints: { 'POST /charges': { errorRate: 1, errorStatus: 429, retryAfterSeconds: 1 } } });
    const saleId = newSaleId();
    const r = await create(saleId);
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 'omise_unavailable' });
    expect(r.body.error.message).toMatch(/could not create the charge.*429/);
    const view = await rig.api('GET', `/v1/sales/${saleId}`, cred);
    expect(view.body.status).toBe('creating');
    expect(view.body.error).toBeNull();
    // Past the deadline each request sends one create and waits for nothing.
    clock.advance(31_000);
    const before = createRequests();
    const r2 = await create(saleId);
    expect(r2.status).toBe(503);
    expect(createRequests() - before).toBe(1);
    expect(chargesOf(saleId)).toHaveLength(0);
    // When Omise lets it through, the same sale gets its one charge.
    rig.sim.faults.reset();
    const r3 = await create(saleId);
    expect(r3.body.status).toBe('pending');
    expect(chargesOf(saleId)).toHaveLength(1);
    expect(logLeaks(rig)).toEqual([]);
  });

  it('a malformed answer to the create never marks the sale; the charge it made is adopted once readable', async () => {
    // No webhook: it would (rightly) bring the charge in through a readable retrieve.
    rig.sim.setWebhookUrl(null);
    rig.sim.faults.set({
      endpoints: {
        'POST /charges': { malformNext: 1, malformField: 'status' },
        'GET /charges': { malformNext: 5, malformField: 'data' },
      },
    });
    const saleId = newSaleId();
    const r = await create(saleId);
    expect(r.status).toBe(503);
    expect(chargesOf(saleId)).toHaveLength(1);
    expect((await rig.api('GET', `/v1/sales/${saleId}`, cred)).body).toMatchObject({ status: 'creating', error: null, chargeId: null });
    expect(rig.log.records().some((l) => l.msg === 'omise answer failed its schema' && String(l.issues).startsWith('status'))).toBe(true);
    rig.sim.faults.reset();
    rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
    clock.advance(5000);
    let v: ApiResult<SaleView> | undefined;
    for (let i = 0; i < 5 && v?.status !== 200; i++) v = await create(saleId);
    expect(v?.body).toMatchObject({ status: 'pending', chargeId: chargesOf(saleId)[0].id });
    await rig.relay.reconcile();
    expect(chargesOf(saleId)).toHaveLength(1);
    expect(logLeaks(rig)).toEqual([]);
  });

  it('a malformed charge on a status refresh leaves the sale as it was', async () => {
    const saleId = newSaleId();
    const r = await create(saleId);
    expect(r.body.status).toBe('pending');
    rig.sim.setWebhookUrl(null);
    rig.sim.markAsPaid(r.body.chargeId as string);
    rig.sim.faults.set({ endpoints: { 'GET /charges/:id': { malformNext: 1, malformField: 'status', malformMode: 'mistyped' } } });
    const stale = await rig.api('GET', `/v1/sales/${saleId}`, cred);
    expect(stale.status).toBe(200);
    expect(stale.body.status).toBe('pending');
    const fresh = await rig.api('GET', `/v1/sales/${saleId}`, cred);
    expect(fresh.body.status).toBe('successful');
    rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
  });

  it('every request the relay sent to Omise named the pinned API version', () => {
    const seen = rig.sim.requests();
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.filter((r) => r.omiseVersion !== OMISE_API_VERSION)).toEqual([]);
  });
});
