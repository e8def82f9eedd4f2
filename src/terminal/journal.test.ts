import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { memoryLogger } from '../shared/log';
import { canMoveLocalSale as canMove } from '../domain/status';
import { Journal, JOURNAL_CACHE_KIB } from './journal';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-journal-'));
  file = path.join(dir, 'journal.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const T = Date.parse('2026-11-26T10:00:00Z');

function view(over: Partial<SaleView> = {}): SaleView {
  return {
    saleId: 'SALE_000000001',
    terminalId: 'term_1',
    amount: 15000,
    currency: 'THB',
    status: 'pending',
    chargeId: 'chrg_test_1',
    qr: { text: 'https://qr.example/1', svg: '<svg/>' },
    failureCode: null,
    failureMessage: null,
    error: null,
    chargeExpiresAt: null,
    paidAt: null,
    expireRequested: false,
    refundedAmount: 0,
    canVoid: false,
    refunds: [],
    createdAt: new Date(T).toISOString(),
    updatedAt: new Date(T).toISOString(),
    ...over,
  };
}

describe('journal', () => {
  it('runs in WAL mode with synchronous=FULL and a schema version', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    expect(journal.pragma('journal_mode')).toBe('wal');
    expect(journal.pragma('synchronous')).toBe(2); // FULL
    expect(journal.pragma('user_version')).toBe(5);
    expect(journal.pragma('cache_size')).toBe(-JOURNAL_CACHE_KIB);
    journal.close();
  });

  it("counts a sale in the day Omise created its charge, not the day of this device's clock", () => {
    // The device's clock is 5 minutes slow: it records the sale at 23:57 UTC on the 26th, Omise
    // creates the charge at 00:02 UTC on the 27th.
    const local = Date.parse('2026-11-26T23:57:00Z');
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => local });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: local });
    journal.recordSale({ saleId: 'SALE_000000002', amount: 2000, currency: 'THB', at: local });
    journal.applySaleView(view({ status: 'successful', paidAt: '2026-11-27T00:02:30Z', chargeCreatedAt: '2026-11-27T00:02:00Z' }), 'test');
    expect(journal.getSale('SALE_000000001')?.chargeCreatedAt).toBe('2026-11-27T00:02:00.000Z');
    const day26 = journal.totals('2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z');
    const day27 = journal.totals('2026-11-27T00:00:00.000Z', '2026-11-28T00:00:00.000Z');
    // The sale that never got a charge stays on its local day.
    expect(day26).toEqual([{ status: 'recorded', currency: 'THB', count: 1, amount: 2000, refunded: 0 }]);
    expect(day27).toEqual([{ status: 'successful', currency: 'THB', count: 1, amount: 15000, refunded: 0 }]);
    journal.close();
  });

  it('a recorded sale, its queued create and its history survive a reopen', () => {
    let { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    const row = journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    expect(row).toMatchObject({ ref: 1, status: 'recorded', amount: 15000 });
    // Recording again (a retry) returns the same sale, not a second one.
    expect(journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T }).ref).toBe(1);
    journal.close();
    ({ journal } = Journal.open(file, { log: memoryLogger(), clock: () => T }));
    expect(journal.getSale('SALE_000000001')).toMatchObject({ status: 'recorded', ref: 1 });
    expect(journal.dueOutbox(T).map((o) => [o.kind, o.saleId])).toEqual([['create', 'SALE_000000001']]);
    expect(journal.saleEvents('SALE_000000001').map((e) => e.kind)).toEqual(['sale.recorded']);
    expect(journal.unsyncedCount()).toBe(2);
    journal.close();
  });

  it('refuses non-integer and non-positive amounts', () => {
    const { journal } = Journal.open(file, { log: memoryLogger() });
    expect(() => journal.recordSale({ saleId: 'SALE_X0000001', amount: 15.5, currency: 'THB', at: T })).toThrow();
    expect(() => journal.recordSale({ saleId: 'SALE_X0000002', amount: 0, currency: 'THB', at: T })).toThrow();
    journal.close();
  });

  it('statuses only move forward; a final status never goes back; every move is appended', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    expect(journal.applySaleView(view({ status: 'pending' }), 't').changed).toBe(true);
    expect(journal.applySaleView(view({ status: 'pending' }), 't').changed).toBe(false);
    expect(journal.applySaleView(view({ status: 'successful', paidAt: new Date(T).toISOString() }), 't').sale?.status).toBe('successful');
    expect(journal.applySaleView(view({ status: 'pending' }), 'stale').sale?.status).toBe('successful');
    expect(journal.applySaleView(view({ status: 'expired' }), 'stale').sale?.status).toBe('successful');
    expect(journal.applySaleView(view({ status: 'reversed' }), 'void').sale?.status).toBe('reversed');
    const moves = journal.saleEvents('SALE_000000001').filter((e) => e.kind === 'sale.status').map((e) => e.data.to);
    expect(moves).toEqual(['pending', 'successful', 'reversed']);
    // A finished sale has nothing left in the outbox.
    expect(journal.pendingOutbox()).toBe(0);
    journal.close();
  });

  it('canMove: forward only', () => {
    expect(canMove('recorded', 'pending')).toBe(true);
    expect(canMove('pending', 'creating')).toBe(false);
    expect(canMove('failed', 'successful')).toBe(false);
    expect(canMove('successful', 'reversed')).toBe(true);
    expect(canMove('expired', 'reversed')).toBe(false);
  });

  it('a payment after an expire request is flagged late and listed for refund', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    journal.applySaleView(view(), 'create');
    journal.requestExpire('SALE_000000001', 'cancel');
    expect(journal.dueOutbox(T).map((o) => o.kind)).toEqual(['create', 'expire']);
    const r = journal.applySaleView(view({ status: 'successful' }), 'stream');
    expect(r.becameLate).toBe(true);
    expect(journal.latePayments().map((s) => s.ref)).toEqual([1]);
    journal.close();
  });

  it('stream events apply once, by sequence number', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    let calls = 0;
    expect(journal.applyStreamEvent(1, () => ++calls).applied).toBe(true);
    expect(journal.applyStreamEvent(1, () => ++calls).applied).toBe(false);
    expect(journal.applyStreamEvent(3, () => ++calls).applied).toBe(true);
    expect(journal.applyStreamEvent(2, () => ++calls).applied).toBe(false);
    expect(calls).toBe(2);
    expect(journal.lastSeq()).toBe(3);
    // An apply that throws leaves the cursor where it was (the event is redelivered).
    expect(() => journal.applyStreamEvent(4, () => { throw new Error('disk'); })).toThrow('disk');
    expect(journal.lastSeq()).toBe(3);
    journal.close();
  });

  it('adopts a sale the relay knows and the journal does not', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    const r = journal.applySaleView(view({ saleId: 'SALE_UNKNOWN_1', status: 'successful' }), 'reconcile-list');
    expect(r.sale).toMatchObject({ saleId: 'SALE_UNKNOWN_1', status: 'successful', ref: 1 });
    journal.close();
  });

  it('outbox retry and dead states; records sync bookkeeping', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    const [item] = journal.dueOutbox(T);
    journal.outboxRetry(item.id, 'unreachable', T + 5000);
    expect(journal.dueOutbox(T)).toHaveLength(0);
    expect(journal.dueOutbox(T + 5000)[0].attempts).toBe(1);
    journal.outboxWake();
    expect(journal.dueOutbox(T)).toHaveLength(1);
    journal.outboxDead(item.id, 'bad_request');
    expect(journal.pendingOutbox()).toBe(0);
    const recs = journal.unsyncedRecords();
    expect(recs.length).toBeGreaterThan(0);
    journal.markRecordsSynced(recs.map((r) => r.recordId));
    expect(journal.unsyncedCount()).toBe(0);
    journal.close();
  });

  it('sale_events is append-only', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    journal.close();
    const db = new Database(file);
    expect(() => db.prepare('DELETE FROM sale_events').run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE sale_events SET kind = 'x'").run()).toThrow(/append-only/);
    db.close();
  });
});

