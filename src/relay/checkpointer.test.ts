import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from './sqlite-store';
import { until } from './testkit';

describe('WAL checkpoints on a worker thread', () => {
  let dir: string;
  let store: SqliteStore;
  const at = '2026-01-01T00:00:00.000Z';
  const errors: string[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-ckpt-'));
    errors.length = 0;
    store = openSqliteStore(dir, { checkpointEveryMs: 50, onCheckpointError: (m) => errors.push(m) });
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const dbBytes = () => fs.statSync(path.join(dir, 'relay.db')).size;

  it('keeps commits from checkpointing, and copies the WAL into the database in the background', async () => {
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = dbBytes();
    for (let i = 0; i < 300; i++) {
      await store.batch([
        () =>
          store.insertTerminal({ id: `t${i}`, name: `till ${i}`.repeat(20), credentialHash: `h${i}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null }),
      ]);
    }
    // Commits only append to the WAL; the database file grows when a checkpoint copies pages in,
    // and with autocheckpoint off only the worker does that.
    await until(() => dbBytes() >= before + 40_000, 'pages checkpointed into the database file', 5000, 20);
    expect(errors).toEqual([]);
  });

  it('runs a last checkpoint when the store closes, leaving the database file complete', async () => {
    await store.batch([() => store.insertTerminal({ id: 'last', name: 'last', credentialHash: 'h', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null })]);
    store.close();
    // Whichever connection closes last (the worker's, normally) folds the WAL in and removes it.
    await until(() => !fs.existsSync(path.join(dir, 'relay.db-wal')), 'WAL folded in and removed', 5000, 20);
    const copy = path.join(dir, 'copy.db');
    fs.copyFileSync(path.join(dir, 'relay.db'), copy);
    const db = new Database(copy, { readonly: true });
    try {
      expect(db.prepare('SELECT id FROM terminals').all()).toEqual([{ id: 'last' }]);
    } finally {
      db.close();
    }
    store = openSqliteStore(dir);
  });
});
