import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefundView, SaleView } from '../link/protocol';
import { signWebhook } from '../omise/webhook-signature';
import { connectStream, newSaleId, startRig, TestClock, type Rig } from './testing/testkit';

const MINUTE = 60_000;

function todayAt(h: number, m: number): Date {
  const d = new Date();
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), h, m, 0));
}

/** A paid sale on a rig: created through the relay, paid at the simulator. */
async function paidSale(rig: Rig, cred: string): Promise<SaleView> {
  const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 5000, currency: 'THB' });
  expect(r.status).toBe(200);
  rig.sim.markAsPaid(r.body.chargeId!);
  const s = await rig.api<SaleView>('GET', `/v1/sales/${r.body.saleId}`, cred);
  expect(s.body.status).toBe('successful');
  return s.body;
}

describe('relay: a relay clock 20 minutes behind Omise', () => {
  let rig: Rig;
  let cred: string;
  const clock = TestClock.morning();

  beforeAll(async () => {
    rig = await startRig({ clock });
    ({ credential: cred } = await rig.pair());
    // Omise (and its webhook timestamps) 20 minutes ahead of the relay.
    rig.sim.advanceClock(20 * MINUTE);
  });
  afterAll(async () => {
    await rig.close();
  });

  it('still re-reads the charge of a correctly signed webhook with a "stale" timestamp; replays stay duplicates', async () => {
    const term = await connectStream(rig.relay.url, cred, 0);
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    expect(created.status).toBe(200);
    const saleId = created.body.saleId;
    rig.sim.markAsPaid(created.body.chargeId!);
    // The reconciler does not run on its own in this rig (one pass an hour): only the webhook can tell.
    await term.waitFor(
      () => term.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId && e.event.sale.status === 'successful'),
      'the paid event from a webhook stamped 20 minutes off',
      15_000, // room for one of the simulator's delivery retries (1 s, 5 s) on a busy machine
    );
    expect(rig.relay.metrics.webhooksStale.get()).toBeGreaterThanOrEqual(1);

    // The same delivery again, signed at Omise's time: recognised by its event id, nothing applied.
    const ev = rig.sim.events().find((e) => e.key === 'charge.complete' && (e.data as { id: string }).id === created.body.chargeId)!;
    const raw = JSON.stringify(ev);
    const ts = Math.floor(rig.sim.now().getTime() / 1000);
    const post = (secret: string) =>
      fetch(`${rig.relay.url}/webhooks/omise`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'omise-signature': signWebhook(Buffer.from(raw), secret, ts), 'omise-signature-timestamp': String(ts) },
        body: raw,
      });
    const replay = await post(rig.secrets.webhookSecret);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ duplicate: true });
    // A stale timestamp never excuses a wrong signature.
    const forged = await post(Buffer.from('some other secret of enough length').toString('base64'));
    expect(forged.status).toBe(401);
    await term.close();
  });
});

describe('relay: no outcome waits on webhooks alone', () => {
  let rig: Rig;
  let cred: string;
  const clock = TestClock.morning();

  beforeAll(async () => {
    // The reconciler runs on its own (quickly, for the test); a pending charge is re-read once
    // no webhook has spoken of it for the default 60 s.
    rig = await startRig({ clock, config: { reconcile: { intervalMs: 100, webhookOverdueMs: 60_000 } } });
    ({ credential: cred } = await rig.pair());
    rig.sim.setWebhookUrl(null);
  });
  afterAll(async () => {
    await rig.close();
  });

  it('delivers a payment to the terminal with webhooks disabled at the simulator', async () => {
    const term = await connectStream(rig.relay.url, cred, 0);
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    expect(created.status).toBe(200);
    rig.sim.markAsPaid(created.body.chargeId!);
    clock.advance(60 * 1000 + 1);
    const ev = await term.waitFor(
      () => term.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === created.body.saleId && e.event.sale.status === 'successful'),
      'the paid event from the reconciler',
    );
    expect(ev.event.kind === 'sale.updated' && ev.event.sale.paidAt).toBeTruthy();
    expect(rig.relay.metrics.webhooksReceived.get()).toBe(0);
    await term.close();
  });
});

/** The void window closes at 16:15 UTC on the day of the charge's created_at, on Omise's clock. */
for (const sc of [
  { name: 'relay says 16:20, Omise 16:00: still voidable', relay: todayAt(16, 20), omise: todayAt(16, 0), voidable: true },
  { name: 'relay says 16:00, Omise 16:20: already closed', relay: todayAt(16, 0), omise: todayAt(16, 20), voidable: false },
]) {
  describe(`relay: the void window by Omise's clock (${sc.name})`, () => {
    let rig: Rig;
    let cred: string;
    const clock = new TestClock(sc.relay);

    beforeAll(async () => {
      rig = await startRig({ clock });
      ({ credential: cred } = await rig.pair());
      rig.sim.setClock(sc.omise);
    });
    afterAll(async () => {
      await rig.close();
    });

    it(`offers a void ${sc.voidable ? 'and voids' : 'no more and refunds'}`, async () => {
      const sale = await paidSale(rig, cred);
      expect(sale.canVoid).toBe(sc.voidable);
      const r = await rig.api<RefundView>('POST', `/v1/sales/${sale.saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: sale.amount, mode: 'auto' });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'done', voided: sc.voidable });
    });
  });
}
