import { afterEach, describe, expect, it } from 'vitest';
import { OmiseClient } from '../omise/client';
import { OmiseError } from '../omise/api';
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from './server';

let sim: SimulatorHandle | null = null;
afterEach(async () => {
  await sim?.stop();
  sim = null;
});

async function setup(at: string, extra: SimulatorOptions = {}): Promise<{ sim: SimulatorHandle; client: OmiseClient; clock: { t: number } }> {
  const clock = { t: Date.parse(at) };
  sim = await startSimulator({ publicKey: 'pkey_test_lc', secretKey: 'skey_test_lc', clock: () => new Date(clock.t), ...extra });
  return { sim, client: new OmiseClient({ baseUrl: sim.url, secretKey: 'skey_test_lc' }), clock };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OmiseError) return `${e.status} ${e.code}`;
    throw e;
  }
  return 'ok';
}

const inline = { type: 'alipayplus_mpm' as const };

describe('void and refund windows', () => {
  it('voids before 16:15 UTC on the charge day and refunds after', async () => {
    const { client, clock } = await setup('2026-03-10T16:10:00Z');
    const ch = await client.createCharge({ amount: 100000, currency: 'THB', source: inline });
    const paid = await client.markAsPaid(ch.id);
    expect(paid).toMatchObject({ can_perform_void: true, refundable: true, partially_refundable: true, voided: false });

    clock.t = Date.parse('2026-03-10T16:14:59Z');
    const v = await client.createRefund(ch.id, { amount: 30000, void: true });
    expect(v.voided).toBe(true);
    let now = await client.retrieveCharge(ch.id);
    expect(now).toMatchObject({ refunded_amount: 30000, voided: true, can_perform_void: true, refundable: true });

    clock.t = Date.parse('2026-03-10T16:15:00Z');
    now = await client.retrieveCharge(ch.id);
    expect(now.can_perform_void).toBe(false);
    expect(await codeOf(client.createRefund(ch.id, { amount: 1000, void: true }))).toBe('400 failed_refund');
    const r = await client.createRefund(ch.id, { amount: 50000 });
    expect(r.voided).toBe(false);
    now = await client.retrieveCharge(ch.id);
    expect(now).toMatchObject({ refunded_amount: 80000, refundable: true, partially_refundable: true });
    expect(now.refunds.data.map((x) => [x.amount, x.voided])).toEqual([
      [30000, true],
      [50000, false],
    ]);

    expect(await codeOf(client.createRefund(ch.id, { amount: 20001 }))).toBe('400 failed_refund');
    await client.createRefund(ch.id, { amount: 20000 });
    now = await client.retrieveCharge(ch.id);
    expect(now).toMatchObject({ refunded_amount: 100000, refundable: false, partially_refundable: false, can_perform_void: false });
    expect(await codeOf(client.createRefund(ch.id, { amount: 1 }))).toBe('400 failed_refund');
  });

  it('uses the UTC date the charge was created: a charge made after 16:15 cannot be voided that day or the next', async () => {
    const { client, clock } = await setup('2026-03-10T20:00:00Z');
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    expect((await client.markAsPaid(ch.id)).can_perform_void).toBe(false);
    clock.t = Date.parse('2026-03-11T09:00:00Z');
    expect((await client.retrieveCharge(ch.id)).can_perform_void).toBe(false);
    expect((await client.createRefund(ch.id, { amount: 5000 })).voided).toBe(false);
  });

  it('refunds within one year of payment only', async () => {
    const { sim: s, client } = await setup('2026-01-05T03:00:00Z');
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await client.markAsPaid(ch.id);
    s.advanceClock(364 * 86400_000);
    expect((await client.retrieveCharge(ch.id)).refundable).toBe(true);
    s.advanceClock(2 * 86400_000);
    expect((await client.retrieveCharge(ch.id)).refundable).toBe(false);
    expect(await codeOf(client.createRefund(ch.id, { amount: 1000 }))).toBe('400 failed_refund');
  });
});

