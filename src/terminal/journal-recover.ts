/**
 * Checking and recovering a damaged journal (`qrpos terminal journal check|recover`).
 *
 * The damaged file is never written: it is copied to a scratch directory and read there, table by
 * table, row by row in rowid order. When a read hits a broken page the walk resumes after it
 * (probing further and further ahead), so every row SQLite can still read is kept. The rows go
 * into a fresh journal that is renamed into place; the maintenance file goes last. Receipt
 * references continue above the highest one anybody saw: the recovered sales, any reference the
 * recovered history or records name, the relay's highest for this terminal, and the operator's
 * --min-ref.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger, type Logger } from '../shared/log';
import { Journal, maintenanceMarker, readMaintenance, writeFileDurably, type JournalDamage } from './journal';

/** The journal's tables, parents first. */
const TABLES = ['meta', 'stream_cursor', 'sales', 'refunds', 'outbox', 'sale_events', 'records'] as const;
/** Give up on a table after this many unreadable stretches. */
const MAX_SKIPS = 64;

export interface TableRecovery {
  table: string;
  /** Rows read from the damaged file. */
  read: number;
  /** Rows written to the new journal (a row that breaks a constraint is left out). */
  kept: number;
  /** Unreadable stretches skipped (0: the table read cleanly). */
  damagedStretches: number;
}

export interface JournalCheck {
  file: string;
  state: 'ok' | 'maintenance' | 'damaged' | 'absent';
  /** integrity_check's findings on the live journal (state 'ok' / 'damaged'). */
  problems: string[];
  damage: JournalDamage | null;
  /** What a recovery would keep (state 'maintenance'). */
  recoverable: TableRecovery[];
  highestRef: number;
}

type Row = Record<string, unknown>;

