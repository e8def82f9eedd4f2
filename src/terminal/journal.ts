/**
 * The terminal's journal: the local truth about sales, in SQLite with WAL and synchronous=FULL
 * so a committed transaction survives kill -9 and power loss. Every write that must reach the
 * relay goes into the same transaction as the state it belongs to (a sale and its create
 * command, an expire request and its command), so a crash can never leave one without the other.
 */
import { DEFAULT_METHOD, isPaymentMethod, PAYMENT_METHODS, type PaymentMethod } from '../domain/methods';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Currency } from '../domain/money';
import { canMoveLocalSale, isFinalSaleStatus, OPEN_LOCAL_SALE_STATUSES, saleOutcome, type LocalSaleStatus } from '../domain/status';
import type { RefundView, SaleView } from '../link/protocol';
import type { Logger } from '../shared/log';
import { fsyncPath } from '../shared/fsync';
import { newId } from './ids';

export type { LocalSaleStatus };

export interface SaleRow {
  saleId: string;
  ref: number;
  /** How the customer pays (Omise source type). */
  method: PaymentMethod;
  amount: number;
  currency: Currency;
  status: LocalSaleStatus;
  chargeId: string | null;
  qrText: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  expireRequested: boolean;
  late: boolean;
  refundedAmount: number;
  canVoid: boolean;
  paidAt: string | null;
  /** Omise's created_at of the charge, normalised to ISO with milliseconds; null before the relay said. */
  chargeCreatedAt: string | null;
  /** A late payment's fate, chosen by a supervisor: null while it waits for one. */
  lateResolution: LateResolution | null;
  createdAt: string;
  updatedAt: string;
}

export type LateResolution = 'kept' | 'refunded';

/** Counts and sums of one business day (or part of it), per payment method and currency. See Journal.dayReport. */
export interface DayReportRow {
  /** Absent in day closes stored before there were several methods (they were all Alipay+). */
  method?: PaymentMethod;
  currency: Currency;
  paid: { count: number; amount: number };
  failed: { count: number; amount: number };
  expired: { count: number; amount: number };
  notCreated: { count: number; amount: number };
  refunded: { count: number; amount: number };
  voided: { count: number; amount: number };
  late: { count: number; amount: number; unresolved: number };
  /** Paid minus refunded minus voided. */
  net: number;
}

export interface DayClose {
  number: number;
  businessDay: string;
  since: string;
  until: string;
  closedAt: string;
  rows: DayReportRow[];
}

export type OutboxKind = 'create' | 'expire' | 'refund';

export interface OutboxItem {
  id: number;
  kind: OutboxKind;
  saleId: string;
  key: string;
  body: Record<string, unknown>;
  attempts: number;
  nextAt: number;
  lastError: string | null;
}

export interface RecordRow {
  recordId: string;
  saleId: string | null;
  kind: string;
  at: string;
  data: Record<string, unknown>;
}

export interface ApplyResult {
  /** Whether anything was written. */
  changed: boolean;
  /** The sale after the apply (null when unknown and not insertable). */
  sale: SaleRow | null;
  /** The status moved to successful although the terminal had asked for an expire. */
  becameLate: boolean;
}

/** A damaged journal, set aside untouched; the terminal sells nothing until an operator recovers it. */
export interface JournalDamage {
  /** Where the damaged file (and its -wal / -shm) now lie. */
  damagedFile: string;
  reason: string;
  since: string;
}

/** The journal could not be opened: it is damaged (set aside, see `damage`) and waits for `qrpos terminal journal recover`. */
export class JournalDamagedError extends Error {
  constructor(readonly damage: JournalDamage) {
    super(`the journal is damaged (${damage.reason}); it was set aside as ${damage.damagedFile}: run 'qrpos terminal journal recover'`);
    this.name = 'JournalDamagedError';
  }
}

/** Whether journal writes go through: not after a write failed for lack of space, until a probe write succeeds. */
export type StorageState = { ok: true } | { ok: false; reason: string; since: string };

/** A write that failed because the disk is full or failing (not a constraint or a bug). */
export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO';
}

/** The file that says "this journal is in maintenance" (it names the damaged file). */
export function maintenanceMarker(file: string): string {
  return `${file}.maintenance.json`;
}

/** The damage recorded for this journal path, or null when it is not in maintenance. */
export function readMaintenance(file: string): JournalDamage | null {
  const marker = maintenanceMarker(file);
  if (!fs.existsSync(marker)) return null;
  try {
    const d = JSON.parse(fs.readFileSync(marker, 'utf8')) as Partial<JournalDamage>;
    if (typeof d.damagedFile === 'string' && typeof d.reason === 'string' && typeof d.since === 'string') return { damagedFile: d.damagedFile, reason: d.reason, since: d.since };
  } catch {
    /* unreadable marker: still maintenance */
  }
  return { damagedFile: '(unknown: see the maintenance file)', reason: `unreadable maintenance file ${marker}`, since: new Date(fs.statSync(marker).mtimeMs).toISOString() };
}

/** Written tmp → fsync → rename, 0600, so a crash never leaves half a marker. */
export function writeFileDurably(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncPath(path.dirname(file));
}