describe('charge lifecycle', () => {
  it('expires automatically at expires_at, with an event', async () => {
    const { sim: s, client, clock } = await setup('2026-03-10T10:00:00Z', { chargeTtlMs: 60_000 });
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    expect(ch.expires_at).toBe('2026-03-10T10:01:00Z');
    clock.t += 59_000;
    expect((await client.retrieveCharge(ch.id)).status).toBe('pending');
    clock.t += 1_000;
    const exp = await client.retrieveCharge(ch.id);
    expect(exp).toMatchObject({ status: 'expired', expired: true, expired_at: '2026-03-10T10:01:00Z', failure_code: 'payment_expired', paid: false });
    expect(exp.source.charge_status).toBe('expired');
    expect(await codeOf(client.markAsPaid(ch.id))).toBe('400 invalid_charge');
    expect(await codeOf(client.expireCharge(ch.id))).toBe('400 failed_expire');
    const keys = s.events().map((e) => `${e.key}:${(e.data as { status: string }).status}`);
    expect(keys).toEqual(['charge.create:pending', 'charge.complete:expired']);

    // The sweep expires charges nobody reads, so their webhooks go out.
    const ch2 = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    clock.t += 61_000;
    s.sweep();
    expect(s.events().at(-1)).toMatchObject({ key: 'charge.complete', data: { id: ch2.id, status: 'expired' } });
  });

  it('cannot expire a paid charge or pay a failed one; mark_as_failed checks its code', async () => {
    const { client } = await setup('2026-03-10T10:00:00Z');
    const a = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await client.markAsPaid(a.id);
    expect(await codeOf(client.expireCharge(a.id))).toBe('400 failed_expire');
    expect(await codeOf(client.markAsFailed(a.id))).toBe('400 invalid_charge');
    const b = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    expect(await codeOf(client.markAsFailed(b.id, 'not_a_code'))).toBe('400 bad_request');
    for (const code of ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing']) {
      const c = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
      expect((await client.markAsFailed(c.id, code)).failure_code).toBe(code);
    }
    expect(await codeOf(client.markAsPaid(b.id))).toBe('ok');
    expect(await codeOf(client.createRefund(b.id, { amount: 0 }))).toBe('400 failed_refund');
  });

  it('checks sources: used once, amount and currency must match, limits apply', async () => {
    const { client, sim: s } = await setup('2026-03-10T10:00:00Z');
    const pub = new OmiseClient({ baseUrl: s.url, publicKey: 'pkey_test_lc', secretKey: 'skey_test_lc' });
    const src = await pub.createSource({ type: 'alipayplus_mpm', amount: 5000, currency: 'THB' });
    expect(await codeOf(client.createCharge({ amount: 5001, currency: 'THB', source: src.id }))).toBe('400 invalid_charge');
    expect(await codeOf(client.createCharge({ amount: 5000, currency: 'THB', source: src.id }))).toBe('ok');
    expect(await codeOf(client.createCharge({ amount: 5000, currency: 'THB', source: src.id }))).toBe('400 invalid_charge');
    expect(await codeOf(client.createCharge({ amount: 5000, currency: 'THB', source: 'src_test_nope' }))).toBe('400 invalid_charge');
    expect(await codeOf(pub.createSource({ type: 'alipayplus_mpm', amount: 15_000_001, currency: 'THB' }))).toBe('400 bad_request');
    expect(await codeOf(client.createCharge({ amount: 15_000_000, currency: 'THB', source: inline }))).toBe('ok');
    expect(await codeOf(client.createCharge({ amount: 15_000_001, currency: 'THB', source: inline }))).toBe('400 invalid_charge');
    const past = new Date(Date.parse('2026-03-10T09:00:00Z')).toISOString();
    expect(await codeOf(client.createCharge({ amount: 5000, currency: 'THB', source: inline, expires_at: past }))).toBe('400 invalid_charge');
  });

  it('lists in order with pagination and a time window', async () => {
    const { client, clock } = await setup('2026-03-10T10:00:00Z');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await client.createCharge({ amount: 5000 + i, currency: 'THB', source: inline })).id);
      clock.t += 60_000;
    }
    const page = await client.listCharges({ limit: 2, offset: 1 });
    expect(page).toMatchObject({ total: 5, limit: 2, offset: 1, order: 'chronological', from: '1970-01-01T00:00:00Z' });
    expect(page.data.map((c) => c.id)).toEqual(ids.slice(1, 3));
    const rev = await client.listCharges({ order: 'reverse_chronological' });
    expect(rev.data.map((c) => c.id)).toEqual([...ids].reverse());
    const window = await client.listCharges({ from: '2026-03-10T10:01:00Z', to: '2026-03-10T10:03:00Z' });
    expect(window.data.map((c) => c.id)).toEqual(ids.slice(1, 4));
    expect((await client.listCharges({ limit: 500 })).limit).toBe(100);
    const events = await client.listEvents({ limit: 3 });
    expect(events).toMatchObject({ total: 5, limit: 3, location: '/events' });
  });
});
