import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import type { FaultConfig } from '../simulator/faults';
import { logLeaks, newSaleId, startRig, until, type ApiResult, type Rig } from './testing/testkit';

/** Omise faults during charge creation never leave two live charges for one sale. */
describe('relay: one charge per sale under Omise faults', () => {
  let rig: Rig;
  let cred: string;

  beforeAll(async () => {
    rig = await startRig({ omiseTimeoutMs: 300 });
    ({ credential: cred } = await rig.pair());
  });
  afterEach(() => rig.sim.faults.reset());
  afterAll(async () => {
    await rig.close();
  });

  const chargesOf = (saleId: string) => rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === saleId);
  const live = (saleId: string) => chargesOf(saleId).filter((c) => c.status === 'pending' || c.status === 'successful');

  /** What a terminal does: retry the same request until it gets an answer. */
  async function createUntilDone(saleId: string, amount = 2000, onAttempt?: (n: number) => void): Promise<{ view: SaleView; tries: number; statuses: number[] }> {
    const statuses: number[] = [];
    const res = await until(
      async () => {
        onAttempt?.(statuses.length);
        const r: ApiResult<SaleView> = await rig.api('POST', '/v1/sales', cred, { saleId, amount, currency: 'THB' });
        statuses.push(r.status);
        if (r.status !== 200 && r.status !== 503) throw new Error(`unexpected ${r.status}: ${JSON.stringify(r.body)}`);
        return r.status === 200 ? r.body : undefined;
      },
      'sale created',
      10_000,
      50,
    );
    return { view: res, tries: statuses.length, statuses };
  }

  const cases: [string, FaultConfig][] = [
    ['a 500 before the charge is made', { endpoints: { 'POST /charges': { failNext: 1, errorStatus: 500 } } }],
    ['a 503 before the charge is made', { endpoints: { 'POST /charges': { failNext: 2, errorStatus: 503 } } }],
    ['a hang (no answer, no charge)', { endpoints: { 'POST /charges': { hangNext: 1 } } }],
    ['created, then the answer is a 500', { endpoints: { 'POST /charges': { dropResponseNext: 1, dropResponseMode: '500' } } }],
    ['created, then the connection resets', { endpoints: { 'POST /charges': { dropResponseNext: 1, dropResponseMode: 'reset' } } }],
    ['created after the client timed out (slow Omise)', { endpoints: { 'POST /charges': { latencyMs: 450 } } }],
  ];

  for (const [name, faults] of cases) {
    it(`survives ${name}`, async () => {
      rig.sim.faults.set(faults);
      const saleId = newSaleId();
      const { view } = await createUntilDone(saleId);
      expect(view.status).toBe('pending');
      expect(view.qr?.text).toBe(rig.sim.qrTextOf(view.chargeId!));
      await rig.relay.reconcile();
      expect(live(saleId)).toHaveLength(1);
      expect(live(saleId)[0].id).toBe(view.chargeId);
    });
  }

  it('never keeps two live charges under random errors and dropped answers', async () => {
    rig.sim.faults.set({ endpoints: { 'POST /charges': { errorRate: 0.3, dropResponseRate: 0.3, dropResponseMode: 'reset' } } });
    const ids = Array.from({ length: 8 }, () => newSaleId('soak'));
    const views = await Promise.all(ids.map((id) => createUntilDone(id)));
    rig.sim.faults.reset();
    await rig.relay.reconcile();
    for (const [i, id] of ids.entries()) {
      expect(live(id).map((c) => c.id)).toEqual([views[i].view.chargeId]);
    }
  });

  it('expires a stray second charge it finds later', async () => {
    // A very slow Omise: each attempt lands long after the relay stopped waiting, so a retry
    // after the settle time sends a second one. Both land; exactly one may stay live.
    rig.sim.faults.set({ endpoints: { 'POST /charges': { latencyMs: 1500 } } });
    const saleId = newSaleId();
    await until(
      async () => {
        const r = await rig.api('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
        expect(r.status).toBe(503);
        return ((await rig.relay.store.sale((await rig.relay.listTerminals())[0].id, saleId))?.createAttempts ?? 0) >= 2;
      },
      'a second attempt',
      5000,
      100,
    );
    await until(() => chargesOf(saleId).length >= 2, 'both charges land', 5000);
    rig.sim.faults.reset();
    const { view } = await createUntilDone(saleId);
    await until(async () => {
      await rig.relay.reconcile();
      return live(saleId).length === 1;
    }, 'one live charge');
    expect(live(saleId)[0].id).toBe(view.chargeId);
    expect(chargesOf(saleId).filter((c) => c.id !== view.chargeId).every((c) => c.status === 'expired')).toBe(true);
  });

  it('does not create a charge for a sale cancelled while Omise was unreachable', async () => {
    rig.sim.faults.set({ endpoints: { 'POST /charges': { hang: true } } });
    const saleId = newSaleId();
    const r = await rig.api('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
    expect(r.status).toBe(503);
    rig.sim.faults.reset();
    const expired = await until(async () => {
      const e = await rig.api<SaleView>('POST', `/v1/sales/${saleId}/expire`, cred);
      return e.body.status === 'expired' ? e.body : undefined;
    }, 'sale expired', 5000, 100);
    expect(expired.chargeId).toBeNull();
    const again = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
    expect(again.body.status).toBe('expired');
    expect(chargesOf(saleId)).toHaveLength(0);
  });

  it('answers 503 (retry later) while Omise is down, and the status endpoint stays up', async () => {
    rig.sim.faults.set({ endpoints: { '*': { errorRate: 1, errorStatus: 503 } } });
    const saleId = newSaleId();
    const r = await rig.api('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('omise_unavailable');
    const s = await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, cred);
    expect(s.status).toBe(200);
    expect(s.body.status).toBe('creating');
  });
  it('kept every secret and QR download URL out of the logs', () => {
    expect(logLeaks(rig, [cred])).toEqual([]);
  });
});
