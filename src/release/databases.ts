/**
 * The terminal's journal around an upgrade: consistent copies (SQLite's VACUUM INTO, one read
 * transaction: a snapshot even while the daemon writes), the backup taken before a new release
 * first opens it, and putting that backup back when a rollback needs the older schema.
 *
 * Migrations only go forward: an older release refuses a journal with a newer schema (and touches
 * nothing). So a rollback after a release that migrated the journal needs the backup taken just
 * before the switch, and that is only safe when the journal holds no sale or refund the backup
 * lacks (see upgrade.ts, "Money safety").
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fsyncPath } from '../shared/fsync';

/** How many backups of each kind are kept in <dataDir>/backups (the newest). */
export const KEEP_BACKUPS = 5;

export function userVersion(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

/**
 * A consistent copy of a live database into `dest` (which must not exist), leaving the live
 * files as they were. With no -wal beside it (nothing has it open; SQLite removes the WAL when
 * the last connection closes), the main file is the whole database: it is copied as it is, and
 * the copy is kept only if the file did not change meanwhile. Otherwise (a daemon has it open, or
 * the file changed) SQLite's VACUUM INTO writes the copy from one read transaction; a reader
 * then needs the -shm the writer already made.
 */
export function snapshot(live: string, dest: string): void {
  if (!fs.existsSync(`${live}-wal`)) {
    const before = fs.statSync(live);
    fs.copyFileSync(live, dest, fs.constants.COPYFILE_EXCL);
    const after = fs.statSync(live);
    if (!fs.existsSync(`${live}-wal`) && after.mtimeMs === before.mtimeMs && after.size === before.size && after.ino === before.ino) return;
    fs.rmSync(dest, { force: true });
  }
  const db = new Database(live, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare('VACUUM INTO ?').run(dest);
  } finally {
    db.close();
  }
}

/** 2025-01-31T12:00:00.123Z → 20250131T120000123Z (sorts by time; no colons in file names). */
export function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

export interface Backup {
  file: string;
  schema: number;
  bytes: number;
}

/**
 * Copies `live` to <backupsDir>/<prefix>-<schema>-<time>.sqlite, owned like the live file, 0600,
 * flushed to disk; keeps the newest KEEP_BACKUPS of that prefix.
 */
export function backup(live: string, backupsDir: string, prefix: string, now = Date.now()): Backup {
  const st = fs.statSync(live);
  fs.mkdirSync(backupsDir, { recursive: true, mode: 0o700 });
  fs.chownSync(backupsDir, st.uid, st.gid);
  fs.chmodSync(backupsDir, 0o700);
  const schema = userVersion(live);
  const file = path.join(backupsDir, `${prefix}-${schema}-${stamp(now)}.sqlite`);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  try {
    snapshot(live, tmp);
    fs.chownSync(tmp, st.uid, st.gid);
    fs.chmodSync(tmp, 0o600);
    fsyncPath(tmp);
    fs.renameSync(tmp, file);
    fsyncPath(backupsDir);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  pruneBackups(backupsDir, prefix);
  return { file, schema, bytes: fs.statSync(file).size };
}

export interface BackupFile {
  file: string;
  schema: number;
  stamp: string;
}

/** The backups of `prefix` in a folder, newest first. */
export function listBackups(backupsDir: string, prefix: string): BackupFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(backupsDir);
  } catch {
    return [];
  }
  const re = new RegExp(`^${prefix}-(\\d+)-(\\d{8}T\\d{9}Z)\\.sqlite$`);
  return names
    .map((n) => ({ n, m: re.exec(n) }))
    .filter((x): x is { n: string; m: RegExpExecArray } => x.m !== null)
    .map(({ n, m }) => ({ file: path.join(backupsDir, n), schema: Number(m[1]), stamp: m[2] }))
    .sort((a, b) => (a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0));
}

export function pruneBackups(backupsDir: string, prefix: string, keep = KEEP_BACKUPS): string[] {
  const old = listBackups(backupsDir, prefix).slice(keep);
  for (const b of old) fs.rmSync(b.file, { force: true });
  return old.map((b) => b.file);
}

