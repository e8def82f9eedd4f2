/**
 * The store contract, checked against both stores: SQLite (a temporary file) and PostgreSQL (a
 * throwaway cluster). Every call is awaited, so SQLite's plain values pass as well. Then what only
 * a shared PostgreSQL has to get right: two relays (two stores on one database) publishing,
 * locking and waking each other; connections that drop; errors that keep the password out.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../shared/log';
import { freePort } from '../shared/testing/free-port';
import type { JournalRecord, RelayEvent } from '../link/protocol';
import { openPostgresStore, PG_DATA_TABLES, PG_SCHEMA_VERSION, type PostgresStore } from './postgres-store';
import { openSqliteStore, relayDatabaseFile, SALES_WITH_QR, SCHEMA_VERSION, type SqliteStore } from './sqlite-store';
import { copySqliteToPostgres, COPIED_SQLITE_SCHEMA } from './store-migrate';
import type { Awaitable, RelayStore, SaleRow, RefundRow, TerminalRow } from './store';
import { findPostgresBin, NO_POSTGRES_MESSAGE, startPostgresCluster, type PostgresCluster } from './testing/postgres-cluster';

const bin = findPostgresBin();
// CI installs PostgreSQL; elsewhere say what is missing instead of failing.
if (!bin) console.warn(NO_POSTGRES_MESSAGE);

let cluster: PostgresCluster | undefined;
beforeAll(async () => {
  if (bin) cluster = await startPostgresCluster(bin);
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

/** Each test's PostgreSQL store lives in a schema of its own. */
let schemas = 0;
const nextSchema = () => `t${process.pid}_${++schemas}`;

/** What the shared suite calls: either store (both keep the async store contract). */
type ContractStore = RelayStore;

/**
 * Runs the steps in order, synchronously while they return plain values (SQLite: a transaction
 * body must not return a promise), awaiting each once one returns a promise (PostgreSQL).
 */
function steps(...fns: (() => unknown)[]): Awaitable<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < fns.length; i++) {
    const v = fns[i]();
    if (v instanceof Promise) {
      return (async () => {
        out.push(await v);
        for (let j = i + 1; j < fns.length; j++) out.push(await fns[j]());
        return out;
      })();
    }
    out.push(v);
  }
  return out;
}

const fail = (message: string) => () => {
  throw new Error(message);
};

