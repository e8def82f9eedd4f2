import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, SCHEMA_VERSION, type SqliteStore, type SqliteStoreOptions } from './sqlite-store';

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

  it('runs its migrations once, in WAL mode with full sync, and keeps the file private', () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(fs.statSync(path.join(dir, 'relay.db')).mode & 0o077).toBe(0);
    store.close();
    store = openSqliteStore(dir);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
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

  describe('group commits: durable off the main thread', () => {
    /** An fdatasync the test releases (or fails) by hand. */
    function heldSync(): { opts: SqliteStoreOptions; calls: number; pending: number; release(err?: NodeJS.ErrnoException): void } {
      const queue: ((err?: NodeJS.ErrnoException) => void)[] = [];
      const h = {
        calls: 0,
        get pending() {
          return queue.length;
        },
        opts: {
          fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
            h.calls++;
            queue.push((err) => (err ? cb(err) : fs.fdatasync(fd, cb)));
          },
        } as SqliteStoreOptions,
        release(err?: NodeJS.ErrnoException) {
          queue.shift()!(err);
        },
      };
      return h;
    }
    const tick = () => new Promise((r) => setTimeout(r, 20));
    const reopen = (opts: SqliteStoreOptions) => {
      store.close();
      store = openSqliteStore(dir, opts);
    };
    const ev = { kind: 'terminal.updated' as const, name: 'x', revoked: false };

    it('resolves, and runs its after-commit callbacks, only once the WAL is synced', async () => {
      const sync = heldSync();
      reopen(sync.opts);
      addTerminal('a');
      const notified: number[] = [];
      let done = false;
      const p = store
        .batch([
          () => {
            const e = store.publish('a', at, ev);
            store.afterCommit(() => notified.push(e.seq));
          },
        ])
        .then((errors) => {
          done = true;
          return errors;
        });
      // Committed (visible) but not yet called durable: no callback, no answer.
      expect(store.eventsAfter('a', 0, 10).map((e) => e.seq)).toEqual([1]);
      await tick();
      expect([done, notified, sync.pending]).toEqual([false, [], 1]);
      // The commit itself ran with synchronous=NORMAL; everything else stays FULL.
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
      sync.release();
      expect(await p).toEqual([undefined]);
      expect(notified).toEqual([1]);
    });

    it('one sync covers every commit made before it started; later ones share the next', async () => {
      const sync = heldSync();
      reopen(sync.opts);
      const first = store.batch([() => addTerminal('a')]);
      const second = store.batch([() => addTerminal('b')]);
      const third = store.batch([() => addTerminal('c')]);
      await tick();
      // The first sync started with the first commit; the other two wait for one more.
      expect(sync.calls).toBe(1);
      sync.release();
      await first;
      await tick();
      expect(sync.calls).toBe(2);
      sync.release();
      await Promise.all([second, third]);
      expect(sync.calls).toBe(2);
    });

    it('a full-sync transaction covers the group commits before it', async () => {
      const sync = heldSync();
      reopen(sync.opts);
      const grouped = store.batch([() => addTerminal('a')]);
      store.transaction(() => addTerminal('b'));
      await expect(grouped).resolves.toEqual([undefined]);
      sync.release();
    });

    it('a failed sync fails that commit and every later one, and says so', async () => {
      const sync = heldSync();
      reopen(sync.opts);
      const p = store.batch([() => addTerminal('a')]);
      await tick();
      sync.release(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await expect(p).rejects.toThrow(/syncing the relay database failed; restart the relay/);
      expect(store.failure).toBeDefined();
      await expect(store.batch([() => addTerminal('b')])).rejects.toThrow(/restart the relay/);
    });

    it('close() finishes a sync still pending, so nothing answered is lost', async () => {
      const sync = heldSync();
      reopen(sync.opts);
      void store.batch([() => addTerminal('a')]);
      await tick();
      store.close();
      sync.release();
      store = openSqliteStore(dir);
      expect(store.terminalById('a')).toBeDefined();
    });
  });
});
