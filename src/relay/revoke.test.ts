import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { call, newSaleId, operatorConfig, relayCli, startRig, TestClock, until, type Rig } from './testing/testkit';

/** Revoking or re-pairing a terminal in the middle of a sale never strands the sale. */
describe('relay: revoke and re-pair with a sale in flight', () => {
  let rig: Rig;
  let configFile: string;
  const clock = TestClock.morning();

  beforeAll(async () => {
    rig = await startRig({ clock });
    configFile = operatorConfig(rig);
  });
  afterEach(() => rig.sim.faults.reset());
  afterAll(async () => {
    await rig.close();
  });

  const admin = (method: string, p: string) => call(rig.relay.url, method, p, { token: rig.secrets.adminToken });

  async function pendingSale(cred: string): Promise<SaleView> {
    const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId(), amount: 3000, currency: 'THB' });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('pending');
    return r.body;
  }

  it('expires the pending charge of a revoked terminal at Omise', async () => {
    const { terminalId, credential } = await rig.pair('till-revoked');
    const sale = await pendingSale(credential);
    const r = await admin('POST', `/admin/terminals/${terminalId}/revoke`);
    expect(r.status).toBe(200);
    await until(() => rig.sim.charge(sale.chargeId!).status === 'expired', 'the charge expired at Omise');
    await until(async () => (await rig.relay.store.sale(terminalId, sale.saleId))?.status === 'expired', 'the sale expired at the relay');
  });

  it('expires them too when the CLI revokes (through the admin API)', async () => {
    const { terminalId, credential } = await rig.pair('till-cli');
    const sale = await pendingSale(credential);
    const out = await relayCli(['terminals', 'revoke', terminalId, '--config', configFile]);
    expect(out.code).toBe(0);
    await rig.relay.reconcile();
    expect(rig.sim.charge(sale.chargeId!).status).toBe('expired');
    expect((await rig.relay.store.sale(terminalId, sale.saleId))?.status).toBe('expired');
  });

  it('lists a payment that came in anyway as a late payment (admin API and CLI)', async () => {
    const { terminalId, credential } = await rig.pair('till-late');
    const sale = await pendingSale(credential);
    // Omise cannot be reached for the expiry; meanwhile the customer pays.
    rig.sim.faults.set({ endpoints: { 'POST /charges/:id/expire': { errorRate: 1, errorStatus: 503 } } });
    expect((await admin('POST', `/admin/terminals/${terminalId}/revoke`)).status).toBe(200);
    rig.sim.markAsPaid(sale.chargeId!);
    rig.sim.faults.reset();
    await rig.relay.reconcile();
    expect(await rig.relay.store.sale(terminalId, sale.saleId)).toMatchObject({ status: 'successful', expireRequested: true });

    const late = await admin('GET', '/admin/late-payments');
    expect(late.status).toBe(200);
    expect(late.body.sales.map((s: SaleView) => [s.saleId, s.status, s.chargeId])).toContainEqual([sale.saleId, 'successful', sale.chargeId]);
    const cli = await relayCli(['terminals', 'late-payments', '--config', configFile]);
    expect(cli.code).toBe(0);
    expect(cli.out).toContain(sale.saleId);
    expect(cli.out).toContain(sale.chargeId);
  });

  it('answers a device that paired again (proving its old credential) with the outcome of its sale in flight', async () => {
    const old = await rig.pair('till-repair');
    const sale = await pendingSale(old.credential);
    // The device pairs again, presenting the credential it had; the operator approves.
    const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'till-repair', version: '0.1.0', previousCredential: old.credential } });
    expect(started.status).toBe(201);
    const approved = (await rig.relay.approvePairing(started.body.code));
    expect(approved.replaces).toBe(old.terminalId);
    const polled = await call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
    const cred = polled.body.credential as string;

    // The old terminal is revoked and its open sale expired at Omise.
    expect((await rig.relay.listTerminals()).find((t) => t.id === old.terminalId)?.revoked).toBe(true);
    await until(() => rig.sim.charge(sale.chargeId!).status === 'expired', 'the old terminal’s charge expired');
    // The new terminal gets the outcome by sale id, and in its list.
    const st = await until(async () => {
      const r = await rig.api<SaleView>('GET', `/v1/sales/${sale.saleId}`, cred);
      return r.status === 200 && r.body.status === 'expired' ? r.body : undefined;
    }, 'the outcome through the new credential');
    expect(st.chargeId).toBe(sale.chargeId);
    const list = await rig.api<{ sales: SaleView[] }>('GET', '/v1/sales', cred);
    expect(list.body.sales.map((s) => s.saleId)).toContain(sale.saleId);
    // Sending the same create again does not make a second charge under the new terminal.
    const again = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: sale.saleId, amount: 3000, currency: 'THB' });
    expect(again.body).toMatchObject({ status: 'expired', chargeId: sale.chargeId });
    expect(rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === sale.saleId)).toHaveLength(1);

    // A wrong previous credential links nothing.
    const stranger = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'x-till', version: '0.1.0', previousCredential: 'qrt_not-a-real-credential' } });
    expect((await rig.relay.approvePairing(stranger.body.code)).replaces).toBeNull();
  });
});