const SCHEMA_VERSION = 5;
/** The journal schema this program reads and writes (user_version); an upgrade's self-test reports it. */
export const JOURNAL_SCHEMA_VERSION = SCHEMA_VERSION;
/** SQLite page cache of the journal connection, in KiB (see openChecked). */
export const JOURNAL_CACHE_KIB = 256;

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE sales (
      sale_id TEXT PRIMARY KEY,
      ref INTEGER NOT NULL UNIQUE,
      amount INTEGER NOT NULL CHECK (amount > 0),
      currency TEXT NOT NULL,
      status TEXT NOT NULL,
      charge_id TEXT,
      qr_text TEXT,
      failure_code TEXT,
      failure_message TEXT,
      error_code TEXT,
      error_message TEXT,
      expire_requested INTEGER NOT NULL DEFAULT 0,
      late INTEGER NOT NULL DEFAULT 0,
      refunded_amount INTEGER NOT NULL DEFAULT 0,
      can_void INTEGER NOT NULL DEFAULT 0,
      paid_at TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE INDEX sales_status ON sales(status);
    CREATE TABLE sale_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      sale_id TEXT,
      at TEXT NOT NULL,
      kind TEXT NOT NULL,
      data TEXT NOT NULL
    );
    CREATE INDEX sale_events_sale ON sale_events(sale_id);
    CREATE TRIGGER sale_events_append_only_u BEFORE UPDATE ON sale_events BEGIN SELECT RAISE(ABORT, 'sale_events is append-only'); END;
    CREATE TRIGGER sale_events_append_only_d BEFORE DELETE ON sale_events BEGIN SELECT RAISE(ABORT, 'sale_events is append-only'); END;
    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      kind TEXT NOT NULL,
      sale_id TEXT NOT NULL,
      key TEXT NOT NULL UNIQUE,
      body TEXT NOT NULL,
      state TEXT NOT NULL DEFAULT 'pending',
      attempts INTEGER NOT NULL DEFAULT 0,
      next_at INTEGER NOT NULL DEFAULT 0,
      last_error TEXT,
      created_at TEXT NOT NULL,
      done_at TEXT
    );
    CREATE INDEX outbox_due ON outbox(state, next_at);
    CREATE TABLE refunds (
      refund_id TEXT PRIMARY KEY,
      sale_id TEXT NOT NULL,
      amount INTEGER NOT NULL,
      currency TEXT NOT NULL,
      status TEXT NOT NULL,
      voided INTEGER NOT NULL DEFAULT 0,
      error TEXT,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE TABLE records (
      record_id TEXT PRIMARY KEY,
      sale_id TEXT,
      kind TEXT NOT NULL,
      at TEXT NOT NULL,
      data TEXT NOT NULL,
      synced INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX records_unsynced ON records(synced);
    CREATE TABLE stream_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL);
    INSERT INTO stream_cursor (id, last_seq) VALUES (1, 0);
  `,
  // ref_floor: a recovered journal continues receipt references above every one issued before.
  2: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // When Omise created the charge (Omise's clock): the day a sale counts in, whatever this device's clock says.
  3: `
    ALTER TABLE sales ADD COLUMN charge_created_at TEXT;
  `,
  // A late payment stays on the idle screen until a supervisor keeps it as a sale or refunds it;
  // a Z report closes a business day once, with its totals kept as they were printed.
  4: `
    ALTER TABLE sales ADD COLUMN late_resolution TEXT;
    CREATE TABLE day_closes (
      number INTEGER PRIMARY KEY,
      business_day TEXT NOT NULL UNIQUE,
      since TEXT NOT NULL,
      until TEXT NOT NULL,
      closed_at TEXT NOT NULL,
      report TEXT NOT NULL
    );
  `,
  // Several payment methods: each sale keeps the one the cashier (or customer) picked.
  5: `
    ALTER TABLE sales ADD COLUMN method TEXT NOT NULL DEFAULT 'alipayplus_mpm';
  `,
};

const UNRESOLVED_LATE = "late = 1 AND status = 'successful' AND late_resolution IS NULL AND refunded_amount < amount";

const NEXT_REF = `SELECT MAX(COALESCE((SELECT MAX(ref) FROM sales), 0), COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'ref_floor'), 0)) + 1 AS n`;

/** `'recorded', 'creating', 'pending'`: the sales still waiting for an outcome, for SQL. */
const OPEN_STATUSES_SQL = OPEN_LOCAL_SALE_STATUSES.map((s) => `'${s}'`).join(', ');

interface RawSale {
  sale_id: string;
  ref: number;
  amount: number;
  currency: string;
  status: string;
  charge_id: string | null;
  qr_text: string | null;
  failure_code: string | null;
  failure_message: string | null;
  error_code: string | null;
  error_message: string | null;
  expire_requested: number;
  late: number;
  refunded_amount: number;
  can_void: number;
  paid_at: string | null;
  charge_created_at: string | null;
  late_resolution: string | null;
  method?: string;
  created_at: string;
  updated_at: string;
}

function toSale(r: RawSale | undefined): SaleRow | null {
  if (!r) return null;
  return {
    saleId: r.sale_id,
    ref: r.ref,
    method: isPaymentMethod(r.method) ? r.method : DEFAULT_METHOD,
    amount: r.amount,
    currency: r.currency as Currency,
    status: r.status as LocalSaleStatus,
    chargeId: r.charge_id,
    qrText: r.qr_text,
    failureCode: r.failure_code,
    failureMessage: r.failure_message,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    expireRequested: r.expire_requested === 1,
    late: r.late === 1,
    refundedAmount: r.refunded_amount,
    canVoid: r.can_void === 1,
    paidAt: r.paid_at,
    chargeCreatedAt: r.charge_created_at,
    lateResolution: (r.late_resolution as LateResolution | null) ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface JournalOptions {
  log: Logger;
  clock?: () => number;
  /**
   * Below this many free bytes on the journal's filesystem new sales pause (checkSpace), keeping
   * room for the sales in flight to finish. Default JOURNAL_MIN_FREE_BYTES.
   */
  minFreeBytes?: number;
}

/** Headroom kept for the sales in flight (a sale takes a few KiB of journal). */
export const JOURNAL_MIN_FREE_BYTES = 1024 * 1024;

export class Journal {
  private readonly db: Database.Database;
  private readonly clock: () => number;
  private readonly log: Logger;
  /**
   * Statements compiled once and reused: preparing on every call compiled the SQL again and left
   * a native statement behind for the GC to finalise, dozens per sale (and per status request).
   */
  private readonly statements = new Map<string, Database.Statement>();
  private readonly file: string;
  private failure: { reason: string; since: string } | null = null;
  private lowSpace: { reason: string; since: string } | null = null;
  private readonly minFreeBytes: number;
  /** Writes that failed for lack of space, in order, done again once a write goes through. */
  private deferred: { what: string; fn: () => void }[] = [];
  private readonly storageListeners = new Set<(s: StorageState) => void>();

  private constructor(db: Database.Database, file: string, opts: JournalOptions) {
    this.db = db;
    this.file = file;
    this.minFreeBytes = opts.minFreeBytes ?? JOURNAL_MIN_FREE_BYTES;
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log;
  }

  /**
   * Open (creating or migrating) the journal. A damaged file is never replaced by a fresh one: it
   * is set aside untouched (renamed, with its -wal and -shm), a maintenance file names it, and
   * JournalDamagedError is thrown, now and at every start until `qrpos terminal journal recover`.
   */
  static open(file: string, opts: JournalOptions): { journal: Journal } {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const pending = readMaintenance(file);
    if (pending) throw new JournalDamagedError(pending);
    try {
      return { journal: Journal.openChecked(file, opts) };
    } catch (err) {
      if (!isCorruption(err)) throw err;
      const damage = setAside(file, describe(err), opts.clock ? opts.clock() : Date.now());
      opts.log.error('journal is damaged: set aside untouched; sales stay paused until an operator runs "qrpos terminal journal recover"', { ...damage });
      throw new JournalDamagedError(damage);
    }
  }

  private static openChecked(file: string, opts: JournalOptions): Journal {
    const db = new Database(file);
    try {
      db.pragma('busy_timeout = 5000');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new CorruptJournalError(`quick_check: ${String(check)}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // SQLite's default 2 MB page cache filled up as the journal grew (~2.7 KB per sale) and
      // stayed resident; the daemon's queries touch the newest rows and the indexes' ends, which
      // fit in far less, and a miss is a read from the OS's file cache. Per connection, not saved.
      db.pragma(`cache_size = -${JOURNAL_CACHE_KIB}`);
      db.pragma('foreign_keys = ON');
      const j = new Journal(db, file, opts);
      j.migrate();
      return j;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    // Nothing has been written yet: the file stays as the newer release left it.
    if (current > SCHEMA_VERSION) {
      throw new Error(
        `journal schema ${current} is newer than this program (${SCHEMA_VERSION}): a newer qrpos release wrote it. ` +
          `Nothing was changed. Run that release again (qrpos upgrade), or see ${path.join(path.dirname(this.file), 'backups')} and scripts/SETUP.md ("Upgrades")`,
      );
    }
    for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v}`);
      })();
      this.log.info('journal migrated', { version: v });
    }
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  // --- storage health -----------------------------------------------------------------------

  /** Run a write; a failure for lack of space marks the journal failing (and is rethrown). */
  private guard<T>(fn: () => T): T {
    let out: T;
    try {
      out = fn();
    } catch (err) {
      if (isStorageError(err)) this.noteFailure(err);
      throw err;
    }
    if (this.failure && !this.db.inTransaction) this.recovered();
    return out;
  }

  private tx<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn)());
  }

  private noteFailure(err: unknown): void {
    if (this.failure) return;
    const e = err as { code?: string; message?: string };
    this.failure = { reason: `cannot write the journal (${e.code ?? 'error'}: ${e.message ?? 'no message'})`, since: new Date(this.clock()).toISOString() };
    this.log.error('journal write failed: new sales are paused until it can write again', { file: this.file, ...this.failure });
    for (const l of this.storageListeners) l(this.storage());
  }

  private recovered(): void {
    const was = this.failure;
    this.failure = null;
    this.log.info('journal writes go through again', { since: was?.since, deferred: this.deferred.length });
    const todo = this.deferred;
    this.deferred = [];
    for (let i = 0; i < todo.length; i++) {
      try {
        this.tx(todo[i].fn);
      } catch (err) {
        if (!isStorageError(err)) {
          this.log.error('a deferred journal write failed; dropped', { what: todo[i].what, error: (err as Error).message });
          continue;
        }
        // Full again: keep this one and the rest, in order.
        this.deferred = [...todo.slice(i), ...this.deferred];
        return;
      }
    }
    if (!this.failure) for (const l of this.storageListeners) l(this.storage());
  }

  storage(): StorageState {
    const problem = this.failure ?? this.lowSpace;
    return problem ? { ok: false, ...problem } : { ok: true };
  }

  /** Look at the free space under the journal (cheap: one statfs); listeners hear of a change. */
  checkSpace(): StorageState {
    let free: number;
    try {
      const st = fs.statfsSync(path.dirname(this.file));
      free = st.bavail * st.bsize;
    } catch {
      return this.storage();
    }
    const low = free < this.minFreeBytes;
    if (low === Boolean(this.lowSpace)) return this.storage();
    const before = this.storage().ok;
    this.lowSpace = low ? { reason: `disk nearly full: ${Math.floor(free / 1024)} KiB free for the journal, ${Math.floor(this.minFreeBytes / 1024)} KiB needed`, since: new Date(this.clock()).toISOString() } : null;
    if (low) this.log.warn('journal disk nearly full: new sales paused', { file: this.file, freeBytes: free, minFreeBytes: this.minFreeBytes });
    else this.log.info('journal disk has room again', { file: this.file, freeBytes: free });
    if (this.storage().ok !== before || low) for (const l of this.storageListeners) l(this.storage());
    return this.storage();
  }

  /** Told when writes start failing and when they go through again. */
  onStorageChange(listener: (s: StorageState) => void): () => void {
    this.storageListeners.add(listener);
    return () => this.storageListeners.delete(listener);
  }

  /** While failing: try one small real write (the WAL grows by a page); true when writes work again. */
  probe(): boolean {
    if (!this.failure) return true;
    try {
      this.tx(() => this.db.pragma(`user_version = ${SCHEMA_VERSION}`));
    } catch {
      return false;
    }
    return !this.failure;
  }

  /**
   * Do a write now, or, when the disk is full, keep it in memory and do it (in order) as soon as
   * writes go through again. Returns whether it was written now.
   */
  writeOrDefer(what: string, fn: () => void): boolean {
    if (this.failure) {
      this.deferred.push({ what, fn });
      return false;
    }
    try {
      this.tx(fn);
      return true;
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.deferred.push({ what, fn });
      this.log.warn('journal write kept in memory until there is space', { what });
      return false;
    }
  }

  /** Writes waiting in memory for space. */
  deferredCount(): number {
    return this.deferred.length;
  }

  /** What `fn` would return, computed in a transaction that is rolled back (nothing is written). */
  preview<T>(fn: () => T): T {
    const rollback = new Error('preview: rolled back');
    let out: { v: T } | null = null;
    try {
      this.db.transaction(() => {
        out = { v: fn() };
        throw rollback;
      })();
    } catch (err) {
      if (err !== rollback) throw err;
    }
    return (out as { v: T } | null)!.v;
  }

  /**
   * The supervisor PIN's wrong-entry count and lockout (epoch ms), kept so that a restart or a
   * power cycle neither resets the count nor lifts a lockout.
   */
  pinLock(): { pinFailures: number; pinLockedUntil: number } {
    const r = this.sql("SELECT value FROM meta WHERE key = 'pin_lock'").get() as { value: string } | undefined;
    try {
      const v = JSON.parse(r?.value ?? '{}') as { failures?: unknown; lockedUntil?: unknown };
      const n = (x: unknown) => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 ? x : 0);
      return { pinFailures: n(v.failures), pinLockedUntil: n(v.lockedUntil) };
    } catch {
      return { pinFailures: 0, pinLockedUntil: 0 };
    }
  }

  setPinLock(v: { pinFailures: number; pinLockedUntil: number }): void {
    const value = JSON.stringify({ failures: v.pinFailures, lockedUntil: v.pinLockedUntil });
    this.tx(() => this.sql("INSERT INTO meta (key, value) VALUES ('pin_lock', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(value));
  }

  /**
   * The payment methods the relay last said this terminal may offer (kept so a restart shows the
   * picker before the link is up), and the one the cashier last picked (the picker's default).
   */
  paymentMethods(): { methods: PaymentMethod[] | null; defaultMethod: PaymentMethod | null } {
    const get = (key: string) => (this.sql('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
    let methods: PaymentMethod[] | null = null;
    try {
      const list = JSON.parse(get('methods') ?? 'null') as unknown;
      if (Array.isArray(list) && list.length && list.every(isPaymentMethod)) methods = list;
    } catch {
      /* unreadable: as if never told */
    }
    const d = get('default_method');
    return { methods, defaultMethod: isPaymentMethod(d) ? d : null };
  }

  setPaymentMethods(methods: PaymentMethod[]): void {
    const value = JSON.stringify(methods);
    this.tx(() => this.sql("INSERT INTO meta (key, value) VALUES ('methods', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(value));
  }

  setDefaultMethod(method: PaymentMethod): void {
    this.tx(() => this.sql("INSERT INTO meta (key, value) VALUES ('default_method', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(method));
  }

  /** The damaged journal this one was recovered from, if any. */
  recoveredFrom(): string | null {
    const r = this.sql("SELECT value FROM meta WHERE key = 'recovered_from'").get() as { value: string } | undefined;
    return r?.value ?? null;
  }

  /** No receipt reference at or below `ref` is ever issued by this journal. */
  setRefFloor(ref: number): void {
    if (!Number.isSafeInteger(ref) || ref < 0) throw new Error(`invalid reference floor ${ref}`);
    this.tx(() => this.sql("INSERT INTO meta (key, value) VALUES ('ref_floor', ?) ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), excluded.value)").run(ref));
  }

  /** The reference the next new sale gets. */
  nextRef(): number {
    return (this.sql(NEXT_REF).get() as { n: number }).n;
  }

  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) {
      st = this.db.prepare(text);
      // The UPDATE built from the columns that changed has a bounded number of shapes; the cap
      // only guards against a future caller building SQL from data.
      if (this.statements.size < 100) this.statements.set(text, st);
    }
    return st;
  }

  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }

  /** Append to the sale's history and to the records that sync to the relay. */
  private appendEvent(saleId: string | null, kind: string, data: Record<string, unknown>): void {
    const at = this.iso();
    this.sql('INSERT INTO sale_events (sale_id, at, kind, data) VALUES (?, ?, ?, ?)').run(saleId, at, kind, JSON.stringify(data));
    this.sql('INSERT INTO records (record_id, sale_id, kind, at, data) VALUES (?, ?, ?, ?, ?)').run(newId(this.clock()), saleId, kind, at, JSON.stringify(data));
  }

  private enqueue(kind: OutboxKind, saleId: string, key: string, body: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO outbox (kind, sale_id, key, body, created_at, next_at) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(key) DO NOTHING')
      .run(kind, saleId, key, JSON.stringify(body), this.iso());
  }

  /** The durable record of a new sale plus its queued create command, in one transaction. */
  recordSale(sale: { saleId: string; amount: number; currency: Currency; method?: PaymentMethod; at: number }): SaleRow {
    if (!Number.isSafeInteger(sale.amount) || sale.amount <= 0) throw new Error(`invalid amount ${sale.amount}`);
    return this.tx(() => {
      const existing = this.getSale(sale.saleId);
      if (existing) return existing;
      const ref = this.nextRef();
      const method = sale.method ?? DEFAULT_METHOD;
      const created = new Date(sale.at).toISOString();
      this.db
        .prepare('INSERT INTO sales (sale_id, ref, method, amount, currency, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(sale.saleId, ref, method, sale.amount, sale.currency, 'recorded', created, this.iso());
      this.appendEvent(sale.saleId, 'sale.recorded', { amount: sale.amount, currency: sale.currency, method, ref });
      this.enqueue('create', sale.saleId, `create:${sale.saleId}`, { saleId: sale.saleId, amount: sale.amount, currency: sale.currency, method, createdAt: created });
      return this.getSale(sale.saleId)!;
    });
  }

  /** Mark the sale cancelled/timed out and queue the expire of its charge (idempotent). */
  requestExpire(saleId: string, reason: string): void {
    this.tx(() => {
      const sale = this.getSale(saleId);
      if (!sale) return;
      if (!sale.expireRequested) {
        this.sql('UPDATE sales SET expire_requested = 1, updated_at = ? WHERE sale_id = ?').run(this.iso(), saleId);
        this.appendEvent(saleId, 'sale.expire_requested', { reason });
      }
      if (!isFinalSaleStatus(sale.status)) this.enqueue('expire', saleId, `expire:${saleId}`, { saleId });
    });
  }

  queueRefund(r: { saleId: string; refundId: string; amount: number; currency: Currency }): void {
    this.tx(() => {
      this.db
        .prepare('INSERT INTO refunds (refund_id, sale_id, amount, currency, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING')
        .run(r.refundId, r.saleId, r.amount, r.currency, 'queued', this.iso(), this.iso());
      this.appendEvent(r.saleId, 'refund.requested', { refundId: r.refundId, amount: r.amount });
      this.enqueue('refund', r.saleId, `refund:${r.refundId}`, { refundId: r.refundId, amount: r.amount, mode: 'auto' });
    });
  }

  audit(kind: string, saleId: string | null, data: Record<string, unknown>): void {
    this.tx(() => this.appendEvent(saleId, kind, data));
  }

  /**
   * Apply the relay's view of a sale. Idempotent; statuses only move forward; a sale the
   * journal does not know (made before a journal reset, say) is inserted so it is not lost.
   */
  applySaleView(v: SaleView, source: string): ApplyResult {
    return this.tx((): ApplyResult => {
      let sale = this.getSale(v.saleId);
      let changed = false;
      if (!sale) {
        const ref = this.nextRef();
        this.db
          .prepare('INSERT INTO sales (sale_id, ref, amount, currency, status, expire_requested, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(v.saleId, ref, v.amount, v.currency, 'recorded', v.expireRequested ? 1 : 0, v.createdAt, this.iso());
        this.appendEvent(v.saleId, 'sale.adopted', { source, amount: v.amount, currency: v.currency, ref });
        sale = this.getSale(v.saleId)!;
        changed = true;
      }
      const moves = canMoveLocalSale(sale.status, v.status);
      const becameLate = moves && v.status === 'successful' && sale.expireRequested;
      const sets: string[] = [];
      const args: unknown[] = [];
      const set = (col: string, val: unknown, now: unknown) => {
        if (val !== now) {
          sets.push(`${col} = ?`);
          args.push(val);
        }
      };
      if (moves) set('status', v.status, sale.status);
      // Details fill in while non-final and whenever they arrive with a forward move; a final
      // sale's money facts (refunds, void window) still update.
      if (moves || !isFinalSaleStatus(sale.status)) {
        if (v.chargeId) set('charge_id', v.chargeId, sale.chargeId);
        if (v.qr) set('qr_text', v.qr.text, sale.qrText);
        if (v.failureCode) set('failure_code', v.failureCode, sale.failureCode);
        if (v.failureMessage) set('failure_message', v.failureMessage, sale.failureMessage);
        if (v.error) {
          set('error_code', v.error.code, sale.errorCode);
          set('error_message', v.error.message, sale.errorMessage);
        }
        if (v.paidAt) set('paid_at', v.paidAt, sale.paidAt);
      }
      const omiseCreated = v.chargeCreatedAt ? Date.parse(v.chargeCreatedAt) : NaN;
      if (Number.isFinite(omiseCreated)) set('charge_created_at', new Date(omiseCreated).toISOString(), sale.chargeCreatedAt);
      if (v.refundedAmount > sale.refundedAmount) set('refunded_amount', v.refundedAmount, sale.refundedAmount);
      set('can_void', v.canVoid ? 1 : 0, sale.canVoid ? 1 : 0);
      if (becameLate) set('late', 1, sale.late ? 1 : 0);
      if (sets.length) {
        sets.push('updated_at = ?');
        args.push(this.iso(), v.saleId);
        this.sql(`UPDATE sales SET ${sets.join(', ')} WHERE sale_id = ?`).run(...args);
        changed = true;
      }
      if (moves) {
        this.appendEvent(v.saleId, 'sale.status', {
          from: sale.status,
          to: v.status,
          source,
          chargeId: v.chargeId,
          ...(v.failureCode ? { failureCode: v.failureCode } : {}),
          ...(becameLate ? { late: true } : {}),
        });
        if (isFinalSaleStatus(v.status)) {
          // Nothing is left to do for a finished sale's create / expire.
          this.sql("UPDATE outbox SET state = 'done', done_at = ? WHERE sale_id = ? AND kind IN ('create', 'expire') AND state = 'pending'").run(this.iso(), v.saleId);
        }
      }
      for (const r of v.refunds) this.applyRefundRow(r);
      return { changed, sale: this.getSale(v.saleId), becameLate };
    });
  }

  /** A local refusal (the relay answered 4xx to the create): no charge exists. */
  markCreateRejected(saleId: string, error: { code: string; message: string }): ApplyResult {
    return this.tx((): ApplyResult => {
      const sale = this.getSale(saleId);
      if (!sale || !canMoveLocalSale(sale.status, 'create_failed')) return { changed: false, sale, becameLate: false };
      this.db
        .prepare("UPDATE sales SET status = 'create_failed', error_code = ?, error_message = ?, updated_at = ? WHERE sale_id = ?")
        .run(error.code, error.message, this.iso(), saleId);
      this.appendEvent(saleId, 'sale.status', { from: sale.status, to: 'create_failed', source: 'relay-refused', error });
      this.sql("UPDATE outbox SET state = 'done', done_at = ? WHERE sale_id = ? AND kind = 'expire' AND state = 'pending'").run(this.iso(), saleId);
      return { changed: true, sale: this.getSale(saleId), becameLate: false };
    });
  }

  private applyRefundRow(r: RefundView): boolean {
    const row = this.sql('SELECT status FROM refunds WHERE refund_id = ?').get(r.refundId) as { status: string } | undefined;
    if (row && (row.status === 'done' || row.status === 'failed')) return false;
    if (row && row.status === r.status) return false;
    if (!row) {
      this.db
        .prepare('INSERT INTO refunds (refund_id, sale_id, amount, currency, status, voided, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.refundId, r.saleId, r.amount, r.currency, r.status, r.voided ? 1 : 0, r.error, r.createdAt, this.iso());
    } else {
      this.sql('UPDATE refunds SET status = ?, voided = ?, error = ?, updated_at = ? WHERE refund_id = ?').run(r.status, r.voided ? 1 : 0, r.error, this.iso(), r.refundId);
    }
    this.appendEvent(r.saleId, 'refund.status', { refundId: r.refundId, status: r.status, voided: r.voided, amount: r.amount });
    return true;
  }

  /**
   * A refund request the relay answered "already refunded in full": it moved no money, so it is
   * closed as `superseded` (counted neither as a refund nor as a failure) with the outbox item.
   */
  closeSupersededRefund(outboxId: number, refundId: string, saleId: string): void {
    this.tx(() => {
      this.outboxDone(outboxId);
      this.sql("UPDATE refunds SET status = 'superseded', error = NULL, updated_at = ? WHERE refund_id = ? AND status NOT IN ('done', 'failed')").run(this.iso(), refundId);
      this.appendEvent(saleId, 'refund.status', { refundId, status: 'superseded', reason: 'already refunded in full' });
    });
  }

  applyRefundView(r: RefundView): boolean {
    return this.tx(() => {
      const changed = this.applyRefundRow(r);
      if (changed && r.status === 'done') {
        this.sql('UPDATE sales SET refunded_amount = MIN(amount, refunded_amount + ?), updated_at = ? WHERE sale_id = ?').run(r.amount, this.iso(), r.saleId);
        if (r.voided) {
          const sale = this.getSale(r.saleId);
          if (sale && canMoveLocalSale(sale.status, 'reversed') && sale.refundedAmount >= sale.amount) {
            this.sql("UPDATE sales SET status = 'reversed' WHERE sale_id = ?").run(r.saleId);
          }
        }
      }
      return changed;
    });
  }

  /** Run `apply` and move the stream cursor in one transaction; events at or below the cursor are skipped. */
  applyStreamEvent<T>(seq: number, apply: () => T): { applied: boolean; result?: T } {
    return this.tx(() => {
      if (seq <= this.lastSeq()) return { applied: false };
      const result = apply();
      this.sql('UPDATE stream_cursor SET last_seq = ? WHERE id = 1').run(seq);
      return { applied: true, result };
    });
  }

  lastSeq(): number {
    return (this.sql('SELECT last_seq FROM stream_cursor WHERE id = 1').get() as { last_seq: number }).last_seq;
  }

  /** After a re-pair to a different terminal id the relay's sequence starts over. */
  resetCursor(to = 0): void {
    this.guard(() => this.sql('UPDATE stream_cursor SET last_seq = ? WHERE id = 1').run(to));
  }

  // --- outbox -------------------------------------------------------------------------------

  dueOutbox(now: number, limit = 20): OutboxItem[] {
    const rows = this.db
      .prepare("SELECT id, kind, sale_id, key, body, attempts, next_at, last_error FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY id LIMIT ?")
      .all(now, limit) as { id: number; kind: OutboxKind; sale_id: string; key: string; body: string; attempts: number; next_at: number; last_error: string | null }[];
    return rows.map((r) => ({ id: r.id, kind: r.kind, saleId: r.sale_id, key: r.key, body: JSON.parse(r.body) as Record<string, unknown>, attempts: r.attempts, nextAt: r.next_at, lastError: r.last_error }));
  }

  nextOutboxAt(): number | null {
    const r = this.sql("SELECT MIN(next_at) AS n FROM outbox WHERE state = 'pending'").get() as { n: number | null };
    return r.n;
  }

  /** Run several journal writes as one transaction (one fsync). */
  atomically<T>(fn: () => T): T {
    return this.tx(fn);
  }

  outboxDone(id: number): void {
    this.guard(() => this.sql("UPDATE outbox SET state = 'done', done_at = ? WHERE id = ?").run(this.iso(), id));
  }

  outboxRetry(id: number, error: string, nextAt: number): void {
    this.guard(() => this.sql('UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_at = ? WHERE id = ?').run(error.slice(0, 500), nextAt, id));
  }

  /** Permanently refused (4xx): kept for the operator, never retried. */
  outboxDead(id: number, error: string): void {
    this.guard(() => this.sql("UPDATE outbox SET state = 'dead', last_error = ?, done_at = ? WHERE id = ?").run(error.slice(0, 500), this.iso(), id));
  }

  /** Retry everything now (the link just came back). */
  outboxWake(): void {
    this.guard(() => this.sql("UPDATE outbox SET next_at = 0 WHERE state = 'pending'").run());
  }

  pendingOutbox(): number {
    return (this.sql("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").get() as { n: number }).n;
  }

  // --- records ------------------------------------------------------------------------------

  unsyncedRecords(limit = 200): RecordRow[] {
    const rows = this.sql('SELECT record_id, sale_id, kind, at, data FROM records WHERE synced = 0 ORDER BY rowid LIMIT ?').all(limit) as {
      record_id: string;
      sale_id: string | null;
      kind: string;
      at: string;
      data: string;
    }[];
    return rows.map((r) => ({ recordId: r.record_id, saleId: r.sale_id, kind: r.kind, at: r.at, data: JSON.parse(r.data) as Record<string, unknown> }));
  }

  markRecordsSynced(ids: string[]): void {
    const stmt = this.sql('UPDATE records SET synced = 1 WHERE record_id = ?');
    this.tx(() => {
      for (const id of ids) stmt.run(id);
    });
  }

  /** Queued commands plus records not yet at the relay (the idle screen's "unsynced"). */
  unsyncedCount(): number {
    const r = (this.sql('SELECT COUNT(*) AS n FROM records WHERE synced = 0').get() as { n: number }).n;
    return r + this.pendingOutbox();
  }

  // --- queries ------------------------------------------------------------------------------

  getSale(saleId: string): SaleRow | null {
    return toSale(this.sql('SELECT * FROM sales WHERE sale_id = ?').get(saleId) as RawSale | undefined);
  }

  saleByRef(ref: number): SaleRow | null {
    return toSale(this.sql('SELECT * FROM sales WHERE ref = ?').get(ref) as RawSale | undefined);
  }

  nonFinalSales(): SaleRow[] {
    const rows = this.sql(`SELECT * FROM sales WHERE status IN (${OPEN_STATUSES_SQL}) ORDER BY ref`).all() as RawSale[];
    return rows.map((r) => toSale(r)!);
  }

  allSales(): SaleRow[] {
    return (this.sql('SELECT * FROM sales ORDER BY ref').all() as RawSale[]).map((r) => toSale(r)!);
  }

  /** Late payments no supervisor has dealt with yet (kept as a sale or refunded), newest first. */
  latePayments(): SaleRow[] {
    const rows = this.sql(`SELECT * FROM sales WHERE ${UNRESOLVED_LATE} ORDER BY ref DESC LIMIT 20`).all() as RawSale[];
    return rows.map((r) => toSale(r)!);
  }

  lateCount(): number {
    return (this.sql(`SELECT COUNT(*) AS n FROM sales WHERE ${UNRESOLVED_LATE}`).get() as { n: number }).n;
  }

  /** The supervisor's decision on a late payment; synced to the relay with the sale's history. */
  resolveLate(saleId: string, resolution: LateResolution): void {
    this.tx(() => {
      const sale = this.getSale(saleId);
      if (!sale || !sale.late || sale.lateResolution) return;
      this.sql('UPDATE sales SET late_resolution = ?, updated_at = ? WHERE sale_id = ?').run(resolution, this.iso(), saleId);
      this.appendEvent(saleId, 'late.resolved', { resolution });
    });
  }

  /** The last `limit` sales, newest first, whatever their status. */
  recentSales(limit = 20): SaleRow[] {
    const rows = this.sql('SELECT * FROM sales ORDER BY ref DESC LIMIT ?').all(limit) as RawSale[];
    return rows.map((r) => toSale(r)!);
  }

  /**
   * The X report of [sinceIso, untilIso): per currency, what was paid, failed, expired or never
   * created, and the refunds and voids done. A sale counts on the day Omise created its charge
   * (its local time when there was none); a refund or void on the day of its sale, so that the
   * day's net is what that day's sales finally brought in.
   */
  dayReport(sinceIso: string, untilIso: string): DayReportRow[] {
    const inDay = 'COALESCE(s.charge_created_at, s.created_at) >= ? AND COALESCE(s.charge_created_at, s.created_at) < ?';
    const sales = this.sql(
      `SELECT s.method, s.currency, s.status, s.late, s.late_resolution, COUNT(*) AS count, SUM(s.amount) AS amount FROM sales s WHERE ${inDay} ` +
        'GROUP BY s.method, s.currency, s.status, s.late, s.late_resolution',
    ).all(sinceIso, untilIso) as { method: string; currency: Currency; status: LocalSaleStatus; late: number; late_resolution: string | null; count: number; amount: number }[];
    const refunds = this.sql(
      `SELECT s.method, r.currency, r.voided, COUNT(*) AS count, SUM(r.amount) AS amount FROM refunds r JOIN sales s ON s.sale_id = r.sale_id WHERE r.status = 'done' AND ${inDay} GROUP BY s.method, r.currency, r.voided`,
    ).all(sinceIso, untilIso) as { method: string; currency: Currency; voided: number; count: number; amount: number }[];
    const byKey = new Map<string, DayReportRow>();
    const row = (m: string, c: Currency): DayReportRow => {
      const method = isPaymentMethod(m) ? m : DEFAULT_METHOD;
      let r = byKey.get(`${method}\u0000${c}`);
      if (!r) {
        const z = () => ({ count: 0, amount: 0 });
        r = { method, currency: c, paid: z(), failed: z(), expired: z(), notCreated: z(), refunded: z(), voided: z(), late: { count: 0, amount: 0, unresolved: 0 }, net: 0 };
        byKey.set(`${method}\u0000${c}`, r);
      }
      return r;
    };
    const add = (b: { count: number; amount: number }, count: number, amount: number) => {
      b.count += count;
      b.amount += amount;
    };
    for (const s of sales) {
      const r = row(s.method, s.currency);
      // A void reverses a paid sale: it still counts as paid here, and again under voided.
      const outcome = saleOutcome(s.status);
      if (outcome !== 'open') add(r[outcome], s.count, s.amount);
      if (s.late && (s.status === 'successful' || s.status === 'reversed')) {
        add(r.late, s.count, s.amount);
        if (!s.late_resolution && s.status === 'successful') r.late.unresolved += s.count;
      }
    }
    for (const x of refunds) add(x.voided ? row(x.method, x.currency).voided : row(x.method, x.currency).refunded, x.count, x.amount);
    for (const r of byKey.values()) r.net = r.paid.amount - r.refunded.amount - r.voided.amount;
    // In the methods' table order, then by currency (ISO codes, A–Z: compared as strings, not with
    // localeCompare, whose collation data is ~2 MB of ICU resident in the daemon for good).
    const order = (r: DayReportRow) => PAYMENT_METHODS.indexOf(r.method ?? DEFAULT_METHOD);
    return [...byKey.values()].sort((a, b) => order(a) - order(b) || (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0));
  }

  /**
   * Close a business day (Z report): its report is kept as it was, numbered, once per day.
   * Closing a day already closed returns that close unchanged.
   */
  closeDay(businessDay: string, sinceIso: string, untilIso: string): { close: DayClose; already: boolean } {
    return this.tx(() => {
      const prior = this.dayClose(businessDay);
      if (prior) return { close: prior, already: true };
      const rows = this.dayReport(sinceIso, untilIso);
      this.sql('INSERT INTO day_closes (business_day, since, until, closed_at, report) VALUES (?, ?, ?, ?, ?)').run(businessDay, sinceIso, untilIso, this.iso(), JSON.stringify(rows));
      const close = this.dayClose(businessDay)!;
      this.appendEvent(null, 'day.closed', { number: close.number, businessDay, rows });
      return { close, already: false };
    });
  }

  dayClose(businessDay: string): DayClose | null {
    const r = this.sql('SELECT * FROM day_closes WHERE business_day = ?').get(businessDay) as
      | { number: number; business_day: string; since: string; until: string; closed_at: string; report: string }
      | undefined;
    if (!r) return null;
    return { number: r.number, businessDay: r.business_day, since: r.since, until: r.until, closedAt: r.closed_at, rows: JSON.parse(r.report) as DayReportRow[] };
  }

  oldestNonFinalCreatedAt(): string | null {
    const r = this.sql(`SELECT MIN(created_at) AS t FROM sales WHERE status IN (${OPEN_STATUSES_SQL})`).get() as { t: string | null };
    return r.t;
  }

  /**
   * Count and sum by status and currency for the sales of [sinceIso, untilIso). A sale with a charge
   * belongs to the moment Omise created that charge; one without (never created) to its local time.
   */
  totals(sinceIso: string, untilIso = '9999'): { status: LocalSaleStatus; currency: Currency; count: number; amount: number; refunded: number }[] {
    return this.db
      .prepare(
        'SELECT status, currency, COUNT(*) AS count, SUM(amount) AS amount, SUM(refunded_amount) AS refunded FROM sales ' +
          'WHERE COALESCE(charge_created_at, created_at) >= ? AND COALESCE(charge_created_at, created_at) < ? GROUP BY status, currency ORDER BY currency, status',
      )
      .all(sinceIso, untilIso) as { status: LocalSaleStatus; currency: Currency; count: number; amount: number; refunded: number }[];
  }

  saleEvents(saleId: string): { kind: string; at: string; data: Record<string, unknown> }[] {
    const rows = this.sql('SELECT kind, at, data FROM sale_events WHERE sale_id = ? ORDER BY id').all(saleId) as { kind: string; at: string; data: string }[];
    return rows.map((r) => ({ kind: r.kind, at: r.at, data: JSON.parse(r.data) as Record<string, unknown> }));
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e.code, e.message].filter(Boolean).join(': ') || String(err);
}

class CorruptJournalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CorruptJournalError';
  }
}

/** Damage we recover from by starting over; anything else (permissions, a newer schema) is not ours to discard. */
function isCorruption(err: unknown): boolean {
  if (err instanceof CorruptJournalError) return true;
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT');
}

/**
 * Rename the damaged journal (and its -wal / -shm, which belong to it) to a timestamped name,
 * byte for byte as it was, and record it in the maintenance file.
 */
function setAside(file: string, reason: string, at: number): JournalDamage {
  const since = new Date(at).toISOString();
  const damagedFile = `${file}.damaged-${since.replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, damagedFile + suffix);
  }
  const damage: JournalDamage = { damagedFile, reason, since };
  writeFileDurably(maintenanceMarker(file), JSON.stringify(damage, null, 2) + '\n');
  return damage;
}
