import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { mountSmallFs, type SmallFs } from './small-fs';

describe('mountSmallFs', () => {
  let small: SmallFs | null = null;
  afterEach(async () => {
    await small?.close();
    small = null;
  });

  it('gives a size-limited directory that a file fills (SQLite then fails with SQLITE_FULL) and that works again when freed', async () => {
    small = mountSmallFs(512);
    const db = new Database(path.join(small.dir, 'x.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (v TEXT)');
    const filled = small.fill();
    expect(filled).toBeGreaterThan(100_000);
    expect(small.available()).toBe(0);
    expect(() => db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(20_000))).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }) as Error);
    small.free();
    db.prepare('INSERT INTO t VALUES (?)').run('x'.repeat(20_000));
    expect((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).toBe(1);
    db.close();
    expect(fs.existsSync(small.dir)).toBe(true);
  });
});
