import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit';
import { openSqliteStore, type SqliteStore } from './sqlite-store';

describe('GroupCommit', () => {
  let dir: string;
  let store: SqliteStore;
  const at = '2026-01-01T00:00:00.000Z';
  const commits: number[] = [];
  let gc: GroupCommit;
  const addTerminal = (id: string) => () =>
    store.insertTerminal({ id, name: id, credentialHash: `h-${id}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-gc-'));
    store = openSqliteStore(dir);
    commits.length = 0;
    gc = new GroupCommit(store, (_ms, items) => commits.push(items));
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('commits the writes of one turn together, and a failing one alone is refused', async () => {
    const results = await Promise.allSettled([gc.run(addTerminal('t1')), gc.run(addTerminal('t1')), gc.run(() => (addTerminal('t2')(), 42))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<number>).value).toBe(42);
    expect(commits).toEqual([3]);
    expect(store.listTerminals().map((t) => t.id)).toEqual(['t1', 't2']);
  });

  it('writes that arrive while it waits after a commit share the next one, and all become durable', async () => {
    await gc.run(addTerminal('a'));
    const more = Array.from({ length: 20 }, (_, i) => gc.run(addTerminal(`b${i}`)));
    await Promise.all(more);
    expect(commits.slice(1).reduce((a, b) => a + b, 0)).toBe(20);
    expect(commits.length).toBeLessThanOrEqual(2);
    // Durable means readable from a fresh connection.
    const other = openSqliteStore(dir);
    try {
      expect(other.listTerminals()).toHaveLength(21);
    } finally {
      other.close();
    }
  });

  it('flush() commits what is queued at once (shutdown)', () => {
    const p = gc.run(addTerminal('late'));
    gc.flush();
    expect(store.terminalById('late')).toBeDefined();
    return expect(p).resolves.toBeUndefined();
  });
});
