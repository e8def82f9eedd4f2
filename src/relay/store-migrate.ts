/**
 * Moving a relay from SQLite to PostgreSQL: copies every table of the relay's SQLite database
 * into an empty PostgreSQL store, in one PostgreSQL transaction (all or nothing), keeping every
 * sequence number, cursor and id, so terminals carry on from where they were.
 *
 * The SQLite file is opened read-only and read in one read transaction (a consistent copy even if
 * a relay still writes it; stop the relay first all the same, or what it writes after is lost).
 */
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type pg from 'pg';
import type { Logger } from '../shared/log';
import { openPostgresStore, PG_DATA_TABLES } from './postgres-store';
import { redoLogBase, SALES_WITH_QR, SCHEMA_VERSION } from './sqlite-store';
import { recordsAfter } from './sqlite-redo-log';

/**
 * The SQLite schema version this copy knows the tables of: a later one needs this file updated.
 * (Version 8 changed only how webhook events are stored and which sales are indexed, not a column;
 * version 9 added `redo_applied`, the redo log's bookkeeping, which is not copied; version 10 moved
 * the sales' QR documents to `sale_qr`, read back into qr_svg as PostgreSQL keeps them.)
 */
export const COPIED_SQLITE_SCHEMA = 10;
/** SQLite tables not copied as tables: the store's bookkeeping, and the sales' QR documents (copied with the sales). */
const NOT_COPIED = new Set(['redo_applied', 'sale_qr']);

interface TableCopy {
  /** The SQLite columns to read (their names are the PostgreSQL ones), in order. */
  select: string;
  /** What to read them from, when not the table of the same name. */
  from?: string;
  order: string;
  /** 0/1 integers in SQLite, BOOLEAN in PostgreSQL. */
  bools?: string[];
}

/** Every table of the SQLite schema COPIED_SQLITE_SCHEMA, in the order they are copied. */
const TABLES: Record<(typeof PG_DATA_TABLES)[number], TableCopy> = {
  terminals: { select: '*', order: 'id' },
  pairings: { select: '*', order: 'id' },
  sales: { select: '*', from: SALES_WITH_QR, order: 'terminal_id, sale_id', bools: ['create_uncertain', 'expire_requested'] },
  refunds: { select: '*', order: 'terminal_id, refund_id', bools: ['voided', 'want_void'] },
  events: { select: '*', order: 'terminal_id, seq' },
  webhook_events: { select: '*', order: 'id' },
  orphans: { select: '*', order: 'charge_id' },
  records: { select: '*', order: 'terminal_id, record_id' },
  rate_limits: { select: '*', order: 'key' },
  releases: { select: '*', order: 'version, arch' },
  rollouts: { select: '*', order: 'id' },
  // The rowid orders reports of the same instant: it becomes the id.
  terminal_upgrades: { select: 'rowid AS id, *', order: 'rowid' },
  terminal_arch: { select: '*', order: 'terminal_id' },
};

/** Tables whose id PostgreSQL generates: their sequence continues after the copied ids. */
const IDENTITY_TABLES = ['rollouts', 'terminal_upgrades'] as const;

/** Rows per INSERT (PostgreSQL takes at most 65,535 parameters a statement). */
const MAX_PARAMS = 30_000;
const MAX_ROWS = 1_000;

export type CopyCounts = Record<string, number>;

/**
 * Copies the relay's SQLite database `sqliteFile` into the PostgreSQL store at `url` (created if
 * need be; it must hold no data). Returns, and logs, the rows copied per table.
 */