interface Backend {
  name: string;
  available: boolean;
  open(): Promise<{ store: ContractStore; close(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    available: true,
    open: async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-contract-'));
      const store = openSqliteStore(dir, { checkpointInWorker: false });
      return {
        store: store as unknown as ContractStore,
        close: async () => {
          store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    available: bin !== null,
    open: async () => {
      const store = await openPostgresStore(cluster!.url, { schema: nextSchema() });
      return { store: store as unknown as ContractStore, close: () => store.close() };
    },
  },
];

const at = '2026-01-01T00:00:00.000Z';
const later = (minutes: number) => new Date(Date.parse(at) + minutes * 60_000).toISOString();

const terminal = (id: string, extra: Partial<TerminalRow> = {}): Omit<TerminalRow, 'lastSeq' | 'ackedSeq'> => ({
  id,
  name: `name ${id}`,
  credentialHash: `h-${id}`,
  createdAt: at,
  revokedAt: null,
  lastSeenAt: null,
  version: null,
  device: null,
  address: null,
  predecessorId: null,
  ...extra,
});

const sale = (terminalId: string, saleId: string, extra: Partial<SaleRow> = {}): SaleRow => ({
  terminalId,
  saleId,
  method: 'promptpay',
  amount: 12_345,
  currency: 'THB',
  description: 'coffee',
  terminalCreatedAt: at,
  status: 'pending',
  chargeId: `chrg_${terminalId}_${saleId}`,
  createAttempts: 1,
  lastAttemptAt: at,
  createUncertain: false,
  orphanCheckedAt: null,
  qrText: 'qr',
  qrSvg: '<svg/>',
  failureCode: null,
  failureMessage: null,
  errorCode: null,
  errorMessage: null,
  chargeCreatedAt: '2026-01-01T00:00:01Z',
  chargeExpiresAt: null,
  paidAt: null,
  expireRequested: false,
  refundedAmount: 0,
  checkedAt: null,
  createdAt: at,
  updatedAt: at,
  ...extra,
});

const refund = (terminalId: string, saleId: string, refundId: string, extra: Partial<RefundRow> = {}): RefundRow => ({
  terminalId,
  refundId,
  saleId,
  chargeId: `chrg_${terminalId}_${saleId}`,
  omiseRefundId: null,
  amount: 100,
  currency: 'THB',
  voided: false,
  wantVoid: true,
  status: 'pending',
  reason: null,
  error: null,
  attempts: 0,
  createdAt: at,
  updatedAt: at,
  ...extra,
});

const event = (name: string): RelayEvent => ({ kind: 'terminal.updated', name, revoked: false });

const record = (recordId: string, data: Record<string, unknown>, kind = 'sale.recorded'): JournalRecord => ({ recordId, saleId: null, kind, at, data });

/** Rows in every table, through the store's methods (the copy test copies them). */
async function fill(s: ContractStore): Promise<void> {
  await s.insertTerminal(terminal('t1', { version: '1.0.0', device: 'pi', address: '10.0.0.1' }));
  await s.insertTerminal(terminal('t2', { predecessorId: 't1', createdAt: later(1), revokedAt: later(2) }));
  await s.insertPairing({
    id: 'pair_1',
    code: 'ABCDEF',
    secretHash: 's',
    credentialHash: 'c',
    name: 'till',
    version: '1.0.0',
    device: null,
    address: '10.0.0.9',
    createdAt: at,
    expiresAt: later(10),
    status: 'pending',
    terminalId: null,
    decidedAt: null,
    replacesTerminalId: 't1',
    sourceKey: '10.0.0.9',
  });
  await s.saveRateBucket('pair:10.0.0.9', { tokens: 2.5, atMs: 1_767_225_600_123 });
  await s.insertSale(sale('t1', 's1', { status: 'successful', paidAt: later(1), refundedAmount: 100, createUncertain: true, expireRequested: true }));
  await s.insertSale(sale('t1', 's2', { chargeId: null, chargeCreatedAt: null, status: 'creating', description: null, qrSvg: null }));
  await s.insertSale(sale('t2', 's1', { amount: 1, currency: 'SGD', method: 'alipayplus_mpm' }));
  await s.insertRefund(refund('t1', 's1', 'r1', { status: 'done', voided: true, omiseRefundId: 'rfnd_1' }));
  for (let i = 0; i < 4; i++) await s.publish('t1', later(i), event(`e${i}`));
  await s.ack('t1', 2);
  await s.publish('t2', at, event('x'));
  await s.insertWebhookEvent({ id: 'evnt_1', key: 'charge.complete', objectType: 'charge', objectId: 'chrg_t1_s1', receivedAt: at, status: 'done', attempts: 1, nextAttemptAt: null, lastError: null });
  await s.insertWebhookEvent({ id: 'evnt_2', key: 'charge.complete', objectType: 'charge', objectId: 'chrg_x', receivedAt: at, status: 'unprocessed', attempts: 2, nextAttemptAt: later(5), lastError: 'boom' });
  await s.upsertOrphan({ chargeId: 'chrg_extra', terminalId: 't1', saleId: 's1', status: 'paid', foundAt: at, updatedAt: at });
  await s.insertRecords('t1', [record('rec1', { ref: 7 }), record('rec2', { ref: '12' }), record('rec3', { note: 'ünïcödé' }, 'note')], at);
  await s.insertRelease({ version: '1.1.0', arch: 'arm64', sha256: 'ab'.repeat(32), size: 123_456_789, file: 'qrpos-1.1.0-arm64.tar.gz', addedAt: at });
  await s.insertRollout({ version: '1.1.0', target: { kind: 'percent', percent: 25 }, createdAt: at });
  await s.insertRollout({ version: '1.1.0', target: { kind: 'terminals', ids: ['t1'] }, createdAt: later(1) });
  await s.setTerminalArch('t1', 'arm64');
  await s.insertUpgradeReport({ terminalId: 't1', version: '1.1.0', outcome: 'upgraded', detail: null, at });
  await s.insertUpgradeReport({ terminalId: 't1', version: '1.1.0', outcome: 'rolled_back', detail: 'health check', at });
}

describe.each(backends)('relay store contract: $name', (backend) => {
  describe.skipIf(!backend.available)(backend.name, () => {
    let s: ContractStore;
    let opened: Awaited<ReturnType<Backend['open']>>;
    beforeEach(async () => {
      opened = await backend.open();
      s = opened.store;
    });
    afterEach(async () => {
      await opened.close();
    });

    it('terminals: insert, find, list, rename, revoke once, touch, successor', async () => {
      await s.insertTerminal(terminal('t1'));
      await s.insertTerminal(terminal('t0', { createdAt: later(1), predecessorId: 't1' }));
      expect(await s.terminalById('t1')).toEqual({ ...terminal('t1'), lastSeq: 0, ackedSeq: 0 });
      expect(await s.terminalById('nope')).toBeUndefined();
      expect((await s.terminalByCredentialHash('h-t0'))?.id).toBe('t0');
      expect((await s.listTerminals()).map((t) => t.id)).toEqual(['t1', 't0']);
      expect(await s.renameTerminal('t1', 'front till', later(2))).toBe(true);
      expect(await s.renameTerminal('nope', 'x', later(2))).toBe(false);
      expect(await s.revokeTerminal('t1', later(3))).toBe(true);
      expect(await s.revokeTerminal('t1', later(4))).toBe(false);
      await s.touchTerminal('t1', later(5), { version: '2.0.0', address: '10.1.1.1' });
      await s.touchTerminal('t1', later(6), { version: null });
      expect(await s.terminalById('t1')).toMatchObject({ name: 'front till', revokedAt: later(3), lastSeenAt: later(6), version: '2.0.0', address: '10.1.1.1' });
      expect((await s.successorOf('t1'))?.id).toBe('t0');
      expect(await s.successorOf('t0')).toBeUndefined();
      // One credential, one terminal.
      await expect(Promise.resolve().then(() => s.insertTerminal(terminal('t9', { credentialHash: 'h-t1' })))).rejects.toThrow();
    });

    it('pairings: pending by code until expiry, counts per source, the busiest source gives way, decisions; rate buckets', async () => {
      const base = { secretHash: 's', credentialHash: 'c', name: 'n', version: '1', device: null, address: null, status: 'pending' as const, terminalId: null, decidedAt: null };
      await s.insertPairing({ ...base, id: 'p1', code: 'AAAAAA', createdAt: at, expiresAt: later(10), sourceKey: 'a' });
      await s.insertPairing({ ...base, id: 'p2', code: 'BBBBBB', createdAt: later(1), expiresAt: later(10), sourceKey: 'b' });
      await s.insertPairing({ ...base, id: 'p3', code: 'CCCCCC', createdAt: later(2), expiresAt: later(10), sourceKey: 'b' });
      await s.insertPairing({ ...base, id: 'p4', code: 'DDDDDD', createdAt: later(3), expiresAt: later(4), sourceKey: null });
      expect((await s.pendingPairingByCode('BBBBBB', later(5)))?.id).toBe('p2');
      expect(await s.pendingPairingByCode('DDDDDD', later(5))).toBeUndefined();
      expect(await s.pendingPairingByCode('DDDDDD', later(3))).toMatchObject({ id: 'p4', sourceKey: null, replacesTerminalId: null });
      expect(await s.countPendingPairings(later(3))).toBe(4);
      expect(await s.countPendingPairings(later(5))).toBe(3);
      expect(await s.countPendingPairingsFrom('b', later(5))).toBe(2);
      expect((await s.listPendingPairings(later(5))).map((p) => p.id)).toEqual(['p1', 'p2', 'p3']);
      // 'b' has the most pending: its oldest (p2) ends now.
      expect(await s.expireBusiestPendingPairing(later(5))).toBe(true);
      expect((await s.pairingById('p2'))?.expiresAt).toBe(later(5));
      expect(await s.countPendingPairingsFrom('b', later(5))).toBe(1);
      await s.decidePairing('p1', 'approved', 't1', later(6));
      expect(await s.pairingById('p1')).toMatchObject({ status: 'approved', terminalId: 't1', decidedAt: later(6) });
      await s.decidePairing('p3', 'rejected', null, later(6));
      expect(await s.expireBusiestPendingPairing(later(6))).toBe(false);

      expect(await s.rateBucket('k')).toBeUndefined();
      await s.saveRateBucket('k', { tokens: 1.25, atMs: 1000 });
      await s.saveRateBucket('k', { tokens: 0.5, atMs: 2000 });
      await s.saveRateBucket('old', { tokens: 3, atMs: 500 });
      expect(await s.rateBucket('k')).toEqual({ tokens: 0.5, atMs: 2000 });
      expect(await s.pruneRateBuckets(1000)).toBe(1);
      expect(await s.rateBucket('old')).toBeUndefined();
    });

    it('sales: round-trip every field, update returns the row, the reconciler and operator queries', async () => {
      await s.insertTerminal(terminal('t1'));
      const full = sale('t1', 's1', { createUncertain: true, orphanCheckedAt: later(1), failureCode: 'f', failureMessage: 'fm', errorCode: 'e', errorMessage: 'em', chargeExpiresAt: later(9), checkedAt: later(2) });
      await s.insertSale(full);
      expect(await s.sale('t1', 's1')).toEqual(full);
      expect(await s.saleByChargeId('chrg_t1_s1')).toEqual(full);
      expect(await s.sale('t1', 'none')).toBeUndefined();
      // The same sale twice, or a charge on two sales, is refused by the database.
      await expect(Promise.resolve().then(() => s.insertSale(sale('t1', 's1', { chargeId: 'other' })))).rejects.toThrow();
      await expect(Promise.resolve().then(() => s.insertSale(sale('t1', 'sX', { chargeId: 'chrg_t1_s1' })))).rejects.toThrow();

      const updated = await s.updateSale('t1', 's1', { status: 'successful', paidAt: later(3), expireRequested: true, refundedAmount: 45, updatedAt: later(3) });
      expect(updated).toEqual({ ...full, status: 'successful', paidAt: later(3), expireRequested: true, refundedAmount: 45, updatedAt: later(3) });
      expect(await s.updateSale('t1', 'none', { status: 'failed' })).toBeUndefined();
      expect(await s.updateSale('t1', 's1', {})).toEqual(updated);

      await s.insertSale(sale('t1', 's2', { checkedAt: later(1), updatedAt: later(1), createdAt: later(1) }));
      await s.insertSale(sale('t1', 's3', { checkedAt: null, updatedAt: later(2), createdAt: later(2) }));
      await s.insertSale(sale('t1', 's4', { chargeId: null, status: 'creating', updatedAt: later(4), createdAt: later(4), createUncertain: true }));
      await s.insertSale(sale('t2', 's1', { chargeId: 'c-t2', status: 'expired', updatedAt: later(5), createUncertain: true, orphanCheckedAt: null }));
      // Never-checked sales first, as SQLite orders NULL.
      expect((await s.pendingSales(10)).map((x) => x.saleId)).toEqual(['s3', 's2']);
      expect((await s.salesSince('t1', later(2), 10)).map((x) => x.saleId)).toEqual(['s3', 's1', 's4']);
      expect((await s.salesSince(null, later(2), 2)).map((x) => `${x.terminalId}/${x.saleId}`)).toEqual(['t1/s3', 't1/s1']);
      expect((await s.salesByStatus('pending', 10)).map((x) => x.saleId)).toEqual(['s2', 's3']);
      expect((await s.uncertainSales(10)).map((x) => `${x.terminalId}/${x.saleId}`)).toEqual(['t2/s1', 't1/s1']);
      expect((await s.openSalesOf('t1', 10)).map((x) => x.saleId)).toEqual(['s2', 's3', 's4']);
      expect((await s.paidAfterCancel(10)).map((x) => x.saleId)).toEqual(['s1']);
    });

    it('refunds: round-trip, by sale, update, pending', async () => {
      const r1 = refund('t1', 's1', 'r1');
      await s.insertRefund(r1);
      await s.insertRefund(refund('t1', 's1', 'r0', { createdAt: later(1), updatedAt: later(1), wantVoid: false }));
      await s.insertRefund(refund('t1', 's2', 'r2', { status: 'done' }));
      expect(await s.refund('t1', 'r1')).toEqual(r1);
      expect(await s.refund('t1', 'none')).toBeUndefined();
      expect((await s.refundsOfSale('t1', 's1')).map((r) => r.refundId)).toEqual(['r1', 'r0']);
      await s.updateRefund('t1', 'r1', { status: 'done', voided: true, omiseRefundId: 'rfnd_1', attempts: 1, updatedAt: later(2) });
      expect(await s.refund('t1', 'r1')).toEqual({ ...r1, status: 'done', voided: true, omiseRefundId: 'rfnd_1', attempts: 1, updatedAt: later(2) });
      expect((await s.pendingRefunds(10)).map((r) => r.refundId)).toEqual(['r0']);
    });

    it('events: consecutive numbers per terminal, read after a cursor, cumulative ack', async () => {
      await s.insertTerminal(terminal('t1'));
      await s.insertTerminal(terminal('t2', { credentialHash: 'other' }));
      const published = [];
      for (let i = 0; i < 5; i++) published.push(await s.publish('t1', later(i), event(`e${i}`)));
      expect(published.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect((await s.publish('t2', at, event('x'))).seq).toBe(1);
      expect(published[0]).toMatchObject({ terminalId: 't1', seq: 1, at, event: event('e0'), body: JSON.stringify(event('e0')) });
      const after2 = await s.eventsAfter('t1', 2, 2);
      expect(after2.map((e) => [e.seq, e.at, e.event])).toEqual([
        [3, later(2), event('e2')],
        [4, later(3), event('e3')],
      ]);
      expect(await s.pendingEventCount('t1')).toBe(5);
      expect(await s.ack('t1', 3)).toBe(3);
      expect(await s.ack('t1', 2)).toBe(0);
      expect(await s.terminalById('t1')).toMatchObject({ lastSeq: 5, ackedSeq: 3 });
      // An ack past the last event acknowledges up to the last one only.
      expect(await s.ack('t1', 99)).toBe(2);
      expect(await s.terminalById('t1')).toMatchObject({ lastSeq: 5, ackedSeq: 5 });
      expect(await s.pendingEventCount('t1')).toBe(0);
      expect((await s.publish('t1', at, event('e5'))).seq).toBe(6);
      expect(await s.pendingEventCount('t2')).toBe(1);
      await expect(Promise.resolve().then(() => s.publish('nope', at, event('x')))).rejects.toThrow(/unknown terminal/);
    });

    it('webhooks: a duplicate id is refused, updates, what is left to process', async () => {
      const e = { id: 'evnt_1', key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, status: 'unprocessed' as const, attempts: 0, nextAttemptAt: null, lastError: null };
      expect(await s.insertWebhookEvent(e)).toBe(true);
      expect(await s.insertWebhookEvent({ ...e, objectId: 'other' })).toBe(false);
      expect(await s.webhookEvent('evnt_1')).toEqual(e);
      await s.insertWebhookEvent({ ...e, id: 'evnt_2', receivedAt: later(1) });
      await s.insertWebhookEvent({ ...e, id: 'evnt_3', receivedAt: later(2), status: 'done' });
      await s.updateWebhookEvent('evnt_1', { attempts: 1, nextAttemptAt: later(10), lastError: 'timeout' });
      expect(await s.webhookEvent('evnt_1')).toEqual({ ...e, attempts: 1, nextAttemptAt: later(10), lastError: 'timeout' });
      expect((await s.unprocessedWebhookEvents(later(5), 10)).map((w) => w.id)).toEqual(['evnt_2']);
      expect((await s.unprocessedWebhookEvents(later(10), 10)).map((w) => w.id)).toEqual(['evnt_1', 'evnt_2']);
    });

    it('orphans: an upsert keeps a final status, queries by sale and status', async () => {
      const o = { chargeId: 'chrg_a', terminalId: 't1', saleId: 's1', status: 'to_expire' as const, foundAt: at, updatedAt: at };
      await s.upsertOrphan(o);
      await s.upsertOrphan({ ...o, chargeId: 'chrg_b', foundAt: later(1), updatedAt: later(1) });
      expect((await s.orphansToExpire(10)).map((x) => x.chargeId)).toEqual(['chrg_a', 'chrg_b']);
      await s.upsertOrphan({ ...o, status: 'paid', updatedAt: later(2) });
      await s.updateOrphan('chrg_b', 'expired', later(3));
      // Once final, a later upsert changes only the time.
      await s.upsertOrphan({ ...o, chargeId: 'chrg_b', status: 'to_expire', updatedAt: later(4) });
      expect(await s.orphansOfSale('t1', 's1')).toEqual([
        { ...o, status: 'paid', updatedAt: later(2) },
        { ...o, chargeId: 'chrg_b', status: 'expired', foundAt: later(1), updatedAt: later(4) },
      ]);
      expect((await s.orphansByStatus('paid', 10)).map((x) => x.chargeId)).toEqual(['chrg_a']);
      expect(await s.orphansToExpire(10)).toEqual([]);
    });

    it('fleet updates: releases, rollouts newest first, arch, upgrade reports in arrival order', async () => {
      const r = { version: '1.0.0', arch: 'arm64' as const, sha256: 'a'.repeat(64), size: 5_000_000_000, file: 'f', addedAt: at };
      await s.insertRelease(r);
      await s.insertRelease({ ...r, arch: 'arm', addedAt: later(1) });
      await s.insertRelease({ ...r, version: '1.1.0', addedAt: later(1) });
      expect(await s.release('1.0.0', 'arm64')).toEqual(r);
      expect((await s.listReleases()).map((x) => `${x.version}/${x.arch}`)).toEqual(['1.1.0/arm64', '1.0.0/arm', '1.0.0/arm64']);
      expect(await s.deleteRelease('1.0.0', 'arm')).toBe(true);
      expect(await s.deleteRelease('1.0.0', 'arm')).toBe(false);
      await expect(Promise.resolve().then(() => s.insertRelease(r))).rejects.toThrow();

      const a = await s.insertRollout({ version: '1.0.0', target: { kind: 'all' }, createdAt: at });
      const b = await s.insertRollout({ version: '1.1.0', target: { kind: 'terminals', ids: ['t1', 't2'] }, createdAt: at });
      expect(b.id).toBe(a.id + 1);
      expect(await s.listRollouts()).toEqual([b, a]);

      expect(await s.terminalArch('t1')).toBeNull();
      await s.setTerminalArch('t1', 'arm');
      await s.setTerminalArch('t1', 'arm64');
      expect(await s.terminalArch('t1')).toBe('arm64');

      await s.insertUpgradeReport({ terminalId: 't1', version: '1.0.0', outcome: 'upgraded', detail: null, at });
      await s.insertUpgradeReport({ terminalId: 't1', version: '1.1.0', outcome: 'failed', detail: 'disk', at });
      await s.insertUpgradeReport({ terminalId: 't1', version: '0.9.0', outcome: 'upgraded', detail: null, at: later(-1) });
      await s.insertUpgradeReport({ terminalId: 't2', version: '1.1.0', outcome: 'upgraded', detail: null, at: later(5) });
      expect((await s.upgradeReports('t1', 10)).map((x) => x.version)).toEqual(['1.1.0', '1.0.0', '0.9.0']);
      expect(await s.upgradeReports('t1', 1)).toEqual([{ terminalId: 't1', version: '1.1.0', outcome: 'failed', detail: 'disk', at }]);
    });

    it('journal records: duplicates counted (in one upload too), the highest receipt reference', async () => {
      expect(await s.highestRecordRef('t1')).toBe(0);
      expect(await s.insertRecords('t1', [record('a', { ref: 3 }), record('b', { ref: '41' }), record('a', { ref: 99 })], at)).toEqual({ accepted: 2, duplicates: 1 });
      expect(await s.insertRecords('t1', [record('b', { ref: 1 }), record('c', { ref: 17.9 }, 'sale.adopted'), record('d', { ref: 500 }, 'note')], at)).toEqual({
        accepted: 2,
        duplicates: 1,
      });
      expect(await s.insertRecords('t1', [], at)).toEqual({ accepted: 0, duplicates: 0 });
      expect(await s.countRecords('t1')).toBe(4);
      expect(await s.countRecords('t2')).toBe(0);
      // The first of two with one id stays: 'a' is 3, not 99; notes do not count.
      expect(await s.highestRecordRef('t1')).toBe(41);
      await s.insertRecords('t1', [record('e', { ref: '  60 tables' }), record('f', { ref: { x: 1 } }), record('g', {})], at);
      expect(await s.highestRecordRef('t1')).toBe(60);
    });

    it('report data: terminals, the sales of the window, their refunds and paid extra charges', async () => {
      await s.insertTerminal(terminal('t1'));
      await s.insertTerminal(terminal('t2', { predecessorId: 't1', revokedAt: later(1), createdAt: later(1) }));
      const day = { from: new Date('2026-01-10T00:00:00.000Z'), to: new Date('2026-01-11T00:00:00.000Z') };
      // updated_at: never before the sale or its charge (SQLite's plan for a recent day counts on it).
      const u = '2026-01-10T13:00:00.000Z';
      await s.insertSale(sale('t1', 'in', { chargeCreatedAt: '2026-01-10T12:00:00Z', status: 'successful', expireRequested: true, updatedAt: u }));
      await s.insertSale(sale('t1', 'near', { chargeId: 'c2', chargeCreatedAt: '2026-01-09T12:00:00Z', updatedAt: u }));
      await s.insertSale(sale('t1', 'far', { chargeId: 'c3', chargeCreatedAt: '2026-01-01T12:00:00Z', updatedAt: u }));
      await s.insertSale(sale('t2', 'nocharge', { chargeId: null, chargeCreatedAt: null, createdAt: '2026-01-10T01:00:00.000Z', status: 'failed', updatedAt: u }));
      await s.insertRefund(refund('t1', 'in', 'r1', { voided: true, status: 'done' }));
      await s.insertRefund(refund('t1', 'far', 'r2'));
      await s.upsertOrphan({ chargeId: 'x1', terminalId: 't1', saleId: 'in', status: 'paid', foundAt: at, updatedAt: at });
      await s.upsertOrphan({ chargeId: 'x2', terminalId: 't1', saleId: 'far', status: 'paid', foundAt: at, updatedAt: at });
      const data = await s.reportData(day, new Date('2026-01-11T01:00:00.000Z'));
      expect(data.terminals).toEqual([
        { id: 't1', name: 'name t1', predecessorId: null, revoked: false },
        { id: 't2', name: 'name t2', predecessorId: 't1', revoked: true },
      ]);
      const byId = (a: { saleId: string }, b: { saleId: string }) => a.saleId.localeCompare(b.saleId);
      expect(data.sales.sort(byId)).toEqual([
        { terminalId: 't1', saleId: 'in', method: 'promptpay', amount: 12_345, currency: 'THB', status: 'successful', chargeCreatedAt: '2026-01-10T12:00:00Z', createdAt: at, expireRequested: true },
        { terminalId: 't1', saleId: 'near', method: 'promptpay', amount: 12_345, currency: 'THB', status: 'pending', chargeCreatedAt: '2026-01-09T12:00:00Z', createdAt: at, expireRequested: false },
        { terminalId: 't2', saleId: 'nocharge', method: 'promptpay', amount: 12_345, currency: 'THB', status: 'failed', chargeCreatedAt: null, createdAt: '2026-01-10T01:00:00.000Z', expireRequested: false },
      ]);
      expect(data.refunds).toEqual([{ terminalId: 't1', saleId: 'in', amount: 100, voided: true, status: 'done' }]);
      expect(data.extraPaid).toEqual([{ terminalId: 't1', saleId: 'in' }]);
    });

    it('a transaction that fails undoes everything, its events and numbers too, and drops its afterCommit callbacks', async () => {
      await s.insertTerminal(terminal('t1'));
      await s.publish('t1', at, event('before'));
      const ran: string[] = [];
      await expect(
        Promise.resolve().then(() =>
          s.transaction(() =>
            steps(
              () => s.insertSale(sale('t1', 's1')),
              () => s.publish('t1', at, event('undone')),
              () => s.afterCommit(() => ran.push('dropped')),
              () => s.updateSale('t1', 's1', { status: 'successful' }),
              fail('boom'),
            ),
          ),
        ),
      ).rejects.toThrow('boom');
      expect(await s.sale('t1', 's1')).toBeUndefined();
      expect(await s.terminalById('t1')).toMatchObject({ lastSeq: 1 });
      expect((await s.eventsAfter('t1', 0, 10)).map((e) => e.event)).toEqual([event('before')]);
      expect(ran).toEqual([]);

      // A committed one keeps its writes and runs its callbacks after the commit, in order.
      let seenInside: unknown;
      const result = await s.transaction(() =>
        steps(
          () => s.insertSale(sale('t1', 's1')),
          () => s.afterCommit(() => ran.push('first')),
          () => s.publish('t1', at, event('kept')),
          () => s.afterCommit(() => ran.push('second')),
          () => (seenInside = [...ran]),
        ),
      );
      expect(seenInside).toEqual([]);
      expect(ran).toEqual(['first', 'second']);
      expect(result[2]).toMatchObject({ seq: 2 });
      expect((await s.sale('t1', 's1'))?.status).toBe('pending');
      // Outside a transaction, at once.
      s.afterCommit(() => ran.push('now'));
      expect(ran).toEqual(['first', 'second', 'now']);
    });

    it('nested transactions join the outer one: its failure undoes the inner writes; callbacks wait for the outer commit', async () => {
      await s.insertTerminal(terminal('t1'));
      const ran: string[] = [];
      await expect(
        Promise.resolve().then(() =>
          s.transaction(() =>
            steps(
              () => s.transaction(() => steps(() => s.insertSale(sale('t1', 'inner')), () => s.afterCommit(() => ran.push('inner')))),
              () => s.publish('t1', at, event('x')),
              fail('outer fails'),
            ),
          ),
        ),
      ).rejects.toThrow('outer fails');
      expect(await s.sale('t1', 'inner')).toBeUndefined();
      expect(await s.pendingEventCount('t1')).toBe(0);
      expect(ran).toEqual([]);

      await s.transaction(() =>
        steps(
          () => s.transaction(() => steps(() => s.insertSale(sale('t1', 'inner')), () => s.afterCommit(() => ran.push('inner')))),
          () => ran.push(`inner committed early: ${ran.length > 0}`),
        ),
      );
      expect(ran).toEqual(['inner committed early: false', 'inner']);
      expect(await s.sale('t1', 'inner')).toBeDefined();
    });

    it('batch: one commit, a failing item rolled back alone (with its callbacks), errors per item', async () => {
      await s.insertTerminal(terminal('t1'));
      const ran: string[] = [];
      const errors = await s.batch([
        () => steps(() => s.insertSale(sale('t1', 'a')), () => s.publish('t1', at, event('a')), () => s.afterCommit(() => ran.push('a'))),
        () => steps(() => s.insertSale(sale('t1', 'b')), () => s.publish('t1', at, event('b')), () => s.afterCommit(() => ran.push('b')), fail('item b fails')),
        // A constraint violation (charge of sale a) fails its item only.
        () => steps(() => s.insertSale(sale('t1', 'c', { chargeId: 'chrg_t1_a' }))),
        () => steps(() => s.insertSale(sale('t1', 'd')), () => s.publish('t1', at, event('d')), () => s.afterCommit(() => ran.push('d'))),
      ]);
      expect(errors.map((e) => (e === undefined ? 'ok' : 'failed'))).toEqual(['ok', 'failed', 'failed', 'ok']);
      expect((errors[1] as Error).message).toBe('item b fails');
      expect(ran).toEqual(['a', 'd']);
      expect(await s.sale('t1', 'b')).toBeUndefined();
      expect(await s.sale('t1', 'c')).toBeUndefined();
      expect((await s.sale('t1', 'd'))?.status).toBe('pending');
      expect((await s.eventsAfter('t1', 0, 10)).map((e) => [e.seq, e.event])).toEqual([
        [1, event('a')],
        [2, event('d')],
      ]);
    });

    it('every table filled through the store reads back the same', async () => {
      await fill(s);
      expect(await s.highestRecordRef('t1')).toBe(12);
      expect((await s.eventsAfter('t1', 0, 10)).map((e) => e.seq)).toEqual([3, 4]);
      expect(await s.terminalById('t2')).toMatchObject({ lastSeq: 1, ackedSeq: 0, predecessorId: 't1', revokedAt: later(2) });
      expect(await s.rateBucket('pair:10.0.0.9')).toEqual({ tokens: 2.5, atMs: 1_767_225_600_123 });
      expect((await s.upgradeReports('t1', 5)).map((r) => r.outcome)).toEqual(['rolled_back', 'upgraded']);
    });
  });
});

// ---- PostgreSQL only: several relays on one database ------------------------------------------------

describe.skipIf(!bin)('PostgreSQL store shared by two relays', () => {
  let a: PostgresStore;
  let b: PostgresStore;
  let schema: string;
  beforeEach(async () => {
    schema = nextSchema();
    [a, b] = await Promise.all([openPostgresStore(cluster!.url, { schema }), openPostgresStore(cluster!.url, { schema })]);
    await a.insertTerminal(terminal('t1'));
  });
  afterEach(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: cluster!.url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  const until = async (what: string, cond: () => boolean | Promise<boolean>, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('replicas starting together migrate once; the schema version is recorded', async () => {
    const fresh = nextSchema();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore(cluster!.url, { schema: fresh })));
    await Promise.all(stores.map((st) => st.close()));
    const versions = await admin((c) => c.query<{ version: number }>(`SELECT version FROM ${fresh}.schema_migrations ORDER BY version`));
    expect(versions.rows.map((r) => r.version)).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1));
  });

  it('refuses a database whose schema is newer than the program', async () => {
    await admin((c) => c.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES (${PG_SCHEMA_VERSION + 1})`));
    await expect(openPostgresStore(cluster!.url, { schema })).rejects.toThrow(`schema version ${PG_SCHEMA_VERSION + 1} is newer than this program (${PG_SCHEMA_VERSION}); upgrade qrpos`);
  });

  it('200 concurrent publishes from both replicas get distinct consecutive numbers; rolled-back ones leave no gap', async () => {
    const publishes = Array.from({ length: 200 }, (_, i) => {
      const store = i % 2 ? a : b;
      // Every tenth publishes in a transaction that then fails: its number goes back.
      if (i % 10 === 5) {
        return store
          .transaction(async () => {
            await store.publish('t1', at, event(`undone ${i}`));
            throw new Error('rolled back');
          })
          .catch(() => null);
      }
      return store.publish('t1', at, event(`e${i}`)).then((e) => e.seq);
    });
    const seqs = (await Promise.all(publishes)).filter((x) => x !== null).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 180 }, (_, i) => i + 1));
    expect((await b.terminalById('t1'))?.lastSeq).toBe(180);
    const stored = await a.eventsAfter('t1', 0, 1000);
    expect(stored.map((e) => e.seq)).toEqual(seqs);
    // Every body stored with its own number, none of the undone ones.
    expect(new Set(stored.map((e) => e.body)).size).toBe(180);
    expect(stored.some((e) => e.body?.includes('undone'))).toBe(false);
  });

  it('a transaction is seen by no other async context until it commits (they use other connections)', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    // Started outside the transaction: its calls are not part of it.
    const outside = (async () => {
      await gate;
      return [await a.sale('t1', 's1'), await b.sale('t1', 's1')];
    })();
    const seen = await a.transaction(async () => {
      await a.insertSale(sale('t1', 's1'));
      open();
      const fromOutside = await outside;
      // Inside, the transaction's own write is there.
      return { fromOutside, inside: await a.sale('t1', 's1') };
    });
    expect(seen.fromOutside).toEqual([undefined, undefined]);
    expect(seen.inside?.saleId).toBe('s1');
    expect((await b.sale('t1', 's1'))?.saleId).toBe('s1');
    // Callbacks run after the commit, outside it: what they start goes through the pool.
    const after = await new Promise<unknown>((resolve) => {
      void a.transaction(async () => {
        await a.updateSale('t1', 's1', { status: 'successful' });
        a.afterCommit(() => void b.sale('t1', 's1').then((x) => resolve(x?.status)));
      });
    });
    expect(after).toBe('successful');
  });

  it('a sale read inside a transaction is held until it commits: two relays applying one charge see each other (read-modify-write)', async () => {
    await a.insertSale(sale('t1', 's1'));
    let readByA!: () => void;
    const aHasRead = new Promise<void>((r) => (readByA = r));
    // Relay A reads the sale (pending) and, a moment later, marks it paid.
    const first = a.transaction(async () => {
      const s = await a.saleByChargeId('chrg_t1_s1');
      readByA();
      await new Promise((r) => setTimeout(r, 300));
      await a.updateSale('t1', 's1', { status: 'successful' });
      return s?.status;
    });
    await aHasRead;
    // Relay B, reading the same sale meanwhile, must see A's result, not the pending row A is changing.
    const second = b.transaction(async () => (await b.saleByChargeId('chrg_t1_s1'))?.status);
    const third = b.transaction(async () => (await b.sale('t1', 's1'))?.status);
    expect(await first).toBe('pending');
    expect(await second).toBe('successful');
    expect(await third).toBe('successful');
    // Outside a transaction a read takes no lock.
    expect((await b.sale('t1', 's1'))?.status).toBe('successful');
  });

  it('unlike SQLite, a statement that fails inside a transaction dooms it, even when fn catches the error', async () => {
    await a.insertSale(sale('t1', 's1'));
    await expect(
      a.transaction(async () => {
        await a.insertSale(sale('t1', 's2'));
        await a.insertSale(sale('t1', 's1')).catch(() => undefined);
        await a.insertSale(sale('t1', 's3'));
      }),
    ).rejects.toThrow(/current transaction is aborted/);
    expect(await a.sale('t1', 's2')).toBeUndefined();
    // Other relays write the database by design: externalChange() (SQLite: another process wrote the file) is always false.
    expect(a.externalChange()).toBe(false);
    expect(a.writable()).toEqual({ ok: true });
    // A hung relay's transaction does not hold its locks for ever.
    expect(await a.withClient(async (c) => (await c.query<{ idle_in_transaction_session_timeout: string }>('SHOW idle_in_transaction_session_timeout')).rows[0])).toEqual({ idle_in_transaction_session_timeout: '1min' });
  });

  it('lock() excludes across replicas, per key', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const first = a.lock('sale:t1:s1', async () => {
      order.push('a in');
      entered();
      await held;
      order.push('a out');
    });
    await inside;
    const second = b.lock('sale:t1:s1', async () => {
      order.push('b in');
    });
    // Another key is free meanwhile, in either replica.
    await b.lock('sale:t1:s2', async () => order.push('other key'));
    await a.lock('sale:t1:s3', async () => order.push('other key'));
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual(['a in', 'other key', 'other key']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'other key', 'other key', 'a out', 'b in']);
    // Several waiters in one process take turns too, and a failing fn releases the lock.
    const turns: number[] = [];
    await Promise.all(
      [1, 2, 3].map((i) =>
        a
          .lock('k', async () => {
            turns.push(i);
            await new Promise((r) => setTimeout(r, 10));
            turns.push(-i);
            if (i === 2) throw new Error('fn failed');
          })
          .catch(() => undefined),
      ),
    );
    expect(turns).toEqual([1, -1, 2, -2, 3, -3]);
    await b.lock('k', async () => undefined);
  });

  it('a lock held by a process that dies (kill -9) is released', async () => {
    const script = `
      const { openPostgresStore } = require('./src/relay/postgres-store');
      openPostgresStore(process.argv[1], { schema: process.argv[2] }).then((s) =>
        s.lock('revoke:t1', () => { process.stdout.write('locked\\n'); return new Promise(() => {}); }));
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, cluster!.url, schema], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
        child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
      });
      let got = false;
      const waiting = b.lock('revoke:t1', async () => {
        got = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toBe(false);
      child.kill('SIGKILL');
      await waiting;
      expect(got).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('a lock whose connection is killed (pg_terminate_backend) is released; its holder finishes all the same', async () => {
    const log = memoryLogger();
    const c = await openPostgresStore(cluster!.url, { schema, log });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const inside = new Promise<void>((r) => (entered = r));
      const holder = c.lock('refund:t1:s1', async () => {
        entered();
        await held;
        return 'done';
      });
      await inside;
      const killed = await admin((x) =>
        x.query(`SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()`),
      );
      expect(killed.rowCount).toBe(1);
      await b.lock('refund:t1:s1', async () => undefined);
      release();
      expect(await holder).toBe('done');
      // The next lock of that store takes a fresh connection.
      expect(await c.lock('refund:t1:s1', async () => 'again')).toBe('again');
      expect(log.lines.join('\n')).toContain('lock lost while held');
    } finally {
      await c.close();
    }
  });

  it('watchEvents: the other replica hears of a publish once committed, never of a rollback; not of its own', async () => {
    const heardByB: string[] = [];
    const heardByA: string[] = [];
    b.watchEvents((t) => heardByB.push(t));
    a.watchEvents((t) => heardByA.push(t));
    await until('listening', () => a.listening() && b.listening());
    await a.transaction(async () => {
      await a.publish('t1', at, event('in a transaction'));
      await new Promise((r) => setTimeout(r, 200));
      expect(heardByB).toEqual([]);
    });
    await until('the notification', () => heardByB.length > 0);
    expect(heardByB).toEqual(['t1']);

    await expect(
      a.transaction(async () => {
        await a.publish('t1', at, event('rolled back'));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    await a.publish('t1', at, event('outside a transaction'));
    await until('the second notification', () => heardByB.length > 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(heardByB).toEqual(['t1', 't1']);
    // A's own publishes reach its stream in-process (afterCommit), not through its listener.
    expect(heardByA).toEqual([]);
    await b.publish('t1', at, event('from b'));
    await until('a hears b', () => heardByA.length > 0);
    expect(heardByA).toEqual(['t1']);
  });

  it('the listener comes back after its connection is killed, and wakes the terminals with events', async () => {
    const heard: string[] = [];
    const log = memoryLogger();
    const c = await openPostgresStore(cluster!.url, { schema, log });
    try {
      c.watchEvents((t) => heard.push(t));
      await until('listening', () => c.listening());
      const killed = await admin((x) =>
        x.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN "qrpos_relay_events_${schema}"%' AND state = 'idle'`),
      );
      expect(killed.rowCount).toBe(1);
      await a.publish('t1', at, event('while it reconnects'));
      await until('reconnected', () => c.listening() && heard.includes('t1'));
      heard.length = 0;
      await a.publish('t1', at, event('after'));
      await until('a notification on the new connection', () => heard.length > 0);
      expect(log.lines.join('\n')).toContain('listener lost');
    } finally {
      await c.close();
    }
  });

  it('writable() follows the last error: a read-only database, then writable again', async () => {
    const url = await cluster!.createDatabase(`ro_${process.pid}_${schemas++}`);
    const db = new URL(url).pathname.slice(1);
    const st = await openPostgresStore(url, { poolSize: 2 });
    const dropConnections = () => admin((c) => c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db]));
    try {
      expect(st.writable()).toEqual({ ok: true });
      await admin((c) => c.query(`ALTER DATABASE ${db} SET default_transaction_read_only = on`));
      await dropConnections();
      // The pool notices its dropped connections on their next use.
      for (let i = 0; i < 3; i++) await st.insertTerminal(terminal(`x${i}`)).catch(() => undefined);
      const w = st.writable();
      expect(w.ok).toBe(false);
      expect(w.ok ? '' : w.reason).toMatch(/read-only/);
      await admin((c) => c.query(`ALTER DATABASE ${db} RESET default_transaction_read_only`));
      await dropConnections();
      await until('writable again', () => st.writable().ok);
    } finally {
      await st.close();
    }
  });
});

describe.skipIf(!bin)('PostgreSQL store: connection errors keep the password out', () => {
  /** The error openPostgresStore fails with (a store opened is a failure of the test). */
  const openError = async (url: string): Promise<Error> => {
    const result = await openPostgresStore(url).then(
      async (st) => {
        await st.close();
        return new Error('opened');
      },
      (e: Error) => e,
    );
    expect(result.message).not.toBe('opened');
    return result;
  };

  it('an unreachable server', async () => {
    const port = await freePort();
    const err = await openError(`postgres://qrpos:Sup3r%2FSecret@127.0.0.1:${port}/qrpos`);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain(`cannot open the relay store in PostgreSQL at postgres://qrpos@127.0.0.1:${port}/qrpos`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(`${err.message} ${err.stack} ${JSON.stringify(err)}`).not.toMatch(/Sup3r|Secret/);
  });

  it('a wrong password, and a URL that is not one', async () => {
    const url = new URL(cluster!.url);
    url.password = 'Wr0ngPassw0rd';
    const err = await openError(url.toString());
    expect(err.message).toMatch(/password authentication failed for user "qrpos"/);
    expect(`${err.message} ${err.stack}`).not.toContain('Wr0ngPassw0rd');
    const bad = await openError('postgres://qrpos:Wr0ngPassw0rd@[::1');
    expect(bad.message).toMatch(/not a valid URL/);
    expect(`${bad.message} ${bad.stack}`).not.toContain('Wr0ngPassw0rd');
  });
});

// ---- copying a relay's SQLite database into PostgreSQL ----------------------------------------------

describe.skipIf(!bin)('copySqliteToPostgres', () => {
  let dir: string;
  let sqlite: SqliteStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-copy-'));
    sqlite = openSqliteStore(dir, { checkpointInWorker: false });
    await fill(sqlite);
  });
  afterEach(() => {
    sqlite.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Every row of every table, booleans as SQLite's 0/1, in primary-key order. */
  const KEYS: Record<string, string> = {
    terminals: 'id',
    pairings: 'id',
    sales: 'terminal_id, sale_id',
    refunds: 'terminal_id, refund_id',
    events: 'terminal_id, seq',
    webhook_events: 'id',
    orphans: 'charge_id',
    records: 'terminal_id, record_id',
    rate_limits: 'key',
    releases: 'version, arch',
    rollouts: 'id',
    terminal_upgrades: 'id',
    terminal_arch: 'terminal_id',
  };
  const sortKeys = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).sort(([x], [y]) => x.localeCompare(y)));

  it('copies every table, keeps numbers and cursors; the copy carries on from there', async () => {
    expect(COPIED_SQLITE_SCHEMA).toBe(SCHEMA_VERSION);
    sqlite.close();
    const schema = nextSchema();
    const log = memoryLogger();
    const counts = await copySqliteToPostgres(relayDatabaseFile(dir), cluster!.url, log, { schema });
    expect(counts).toMatchObject({ terminals: 2, sales: 3, events: 3, records: 3, rollouts: 2, terminal_upgrades: 2 });
    expect(log.lines.join('\n')).toContain('copied to PostgreSQL');

    const db = new Database(relayDatabaseFile(dir), { readonly: true });
    // BIGINT as numbers, as SQLite's INTEGER.
    const types = { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format ?? 'text'))) as pg.CustomTypesConfig['getTypeParser'] };
    const c = new pg.Client({ connectionString: cluster!.url, types });
    await c.connect();
    try {
      expect(Object.keys(KEYS).sort()).toEqual([...PG_DATA_TABLES].sort());
      for (const table of PG_DATA_TABLES) {
        const select = table === 'terminal_upgrades' ? 'rowid AS id, *' : '*';
        // The sales' QR documents are kept beside them in SQLite (sale_qr), in the row in PostgreSQL.
        const from = table === 'sales' ? SALES_WITH_QR : table;
        const fromSqlite = (db.prepare(`SELECT ${select} FROM ${from} ORDER BY ${KEYS[table]}`).all() as Record<string, unknown>[]).map(sortKeys);
        const fromPg = (await c.query(`SELECT * FROM ${schema}.${table} ORDER BY ${KEYS[table]}`)).rows.map((r: Record<string, unknown>) =>
          sortKeys(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? 1 : 0) : v]))),
        );
        expect(fromPg, table).toEqual(fromSqlite);
        expect(fromSqlite.length, table).toBe(counts[table]);
      }
    } finally {
      db.close();
      await c.end();
    }

