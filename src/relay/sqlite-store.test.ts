import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, SCHEMA_VERSION, type SqliteStore } from './sqlite-store';

describe('SQLite relay store', () => {
  let dir: string;
  let store: SqliteStore;
  const at = '2026-01-01T00:00:00.000Z';
  const addTerminal = (id: string) =>
    store.insertTerminal({ id, name: id, credentialHash: `h-${id}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-store-'));
    store = openSqliteStore(dir);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('indexes only the webhook events still to process (a webhook writes no page of an index of every event)', () => {
    const row = { key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, attempts: 0, nextAttemptAt: null, lastError: null };
    store.insertWebhookEvent({ ...row, id: 'evnt_done', status: 'done' });
    store.insertWebhookEvent({ ...row, id: 'evnt_todo', status: 'unprocessed' });
    const indexed = store.db.prepare(`SELECT COUNT(*) AS n FROM webhook_events INDEXED BY webhook_events_unprocessed WHERE status = 'unprocessed'`).get() as { n: number };
    expect(indexed.n).toBe(1);
    const plan = store.db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM webhook_events WHERE status = 'unprocessed' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY received_at LIMIT ?`).all(at, 10) as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('webhook_events_unprocessed');
    expect(store.unprocessedWebhookEvents(at, 10).map((e) => e.id)).toEqual(['evnt_todo']);
  });

  it('runs its migrations once, in WAL mode with full sync, and keeps the file private', () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(fs.statSync(path.join(dir, 'relay.db')).mode & 0o077).toBe(0);
    store.close();
    store = openSqliteStore(dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('migration 4 takes a version 3 database with pending pairings; rate buckets round-trip and prune', () => {
    // Back to version 3: without the rate-limit table and the pairings' source key.
    store.db.exec('DROP TABLE rate_limits; DROP INDEX pairings_pending_source; ALTER TABLE pairings DROP COLUMN source_key; ALTER TABLE sales DROP COLUMN method;');
    store.db
      .prepare(
        `INSERT INTO pairings (id, code, secret_hash, credential_hash, name, version, created_at, expires_at, status) VALUES ('pair_old', 'ABCDEF', 's', 'c', 'old', '1', ?, '2026-01-01T01:00:00.000Z', 'pending')`,
      )
      .run(at);
    store.db.pragma('user_version = 3');
    store.close();
    store = openSqliteStore(dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.pairingById('pair_old')?.sourceKey).toBeNull();
    expect(store.countPendingPairingsFrom('127.0.0.2', at)).toBe(0);
    // A row from before the migration (no source key) can still be displaced.
    expect(store.expireBusiestPendingPairing(at)).toBe(true);
    expect(store.countPendingPairings(at)).toBe(0);
    expect(store.expireBusiestPendingPairing(at)).toBe(false);

    store.saveRateBucket('pair:127.0.0.2', { tokens: 0.25, atMs: 1000 });
    store.saveRateBucket('pair:127.0.0.2', { tokens: 0.5, atMs: 2000 });
    store.saveRateBucket('pair*', { tokens: 3, atMs: 5000 });
    expect(store.rateBucket('pair:127.0.0.2')).toEqual({ tokens: 0.5, atMs: 2000 });
    expect(store.pruneRateBuckets(3000)).toBe(1);
    expect(store.rateBucket('pair:127.0.0.2')).toBeUndefined();
    expect(store.rateBucket('pair*')).toEqual({ tokens: 3, atMs: 5000 });
  });

  it('refuses a database from a newer version', () => {
    store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    store.close();
    expect(() => openSqliteStore(dir)).toThrow(/newer than this program/);
    fs.rmSync(dir, { recursive: true, force: true });
    store = openSqliteStore(dir);
  });

  it('numbers events per terminal, keeps them until a cumulative ack, survives reopening', () => {
    addTerminal('a');
    addTerminal('b');
    const ev = { kind: 'terminal.updated' as const, name: 'x', revoked: false };
    expect([1, 2, 3].map(() => store.publish('a', at, ev).seq)).toEqual([1, 2, 3]);
    expect(store.publish('b', at, ev).seq).toBe(1);
    expect(store.ack('a', 2)).toBe(2);
    expect(store.eventsAfter('a', 0, 10).map((e) => e.seq)).toEqual([3]);
    store.close();
    store = openSqliteStore(dir);
    expect(store.publish('a', at, ev).seq).toBe(4);
    expect(store.terminalById('a')).toMatchObject({ lastSeq: 4, ackedSeq: 2 });
    // An ack beyond what exists does not move the mark past the last event.
    store.ack('a', 99);
    expect(store.terminalById('a')!.ackedSeq).toBe(4);
  });

  it('notices writes made through another handle', () => {
    const other = openSqliteStore(dir);
    expect(store.externalChange()).toBe(false);
    other.insertTerminal({ id: 'z', name: 'z', credentialHash: 'hz', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });
    expect(store.externalChange()).toBe(true);
    expect(store.externalChange()).toBe(false);
    other.close();
  });

  it('dedupes webhook events and journal records', () => {
    const row = { id: 'evnt_1', key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, status: 'unprocessed' as const, attempts: 0, nextAttemptAt: null, lastError: null };
    expect(store.insertWebhookEvent(row)).toBe(true);
    expect(store.insertWebhookEvent(row)).toBe(false);
    addTerminal('a');
    const rec = { recordId: 'r', saleId: null, kind: 'k', at, data: { a: 1 } };
    expect(store.insertRecords('a', [rec, { ...rec, recordId: 's' }], at)).toEqual({ accepted: 2, duplicates: 0 });
    expect(store.insertRecords('a', [rec], at)).toEqual({ accepted: 0, duplicates: 1 });
  });
});