describe('journal: late payments and the business day', () => {
  const at = (iso: string) => ({ at: Date.parse(iso) });
  const refund = (saleId: string, refundId: string, amount: number, voided = false) => ({
    refundId,
    saleId,
    omiseRefundId: `rfnd_${refundId}`,
    amount,
    currency: 'THB' as const,
    voided,
    status: 'done' as const,
    reason: null,
    error: null,
    createdAt: new Date(T).toISOString(),
  });

  function sale(journal: Journal, id: string, amount: number, created: string, status: SaleView['status'], extra: Partial<SaleView> = {}): void {
    const saleId = `SALE_${id.padStart(9, '0')}`;
    journal.recordSale({ saleId, amount, currency: 'THB', ...at(created) });
    journal.applySaleView(view({ saleId, amount, status, chargeId: `chrg_${id}`, chargeCreatedAt: created, paidAt: status === 'successful' ? created : null, ...extra }), 'test');
  }

  it('a late payment waits for a supervisor: kept as a sale it leaves the list, once, with an event', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: T });
    journal.requestExpire('SALE_000000001', 'cancel');
    journal.applySaleView(view({ status: 'successful', paidAt: new Date(T).toISOString(), expireRequested: true }), 'test');
    expect(journal.getSale('SALE_000000001')).toMatchObject({ late: true, lateResolution: null });
    expect(journal.lateCount()).toBe(1);
    journal.resolveLate('SALE_000000001', 'kept');
    journal.resolveLate('SALE_000000001', 'refunded'); // a decision is final
    expect(journal.getSale('SALE_000000001')?.lateResolution).toBe('kept');
    expect(journal.lateCount()).toBe(0);
    expect(journal.latePayments()).toEqual([]);
    expect(journal.saleEvents('SALE_000000001').filter((e) => e.kind === 'late.resolved')).toEqual([expect.objectContaining({ data: { resolution: 'kept' } })]);
    journal.close();
  });

  it('X report: paid, failed, expired, not created, refunds, voids and late payments of one day, by the charge time', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    sale(journal, '1', 10000, '2026-11-26T03:00:00.000Z', 'successful');
    sale(journal, '2', 5000, '2026-11-26T04:00:00.000Z', 'successful');
    journal.applyRefundView(refund('SALE_000000002', 'REFUND_0002', 2000));
    sale(journal, '3', 7000, '2026-11-26T05:00:00.000Z', 'expired');
    sale(journal, '4', 3000, '2026-11-26T06:00:00.000Z', 'failed', { failureCode: 'insufficient_fund' });
    journal.recordSale({ saleId: 'SALE_000000005', amount: 2500, currency: 'THB', ...at('2026-11-26T07:00:00.000Z') });
    journal.markCreateRejected('SALE_000000005', { code: 'invalid_charge', message: 'no' });
    sale(journal, '6', 9000, '2026-11-26T08:00:00.000Z', 'successful');
    journal.applyRefundView(refund('SALE_000000006', 'REFUND_0006', 9000, true));
    journal.recordSale({ saleId: 'SALE_000000007', amount: 4000, currency: 'THB', ...at('2026-11-26T09:00:00.000Z') });
    journal.requestExpire('SALE_000000007', 'cancel');
    journal.applySaleView(view({ saleId: 'SALE_000000007', amount: 4000, status: 'successful', chargeId: 'chrg_7', chargeCreatedAt: '2026-11-26T09:00:00.000Z', paidAt: '2026-11-26T09:03:00.000Z', expireRequested: true }), 'test');
    // The next day, and a sale whose charge Omise made after midnight though the terminal recorded it before.
    sale(journal, '8', 1111, '2026-11-27T01:00:00.000Z', 'successful');
    journal.recordSale({ saleId: 'SALE_000000009', amount: 2222, currency: 'THB', ...at('2026-11-26T16:59:59.000Z') });
    journal.applySaleView(view({ saleId: 'SALE_000000009', amount: 2222, status: 'successful', chargeId: 'chrg_9', chargeCreatedAt: '2026-11-26T17:00:01.000Z', paidAt: '2026-11-26T17:00:30.000Z' }), 'test');

    // 2026-11-26 in Bangkok (UTC+7).
    const [since, until] = ['2026-11-25T17:00:00.000Z', '2026-11-26T17:00:00.000Z'];
    const [r] = journal.dayReport(since, until);
    expect(r).toEqual({
      method: 'alipayplus_mpm',
      currency: 'THB',
      paid: { count: 4, amount: 10000 + 5000 + 9000 + 4000 },
      failed: { count: 1, amount: 3000 },
      expired: { count: 1, amount: 7000 },
      notCreated: { count: 1, amount: 2500 },
      refunded: { count: 1, amount: 2000 },
      voided: { count: 1, amount: 9000 },
      late: { count: 1, amount: 4000, unresolved: 1 },
      net: 28000 - 2000 - 9000,
    });
    journal.resolveLate('SALE_000000007', 'kept');
    expect(journal.dayReport(since, until)[0].late.unresolved).toBe(0);
    expect(journal.dayReport('2026-11-26T17:00:00.000Z', '2026-11-27T17:00:00.000Z')[0].paid).toEqual({ count: 2, amount: 1111 + 2222 });
    journal.close();
  });

  it('Z report: a day closes once, numbered, its totals kept as printed even if a refund comes later', () => {
    let now = T;
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => now });
    sale(journal, '1', 10000, '2026-11-26T03:00:00.000Z', 'successful');
    const first = journal.closeDay('2026-11-26', '2026-11-25T17:00:00.000Z', '2026-11-26T17:00:00.000Z');
    expect(first).toMatchObject({ already: false, close: { number: 1, businessDay: '2026-11-26', rows: [{ paid: { count: 1, amount: 10000 }, net: 10000 }] } });
    now += 60_000;
    journal.applyRefundView(refund('SALE_000000001', 'REFUND_0001', 1000));
    const again = journal.closeDay('2026-11-26', '2026-11-25T17:00:00.000Z', '2026-11-26T17:00:00.000Z');
    expect(again.already).toBe(true);
    expect(again.close).toEqual(first.close);
    expect(journal.closeDay('2026-11-27', '2026-11-26T17:00:00.000Z', '2026-11-27T17:00:00.000Z').close).toMatchObject({ number: 2, rows: [] });
    journal.close();
    // Kept across a restart.
    const reopened = Journal.open(file, { log: memoryLogger(), clock: () => now }).journal;
    expect(reopened.dayClose('2026-11-26')).toEqual(first.close);
    reopened.close();
  });

  it('a refund request answered "already refunded in full" is closed as superseded: no refund, no failure', () => {
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    sale(journal, '1', 10000, '2026-11-26T03:00:00.000Z', 'successful');
    journal.queueRefund({ saleId: 'SALE_000000001', refundId: 'REFUND_0001', amount: 10000, currency: 'THB' });
    journal.queueRefund({ saleId: 'SALE_000000001', refundId: 'REFUND_0002', amount: 10000, currency: 'THB' });
    journal.applyRefundView(refund('SALE_000000001', 'REFUND_0001', 10000));
    const second = journal.dueOutbox(Number.MAX_SAFE_INTEGER).find((o) => o.key === 'refund:REFUND_0002')!;
    journal.closeSupersededRefund(second.id, 'REFUND_0002', 'SALE_000000001');
    expect(journal.dueOutbox(Number.MAX_SAFE_INTEGER).filter((o) => o.kind === 'refund').map((o) => o.key)).not.toContain('refund:REFUND_0002');
    const [r] = journal.dayReport('2026-11-25T17:00:00.000Z', '2026-11-26T17:00:00.000Z');
    expect(r.refunded).toEqual({ count: 1, amount: 10000 });
    expect(journal.getSale('SALE_000000001')?.refundedAmount).toBe(10000);
    journal.close();
  });
});