/** The values of one column, or none when the table is not there (a journal from before it). */
function ids(file: string, table: string, column: string): Set<string> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table)) return new Set();
    return new Set((db.prepare(`SELECT ${column} FROM ${table}`).pluck().all()).map(String));
  } finally {
    db.close();
  }
}

/** Rows (by key) in the live database that a backup lacks, per kind of record. */
export interface SinceBackup {
  /** "sale" → ids, "refund" → ids, ... */
  rows: Record<string, string[]>;
  unreadable?: string;
}

/** What a restore of each database must not lose: the kinds of record, their table and key. */
export const MONEY_TABLES = {
  // The terminal's journal: its sales, refunds and Z reports (closed business days).
  journal: { sale: ['sales', 'sale_id'], refund: ['refunds', 'refund_id'], 'Z report': ['day_closes', 'number'] },
  // The relay's database: sales and refunds per terminal, Omise's webhook events, terminals' records.
  relay: { sale: ['sales', "terminal_id || '/' || sale_id"], refund: ['refunds', "terminal_id || '/' || refund_id"], 'webhook event': ['webhook_events', 'id'], record: ['records', "terminal_id || '/' || record_id"] },
} as const satisfies Record<string, Record<string, readonly [string, string]>>;

/**
 * What the live database holds that `backupFile` does not, for each kind of record in `tables`.
 * Anything there is money (or a closed day) recorded after the backup, which putting the backup
 * back would lose. A database these queries cannot read counts as having something.
 */
export function newerThan(live: string, backupFile: string, tables: Record<string, readonly [string, string]>): SinceBackup {
  const out: SinceBackup = { rows: {} };
  try {
    for (const [kind, [table, column]] of Object.entries(tables)) {
      const had = ids(backupFile, table, column);
      out.rows[kind] = [...ids(live, table, column)].filter((v) => !had.has(v));
    }
  } catch (err) {
    out.unreadable = (err as Error).message;
  }
  return out;
}

export function journalNewerThan(live: string, backupFile: string): SinceBackup {
  return newerThan(live, backupFile, MONEY_TABLES.journal);
}

/** "1 sale, 0 refund(s) ..." (what a restore would lose), or null when nothing would be. */
export function describeLoss(s: SinceBackup): string | null {
  if (s.unreadable) return `a database that cannot be compared with the backup (${s.unreadable})`;
  const found = Object.entries(s.rows).filter(([, v]) => v.length);
  if (!found.length) return null;
  return found.map(([k, v]) => `${v.length} ${k}${v.length === 1 ? '' : 's'}`).join(', ');
}

/**
 * Puts `backupFile` back as `live` (the service must be stopped). The live journal is kept first,
 * whole, as <prefix>-<schema>-<time>.replaced.sqlite in the backups folder (its WAL checkpointed
 * into it; for inspection, never deleted here); then a copy of the backup, owned and moded as the
 * live file, is renamed over it: at every moment the live path holds a whole journal. Returns
 * where the replaced journal went.
 */
export function restore(live: string, backupFile: string, backupsDir: string, prefix: string, now = Date.now()): string {
  const st = fs.statSync(live);
  if (fs.existsSync(`${live}-wal`)) {
    const db = new Database(live, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  }
  const schema = userVersion(live);
  const aside = path.join(backupsDir, `${prefix}-${schema}-${stamp(now)}.replaced.sqlite`);
  const tmp = `${live}.restore-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  fs.copyFileSync(backupFile, tmp);
  fs.chownSync(tmp, st.uid, st.gid);
  fs.chmodSync(tmp, st.mode & 0o777);
  fsyncPath(tmp);
  try {
    fs.linkSync(live, aside);
  } catch {
    fs.copyFileSync(live, aside);
    fsyncPath(aside);
  }
  fsyncPath(backupsDir);
  // A WAL left beside the main file would be replayed into the restored one: it goes with the old.
  for (const ext of ['-wal', '-shm']) if (fs.existsSync(live + ext)) fs.renameSync(live + ext, aside + ext);
  fs.renameSync(tmp, live);
  fsyncPath(path.dirname(live));
  return aside;
}