export async function copySqliteToPostgres(sqliteFile: string, url: string, log: Logger, opts: { schema?: string } = {}): Promise<CopyCounts> {
  if (SCHEMA_VERSION !== COPIED_SQLITE_SCHEMA) {
    throw new Error(`this program's SQLite schema is version ${SCHEMA_VERSION} but the copy to PostgreSQL knows version ${COPIED_SQLITE_SCHEMA}`);
  }
  if (!fs.existsSync(sqliteFile)) throw new Error(`no relay database at ${sqliteFile}`);
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < SCHEMA_VERSION) {
      throw new Error(
        `relay database ${sqliteFile} has schema version ${version}, older than this program's (${SCHEMA_VERSION}): start the relay once on it (that upgrades it), stop it, then copy`,
      );
    }
    if (version > SCHEMA_VERSION) throw new Error(`relay database ${sqliteFile} has schema version ${version}, newer than this program (${SCHEMA_VERSION}); upgrade qrpos`);
    const present = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map((r) => r.name);
    if (recordsAfter([`${redoLogBase(sqliteFile)}-a`, `${redoLogBase(sqliteFile)}-b`], db.prepare('SELECT seq FROM redo_applied WHERE id = 1').pluck().get() as number).length) {
      throw new Error(`relay database ${sqliteFile} has writes still in its redo log (the relay was not stopped cleanly): start the relay once on it, stop it, then copy`);
    }
    const unknown = present.filter((t) => !(t in TABLES) && !NOT_COPIED.has(t));
    if (unknown.length) throw new Error(`relay database ${sqliteFile} has tables this copy does not know: ${unknown.join(', ')}`);

    const store = await openPostgresStore(url, { log, poolSize: 1, ...opts });
    try {
      const counts = await store.withClient((client) => copyTables(db, client, present));
      for (const [table, rows] of Object.entries(counts)) log.info('copied to PostgreSQL', { table, rows });
      return counts;
    } finally {
      await store.close();
    }
  } finally {
    db.close();
  }
}

async function copyTables(db: Database.Database, client: pg.ClientBase, present: string[]): Promise<CopyCounts> {
  const tables = PG_DATA_TABLES;
  const counts: CopyCounts = {};
  // One read transaction on SQLite (one snapshot), one transaction on PostgreSQL.
  db.exec('BEGIN');
  await client.query('BEGIN');
  try {
    // No relay writes while we copy, and none had written before.
    await client.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const nonEmpty: string[] = [];
    for (const t of tables) {
      const { rows } = await client.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t}) AS any`);
      if (rows[0].any) nonEmpty.push(t);
    }
    if (nonEmpty.length) throw new Error(`the PostgreSQL store is not empty (rows in ${nonEmpty.join(', ')}): copy only into a new database`);

    for (const t of tables) {
      counts[t] = present.includes(t) ? await copyTable(db, client, t, TABLES[t]) : 0;
      const { rows } = await client.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`);
      if (rows[0].n !== counts[t]) throw new Error(`copying ${t}: ${counts[t]} rows read, ${rows[0].n} in PostgreSQL`);
    }
    // Generated ids continue after the copied ones (and after SQLite's AUTOINCREMENT high mark).
    const highMark = new Map(
      hasSqliteSequence(db)
        ? (db.prepare('SELECT name, seq FROM sqlite_sequence').all() as { name: string; seq: number }[]).map((r) => [r.name, r.seq])
        : [],
    );
    for (const t of IDENTITY_TABLES) {
      const { rows } = await client.query<{ m: number | null }>(`SELECT MAX(id) AS m FROM ${t}`);
      const next = Math.max(rows[0].m ?? 0, highMark.get(t) ?? 0);
      if (next > 0) await client.query(`SELECT setval(pg_get_serial_sequence('${t}', 'id'), $1, true)`, [next]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.exec('COMMIT');
  }
  return counts;
}

function hasSqliteSequence(db: Database.Database): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get() !== undefined;
}

async function copyTable(db: Database.Database, client: pg.ClientBase, table: string, spec: TableCopy): Promise<number> {
  const bools = new Set(spec.bools ?? []);
  let columns: string[] | undefined;
  let chunk: unknown[][] = [];
  let copied = 0;
  const flush = async () => {
    if (!chunk.length || !columns) return;
    const width = columns.length;
    const values = chunk.map((_, i) => `(${columns!.map((__, j) => `$${i * width + j + 1}`).join(', ')})`).join(', ');
    try {
      await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, chunk.flat());
    } catch (err) {
      throw new Error(`copying ${table}: ${(err as Error).message}`, { cause: err });
    }
    copied += chunk.length;
    chunk = [];
  };
  // In chunks: a table of a busy shop's year (hundreds of thousands of rows) never sits in memory.
  for (const row of db.prepare(`SELECT ${spec.select} FROM ${spec.from ?? table} ORDER BY ${spec.order}`).iterate() as IterableIterator<Record<string, unknown>>) {
    columns ??= Object.keys(row);
    chunk.push(columns.map((c) => (bools.has(c) ? row[c] === 1 : row[c])));
    if (chunk.length >= Math.min(MAX_ROWS, Math.floor(MAX_PARAMS / columns.length))) await flush();
  }
  await flush();
  return copied;
}
