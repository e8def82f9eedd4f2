import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, SALES_WITH_QR, SCHEMA_VERSION, type SqliteStore } from './sqlite-store';
import type { SaleRow } from './store';

describe('SQLite relay store', () => {
  let dir: string;
  let store: SqliteStore;
  const at = '2026-01-01T00:00:00.000Z';
  const addTerminal = async (id: string) =>
    store.insertTerminal({ id, name: id, credentialHash: `h-${id}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-store-'));
    store = openSqliteStore(dir);
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('indexes only the webhook events still to process (a webhook writes no page of an index of every event)', async () => {
    const row = { key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, attempts: 0, nextAttemptAt: null, lastError: null };
    await store.insertWebhookEvent({ ...row, id: 'evnt_done', status: 'done' });
    await store.insertWebhookEvent({ ...row, id: 'evnt_todo', status: 'unprocessed' });
    const indexed = store.db.prepare(`SELECT COUNT(*) AS n FROM webhook_events INDEXED BY webhook_events_unprocessed WHERE status = 'unprocessed'`).get() as { n: number };
    expect(indexed.n).toBe(1);
    const plan = store.db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM webhook_events WHERE status = 'unprocessed' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY received_at LIMIT ?`).all(at, 10) as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toContain('webhook_events_unprocessed');
    expect((await store.unprocessedWebhookEvents(at, 10)).map((e) => e.id)).toEqual(['evnt_todo']);
  });

  it('migration 8 takes a version 7 database whole: webhook events become one tree keyed by id, only waiting sales are indexed by status', async () => {
    // Back to version 7: webhook events as a table with a rowid (and an index of their ids), every sale in sales_status.
    store.db.exec(`
      DROP INDEX sales_pending; DROP INDEX sales_creating; CREATE INDEX sales_status ON sales(status);
      DROP TABLE webhook_events;
      CREATE TABLE webhook_events (id TEXT PRIMARY KEY, key TEXT NOT NULL, object_type TEXT NOT NULL, object_id TEXT NOT NULL, received_at TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, last_error TEXT);
      CREATE INDEX webhook_events_unprocessed ON webhook_events(received_at) WHERE status = 'unprocessed';
    `);
    const row = { key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, attempts: 0, nextAttemptAt: null, lastError: null };
    await store.insertWebhookEvent({ ...row, id: 'evnt_done', status: 'done', attempts: 1 });
    await store.insertWebhookEvent({ ...row, id: 'evnt_todo', status: 'unprocessed', attempts: 2, nextAttemptAt: at, lastError: 'timeout' });
    await addTerminal('t1');
    const sale = (saleId: string, status: SaleRow['status'], checkedAt: string | null): SaleRow => ({
      terminalId: 't1', saleId, method: 'promptpay', amount: 5000, currency: 'THB', description: null, terminalCreatedAt: at, status,
      chargeId: status === 'creating' ? null : `chrg_${saleId}`, createAttempts: 1, lastAttemptAt: at, createUncertain: false, orphanCheckedAt: null,
      qrText: null, qrSvg: null, failureCode: null, failureMessage: null, errorCode: null, errorMessage: null, chargeCreatedAt: null, chargeExpiresAt: null,
      paidAt: null, expireRequested: false, refundedAmount: 0, checkedAt, createdAt: at, updatedAt: at,
    });
    await store.insertSale(sale('s-paid', 'successful', null));
    await store.insertSale(sale('s-late', 'pending', '2026-01-01T00:00:09.000Z'));
    await store.insertSale(sale('s-early', 'pending', '2026-01-01T00:00:01.000Z'));
    await store.insertSale(sale('s-new', 'creating', null));
    store.db.pragma('user_version = 7');
    store.close();
    store = openSqliteStore(dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);

    // Nothing lost, nothing changed.
    expect(await store.webhookEvent('evnt_done')).toMatchObject({ status: 'done', attempts: 1 });
    expect(await store.webhookEvent('evnt_todo')).toMatchObject({ status: 'unprocessed', attempts: 2, nextAttemptAt: at, lastError: 'timeout' });
    expect((await store.unprocessedWebhookEvents(at, 10)).map((e) => e.id)).toEqual(['evnt_todo']);
    expect(await store.insertWebhookEvent({ ...row, id: 'evnt_done', status: 'unprocessed' })).toBe(false);
    expect((await store.pendingSales(10)).map((x) => x.saleId)).toEqual(['s-early', 's-late']);
    expect((await store.salesByStatus('creating', 10)).map((x) => x.saleId)).toEqual(['s-new']);
    expect((await store.salesByStatus('successful', 10)).map((x) => x.saleId)).toEqual(['s-paid']);

    // The layout: one tree for the webhook events, and the status indexes hold only waiting sales.
    const schema = (name: string) => (store.db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').get(name) as { sql: string } | undefined)?.sql;
    expect(schema('webhook_events')).toMatch(/WITHOUT ROWID\s*$/);
    expect(schema('sqlite_autoindex_webhook_events_1')).toBeUndefined();
    expect(schema('sales_status')).toBeUndefined();
    const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((p) => p.detail).join(' ');
    expect(plan(`SELECT * FROM sales WHERE status = 'pending' ORDER BY checked_at LIMIT 10`)).toContain('sales_pending');
    expect(plan(`SELECT * FROM sales WHERE status = 'creating' ORDER BY updated_at LIMIT 10`)).toContain('sales_creating');
    const counted = (index: string) => (store.db.prepare(`SELECT COUNT(*) AS n FROM sales INDEXED BY ${index} WHERE status = '${index === 'sales_pending' ? 'pending' : 'creating'}'`).get() as { n: number }).n;
    expect([counted('sales_pending'), counted('sales_creating')]).toEqual([2, 1]);
    // A status that is not one is refused, never written into SQL.
    await expect(async () => store.salesByStatus("pending' OR 1=1 --" as SaleRow['status'], 10)).rejects.toThrow(/unknown sale status/);

    // Run again (a database rewound further back runs it a second time): the same.
    store.db.pragma('user_version = 7');
    store.close();
    store = openSqliteStore(dir);
    expect(await store.webhookEvent('evnt_todo')).toMatchObject({ status: 'unprocessed', attempts: 2 });
    expect((await store.pendingSales(10)).map((x) => x.saleId)).toEqual(['s-early', 's-late']);
  });

  it('migration 10 keeps a sale\'s QR document beside its row, and a sale that stops showing its QR drops it at once', async () => {
    await addTerminal('t1');
    const sale = (saleId: string, status: SaleRow['status'], qrSvg: string | null): SaleRow => ({
      terminalId: 't1', saleId, method: 'promptpay', amount: 5000, currency: 'THB', description: null, terminalCreatedAt: at, status,
      chargeId: `chrg_${saleId}`, createAttempts: 1, lastAttemptAt: at, createUncertain: false, orphanCheckedAt: null,
      qrText: qrSvg && 'qr', qrSvg, failureCode: null, failureMessage: null, errorCode: null, errorMessage: null, chargeCreatedAt: null, chargeExpiresAt: null,
      paidAt: null, expireRequested: false, refundedAmount: 0, checkedAt: at, createdAt: at, updatedAt: at,
    });
    await store.insertSale(sale('s-a', 'pending', null));
    await store.insertSale(sale('s-b', 'pending', null));
    // Back to version 9: the documents inside the rows.
    store.db.exec(`DROP TABLE sale_qr; ALTER TABLE sales DROP COLUMN qr_id; UPDATE sales SET qr_svg = '<svg>' || sale_id || '</svg>'`);
    store.db.pragma('user_version = 9');
    store.close();
    store = openSqliteStore(dir);
    const raw = () => store.db.prepare('SELECT sale_id, qr_svg FROM sales ORDER BY sale_id').all();
    const documents = () => store.db.prepare('SELECT svg FROM sale_qr ORDER BY id').pluck().all();
    expect(raw()).toEqual([{ sale_id: 's-a', qr_svg: null }, { sale_id: 's-b', qr_svg: null }]);
    expect(documents()).toEqual(['<svg>s-a</svg>', '<svg>s-b</svg>']);
    expect((await store.sale('t1', 's-a'))?.qrSvg).toBe('<svg>s-a</svg>');
    expect((await store.saleByChargeId('chrg_s-b'))?.qrSvg).toBe('<svg>s-b</svg>');
    expect((await store.pendingSales(10)).map((x) => [x.saleId, x.qrSvg])).toEqual([['s-a', '<svg>s-a</svg>'], ['s-b', '<svg>s-b</svg>']]);
    // Reads through the documents still use the sales' indexes.
    const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((p) => p.detail).join(' ');
    expect(plan(`SELECT * FROM ${SALES_WITH_QR} WHERE status = 'pending' ORDER BY checked_at LIMIT 10`)).toContain('sales_pending');

    // Paid: the sale no longer shows its QR at once; its document is deleted later with others, or
    // when the store opens next.
    expect((await store.updateSale('t1', 's-a', { status: 'successful', qrSvg: null }))?.qrSvg).toBeNull();
    expect((await store.sale('t1', 's-a'))?.qrSvg).toBeNull();
    expect(documents()).toEqual(['<svg>s-a</svg>', '<svg>s-b</svg>']);
    store.close();
    store = openSqliteStore(dir);
    expect(documents()).toEqual(['<svg>s-b</svg>']);
    // A change that does not touch the document keeps it, and returns it.
    expect((await store.updateSale('t1', 's-b', { checkedAt: '2026-01-01T00:00:05.000Z' }))?.qrSvg).toBe('<svg>s-b</svg>');
    expect((await store.updateSale('t1', 's-b', { qrSvg: '<svg>new</svg>' }))?.qrSvg).toBe('<svg>new</svg>');
    expect((await store.sale('t1', 's-b'))?.qrSvg).toBe('<svg>new</svg>');
    expect(documents()).toEqual(['<svg>new</svg>']);
    expect(await store.updateSale('t1', 'nobody', { qrSvg: null })).toBeUndefined();
    // A new sale's document goes beside it too: the row stays small.
    await store.insertSale(sale('s-c', 'pending', '<svg>' + 'x'.repeat(20_000) + '</svg>'));
    expect(store.db.prepare(`SELECT length(qr_svg) FROM sales WHERE sale_id = 's-c'`).pluck().get()).toBeNull();
    expect((await store.sale('t1', 's-c'))?.qrSvg).toHaveLength(20_011);
    // Dropped documents are deleted 64 at a time.
    for (let i = 0; i < 64; i++) await store.insertSale(sale(`p-${i}`, 'pending', `<svg>${i}</svg>`));
    expect(documents()).toHaveLength(66);
    for (let i = 0; i < 63; i++) await store.updateSale('t1', `p-${i}`, { status: 'successful', qrSvg: null });
    expect(documents()).toHaveLength(66);
    await store.updateSale('t1', 'p-63', { status: 'successful', qrSvg: null });
    expect(documents()).toHaveLength(2);
    // Run again (a database rewound further back runs it a second time): the same.
    store.db.pragma('user_version = 9');
    store.close();
    store = openSqliteStore(dir);
    expect((await store.pendingSales(10)).map((x) => [x.saleId, x.qrSvg?.length ?? null])).toEqual([['s-c', 20_011], ['s-b', 14]]);
    expect(documents()).toHaveLength(2);
  });

  it('runs its migrations once, in WAL mode with full sync, and keeps the file private', async () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(fs.statSync(path.join(dir, 'relay.db')).mode & 0o077).toBe(0);
    store.close();
    store = openSqliteStore(dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('migration 4 takes a version 3 database with pending pairings; rate buckets round-trip and prune', async () => {
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
    expect((await store.pairingById('pair_old'))?.sourceKey).toBeNull();
    expect(await store.countPendingPairingsFrom('127.0.0.2', at)).toBe(0);
    // A row from before the migration (no source key) can still be displaced.
    expect(await store.expireBusiestPendingPairing(at)).toBe(true);
    expect(await store.countPendingPairings(at)).toBe(0);
    expect(await store.expireBusiestPendingPairing(at)).toBe(false);

    await store.saveRateBucket('pair:127.0.0.2', { tokens: 0.25, atMs: 1000 });
    await store.saveRateBucket('pair:127.0.0.2', { tokens: 0.5, atMs: 2000 });
    await store.saveRateBucket('pair*', { tokens: 3, atMs: 5000 });
    expect(await store.rateBucket('pair:127.0.0.2')).toEqual({ tokens: 0.5, atMs: 2000 });
    expect(await store.pruneRateBuckets(3000)).toBe(1);
    expect(await store.rateBucket('pair:127.0.0.2')).toBeUndefined();
    expect(await store.rateBucket('pair*')).toEqual({ tokens: 3, atMs: 5000 });
  });

  it('refuses a database from a newer version', async () => {
    store.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    store.close();
    expect(() => openSqliteStore(dir)).toThrow(/newer than this program/);
    fs.rmSync(dir, { recursive: true, force: true });
    store = openSqliteStore(dir);
  });

  it('numbers events per terminal, keeps them until a cumulative ack, survives reopening', async () => {
    await addTerminal('a');
    await addTerminal('b');
    const ev = { kind: 'terminal.updated' as const, name: 'x', revoked: false };
    const seqs = [];
    for (let i = 0; i < 3; i++) seqs.push((await store.publish('a', at, ev)).seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect((await store.publish('b', at, ev)).seq).toBe(1);
    expect(await store.ack('a', 2)).toBe(2);
    expect((await store.eventsAfter('a', 0, 10)).map((e) => e.seq)).toEqual([3]);
    store.close();
    store = openSqliteStore(dir);
    expect((await store.publish('a', at, ev)).seq).toBe(4);
    expect(await store.terminalById('a')).toMatchObject({ lastSeq: 4, ackedSeq: 2 });
    // An ack beyond what exists does not move the mark past the last event.
    await store.ack('a', 99);
    expect((await store.terminalById('a'))!.ackedSeq).toBe(4);
  });

  it('notices writes made through another handle', async () => {
    const other = openSqliteStore(dir);
    expect(store.externalChange()).toBe(false);
    await other.insertTerminal({ id: 'z', name: 'z', credentialHash: 'hz', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });
    expect(store.externalChange()).toBe(true);
    expect(store.externalChange()).toBe(false);
    other.close();
  });

  it('dedupes webhook events and journal records', async () => {
    const row = { id: 'evnt_1', key: 'charge.complete', objectType: 'charge', objectId: 'chrg_1', receivedAt: at, status: 'unprocessed' as const, attempts: 0, nextAttemptAt: null, lastError: null };
    expect(await store.insertWebhookEvent(row)).toBe(true);
    expect(await store.insertWebhookEvent(row)).toBe(false);
    await addTerminal('a');
    const rec = { recordId: 'r', saleId: null, kind: 'k', at, data: { a: 1 } };
    expect(await store.insertRecords('a', [rec, { ...rec, recordId: 's' }], at)).toEqual({ accepted: 2, duplicates: 0 });
    expect(await store.insertRecords('a', [rec], at)).toEqual({ accepted: 0, duplicates: 1 });
  });

  describe('the gate: one connection, a transaction held across awaits', () => {
    const tick = () => new Promise<void>((r) => setImmediate(r));

    it('answers synchronously outside any transaction (no promise on the hot path)', async () => {
      await addTerminal('a');
      const got = store.terminalById('a');
      expect(got).not.toBeInstanceOf(Promise);
      expect((got as { id: string }).id).toBe('a');
    });

    it('keeps another context out of an open transaction: it neither sees its rows nor is rolled back with it', async () => {
      let inside!: () => void;
      const paused = new Promise<void>((r) => (inside = r));
      let resume!: () => void;
      const gate = new Promise<void>((r) => (resume = r));
      const tx = store.transaction(async () => {
        await store.insertTerminal({ id: 'tx', name: 'tx', credentialHash: 'h-tx', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });
        // Its own context sees its own write.
        expect((await store.terminalById('tx'))?.id).toBe('tx');
        inside();
        await gate;
        throw new Error('roll it back');
      });
      await paused;
      // Another context: its read and write wait for the transaction to end (in arrival order).
      const order: string[] = [];
      const read = Promise.resolve(store.terminalById('tx')).then((t) => (order.push('read'), t));
      const write = Promise.resolve(
        store.insertTerminal({ id: 'out', name: 'out', credentialHash: 'h-out', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null }),
      ).then(() => order.push('write'));
      await tick();
      expect(order).toEqual([]);
      resume();
      await expect(tx).rejects.toThrow('roll it back');
      expect(await read).toBeUndefined();
      await write;
      expect(order).toEqual(['read', 'write']);
      // The other context's write was committed on its own, not rolled back with the transaction.
      expect((await store.listTerminals()).map((t) => t.id)).toEqual(['out']);
      expect(store.db.inTransaction).toBe(false);
    });

    it('a second transaction from another context waits for the first, then commits its own', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const first = store.transaction(async () => {
        await addTerminal('first');
        await held;
      });
      const second = store.transaction(async () => {
        // Runs only after the first committed: it sees its row.
        expect((await store.terminalById('first'))?.id).toBe('first');
        await addTerminal('second');
        return 'done';
      });
      await tick();
      expect(store.db.inTransaction).toBe(true);
      release();
      await first;
      expect(await second).toBe('done');
      expect((await store.listTerminals()).map((t) => t.id).sort()).toEqual(['first', 'second']);
    });

    it('nested transactions join the outer one: its rollback takes their writes too', async () => {
      await expect(
        store.transaction(async () => {
          await addTerminal('outer');
          const inner = await store.transaction(async () => {
            await tick();
            await addTerminal('inner');
            return 42;
          });
          expect(inner).toBe(42);
          throw new Error('outer fails');
        }),
      ).rejects.toThrow('outer fails');
      expect(await store.listTerminals()).toEqual([]);
      await store.transaction(async () => {
        await store.transaction(() => addTerminal('both'));
      });
      expect((await store.listTerminals()).map((t) => t.id)).toEqual(['both']);
    });

    it('runs afterCommit callbacks after the outermost commit, drops them on rollback, and at once outside', async () => {
      const ran: string[] = [];
      await store.transaction(async () => {
        store.afterCommit(() => ran.push('outer'));
        await store.transaction(async () => {
          await tick();
          store.afterCommit(() => ran.push('nested'));
        });
        expect(ran).toEqual([]);
      });
      expect(ran).toEqual(['outer', 'nested']);
      await expect(
        store.transaction(async () => {
          store.afterCommit(() => ran.push('rolled back'));
          await tick();
          throw new Error('no');
        }),
      ).rejects.toThrow('no');
      store.afterCommit(() => ran.push('outside'));
      expect(ran).toEqual(['outer', 'nested', 'outside']);
    });

    it('batch: each async item in a savepoint; a failing one is rolled back alone, its afterCommit dropped', async () => {
      const ran: string[] = [];
      const errors = await store.batch([
        async () => {
          await addTerminal('b1');
          store.afterCommit(() => ran.push('b1'));
        },
        async () => {
          await addTerminal('b2');
          store.afterCommit(() => ran.push('b2'));
          await tick();
          throw new Error('b2 fails');
        },
        () => addTerminal('b3'),
      ]);
      expect(errors.map((e) => (e ? String(e) : undefined))).toEqual([undefined, 'Error: b2 fails', undefined]);
      expect(ran).toEqual(['b1']);
      expect((await store.listTerminals()).map((t) => t.id)).toEqual(['b1', 'b3']);
      // Not from inside a transaction: it would wait for itself.
      await expect(store.transaction(() => store.batch([]))).rejects.toThrow(/cannot run inside a transaction/);
    });

    it('lock serialises work per key (in this process), not across keys', async () => {
      const log: string[] = [];
      const work = (key: string, name: string, ms: number) =>
        store.lock(key, async () => {
          log.push(`${name}+`);
          await new Promise((r) => setTimeout(r, ms));
          log.push(`${name}-`);
          return name;
        });
      const results = await Promise.all([work('k', 'a', 30), work('k', 'b', 1), work('j', 'c', 1)]);
      expect(results).toEqual(['a', 'b', 'c']);
      expect(log.indexOf('a-')).toBeLessThan(log.indexOf('b+'));
      expect(log.indexOf('c-')).toBeLessThan(log.indexOf('a-'));
    });
  });
});