function scratchCopy(damagedFile: string): { file: string; done: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-journal-recover-'));
  const file = path.join(dir, 'damaged.sqlite');
  for (const suffix of ['', '-wal']) {
    if (fs.existsSync(damagedFile + suffix)) fs.copyFileSync(damagedFile + suffix, file + suffix);
  }
  return { file, done: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Every row of `table` SQLite can still read, in rowid order, stepping over broken pages. */
function readTable(db: Database.Database, table: string, columns: string[]): { rows: Row[]; damagedStretches: number } {
  const rows: Row[] = [];
  let stretches = 0;
  let max: number | null = null;
  try {
    max = (db.prepare(`SELECT MAX(rowid) AS m FROM ${table}`).get() as { m: number | null }).m;
  } catch {
    /* the rightmost page is broken too: probe blindly */
  }
  let after = 0;
  let step = 1;
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(`SELECT rowid AS __rowid, ${columns.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid`);
  } catch {
    return { rows, damagedStretches: 1 };
  }
  for (;;) {
    let progressed = false;
    try {
      for (const r of stmt.iterate(after) as Iterable<Row>) {
        rows.push(r);
        after = r.__rowid as number;
        progressed = true;
      }
      return { rows, damagedStretches: stretches };
    } catch {
      if (progressed) {
        stretches++;
        step = 1;
      }
      if (stretches >= MAX_SKIPS || (max !== null && after + step > max) || step > 1 << 24) return { rows, damagedStretches: Math.max(1, stretches) };
      after += step;
      step *= 2;
    }
  }
}

/** Copy what can be read of the damaged file into `target` (a migrated journal database). */
function salvage(damagedFile: string, target: Database.Database): TableRecovery[] {
  const copy = scratchCopy(damagedFile);
  const report: TableRecovery[] = [];
  let src: Database.Database | null = null;
  try {
    try {
      src = new Database(copy.file, { fileMustExist: true });
      // Lets SQLite read a file shorter than its header says (truncated) instead of refusing it
      // whole. better-sqlite3 runs in defensive mode, which ignores the pragma; this connection
      // writes nothing, and it is on a scratch copy.
      src.unsafeMode(true);
      src.pragma('writable_schema = ON');
    } catch {
      src = null;
    }
    target.transaction(() => {
      for (const table of TABLES) {
        const columns = (target.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
        let read: { rows: Row[]; damagedStretches: number } = { rows: [], damagedStretches: 1 };
        if (src) {
          let have = columns;
          try {
            const there = new Set((src.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
            if (there.size) have = columns.filter((c) => there.has(c));
          } catch {
            /* schema unreadable: ask for the columns this program writes */
          }
          read = readTable(src, table, have);
        }
        let kept = 0;
        const verb = table === 'stream_cursor' || table === 'meta' ? 'INSERT OR REPLACE' : 'INSERT OR IGNORE';
        for (const r of read.rows) {
          const cols = Object.keys(r).filter((c) => c !== '__rowid');
          try {
            kept += target.prepare(`${verb} INTO ${table} (rowid, ${cols.join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`).run(r.__rowid, ...cols.map((c) => r[c])).changes;
          } catch {
            /* a garbled row that breaks a constraint stays out */
          }
        }
        report.push({ table, read: read.rows.length, kept, damagedStretches: read.damagedStretches });
      }
    })();
  } finally {
    src?.close();
    copy.done();
  }
  return report;
}

/** The highest receipt reference the recovered journal knows of: its sales, its floor, and any `ref` its history or records name. */
function highestKnownRef(db: Database.Database): number {
  const q = (sql: string) => {
    try {
      return Number((db.prepare(sql).get() as { m: unknown }).m ?? 0) || 0;
    } catch {
      return 0;
    }
  };
  return Math.max(
    q('SELECT MAX(ref) AS m FROM sales'),
    q("SELECT MAX(CAST(value AS INTEGER)) AS m FROM meta WHERE key = 'ref_floor'"),
    q("SELECT MAX(CAST(json_extract(data, '$.ref') AS INTEGER)) AS m FROM sale_events WHERE json_valid(data)"),
    q("SELECT MAX(CAST(json_extract(data, '$.ref') AS INTEGER)) AS m FROM records WHERE json_valid(data)"),
  );
}

/** Look at the journal without changing anything: healthy, damaged, or in maintenance (and what a recovery would keep). */
export function checkJournal(file: string): JournalCheck {
  const damage = readMaintenance(file);
  if (damage) {
    // A dry run into a scratch journal: the schema comes from Journal's own migrations.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-journal-check-'));
    try {
      const scratch = path.join(dir, 'journal.sqlite');
      Journal.open(scratch, { log: silentLogger }).journal.close();
      const target = new Database(scratch);
      try {
        const recoverable = salvage(damage.damagedFile, target);
        return { file, state: 'maintenance', problems: [], damage, recoverable, highestRef: highestKnownRef(target) };
      } finally {
        target.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  if (!fs.existsSync(file)) return { file, state: 'absent', problems: [], damage: null, recoverable: [], highestRef: 0 };
  let db: Database.Database | null = null;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = rows.map((r) => r.integrity_check).filter((t) => t !== 'ok');
    return { file, state: problems.length ? 'damaged' : 'ok', problems, damage: null, recoverable: [], highestRef: problems.length ? 0 : highestKnownRef(db) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { file, state: 'damaged', problems: [[e.code, e.message].filter(Boolean).join(': ')], damage: null, recoverable: [], highestRef: 0 };
  } finally {
    db?.close();
  }
}

export interface RecoverOptions {
  log: Logger;
  clock?: () => number;
  /** The relay's highest receipt reference for this terminal; null when it could not be asked. */
  relayHighestRef: number | null;
  /** The operator's lower bound for the next references (a receipt number they know of). */
  minRef?: number;
}

export interface RecoveryReport {
  damagedFile: string;
  journal: string;
  tables: TableRecovery[];
  highestRecoveredRef: number;
  relayHighestRef: number | null;
  /** The next sale's reference is above this. */
  refFloor: number;
}

export class RecoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecoverError';
  }
}

/**
 * Build a new journal from what the damaged one still holds and put it in place; the terminal
 * leaves maintenance when the maintenance file is gone (the last step).
 */
export function recoverJournal(file: string, opts: RecoverOptions): RecoveryReport {
  const damage = readMaintenance(file);
  if (!damage) throw new RecoverError(`${file} is not in maintenance: nothing to recover (run 'qrpos terminal journal check')`);
  if (!fs.existsSync(damage.damagedFile)) throw new RecoverError(`the damaged journal ${damage.damagedFile} is missing: restore it, or move ${maintenanceMarker(file)} away to start an empty journal`);
  if (opts.relayHighestRef === null && opts.minRef === undefined) {
    throw new RecoverError('the relay could not be asked for the highest receipt reference of this terminal: connect the terminal to the relay, or pass --min-ref with the highest receipt number you know of');
  }
  const clock = opts.clock ?? Date.now;
  const building = `${file}.recovering`;
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(building + suffix, { force: true });
  const { journal } = Journal.open(building, { log: opts.log, clock });
  journal.close();
  const db = new Database(building);
  let report: RecoveryReport;
  try {
    db.pragma('synchronous = FULL');
    const tables = salvage(damage.damagedFile, db);
    const highestRecoveredRef = highestKnownRef(db);
    const refFloor = Math.max(highestRecoveredRef, opts.relayHighestRef ?? 0, opts.minRef ?? 0);
    const setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    db.transaction(() => {
      setMeta.run('ref_floor', String(refFloor));
      setMeta.run('recovered_from', damage.damagedFile);
      setMeta.run('recovered_at', new Date(clock()).toISOString());
    })();
    const check = db.pragma('integrity_check', { simple: true });
    if (check !== 'ok') throw new RecoverError(`the recovered journal failed its own check (${String(check)}); nothing was changed`);
    report = { damagedFile: damage.damagedFile, journal: file, tables, highestRecoveredRef, relayHighestRef: opts.relayHighestRef, refFloor };
  } finally {
    db.close();
  }
  // A journal already at the path (a start that raced the maintenance file) is kept aside too.
  if (fs.existsSync(file)) {
    const aside = `${file}.superseded-${new Date(clock()).toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, aside + suffix);
  }
  fs.renameSync(building, file);
  fs.chmodSync(file, 0o600);
  writeFileDurably(`${file}.recovered.json`, JSON.stringify(report, null, 2) + '\n');
  fs.rmSync(maintenanceMarker(file));
  opts.log.info('journal recovered', { ...report, tables: report.tables.map((t) => `${t.table}: ${t.kept}/${t.read}${t.damagedStretches ? ` (${t.damagedStretches} damaged)` : ''}`) });
  return report;
}
