import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { ADMIN_TOKEN, call, connectStream, newSaleId, startRig, until, type Rig } from './testing/testkit';

/** The relay's log lines, for the no-secret check. */
const logText = (rig: Rig) => rig.log.lines.join('\n');

describe('relay: secrets rotated without a restart', () => {
  let rig: Rig;
  let cred: string;

  beforeAll(async () => {
    rig = await startRig();
    ({ credential: cred } = await rig.pair());
  });
  afterAll(async () => {
    await rig.close();
  });

  it('takes a new admin token at once; the old one stops working', async () => {
    const next = crypto.randomBytes(24).toString('base64url');
    expect((await call(rig.relay.url, 'GET', '/admin/terminals', { token: ADMIN_TOKEN })).status).toBe(200);
    rig.relay.reloadSecrets({ ...rig.secrets, adminToken: next });
    try {
      expect((await call(rig.relay.url, 'GET', '/admin/terminals', { token: ADMIN_TOKEN })).status).toBe(401);
      expect((await call(rig.relay.url, 'GET', '/admin/terminals', { token: next })).status).toBe(200);
      expect(logText(rig)).toContain('"changedFields":["adminToken"]');
      expect(logText(rig)).not.toContain(next);
    } finally {
      rig.relay.reloadSecrets(rig.secrets);
    }
  });

  it('uses new Omise keys from the next call on', async () => {
    rig.relay.reloadSecrets({ ...rig.secrets, omiseSecretKey: 'skey_test_revokedkey0000000000' });
    const refused = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    // Omise (the simulator) no longer knows the key: the create is refused, no charge exists.
    expect(refused.body).toMatchObject({ status: 'create_failed', chargeId: null, error: { code: 'authentication_failure' } });
    expect(rig.sim.charges().some((c) => c.metadata.qrpos_sale_id === refused.body.saleId)).toBe(false);
    rig.relay.reloadSecrets(rig.secrets);
    const ok = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2000, currency: 'THB' });
    expect(ok.status).toBe(200);
    expect(ok.body.chargeId).toMatch(/^chrg_test_/);
    expect(logText(rig)).not.toContain('skey_test_revokedkey');
  });

  it('rotates the webhook secret: during the rotation either secret is accepted, after it only the new one', async () => {
    const term = await connectStream(rig.relay.url, cred, 0);
    const paidEvent = (saleId: string) => () =>
      term.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId && e.event.sale.status === 'successful');
    const fresh = crypto.randomBytes(32).toString('base64');
    // The simulator still signs with the old secret: kept as previousWebhookSecret, it is accepted.
    rig.relay.reloadSecrets({ ...rig.secrets, webhookSecret: fresh, previousWebhookSecret: rig.secrets.webhookSecret });
    const during = (await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2100, currency: 'THB' })).body;
    rig.sim.markAsPaid(during.chargeId!);
    await term.waitFor(paidEvent(during.saleId), 'paid during the rotation');

    // Rotation over: the old signature is refused (the outcome still comes, later, from the reconciler).
    rig.relay.reloadSecrets({ ...rig.secrets, webhookSecret: fresh });
    const after = (await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 2200, currency: 'THB' })).body;
    rig.sim.markAsPaid(after.chargeId!);
    const metrics = async () => (await fetch(`${rig.relay.url}/metrics`)).text();
    await until(async () => /webhooks_rejected_total\{reason="bad_signature"\} [1-9]/.test(await metrics()), 'old signature refused', 10_000, 50);
    expect(paidEvent(after.saleId)()).toBeUndefined();
    await rig.relay.reconcile();
    await term.waitFor(paidEvent(after.saleId), 'paid via the reconciler');
    rig.relay.reloadSecrets(rig.secrets);
    await term.close();
  });
});
