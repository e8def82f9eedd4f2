import { AsyncLocalStorage } from 'node:async_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import type { SqliteStore } from './sqlite-store';
import { connectStream, newSaleId, startRig, TestClock, type Rig } from './testing/testkit';

describe('relay: a full sale against the simulator', () => {
  let rig: Rig;
  let cred: string;
  let terminalId: string;
  // Relay and simulator share a clock that starts at 10:00 UTC, so voids are open whatever the hour.
  const clock = TestClock.morning();

  beforeAll(async () => {
    rig = await startRig({ clock });
    ({ credential: cred, terminalId } = await rig.pair());
  });
  afterAll(async () => {
    await rig.close();
  });

  it('creates one charge, returns the decoded QR, and pushes the paid result', async () => {
    const term = await connectStream(rig.relay.url, cred, 0);
    const hello = await term.waitFor(() => term.messages.find((m) => m.type === 'hello'), 'hello');
    expect(hello).toMatchObject({ type: 'hello', terminalId });
    expect(term.messages[0].type).toBe('hello');

    const saleId = newSaleId();
    // Webhooks held back for the create (each one makes the relay read the charge).
    rig.sim.setWebhookUrl(null);
    const asked = rig.sim.requests().length;
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 15000, currency: 'THB' });
    const during = rig.sim.requests().slice(asked).map((r) => r.endpoint);
    rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
    expect(created.status).toBe(200);
    const sale = created.body;
    // One request makes the charge, and its answer names the QR document: it is not read again.
    expect(during).toEqual(['POST /charges', 'GET download']);
    expect(sale.status).toBe('pending');
    expect(sale.chargeId).toMatch(/^chrg_test_/);
    expect(sale.qr?.text).toBe(rig.sim.qrTextOf(sale.chargeId!));
    expect(sale.qr?.svg).toContain('<svg');
    expect((await rig.relay.store.sale(terminalId, saleId))?.qrSvg).toBe(sale.qr?.svg);

    const charge = rig.sim.charge(sale.chargeId!);
    expect(charge.amount).toBe(15000);
    expect(charge.source.type).toBe('alipayplus_mpm');
    expect(charge.metadata).toMatchObject({ qrpos_terminal_id: terminalId, qrpos_sale_id: saleId });

    // Retrying the same sale changes nothing.
    const again = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 15000, currency: 'THB' });
    expect(again.body.chargeId).toBe(sale.chargeId);
    expect(rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === saleId)).toHaveLength(1);

    rig.sim.markAsPaid(sale.chargeId!);
    const ev = await term.waitFor(
      () => term.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId && e.event.sale.status === 'successful'),
      'paid event',
    );
    expect(ev.event.kind === 'sale.updated' && ev.event.sale.paidAt).toBeTruthy();
    term.ack(ev.seq);

    const status = await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, cred);
    expect(status.body.status).toBe('successful');
    // Paid: the QR document is gone from the row (no view of a final sale carries it); the text stays.
    expect(status.body.qr).toBeNull();
    expect(await rig.relay.store.sale(terminalId, saleId)).toMatchObject({ qrSvg: null, qrText: sale.qr?.text });
    expect(status.body.canVoid).toBe(true);

    const list = await rig.api<{ sales: SaleView[] }>('GET', `/v1/sales?since=${encodeURIComponent(sale.createdAt)}`, cred);
    expect(list.body.sales.map((s) => s.saleId)).toContain(saleId);

    // Refund: idempotent on refundId, never above what was paid.
    const refundId = newSaleId('rf');
    const r1 = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId, amount: 5000, reason: 'customer' });
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ refundId, amount: 5000, status: 'done' });
    const r2 = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId, amount: 5000 });
    expect(r2.body.omiseRefundId).toBe(r1.body.omiseRefundId);
    const over = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 10001 });
    expect(over.status).toBe(409);
    expect(rig.sim.charge(sale.chargeId!).refunded_amount).toBe(5000);
    await term.waitFor(() => term.events().find((e) => e.event.kind === 'refund.updated'), 'refund event');
    await term.close();
  });

  it('a new sale waits for the disk only for what must be on it before Omise is asked', async () => {
    // The sale and its create attempt are durable, in one commit, before POST /charges. The charge
    // and its QR document, which Omise holds and the relay reads again after a crash, are committed
    // without waiting for the fsync (SQLite: in the thread pool), so the answer does not wait for it.
    const store = rig.relay.store as SqliteStore;
    // Outermost calls only (a nested one joins its caller's transaction). The relay's group
    // commit may also run a batch meanwhile (a terminal's last-seen time): it never waits either.
    const nested = new AsyncLocalStorage<true>();
    const calls: string[] = [];
    const transaction = store.transaction.bind(store);
    const batchDeferred = store.batchDeferred.bind(store);
    store.transaction = (fn) => {
      if (!nested.getStore()) calls.push('durable');
      return nested.run(true, () => transaction(fn));
    };
    store.batchDeferred = (items) => {
      if (!nested.getStore()) calls.push('committed, fsync later');
      return nested.run(true, () => batchDeferred(items));
    };
    rig.sim.setWebhookUrl(null);
    let created;
    try {
      created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 4200, currency: 'THB' });
    } finally {
      // The wrappers are own properties over the class's methods: removing them restores those.
      Reflect.deleteProperty(store, 'transaction');
      Reflect.deleteProperty(store, 'batchDeferred');
      rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
    }
    expect(created.status).toBe(200);
    // The sale with its first attempt counted, in one commit; then the charge and the QR text
    // without waiting.
    expect(calls.filter((c) => c === 'durable')).toEqual(['durable']);
    expect(calls.filter((c) => c !== 'durable').length).toBeGreaterThanOrEqual(2);
    // Committed before the answer: the store has the charge and the QR text.
    expect(await rig.relay.store.sale(terminalId, created.body.saleId)).toMatchObject({ chargeId: created.body.chargeId, qrText: created.body.qr?.text, status: 'pending' });
  });

  it('expires a cancelled sale at Omise, idempotently', async () => {
    const saleId = newSaleId();
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 2000, currency: 'THB' });
    const e1 = await rig.api<SaleView>('POST', `/v1/sales/${saleId}/expire`, cred);
    expect(e1.body.status).toBe('expired');
    expect(e1.body.expireRequested).toBe(true);
    expect(rig.sim.charge(created.body.chargeId!).status).toBe('expired');
    const e2 = await rig.api<SaleView>('POST', `/v1/sales/${saleId}/expire`, cred);
    expect(e2.body.status).toBe('expired');
  });

  it('keeps a paid sale paid when the terminal asks to expire it', async () => {
    const saleId = newSaleId();
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 2500, currency: 'THB' });
    rig.sim.markAsPaid(created.body.chargeId!);
    const e = await rig.api<SaleView>('POST', `/v1/sales/${saleId}/expire`, cred);
    expect(e.body.status).toBe('successful');
    expect(rig.sim.charge(created.body.chargeId!).status).toBe('successful');
  });

  it('refuses bad sales with clear errors and creates nothing', async () => {
    const before = rig.sim.charges().length;
    const low = await rig.api('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 1999, currency: 'THB' });
    expect(low.status).toBe(422);
    expect(low.body.error).toMatchObject({ code: 'amount_out_of_range', message: 'Minimum is ฿20.00' });
    const sgd = await rig.api('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'SGD' });
    expect(sgd.body.error.code).toBe('currency_mismatch');
    const bad = await rig.api('POST', '/v1/sales', cred, { saleId: 'x', amount: 2000, currency: 'THB' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('saleId');
    const noAuth = await rig.api('POST', '/v1/sales', 'qrt_nope', { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    expect(noAuth.status).toBe(401);
    expect(rig.sim.charges().length).toBe(before);

    const saleId = newSaleId();
    await rig.api('POST', '/v1/sales', cred, { saleId, amount: 3000, currency: 'THB' });
    const conflict = await rig.api('POST', '/v1/sales', cred, { saleId, amount: 3001, currency: 'THB' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('conflict');
  });

  it('refuses refunds of another terminal’s sale, unpaid sales, and closed void windows', async () => {
    const other = await rig.pair('till-2');
    const saleId = newSaleId();
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 4000, currency: 'THB' });
    const notPaid = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 100 });
    expect(notPaid.body.error.code).toBe('not_refundable');
    rig.sim.markAsPaid(created.body.chargeId!);
    await rig.api('GET', `/v1/sales/${saleId}`, cred);
    const foreign = await rig.api('POST', `/v1/sales/${saleId}/refunds`, other.credential, { refundId: newSaleId('rf'), amount: 100 });
    expect(foreign.status).toBe(404);
    expect((await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, cred)).body.canVoid).toBe(true);
    // 16:15 UTC on the day of the charge closes the void window; a refund stays possible.
    const day = new Date(created.body.createdAt);
    clock.set(new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 16, 15, 0)));
    try {
      expect((await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, cred)).body.canVoid).toBe(false);
      const v = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 100, mode: 'void' });
      expect(v.body.error.code).toBe('void_window_closed');
      const r = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 100 });
      expect(r.body).toMatchObject({ amount: 100, voided: false, status: 'done' });
    } finally {
      clock.set(TestClock.morning().now());
    }
  });

  it('a second refund request after the sale is refunded in full answers 409 already_refunded; one over what remains answers 409 conflict', async () => {
    const saleId = newSaleId();
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId, amount: 6000, currency: 'THB' });
    rig.sim.markAsPaid(created.body.chargeId!);
    await rig.api('GET', `/v1/sales/${saleId}`, cred);
    const part = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 2000, mode: 'refund' });
    expect(part.body).toMatchObject({ status: 'done', amount: 2000 });
    const over = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 5000 });
    expect([over.status, over.body.error.code]).toEqual([409, 'conflict']);
    const rest = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 4000 });
    expect(rest.body).toMatchObject({ status: 'done', amount: 4000 });
    const again = await rig.api('POST', `/v1/sales/${saleId}/refunds`, cred, { refundId: newSaleId('rf'), amount: 6000 });
    expect([again.status, again.body.error.code]).toEqual([409, 'already_refunded']);
    expect(rig.sim.charge(created.body.chargeId!).refunds.data).toHaveLength(2);
  });

  it('records journal uploads idempotently', async () => {
    const records = [
      { recordId: 'r1', saleId: null, kind: 'boot', at: new Date().toISOString(), data: {} },
      { recordId: 'r2', saleId: 'abcdefgh', kind: 'sale', at: new Date().toISOString(), data: { amount: 2000 } },
    ];
    const a = await rig.api('POST', '/v1/records', cred, { records });
    expect(a.body).toEqual({ accepted: 2, duplicates: 0 });
    const b = await rig.api('POST', '/v1/records', cred, { records });
    expect(b.body).toEqual({ accepted: 0, duplicates: 2 });
  });

  it('serves health, readiness and metrics', async () => {
    expect((await fetch(rig.relay.url + '/healthz')).status).toBe(200);
    expect((await fetch(rig.relay.url + '/readyz')).status).toBe(200);
    const text = await (await fetch(rig.relay.url + '/metrics')).text();
    expect(text).toContain('qrpos_relay_webhooks_verified_total');
    expect(text).toMatch(/qrpos_relay_omise_request_seconds_bucket\{le="0.01",op="create_charge"\}/);
  });

  it('never logs a secret, a credential or a QR download URL', () => {
    const all = rig.log.lines.join('\n');
    expect(all).not.toContain(rig.secrets.omiseSecretKey);
    expect(all).not.toContain(rig.secrets.webhookSecret);
    expect(all).not.toContain(cred);
    expect(all).not.toMatch(/\/downloads\//);
    expect(all).not.toContain(rig.secrets.adminToken);
  });
});
