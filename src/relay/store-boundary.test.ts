/**
 * The relay's store is one interface (store.ts) with its implementations behind it (sqlite-store.ts,
 * postgres-store.ts; store-migrate.ts copies one into the other): no other relay module talks to
 * a database, so a store only has to implement RelayStore.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = __dirname;
const STORE_FILES = new Set(['store.ts', 'sqlite-store.ts', 'postgres-store.ts', 'store-migrate.ts']);
/** A database driver import, or SQL in a string. */
const DATABASE = [/from 'better-sqlite3'/, /from 'pg'/, /['`"][^'`"]*\b(SELECT\s+[\w*(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))/i];

function relayModules(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'testing' ? [] : relayModules(file);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [file] : [];
  });
}

describe('the relay store boundary', () => {
  it('no relay module outside the store imports a database driver or holds SQL', () => {
    const offenders = relayModules(DIR)
      .filter((f) => !STORE_FILES.has(path.relative(DIR, f)))
      .flatMap((f) =>
        fs
          .readFileSync(f, 'utf8')
          .split('\n')
          .flatMap((line, i) => (DATABASE.some((re) => re.test(line)) ? [`${path.relative(DIR, f)}:${i + 1}: ${line.trim()}`] : [])),
      );
    expect(offenders).toEqual([]);
  });

  it('the check finds SQL and a driver where they would be', () => {
    for (const line of ["const q = 'SELECT id FROM terminals';", 'db.prepare(`INSERT INTO sales VALUES (?)`)', "import Database from 'better-sqlite3';", '"DELETE FROM refunds"']) {
      expect(DATABASE.some((re) => re.test(line)), line).toBe(true);
    }
    expect(DATABASE.some((re) => re.test('// select the sale, then update its status'))).toBe(false);
  });
});
