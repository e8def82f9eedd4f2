/**
 * Issue 12 item 6, relay side: on a real, size-limited filesystem filled in the middle of a sale
 * the relay says it is not ready (with the reason), refuses new sales with a clear error and no
 * charge at Omise, lets the sale in flight finish, and recovers when space returns.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { mountSmallFs, type SmallFs } from '../shared/testing/small-fs';
import { SqliteStore } from './sqlite-store';
import { call, newSaleId, startRig, until, type Rig } from './testing/testkit';

describe('relay on a full disk', () => {
  let small: SmallFs;
  let rig: Rig;
  let cred: string;

  beforeAll(async () => {
    small = mountSmallFs(4096);
    rig = await startRig({ config: { dataDir: path.join(small.dir, 'data') }, sim: { webhookRetryDelaysMs: [100, 200, 400, 800, 1600] } });
    ({ credential: cred } = await rig.pair());
  });
  afterAll(async () => {
    await rig?.close();
    await small?.close();
  });

  it('is not ready and refuses new sales while the disk is full, finishes the sale in flight, and recovers when space returns', async () => {
    const ready = await call(rig.relay.url, 'GET', '/readyz');
    expect(ready).toEqual({ status: 200, body: { ready: true } });
    const inFlight = newSaleId('inflight');
    const created = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: inFlight, amount: 15000, currency: 'THB' });
    expect(created.body.status).toBe('pending');

    small.fill();
    const notReady = await call<{ ready: boolean; reason: string }>(rig.relay.url, 'GET', '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body.ready).toBe(false);
    expect(notReady.body.reason).toMatch(/disk nearly full/);

    const charges = rig.sim.charges().length;
    const refused = await rig.api<{ error: { code: string; message: string } }>('POST', '/v1/sales', cred, { saleId: newSaleId('new'), amount: 2500, currency: 'THB' });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('storage_unavailable');
    expect(refused.body.error.message).toMatch(/cannot record sales now.*no charge was made/);
    expect(rig.sim.charges().length).toBe(charges);

    // The customer pays the sale already on screen while the disk is still full.
    rig.sim.markAsPaid(created.body.chargeId!);
    const during = await rig.api<SaleView | { error: { code: string } }>('GET', `/v1/sales/${inFlight}`, cred);
    expect([200, 503]).toContain(during.status);

    small.free();
    await until(async () => (await call(rig.relay.url, 'GET', '/readyz')).status === 200, 'ready again');
    await until(async () => (await rig.api<SaleView>('GET', `/v1/sales/${inFlight}`, cred)).body.status === 'successful', 'the sale in flight paid');
    const after = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId('after'), amount: 2500, currency: 'THB' });
    expect(after.status).toBe(200);
    expect(after.body.status).toBe('pending');
    expect(rig.log.lines.join('\n')).not.toContain(rig.secrets.omiseSecretKey);
  });

  it('remembers a write that failed for lack of space until a probe write succeeds', async () => {
    const store = new SqliteStore(path.join(small.dir, 'probe.db'), { minFreeBytes: 0 });
    try {
      expect(store.writable()).toEqual({ ok: true });
      small.fill();
      const big = { ref: 1, blob: 'x'.repeat(64 * 1024) };
      expect(() => store.insertRecords('t1', [{ recordId: 'r1', saleId: null, kind: 'sale.recorded', at: new Date().toISOString(), data: big }], new Date().toISOString())).toThrow(
        expect.objectContaining({ code: 'SQLITE_FULL' }) as Error,
      );
      const w = store.writable();
      expect(w.ok).toBe(false);
      expect(!w.ok && w.reason).toMatch(/cannot write the database \(SQLITE_FULL/);
      small.free();
      await until(() => store.writable().ok, 'the probe write succeeds');
      await store.insertRecords('t1', [{ recordId: 'r2', saleId: null, kind: 'sale.recorded', at: new Date().toISOString(), data: { ref: 7 } }], new Date().toISOString());
      expect(await store.highestRecordRef('t1')).toBe(7);
    } finally {
      small.free();
      store.close();
    }
  });
});
