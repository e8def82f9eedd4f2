import { startRig, connectStream } from './src/relay/testkit';
import { signWebhook } from './src/omise/webhook-signature';
import { OmiseClient } from './src/omise/client';
(async () => {
  const rig = await startRig({ config: { statusStaleMs: 60000, reconcile: { intervalMs: 3600000, webhookOverdueMs: 3600000 } } as never });
  rig.sim.setWebhookUrl(null);
  const { credential, terminalId } = await rig.pair();
  const term = await connectStream(rig.relay.url, credential, 0);
  const omise = new OmiseClient({ baseUrl: rig.sim.url, secretKey: rig.sim.secretKey, publicKey: rig.sim.publicKey });
  const store = rig.relay.store;
  const N = 50;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = await omise.createCharge({ amount: 2000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { qrpos_terminal_id: terminalId, qrpos_sale_id: 'benchsale' + i } });
    const at = new Date().toISOString();
    store.insertSale({ terminalId, saleId: 'benchsale' + i, amount: 2000, currency: 'THB', description: null, terminalCreatedAt: null, status: 'pending', chargeId: c.id, createAttempts: 1, lastAttemptAt: at, createUncertain: false, orphanCheckedAt: at, qrText: null, qrSvg: null, failureCode: null, failureMessage: null, errorCode: null, errorMessage: null, chargeCreatedAt: c.created_at, chargeExpiresAt: c.expires_at, paidAt: null, expireRequested: false, refundedAmount: 0, checkedAt: at, createdAt: at, updatedAt: at });
    rig.sim.markAsPaid(c.id); ids.push(c.id);
  }
  const evs = new Map(rig.sim.events().filter(e => e.key === 'charge.complete').map(e => [(e.data as any).id, Buffer.from(JSON.stringify(e))]));
  for (const id of ids) {
    const body = evs.get(id)!; const ts = Math.floor(Date.now() / 1000);
    const t0 = performance.now();
    const r = await fetch(rig.relay.url + '/webhooks/omise', { method: 'POST', body, headers: { 'omise-signature': signWebhook(body, rig.sim.webhookSecret, ts), 'omise-signature-timestamp': String(ts) } });
    await r.text(); const t1 = performance.now();
    const n = term.events().length;
    await term.waitFor(() => term.events().some(e => e.event.kind === 'sale.updated' && e.event.sale.chargeId === id), 'ev');
    const t2 = performance.now();
    const t3 = performance.now(); await omise.retrieveCharge(id); const t4 = performance.now();
    console.log('http', (t1 - t0).toFixed(1), 'event', (t2 - t0).toFixed(1), 'retrieve', (t4 - t3).toFixed(1));
  }
  await term.close(); await rig.close();
})();
