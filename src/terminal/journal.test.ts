import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { memoryLogger } from '../shared/log';
import { canMove, Journal, JOURNAL_CACHE_KIB } from './journal';

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
    expect(journal.pragma('user_version')).toBe(3);
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
