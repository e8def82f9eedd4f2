import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import type { OmiseCharge } from '../omise/types';
import { LATE_ANSWER_WINDOW_MS } from './sales';
import { newSaleId, startRig, TestClock, until, type Rig } from './testing/testkit';

/**
 * Omise answers every charge creation 2.5 × the relay's timeout late (the charge is made after
 * the relay stopped waiting), so a sale's retry after the settle time makes a second charge that
 * lands after the sale already has its QR. Whatever the timing and whatever the relay's clock
 * says, after the next reconciler pass each sale has exactly one live charge, the one its
 * terminal shows, and every other one is expired at Omise and recorded by the relay.
 */
const TIMEOUT_MS = 1000;
const SALES = 30;
const MINUTE = 60_000;

const scenarios: { name: string; relayAheadMs: number; webhooks: boolean }[] = [
  // Webhooks off: finding the strays must not depend on a charge.create webhook arriving.
  { name: 'clocks agree, webhooks lost', relayAheadMs: 0, webhooks: false },
  { name: 'relay clock 20 min ahead of Omise', relayAheadMs: 20 * MINUTE, webhooks: true },
  { name: 'relay clock 20 min behind Omise', relayAheadMs: -20 * MINUTE, webhooks: true },
];

for (const sc of scenarios) {
  describe(`relay: late charge answers never leave two live charges (${sc.name})`, () => {
    let rig: Rig;
    let cred: string;
    let terminalId: string;
    const clock = TestClock.morning();

    beforeAll(async () => {
      // The reconciler runs on its own every 200 ms, as a relay in service does (faster).
      rig = await startRig({ clock, omiseTimeoutMs: TIMEOUT_MS, config: { reconcile: { intervalMs: 200, webhookOverdueMs: 60_000 } } });
      ({ credential: cred, terminalId } = await rig.pair());
      // The simulator keeps Omise's time; the relay's clock is off by relayAheadMs.
      rig.sim.advanceClock(-sc.relayAheadMs);
      if (!sc.webhooks) rig.sim.setWebhookUrl(null);
    });
    afterAll(async () => {
      await rig.close();
    });

    const chargesOf = (saleId: string): OmiseCharge[] => rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === saleId);
    const live = (saleId: string) => chargesOf(saleId).filter((c) => c.status === 'pending' || c.status === 'successful');

    /** What a terminal does: send the same create until it gets the sale back. */
    async function sell(saleId: string): Promise<SaleView> {
      return until(
        async () => {
          const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
          if (r.status !== 200 && r.status !== 503) throw new Error(`unexpected ${r.status}: ${JSON.stringify(r.body)}`);
          return r.status === 200 ? r.body : undefined;
        },
        `sale ${saleId}`,
        30_000,
        200,
      );
    }

    it(`${SALES} sales: one live charge each after the next reconciler pass, strays expired and recorded`, async () => {
      rig.sim.faults.set({ endpoints: { 'POST /charges': { latencyMs: 2.5 * TIMEOUT_MS } } });
      const ids = Array.from({ length: SALES }, () => newSaleId('late'));
      // Ten terminals at a time: a loaded relay answers so late that its scans happen to come
      // after the strays landed, which would hide the failure this test is about.
      const views: SaleView[] = [];
      for (let i = 0; i < ids.length; i += 10) views.push(...(await Promise.all(ids.slice(i, i + 10).map((id) => sell(id)))));
      for (const v of views) expect(v.status).toBe('pending');

      // Every attempt the relay sent lands at Omise sooner or later.
      const attempts = async () => {
        let n = 0;
        for (const id of ids) n += (await rig.relay.store.sale(terminalId, id))!.createAttempts;
        return n;
      };
      const landed = () => ids.reduce((n, id) => n + chargesOf(id).length, 0);
      await until(async () => landed() === (await attempts()), 'every late answer landed at Omise', 20_000, 20);
      rig.sim.faults.reset();

      // The next pass: one that starts after the last late answer landed (a pass already under
      // way is shared by reconcile(), so wait for it and then run a fresh one).
      await rig.relay.reconcile();
      await rig.relay.reconcile();

      const doubled = ids.filter((id) => live(id).length > 1);
      const perSale = ids.map((id) => chargesOf(id).length);
      console.info(
        `[late-create ${sc.name}] sales ${SALES}, charges at Omise ${landed()} (per sale: ${Math.min(...perSale)}–${Math.max(...perSale)}), ` +
          `sales with two live charges after the pass: ${doubled.length}`,
      );
      expect(doubled).toEqual([]);
      expect(perSale.some((n) => n > 1)).toBe(true); // the fault did make strays
      for (const [i, id] of ids.entries()) {
        expect(live(id).map((c) => c.id)).toEqual([views[i].chargeId]);
        const strays = chargesOf(id).filter((c) => c.id !== views[i].chargeId);
        for (const c of strays) expect(c.status).toBe('expired');
        const recorded = (await rig.relay.store.orphansOfSale(terminalId, id));
        expect(recorded.map((o) => [o.chargeId, o.status]).sort()).toEqual(strays.map((c) => [c.id, 'expired']).sort());
      }
    }, 60_000);
  });
}

describe('relay: the watch for late charges ends', () => {
  let rig: Rig;
  let cred: string;
  let terminalId: string;
  const clock = TestClock.morning();

  beforeAll(async () => {
    rig = await startRig({ clock });
    ({ credential: cred, terminalId } = await rig.pair());
  });
  afterAll(async () => {
    await rig.close();
  });

  it(`searches an uncertain sale on every pass until ${LATE_ANSWER_WINDOW_MS / 60_000} minutes after its last attempt, then stops`, async () => {
    // The charge is made but its answer lost: the attempt is uncertain, the lookup adopts it.
    rig.sim.faults.set({ endpoints: { 'POST /charges': { dropResponseNext: 1 } } });
    const saleId = newSaleId();
    const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
    expect(r.body.status).toBe('pending');
    const row = async () => (await rig.relay.store.sale(terminalId, saleId))!;
    expect((await row()).createUncertain).toBe(true);

    await rig.relay.reconcile();
    const first = (await row()).orphanCheckedAt;
    expect(first).not.toBeNull();
    clock.advance(LATE_ANSWER_WINDOW_MS - 60_000);
    await rig.relay.reconcile();
    expect(await row()).toMatchObject({ createUncertain: true });
    expect((await row()).orphanCheckedAt! > first!).toBe(true);

    clock.advance(60_001);
    await rig.relay.reconcile();
    expect((await row()).createUncertain).toBe(false);
    expect((await rig.relay.store.uncertainSales(100)).map((s) => s.saleId)).not.toContain(saleId);
  });
});