    // Read back through both stores' methods, then carry on.
    sqlite = openSqliteStore(dir, { checkpointInWorker: false });
    const copy = await openPostgresStore(cluster!.url, { schema });
    try {
      expect(await copy.listTerminals()).toEqual(sqlite.listTerminals());
      for (const [t, id] of [
        ['t1', 's1'],
        ['t1', 's2'],
        ['t2', 's1'],
      ]) {
        expect(await copy.sale(t, id)).toEqual(sqlite.sale(t, id));
      }
      expect(await copy.refundsOfSale('t1', 's1')).toEqual(sqlite.refundsOfSale('t1', 's1'));
      expect(JSON.stringify(await copy.eventsAfter('t1', 0, 10))).toBe(JSON.stringify(sqlite.eventsAfter('t1', 0, 10)));
      expect(await copy.pairingById('pair_1')).toEqual(sqlite.pairingById('pair_1'));
      expect(await copy.webhookEvent('evnt_2')).toEqual(sqlite.webhookEvent('evnt_2'));
      expect(await copy.orphansOfSale('t1', 's1')).toEqual(sqlite.orphansOfSale('t1', 's1'));
      expect(await copy.listReleases()).toEqual(sqlite.listReleases());
      expect(await copy.listRollouts()).toEqual(sqlite.listRollouts());
      expect(await copy.upgradeReports('t1', 10)).toEqual(sqlite.upgradeReports('t1', 10));
      expect(await copy.rateBucket('pair:10.0.0.9')).toEqual(sqlite.rateBucket('pair:10.0.0.9'));
      expect(await copy.highestRecordRef('t1')).toBe(sqlite.highestRecordRef('t1'));
      const window = { from: new Date('2025-12-31T00:00:00.000Z'), to: new Date('2026-01-02T00:00:00.000Z') };
      expect(await copy.reportData(window)).toEqual(sqlite.reportData(window));
      // Numbers continue: the next event of t1 is 5, the next rollout 3.
      expect((await copy.publish('t1', at, event('next'))).seq).toBe(5);
      expect((await copy.insertRollout({ version: '2', target: { kind: 'all' }, createdAt: at })).id).toBe(3);
      await copy.insertUpgradeReport({ terminalId: 't1', version: '2', outcome: 'upgraded', detail: null, at });
      expect((await copy.upgradeReports('t1', 1))[0].version).toBe('2');
    } finally {
      await copy.close();
    }

    // Only into an empty store.
    await expect(copySqliteToPostgres(relayDatabaseFile(dir), cluster!.url, log, { schema })).rejects.toThrow(/not empty \(rows in terminals, pairings/);
  });

  it('refuses a SQLite database at an older schema, and leaves PostgreSQL untouched', async () => {
    sqlite.close();
    const file = relayDatabaseFile(dir);
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
    db.close();
    const schema = nextSchema();
    await expect(copySqliteToPostgres(file, cluster!.url, memoryLogger(), { schema })).rejects.toThrow(/older than this program's \(\d+\): start the relay once on it/);
    await expect(copySqliteToPostgres(path.join(dir, 'none.db'), cluster!.url, memoryLogger(), { schema })).rejects.toThrow(/no relay database/);
    sqlite = openSqliteStore(dir, { checkpointInWorker: false });
  });
});
