import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { signWebhook } from '../omise/webhook-signature';
import { connectStream, logLeaks, newSaleId, startRig, until, type Rig, type TestTerminal } from './testing/testkit';
import { openSqliteStore, type SqliteStore } from './sqlite-store';

describe('relay: webhook intake', () => {
  let rig: Rig;
  let cred: string;
  let term: TestTerminal;

  beforeAll(async () => {
    rig = await startRig();
    ({ credential: cred } = await rig.pair());
    term = await connectStream(rig.relay.url, cred, 0);
  });
  afterEach(() => {
    rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
    rig.sim.faults.reset();
  });
  afterAll(async () => {
    await term.close();
    await rig.close();
  });

  const post = (raw: string, headers: Record<string, string>) =>
    fetch(`${rig.relay.url}/webhooks/omise`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  const signed = (raw: string, ts = Math.floor(Date.now() / 1000), secret = rig.secrets.webhookSecret) => ({
    'omise-signature': signWebhook(Buffer.from(raw), secret, ts),
    'omise-signature-timestamp': String(ts),
  });
  const webhookRows = () => (rig.relay.store as SqliteStore).db.prepare('SELECT COUNT(*) AS n FROM webhook_events').get() as { n: number };
  const saleEvents = (saleId: string) => term.events().filter((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId);

  async function pendingSale(): Promise<SaleView> {
    const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    expect(r.status).toBe(200);
    return r.body;
  }

  function completeEvent(chargeId: string) {
    const ev = rig.sim.events().find((e) => e.key === 'charge.complete' && (e.data as { id: string }).id === chargeId);
    if (!ev) throw new Error('no charge.complete event');
    return ev;
  }

  it('refuses forged, unsigned, stale and oversized webhooks before touching anything', async () => {
    rig.sim.setWebhookUrl(null);
    const sale = await pendingSale();
    rig.sim.markAsPaid(sale.chargeId!);
    const raw = JSON.stringify(completeEvent(sale.chargeId!));
    const before = webhookRows().n;

    const forged = await post(raw, signed(raw, undefined, Buffer.from('not the secret, not at all').toString('base64')));
    expect(forged.status).toBe(401);
    const missing = await post(raw, {});
    expect(missing.status).toBe(400);
    // An old timestamp does not make a forged body acceptable.
    const staleForged = await post(raw, signed(raw, Math.floor(Date.now() / 1000) - 3600, Buffer.from('not the secret, not at all').toString('base64')));
    expect(staleForged.status).toBe(401);
    const tampered = await post(raw.replace('"successful"', '"failed"'), signed(raw));
    expect(tampered.status).toBe(401);
    const huge = 'x'.repeat(rig.config.limits.webhookBodyBytes + 10);
    const big = await post(huge, signed(huge));
    expect(big.status).toBe(413);

    expect(webhookRows().n).toBe(before);
    expect((await rig.api<SaleView>('GET', `/v1/sales/${sale.saleId}`, cred)).body.status).toBe('successful'); // via status refresh, not the webhooks
    expect(rig.relay.metrics.webhooksRejected.get({ reason: 'bad_signature' })).toBeGreaterThanOrEqual(2);
  });

  it('applies a duplicated delivery once', async () => {
    rig.sim.setWebhookUrl(null);
    const sale = await pendingSale();
    rig.sim.markAsPaid(sale.chargeId!);
    const raw = JSON.stringify(completeEvent(sale.chargeId!));
    const r1 = await post(raw, signed(raw));
    const r2 = await post(raw, signed(raw));
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    expect(await r2.json()).toMatchObject({ duplicate: true });
    await term.waitFor(() => saleEvents(sale.saleId).find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'paid event');
    await until(async () => (await rig.relay.store.webhookEvent(JSON.parse(raw).id))?.status === 'done', 'event processed');
    expect(saleEvents(sale.saleId).filter((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful')).toHaveLength(1);
  });

  it('survives the simulator duplicating and reordering deliveries: one result, never back to pending', async () => {
    rig.sim.faults.update({ webhooks: { duplicateRate: 1, reorder: true, reorderWindowMs: 100 } });
    try {
      const sale = await pendingSale();
      rig.sim.markAsPaid(sale.chargeId!);
      await term.waitFor(() => saleEvents(sale.saleId).find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'paid');
      await until(() => !rig.sim.webhooksBusy(), 'simulator quiet');
      await until(async () => (await rig.relay.store.unprocessedWebhookEvents(new Date(Date.now() + 3_600_000).toISOString(), 10)).length === 0, 'all processed');
      // An old event (the charge still pending in its body) arriving last changes nothing.
      const create = rig.sim.events().find((e) => e.key === 'charge.create' && (e.data as { id: string }).id === sale.chargeId)!;
      const late = JSON.stringify({ ...create, id: create.id + 'x' });
      expect((await post(late, signed(late))).status).toBe(200);
      await until(async () => (await rig.relay.store.webhookEvent(create.id + 'x'))?.status === 'done', 'late event processed');
      const statuses = saleEvents(sale.saleId).map((e) => (e.event.kind === 'sale.updated' ? e.event.sale.status : ''));
      expect(statuses).toEqual(['pending', 'successful']);
      expect((await rig.api<SaleView>('GET', `/v1/sales/${sale.saleId}`, cred)).body.status).toBe('successful');
    } finally {
      rig.sim.faults.reset();
    }
  });

  it('keeps an event whose charge cannot be fetched, and applies it later', async () => {
    rig.sim.setWebhookUrl(null);
    const sale = await pendingSale();
    rig.sim.markAsFailed(sale.chargeId!, 'insufficient_fund');
    const ev = rig.sim.events().find((e) => (e.data as { id: string }).id === sale.chargeId && e.key === 'charge.complete')!;
    const raw = JSON.stringify(ev);
    rig.sim.faults.update({ endpoints: { 'GET /charges/:id': { failNext: 1, errorStatus: 503 } } });
    expect((await post(raw, signed(raw))).status).toBe(200);
    await until(async () => ((await rig.relay.store.webhookEvent(ev.id))?.attempts ?? 0) >= 1, 'first attempt');
    expect((await rig.relay.store.webhookEvent(ev.id))?.status).toBe('unprocessed');
    // The retry timer picks it up after its backoff (1 s).
    const failed = await term.waitFor(
      () => saleEvents(sale.saleId).find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'failed'),
      'failed event',
      5000,
    );
    expect(failed.event.kind === 'sale.updated' && failed.event.sale.failureCode).toBe('insufficient_fund');
    expect((await rig.relay.store.webhookEvent(ev.id))?.status).toBe('done');
    rig.sim.setWebhookUrl(`${rig.relay.url}/webhooks/omise`);
  });
  it('processes, after a restart, an event that was stored but not yet applied (crash in between)', async () => {
    rig.sim.setWebhookUrl(null);
    const sale = await pendingSale();
    rig.sim.markAsPaid(sale.chargeId!);
    const ev = completeEvent(sale.chargeId!);
    await term.close();
    await rig.relay.stop();
    // What a crash right after the durable insert leaves behind.
    const store = openSqliteStore(rig.config.dataDir);
    await store.insertWebhookEvent({ id: ev.id, key: ev.key, objectType: 'charge', objectId: sale.chargeId!, receivedAt: new Date().toISOString(), status: 'unprocessed', attempts: 0, nextAttemptAt: null, lastError: null });
    store.close();
    await rig.restartRelay();
    term = await connectStream(rig.relay.url, cred);
    await term.waitFor(() => saleEvents(sale.saleId).find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'paid after restart');
    // The reconciler's pass at start may bring the payment first; the event row is then marked
    // done by its own commit, which waits for its fsync.
    await until(async () => (await rig.relay.store.webhookEvent(ev.id))?.status === 'done' || undefined, 'webhook event done');
  });

  it('kept every secret and QR download URL out of the logs', () => {
    expect(logLeaks(rig, [cred])).toEqual([]);
  });
});
