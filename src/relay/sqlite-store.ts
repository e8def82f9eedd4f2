/**
 * The default RelayStore: one SQLite file in WAL mode with synchronous=FULL, so a commit that
 * returned survives power loss. The operator CLI changes it only through the relay's admin API
 * (`qrpos relay report` reads it read-only); should another process commit to the file anyway,
 * the server notices through PRAGMA data_version.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import Database from 'better-sqlite3';
import { KeyedLock } from './keyed-lock';
import { Checkpointer, CHECKPOINT_WAL_BYTES } from './sqlite-checkpointer';
import { RedoLog, recordsAfter, type Statement } from './sqlite-redo-log';
import { fsyncPath } from '../shared/fsync';
import { OPEN_SALE_STATUSES, SALE_STATUSES } from '../domain/status';
import type { JournalRecord, RelayEvent } from '../link/protocol';
import type {
  Awaitable,
  OrphanRow,
  OrphanStatus,
  PairingRow,
  RefundRow,
  RelayStore,
  SaleRow,
  StoredEvent,
  StoreWritable,
  TerminalRow,
  WebhookEventRow,
  ReportData,
  ReportSource,
  ReleaseRow,
  RolloutRow,
  RolloutTarget,
  UpgradeReportRow,
} from './store';
import type { SaleStatus } from '../link/protocol';
import type { RefundStatus } from './store';

/** Numbered migrations; user_version records how many ran. Never edit one that shipped: add another. */
const MIGRATIONS: (string | ((db: Database.Database) => void))[] = [
  `
  CREATE TABLE terminals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    credential_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen_at TEXT,
    version TEXT,
    device TEXT,
    address TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    acked_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE pairings (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    credential_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    device TEXT,
    address TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL,
    terminal_id TEXT,
    decided_at TEXT
  );
  CREATE INDEX pairings_code ON pairings(code, status);
  CREATE TABLE sales (
    terminal_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    description TEXT,
    terminal_created_at TEXT,
    status TEXT NOT NULL,
    charge_id TEXT UNIQUE,
    create_attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    create_uncertain INTEGER NOT NULL DEFAULT 0,
    orphan_checked_at TEXT,
    qr_text TEXT,
    qr_svg TEXT,
    failure_code TEXT,
    failure_message TEXT,
    error_code TEXT,
    error_message TEXT,
    charge_created_at TEXT,
    charge_expires_at TEXT,
    paid_at TEXT,
    expire_requested INTEGER NOT NULL DEFAULT 0,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    checked_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, sale_id)
  );
  CREATE INDEX sales_status ON sales(status);
  CREATE INDEX sales_updated ON sales(terminal_id, updated_at);
  CREATE TABLE refunds (
    terminal_id TEXT NOT NULL,
    refund_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    charge_id TEXT NOT NULL,
    omise_refund_id TEXT,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    voided INTEGER NOT NULL DEFAULT 0,
    want_void INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    reason TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, refund_id)
  );
  CREATE INDEX refunds_sale ON refunds(terminal_id, sale_id);
  CREATE TABLE events (
    terminal_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (terminal_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT
  );
  CREATE INDEX webhook_events_status ON webhook_events(status, next_attempt_at);
  CREATE TABLE orphans (
    charge_id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    sale_id TEXT NOT NULL,
    status TEXT NOT NULL,
    found_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE records (
    terminal_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    sale_id TEXT,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (terminal_id, record_id)
  ) WITHOUT ROWID;
  `,
  // 2: the reconciler watches uncertain sales on every pass; operators list payments on cancelled sales.
  `
  CREATE INDEX sales_uncertain ON sales(orphan_checked_at) WHERE create_uncertain = 1;
  CREATE INDEX sales_paid_after_cancel ON sales(updated_at) WHERE expire_requested = 1 AND status = 'successful';
  `,
  // 3: a device that pairs again with proof of its old credential replaces its old terminal.
  `
  ALTER TABLE terminals ADD COLUMN predecessor_id TEXT;
  CREATE INDEX terminals_predecessor ON terminals(predecessor_id) WHERE predecessor_id IS NOT NULL;
  ALTER TABLE pairings ADD COLUMN replaces_terminal_id TEXT;
  `,
  // 4: pairing is rate-limited per source address; the buckets outlive a restart.
  `
  CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX rate_limits_at ON rate_limits(at_ms);
  ALTER TABLE pairings ADD COLUMN source_key TEXT;
  CREATE INDEX pairings_pending_source ON pairings(source_key, created_at) WHERE status = 'pending';
  `,
  // 5: fleet updates: release bundles the operator uploaded, rollouts, what terminals reported,
  // the architecture each terminal runs on. (IF NOT EXISTS: a test rewinds to version 3 and back.)
  `
  CREATE TABLE IF NOT EXISTS releases (
    version TEXT NOT NULL,
    arch TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    file TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (version, arch)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS terminal_upgrades (
    terminal_id TEXT NOT NULL,
    version TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS terminal_upgrades_terminal ON terminal_upgrades(terminal_id, at);
  CREATE TABLE IF NOT EXISTS terminal_arch (
    terminal_id TEXT PRIMARY KEY,
    arch TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 6: several payment methods: each sale keeps the one it was charged with (older sales: Alipay+).
  `
  ALTER TABLE sales ADD COLUMN method TEXT NOT NULL DEFAULT 'alipayplus_mpm';
  `,
  // 7: only events still to process are indexed by status (issue 17): a webhook's row no longer
  // writes a page of an index that held every event ever received.
  `
  DROP INDEX IF EXISTS webhook_events_status;
  CREATE INDEX IF NOT EXISTS webhook_events_unprocessed ON webhook_events(received_at) WHERE status = 'unprocessed';
  `,
  // 8: fewer pages written per paid sale (issue 17). A webhook event is one entry of one tree,
  // keyed by its id (it was a table row plus an entry in the index of its id), and only the sales
  // still waiting are indexed by status (a sale that became final moved an entry between two
  // pages of an index that held every sale ever made; now it leaves one). Re-runnable.
  `
  DROP TABLE IF EXISTS webhook_events_v8;
  CREATE TABLE webhook_events_v8 (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT
  ) WITHOUT ROWID;
  INSERT INTO webhook_events_v8 (id, key, object_type, object_id, received_at, status, attempts, next_attempt_at, last_error)
    SELECT id, key, object_type, object_id, received_at, status, attempts, next_attempt_at, last_error FROM webhook_events;
  DROP TABLE webhook_events;
  ALTER TABLE webhook_events_v8 RENAME TO webhook_events;
  CREATE INDEX webhook_events_unprocessed ON webhook_events(received_at) WHERE status = 'unprocessed';
  DROP INDEX IF EXISTS sales_status;
  CREATE INDEX IF NOT EXISTS sales_pending ON sales(checked_at) WHERE status = 'pending';
  CREATE INDEX IF NOT EXISTS sales_creating ON sales(updated_at) WHERE status = 'creating';
  `,
  // 9: the last redo-log record the database holds (see sqlite-redo-log.ts), committed with it.
  `
  CREATE TABLE IF NOT EXISTS redo_applied (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
  INSERT OR IGNORE INTO redo_applied (id, seq) VALUES (1, 0);
  `,
  // 10: a sale's QR document lives beside its row, numbered by sales.qr_id (see SALES_WITH_QR);
  // sales.qr_svg stays, empty. Runs again safely.
  (db) => {
    db.exec('CREATE TABLE IF NOT EXISTS sale_qr (id INTEGER PRIMARY KEY, svg TEXT NOT NULL)');
    const columns = db.prepare(`SELECT name FROM pragma_table_info('sales')`).pluck().all() as string[];
    if (!columns.includes('qr_id')) db.exec('ALTER TABLE sales ADD COLUMN qr_id INTEGER');
    const move = db.prepare('INSERT INTO sale_qr (svg) VALUES (?)');
    const point = db.prepare('UPDATE sales SET qr_id = ?, qr_svg = NULL WHERE rowid = ?');
    const rows = db.prepare('SELECT rowid AS r, qr_svg FROM sales WHERE qr_svg IS NOT NULL ORDER BY rowid').all() as { r: number; qr_svg: string }[];
    for (const row of rows) point.run(move.run(row.qr_svg).lastInsertRowid, row.r);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

type Row = Record<string, unknown>;

const SALE_COLUMNS: Record<keyof SaleRow, string> = {
  terminalId: 'terminal_id',
  saleId: 'sale_id',
  method: 'method',
  amount: 'amount',
  currency: 'currency',
  description: 'description',
  terminalCreatedAt: 'terminal_created_at',
  status: 'status',
  chargeId: 'charge_id',
  createAttempts: 'create_attempts',
  lastAttemptAt: 'last_attempt_at',
  createUncertain: 'create_uncertain',
  orphanCheckedAt: 'orphan_checked_at',
  qrText: 'qr_text',
  qrSvg: 'qr_svg',
  failureCode: 'failure_code',
  failureMessage: 'failure_message',
  errorCode: 'error_code',
  errorMessage: 'error_message',
  chargeCreatedAt: 'charge_created_at',
  chargeExpiresAt: 'charge_expires_at',
  paidAt: 'paid_at',
  expireRequested: 'expire_requested',
  refundedAmount: 'refunded_amount',
  checkedAt: 'checked_at',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};
const SALE_BOOLS = new Set(['createUncertain', 'expireRequested']);
/**
 * The sales as the store reads them. A sale's QR document (its SVG, 5–30 KB) is kept in sale_qr,
 * beside the row (sales.qr_id numbers it), and deleted when the sale no longer shows it. Inside
 * the row, it made the row fill a page of its own, so every change of a sale rewrote a whole page;
 * now a page holds a dozen sales, and with the redo log the changes of one second share it
 * (issue 17: 11.7 → 3.5 KB written per paid sale).
 */
export const SALES_WITH_QR = `(SELECT ${Object.values(SALE_COLUMNS)
  .map((c) => (c === 'qr_svg' ? 'q.svg AS qr_svg' : `s.${c}`))
  .join(', ')} FROM sales s LEFT JOIN sale_qr q ON q.id = s.qr_id)`;
/**
 * Dropped QR documents are deleted together, this many at a time: deleting one frees its pages
 * (rewriting the free list and the file's header), which a paid sale's own commit then need not do.
 * What a crash leaves undeleted goes when the store opens.
 */
const QR_PRUNE_EVERY = 64;
/** `'creating', 'pending'`: the sales still waiting for an outcome, for SQL. */
const OPEN_STATUSES_SQL = OPEN_SALE_STATUSES.map((s) => `'${s}'`).join(', ');

const REFUND_COLUMNS: Record<keyof RefundRow, string> = {
  terminalId: 'terminal_id',
  refundId: 'refund_id',
  saleId: 'sale_id',
  chargeId: 'charge_id',
  omiseRefundId: 'omise_refund_id',
  amount: 'amount',
  currency: 'currency',
  voided: 'voided',
  wantVoid: 'want_void',
  status: 'status',
  reason: 'reason',
  error: 'error',
  attempts: 'attempts',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};
const REFUND_BOOLS = new Set(['voided', 'wantVoid']);

function fromRow<T>(row: Row | undefined, columns: Record<string, string>, bools: Set<string>): T | undefined {
  if (!row) return undefined;
  const out: Row = {};
  for (const [k, c] of Object.entries(columns)) out[k] = bools.has(k) ? row[c] === 1 : row[c];
  return out as T;
}

function toParams(obj: Row, columns: Record<string, string>, bools: Set<string>): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in columns) || v === undefined) continue;
    out[columns[k]] = bools.has(k) ? (v ? 1 : 0) : v;
  }
  return out;
}

const terminalFromRow = (r: Row | undefined): TerminalRow | undefined =>
  r && {
    id: r.id as string,
    name: r.name as string,
    credentialHash: r.credential_hash as string,
    createdAt: r.created_at as string,
    revokedAt: (r.revoked_at as string | null) ?? null,
    lastSeenAt: (r.last_seen_at as string | null) ?? null,
    version: (r.version as string | null) ?? null,
    device: (r.device as string | null) ?? null,
    address: (r.address as string | null) ?? null,
    lastSeq: r.last_seq as number,
    ackedSeq: r.acked_seq as number,
    predecessorId: (r.predecessor_id as string | null) ?? null,
  };

const releaseFromRow = (r: Row): ReleaseRow => ({
  version: r.version as string,
  arch: r.arch as ReleaseRow['arch'],
  sha256: r.sha256 as string,
  size: r.size as number,
  file: r.file as string,
  addedAt: r.added_at as string,
});

const rolloutFromRow = (r: Row): RolloutRow => ({
  id: r.id as number,
  version: r.version as string,
  target: JSON.parse(r.target as string) as RolloutTarget,
  createdAt: r.created_at as string,
});

const pairingFromRow = (r: Row | undefined): PairingRow | undefined =>
  r && {
    id: r.id as string,
    code: r.code as string,
    secretHash: r.secret_hash as string,
    credentialHash: r.credential_hash as string,
    name: r.name as string,
    version: r.version as string,
    device: (r.device as string | null) ?? null,
    address: (r.address as string | null) ?? null,
    createdAt: r.created_at as string,
    expiresAt: r.expires_at as string,
    status: r.status as PairingRow['status'],
    terminalId: (r.terminal_id as string | null) ?? null,
    decidedAt: (r.decided_at as string | null) ?? null,
    replacesTerminalId: (r.replaces_terminal_id as string | null) ?? null,
    sourceKey: (r.source_key as string | null) ?? null,
  };

const orphanFromRow = (r: Row): OrphanRow => ({
  chargeId: r.charge_id as string,
  terminalId: r.terminal_id as string,
  saleId: r.sale_id as string,
  status: r.status as OrphanStatus,
  foundAt: r.found_at as string,
  updatedAt: r.updated_at as string,
});

const webhookFromRow = (r: Row | undefined): WebhookEventRow | undefined =>
  r && {
    id: r.id as string,
    key: r.key as string,
    objectType: r.object_type as string,
    objectId: r.object_id as string,
    receivedAt: r.received_at as string,
    status: r.status as WebhookEventRow['status'],
    attempts: r.attempts as number,
    nextAttemptAt: (r.next_attempt_at as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
  };

/** A transaction or batch holding the connection: its async context's mark, and what runs after its commit. */
interface Hold {
  callbacks: (() => void)[];
}

export interface SqliteStoreOptions {
  readonly?: boolean;
  /** Checkpoint the WAL from a worker thread (default), not in the commits of this connection. */
  checkpointInWorker?: boolean;
  /** The WAL size that makes the worker checkpoint (default CHECKPOINT_WAL_BYTES). */
  checkpointWalBytes?: number;
  /**
   * Make writes durable in the redo log (sqlite-redo-log.ts) and commit the database itself only
   * every `redoCommitMs`: far fewer bytes written per webhook. Other processes see the database as
   * of its last commit (up to that long ago), and cannot write it while the relay runs.
   */
  redoLog?: boolean;
  /** How long the database's own transaction stays open under the redo log (default REDO_COMMIT_MS). */
  redoCommitMs?: number;
  /** Under the redo log, the database commits once no write came for this long (default REDO_IDLE_MS). */
  redoIdleMs?: number;
  /**
   * Below this many free bytes on the database's filesystem the store says it is not writable:
   * new sales are refused while the sales in flight still have room to finish.
   */
  minFreeBytes?: number;
}

/** Default headroom kept for the sales in flight (a sale's rows and events take a few KiB). */
export const MIN_FREE_BYTES = 1024 * 1024;
/** Under the redo log, the database's transaction stays open at most this long under load. */
export const REDO_COMMIT_MS = 1000;
/** Under the redo log, the database commits once no write came for this long. */
export const REDO_IDLE_MS = 20;
/** Statements that are not writes of data (the redo log leaves them out). */
const CONTROL_SQL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b/i;

/** The redo log's files beside the database `file` (`-a` and `-b` are appended). */
export const redoLogBase = (file: string): string => `${file}-redo`;

/**
 * Applies to `db` the redo-log records it does not hold yet (after a crash or power loss), and
 * records the last one as held; the log then holds nothing the database lacks. Returns that
 * record's number. The caller owns `db` alone.
 */
function replayRedoLog(db: Database.Database, file: string): number {
  const marker = db.prepare('SELECT seq FROM redo_applied WHERE id = 1').pluck().get() as number;
  const base = redoLogBase(file);
  const records = recordsAfter([`${base}-a`, `${base}-b`], marker);
  if (!records.length) return marker;
  const prepared = new Map<string, Database.Statement>();
  db.transaction(() => {
    for (const r of records) for (const st of r.statements) runStatement(db, prepared, st);
    setRedoMarker(db, records[records.length - 1].seq);
  }).immediate();
  return records[records.length - 1].seq;
}

/** Records in the database (in its open transaction) that it holds every redo-log record up to `seq`. */
function setRedoMarker(db: Database.Database, seq: number): void {
  db.prepare('UPDATE redo_applied SET seq = ? WHERE id = 1').run(seq);
}

/** Runs one logged statement again (one that returned rows, such as UPDATE … RETURNING, too). */
function runStatement(db: Database.Database, prepared: Map<string, Database.Statement>, [sql, args]: Statement): void {
  let s = prepared.get(sql);
  if (!s) prepared.set(sql, (s = db.prepare(sql)));
  if (s.reader) s.all(...args);
  else s.run(...args);
}

/** SQLite's default automatic checkpoint, used again when the checkpoint worker fails. */
const AUTOCHECKPOINT_PAGES = 1000;
/** After a failed write, probe the disk at most this often. */
const PROBE_EVERY_MS = 200;

/** A write that failed because the disk is full or failing (not a constraint or a bug). */
export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT' || code === 'EIO';
}

export function openSqliteStore(dataDir: string, opts: SqliteStoreOptions = {}): SqliteStore {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return new SqliteStore(relayDatabaseFile(dataDir), opts);
}

export class SqliteStore implements RelayStore {
  readonly db: Database.Database;
  private lastDataVersion: number;
  private readonly stmts = new Map<string, Database.Statement>();
  private readonly dir: string;
  private readonly minFreeBytes: number;
  /** The last write that failed for lack of space or an I/O error, until a write succeeds again. */
  private writeFailure: { reason: string; since: string } | null = null;
  private lastProbeAt = 0;
  private readonly walFile: string;
  /** The worker thread that checkpoints the WAL (undefined: SQLite's automatic checkpoints). */
  readonly checkpointer: Checkpointer | undefined;
  private checkpointWalBytes = Infinity;
  /** Our own descriptor of the WAL file, to fsync it off the main thread (see batchDeferred). */
  private walFd: { fd: number; ino: number } | undefined;
  /** Deferred batches committed so far, and the last one known durable. */
  private batchNo = 0;
  private durableBatchNo = 0;
  /**
   * Per terminal, the first event sequence number committed by a deferred batch that is not yet
   * durable (and that batch's number): eventsAfter stops before it, so no terminal is ever sent
   * (and acks) an event that a crash could take back and reuse the number of.
   */
  private readonly unsynced = new Map<string, { seq: number; batch: number }>();
  /** Set while a deferred batch runs: publish() records its events in `unsynced`. */
  private deferring = 0;

  // ---- the redo log (opts.redoLog); see sqlite-redo-log.ts
  private readonly redo: RedoLog | undefined;
  private readonly redoCommitMs: number;
  private readonly redoIdleMs: number;
  /** The last record appended to the redo log. */
  private redoSeq = 0;
  /** Write statements run in the open write scope, not yet in a record. */
  private captured: Statement[] = [];
  /** Nesting of write scopes (transaction, batch, single call): > 0 while one is open. */
  private scope = 0;
  /** Records appended since the database's last commit: run again if SQLite rolls its transaction back. */
  private sinceCommit: Statement[][] = [];
  /** When the database's open transaction began, when its last record was appended, and its commit timer. */
  private txnSince = 0;
  private lastAppendAt = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  /** SQLite rolled its transaction back (an I/O error): the records since its commit must run again. */
  private needsRecovery = false;
  /** Commits of the database's own transaction under the redo log. */
  private databaseCommits = 0;
  /** The redo log's counters: records and bytes written, and the database's commits (undefined without the log). */
  redoStats(): { records: number; bytes: number; databaseCommits: number } | undefined {
    return this.redo && { records: this.redo.records, bytes: this.redo.bytesWritten, databaseCommits: this.databaseCommits };
  }
  /** The fsync of the database's last commit, while it runs. */
  private walSyncing: Promise<void> | undefined;

  constructor(file: string, opts: SqliteStoreOptions = {}) {
    this.dir = path.dirname(file);
    this.minFreeBytes = opts.minFreeBytes ?? MIN_FREE_BYTES;
    const existed = fs.existsSync(file);
    this.db = new Database(file);
    if (!existed) fs.chmodSync(file, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    // The CLI and the server share the file; wait for the other's write lock instead of failing.
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    // Whatever the log holds that the database lacks goes in first, with or without opts.redoLog.
    const redoBase = redoLogBase(file);
    const haveLog = fs.existsSync(`${redoBase}-a`) || fs.existsSync(`${redoBase}-b`);
    this.redoCommitMs = opts.redoCommitMs ?? REDO_COMMIT_MS;
    this.redoIdleMs = Math.min(opts.redoIdleMs ?? REDO_IDLE_MS, this.redoCommitMs);
    const marker = !opts.readonly && (haveLog || opts.redoLog) ? replayRedoLog(this.db, file) : 0;
    if (!opts.readonly) {
      // QR documents no sale shows any more (dropped, and not yet deleted when the relay stopped).
      // After the log's records (they were run against the documents as they were), before new ones.
      this.db.prepare('DELETE FROM sale_qr WHERE id NOT IN (SELECT qr_id FROM sales WHERE qr_id IS NOT NULL)').run();
    }
    if (!opts.readonly && (haveLog || opts.redoLog)) {
      if (opts.redoLog) {
        this.redo = new RedoLog(redoBase, marker);
        this.redoSeq = marker;
        // Commits need no fsync of their own: the log is durable, and the WAL is synced after.
        this.db.pragma('synchronous = NORMAL');
      } else {
        for (const f of [`${redoBase}-a`, `${redoBase}-b`]) fs.rmSync(f, { force: true });
      }
    }
    this.lastDataVersion = this.db.pragma('data_version', { simple: true }) as number;
    this.walFile = `${file}-wal`;
    if (!opts.readonly && opts.checkpointInWorker !== false) {
      // Checkpoints copy pages into the database file and fsync it twice: a worker thread with its
      // own connection does them, so the relay's thread never waits for them.
      this.db.pragma('wal_autocheckpoint = 0');
      // When the WAL is written from its start again, its file is cut back to what that first
      // commit wrote (so its size tells how much is waiting for the checkpoint).
      this.db.pragma('journal_size_limit = 0');
      this.checkpointer = new Checkpointer(file, () => this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`));
      this.checkpointWalBytes = opts.checkpointWalBytes ?? CHECKPOINT_WAL_BYTES;
    }
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(`relay database schema version ${current} is newer than this program (${MIGRATIONS.length}); upgrade qrpos`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        const step = MIGRATIONS[v];
        if (typeof step === 'string') this.db.exec(step);
        else step(this.db);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  private st(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.redo && !s.readonly && !CONTROL_SQL.test(sql)) s = this.logged(sql, s);
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** A write statement whose runs go into the redo log (each in a scope of its own when none is open). */
  private logged(sql: string, s: Database.Statement): Database.Statement {
    const call =
      (m: 'run' | 'get' | 'all') =>
      (...args: unknown[]): unknown => {
        if (this.scope === 0) return this.logScope(() => call(m)(...args));
        const r = s[m](...args);
        this.captured.push([sql, args]);
        return r;
      };
    return Object.assign(Object.create(s) as Database.Statement, { run: call('run'), get: call('get'), all: call('all') });
  }

  /** Opens the database's transaction that redo-logged writes go into (first running again what SQLite rolled back). */
  private ensureTxn(): void {
    if (this.db.inTransaction && !this.needsRecovery) return;
    // Only commitDatabase() ends the transaction, and it empties sinceCommit: records left there
    // mean SQLite rolled back (an I/O error, a full disk), and they run again first.
    this.abort();
    this.st('BEGIN IMMEDIATE').run();
    try {
      const prepared = new Map<string, Database.Statement>();
      for (const stmts of this.sinceCommit) for (const st of stmts) runStatement(this.db, prepared, st);
    } catch (err) {
      this.needsRecovery = true;
      this.abort();
      throw err;
    }
    this.needsRecovery = false;
    this.openedTxn();
  }

  /** Arms the commit timer: the database commits once idle for redoIdleMs, or redoCommitMs after its transaction began. */
  private openedTxn(): void {
    this.txnSince = performance.now();
    clearTimeout(this.commitTimer);
    const tick = (): void => {
      this.commitTimer = undefined;
      if (!this.db.open || !this.db.inTransaction) return;
      const now = performance.now();
      const due = Math.min(this.txnSince + this.redoCommitMs, this.lastAppendAt + this.redoIdleMs);
      if (now >= due && this.owner === undefined && this.scope === 0 && !this.walSyncing) return this.commitDatabase();
      this.commitTimer = setTimeout(tick, Math.max(1, Math.min(this.redoIdleMs, due - now))).unref();
    };
    this.commitTimer = setTimeout(tick, this.redoIdleMs).unref();
  }

  /** Rolls a write scope's savepoint back; when SQLite has rolled back its whole transaction, the log's records must run again. */
  private rollbackScope(name: string): void {
    try {
      this.st(`ROLLBACK TO ${name}`).run();
      this.st(`RELEASE ${name}`).run();
    } catch {
      /* the savepoint is gone with the transaction */
    }
    if (!this.db.inTransaction) this.needsRecovery = true;
  }

  /** Appends the scope's statements as one record: on disk on return with `sync`, else the promise says when. */
  private appendCaptured(sync: true): void;
  private appendCaptured(sync: false): Promise<void>;
  private appendCaptured(sync: boolean): Promise<void> | void {
    const stmts = this.captured;
    this.captured = [];
    if (!stmts.length) return sync ? undefined : Promise.resolve();
    return sync ? this.appendRecord(stmts, true) : this.appendRecord(stmts, false);
  }

  /** Appends `stmts` as the log's next record (see appendCaptured). */
  private appendRecord(stmts: Statement[], sync: true): void;
  private appendRecord(stmts: Statement[], sync: false): Promise<void>;
  private appendRecord(stmts: Statement[], sync: boolean): Promise<void> | void {
    const seq = this.redoSeq + 1;
    if (sync) this.redo!.append(seq, stmts, true);
    const durable = sync ? undefined : this.redo!.append(seq, stmts, false);
    this.redoSeq = seq;
    this.sinceCommit.push(stmts);
    this.lastAppendAt = performance.now();
    return durable;
  }

  /** A single call's writes under the redo log: in a savepoint, and on disk in the log before it returns. */
  private logScope<T>(fn: () => T): T {
    this.ensureTxn();
    this.st('SAVEPOINT redo_call').run();
    this.scope++;
    let result: T;
    try {
      result = fn();
      this.appendCaptured(true);
    } catch (err) {
      this.captured = [];
      this.scope--;
      this.rollbackScope('redo_call');
      this.noteWrite(err);
      throw err;
    }
    this.scope--;
    this.st('RELEASE redo_call').run();
    this.noteWrite(null);
    this.commitIfDue();
    return result;
  }

  /** Commits the database's transaction when it has been open long enough (and the last commit's fsync is done). */
  private commitIfDue(): void {
    if (this.scope === 0 && this.db.inTransaction && !this.walSyncing && performance.now() - this.txnSince >= this.redoCommitMs) this.commitDatabase();
  }

  /**
   * Commits the database's transaction, recording the last log record it holds; once its WAL is
   * fsynced, the log may reuse the segment those records are in. A failed commit leaves the
   * records to run again in the next transaction.
   */
  private commitDatabase(): void {
    this.databaseCommits++;
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    const marker = this.redoSeq;
    try {
      setRedoMarker(this.db, marker);
      this.st('COMMIT').run();
    } catch (err) {
      this.abort();
      this.needsRecovery = true;
      this.noteWrite(err);
      return;
    }
    this.sinceCommit = [];
    this.walSyncing = this.syncWal()
      .then(
        () => this.redo!.databaseDurable(marker),
        (err: unknown) => this.noteWrite(err),
      )
      .finally(() => (this.walSyncing = undefined));
  }

  /** Who holds the connection for a transaction or batch now (undefined: nobody, calls run at once). */
  private owner: Hold | undefined;
  /** Marks the async context of the transaction or batch that holds the connection. */
  private readonly als = new AsyncLocalStorage<Hold>();
  /** Calls from other contexts waiting for the connection, in arrival order. */
  private waiters: (() => void)[] = [];
  private readonly locks = new KeyedLock();

  /**
   * The gate: true when a transaction or batch of another async context holds the connection, so
   * this call must wait (it would run inside that open transaction, and see or be rolled back
   * with its writes). Outside any transaction this is one property read.
   */
  private foreign(): boolean {
    return this.owner !== undefined && this.als.getStore() !== this.owner;
  }

  /** Runs `call` once the connection is free, in arrival order (only ever reached when foreign()). */
  private queued<T>(call: () => Awaitable<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiters.push(() => {
        try {
          resolve(call());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  /** Takes the connection for `hold` (at once when free, else after those who came before). */
  private acquire(hold: Hold): Promise<void> | undefined {
    if (this.owner === undefined) {
      this.owner = hold;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiters.push(() => {
        this.owner = hold;
        resolve();
      });
    });
  }

  /** Gives the connection up: waiting calls run in order until one of them takes it again. */
  private handOver(): void {
    this.owner = undefined;
    while (this.owner === undefined && this.waiters.length) this.waiters.shift()!();
  }

  /** Whether the current async context holds the connection (is inside a transaction or batch). */
  private owns(): boolean {
    return this.owner !== undefined && this.als.getStore() === this.owner;
  }

  /**
   * Several statements of one store call as one unit: joins the caller's transaction, or commits
   * on its own (synchronous: the call holds the thread, so nothing else runs on the connection).
   */
  private atomic<T>(fn: () => T): T {
    if (this.redo) return this.scope > 0 ? fn() : this.logScope(fn);
    if (this.db.inTransaction) return fn();
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      this.noteWrite(err);
      throw err;
    }
    this.noteWrite(null);
    return result;
  }

  transaction<T>(fn: () => Awaitable<T>): Promise<T> {
    if (this.owns()) {
      // Nested: joins the outer transaction (no savepoint, as before the store went async).
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return this.runTransaction(fn);
  }

  private async runTransaction<T>(fn: () => Awaitable<T>): Promise<T> {
    const hold: Hold = { callbacks: [] };
    const waiting = this.acquire(hold);
    if (waiting) await waiting;
    if (this.redo) return this.runLoggedTransaction(hold, fn);
    let result: T;
    try {
      this.st('BEGIN IMMEDIATE').run();
      result = await this.als.run(hold, fn);
      this.st('COMMIT').run();
    } catch (err) {
      this.abort();
      this.handOver();
      this.noteWrite(err);
      throw err;
    }
    this.handOver();
    this.noteWrite(null);
    for (const cb of hold.callbacks) cb();
    return result;
  }

  /** transaction() under the redo log: a savepoint, and its record on disk before it resolves. */
  private async runLoggedTransaction<T>(hold: Hold, fn: () => Awaitable<T>): Promise<T> {
    let result: T;
    try {
      this.ensureTxn();
      this.st('SAVEPOINT redo_tx').run();
    } catch (err) {
      this.handOver();
      this.noteWrite(err);
      throw err;
    }
    this.scope++;
    try {
      result = await this.als.run(hold, fn);
      this.appendCaptured(true);
      this.scope--;
      this.st('RELEASE redo_tx').run();
    } catch (err) {
      this.captured = [];
      if (this.scope > 0) this.scope--;
      this.rollbackScope('redo_tx');
      this.handOver();
      this.noteWrite(err);
      throw err;
    }
    this.commitIfDue();
    this.handOver();
    this.noteWrite(null);
    for (const cb of hold.callbacks) cb();
    return result;
  }

  /** Rolls back what is open (SQLite may already have, after an I/O error). */
  private abort(): void {
    if (!this.db.inTransaction) return;
    try {
      this.st('ROLLBACK').run();
    } catch {
      /* nothing left to roll back */
    }
  }

  /** Remember a write that failed for lack of space (or forget it when a commit went through). */
  private noteWrite(err: unknown): void {
    if (err === null) {
      this.writeFailure = null;
      return;
    }
    if (!isStorageError(err)) return;
    const e = err as { code: string; message?: string };
    this.writeFailure ??= { reason: `cannot write the database (${e.code}: ${e.message ?? 'no message'})`, since: new Date().toISOString() };
  }

  writable(): StoreWritable {
    let free: number | null = null;
    try {
      const st = fs.statfsSync(this.dir);
      free = st.bavail * st.bsize;
    } catch {
      /* no statfs here: the write probe decides */
    }
    if (free !== null && free < this.minFreeBytes) {
      const since = this.writeFailure?.since ?? new Date().toISOString();
      return { ok: false, reason: `disk nearly full: ${Math.floor(free / 1024)} KiB free for the database, ${Math.floor(this.minFreeBytes / 1024)} KiB needed`, since };
    }
    // Not while a transaction holds the connection: the probe would commit inside it.
    if (this.writeFailure && this.owner === undefined && Date.now() - this.lastProbeAt >= PROBE_EVERY_MS) {
      this.lastProbeAt = Date.now();
      try {
        if (this.redo) {
          // A record with no statements: a real write to the log's disk (and the database's
          // transaction opened again, running the log's records, if SQLite had rolled it back).
          this.ensureTxn();
          this.appendRecord([], true);
          this.noteWrite(null);
        } else {
          // Rewriting the header's user_version appends a page to the WAL: a real write and fsync.
          this.atomic(() => this.db.pragma(`user_version = ${SCHEMA_VERSION}`));
        }
      } catch {
        /* still failing: writeFailure stays */
      }
    }
    return this.writeFailure ? { ok: false, ...this.writeFailure } : { ok: true };
  }

  afterCommit(cb: () => void): void {
    if (this.owns()) this.owner!.callbacks.push(cb);
    else cb();
  }

  lock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn);
  }

  async batch(items: (() => Awaitable<unknown>)[]): Promise<unknown[]> {
    if (this.owns()) throw new Error('batch() cannot run inside a transaction');
    const hold: Hold = { callbacks: [] };
    const waiting = this.acquire(hold);
    if (waiting) await waiting;
    let errors: unknown[];
    try {
      errors = this.redo ? (await this.runLoggedBatch(hold, items, true)).errors : await this.runBatch(hold, items);
    } finally {
      this.handOver();
    }
    for (const cb of hold.callbacks) cb();
    return errors;
  }

  /**
   * runBatch() under the redo log: a savepoint for the batch and one per item, then one record
   * for the items that went through (on disk on return with `sync`, else `durable` says when).
   */
  private async runLoggedBatch(hold: Hold, items: (() => Awaitable<unknown>)[], sync: boolean): Promise<{ errors: unknown[]; durable: Promise<void> }> {
    const errors: unknown[] = new Array<unknown>(items.length).fill(undefined);
    let durable: Promise<void>;
    this.scope++;
    try {
      this.ensureTxn();
      this.st('SAVEPOINT redo_batch').run();
      await this.runItems(hold, items, errors);
      if (sync) {
        this.appendCaptured(true);
        durable = Promise.resolve();
      } else {
        durable = this.appendCaptured(false);
      }
      this.st('RELEASE redo_batch').run();
    } catch (err) {
      this.captured = [];
      this.scope--;
      this.rollbackScope('redo_batch');
      hold.callbacks.length = 0;
      this.noteWrite(err);
      throw err;
    }
    this.scope--;
    this.commitIfDue();
    const failed = errors.find((e) => isStorageError(e));
    this.noteWrite(failed ?? null);
    return { errors, durable };
  }

  /**
   * One transaction, a savepoint per item, on the connection `hold` acquired (the caller releases
   * it). Items run one after the other in hold's async context.
   */
  private async runBatch(hold: Hold, items: (() => Awaitable<unknown>)[]): Promise<unknown[]> {
    const errors: unknown[] = new Array<unknown>(items.length).fill(undefined);
    try {
      this.st('BEGIN IMMEDIATE').run();
      await this.runItems(hold, items, errors);
      this.st('COMMIT').run();
    } catch (err) {
      this.abort();
      hold.callbacks.length = 0;
      this.noteWrite(err);
      throw err;
    }
    const failed = errors.find((e) => isStorageError(e));
    this.noteWrite(failed ?? null);
    return errors;
  }

  /**
   * Runs a batch's items one after the other in hold's async context, a savepoint each: a failing
   * item is rolled back (its callbacks, redo-log statements and unsynced events too) and its error
   * kept in `errors`. Throws, failing the whole batch, when SQLite rolled back everything.
   */
  private async runItems(hold: Hold, items: (() => Awaitable<unknown>)[], errors: unknown[]): Promise<void> {
    for (let i = 0; i < items.length; i++) {
      const mark = hold.callbacks.length;
      const captured = this.captured.length;
      const unsyncedBefore = this.deferring ? new Map(this.unsynced) : undefined;
      this.st('SAVEPOINT batch_item').run();
      try {
        const r = this.als.run(hold, items[i]);
        // A synchronous item costs no extra turn.
        if (r instanceof Promise) await r;
        this.st('RELEASE batch_item').run();
      } catch (err) {
        this.st('ROLLBACK TO batch_item').run();
        this.st('RELEASE batch_item').run();
        hold.callbacks.length = mark;
        this.captured.length = captured;
        if (unsyncedBefore) {
          this.unsynced.clear();
          for (const [k, v] of unsyncedBefore) this.unsynced.set(k, v);
        }
        errors[i] = err ?? new Error('batch item failed');
      }
    }
  }

  /**
   * Like batch(), but the commit does not wait for the disk on this thread: it is written to the
   * WAL (synchronous=NORMAL for this one commit) and the WAL is then fsynced in libuv's thread
   * pool. Resolves once committed; `durable` resolves once that fsync is done, and only then do
   * the items' afterCommit callbacks run (events reach the stream, answers go out). Until then the
   * batch's events are not handed out by eventsAfter. A transaction() still commits with
   * synchronous=FULL, and its fsync of the same WAL file makes every earlier deferred batch
   * durable too.
   */
  async batchDeferred(items: (() => Awaitable<unknown>)[]): Promise<{ errors: unknown[]; durable: Promise<void> }> {
    if (this.owns()) throw new Error('batchDeferred() cannot run inside a transaction');
    const hold: Hold = { callbacks: [] };
    const waiting = this.acquire(hold);
    if (waiting) await waiting;
    const no = ++this.batchNo;
    if (this.redo) return this.loggedBatchDeferred(hold, no, items);
    let errors: unknown[];
    try {
      this.st('PRAGMA synchronous = NORMAL').run();
      this.deferring = no;
      errors = await this.runBatch(hold, items);
    } catch (err) {
      for (const [t, u] of this.unsynced) if (u.batch === no) this.unsynced.delete(t);
      throw err;
    } finally {
      this.deferring = 0;
      // FULL again before the connection is handed on: a call waiting for it commits durably.
      try {
        this.st('PRAGMA synchronous = FULL').run();
      } finally {
        this.handOver();
      }
    }
    return { errors, durable: this.whenDurable(no, hold.callbacks, this.syncWal()) };
  }

  /** Once `sync` says deferred batch `no` is on disk: its events may be read, and its callbacks run. */
  private whenDurable(no: number, callbacks: (() => void)[], sync: Promise<void>): Promise<void> {
    return sync.then(
      () => {
        this.markDurable(no);
        this.noteWrite(null);
        for (const cb of callbacks) cb();
      },
      (err: unknown) => {
        this.noteWrite(err);
        throw err;
      },
    );
  }

  /** batchDeferred() under the redo log: durable once its record is on disk in the log. */
  private async loggedBatchDeferred(hold: Hold, no: number, items: (() => Awaitable<unknown>)[]): Promise<{ errors: unknown[]; durable: Promise<void> }> {
    let out: { errors: unknown[]; durable: Promise<void> };
    try {
      this.deferring = no;
      out = await this.runLoggedBatch(hold, items, false);
    } catch (err) {
      for (const [t, u] of this.unsynced) if (u.batch === no) this.unsynced.delete(t);
      throw err;
    } finally {
      this.deferring = 0;
      this.handOver();
    }
    return { errors: out.errors, durable: this.whenDurable(no, hold.callbacks, out.durable) };
  }

  /** The WAL has outgrown its threshold and the checkpoint worker should copy it back. */
  checkpointDue(): boolean {
    if (!this.checkpointer?.active || !this.walFd) return false;
    try {
      return fs.fstatSync(this.walFd.fd).size >= this.checkpointWalBytes;
    } catch {
      return false;
    }
  }

  /** A PASSIVE checkpoint in the worker thread (see sqlite-checkpointer.ts): the WAL frames it left. */
  checkpoint(): Promise<number> {
    return this.checkpointer?.run() ?? Promise.resolve(-1);
  }

  private markDurable(no: number): void {
    if (no <= this.durableBatchNo) return;
    this.durableBatchNo = no;
    for (const [t, u] of this.unsynced) if (u.batch <= no) this.unsynced.delete(t);
  }

  /** fdatasync of the WAL file in the thread pool (SQLite's own descriptor is not reachable). */
  private syncWal(): Promise<void> {
    let ino: number;
    try {
      ino = fs.statSync(this.walFile).ino;
      if (this.walFd?.ino !== ino) {
        if (this.walFd) fs.closeSync(this.walFd.fd);
        this.walFd = undefined;
        this.walFd = { fd: fs.openSync(this.walFile, 'r'), ino };
      }
    } catch (err) {
      // No WAL file: nothing was ever committed through it, so there is nothing to sync.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve();
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const { fd } = this.walFd;
    return new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  reportData(window: { from: Date; to: Date }, now = new Date()): Awaitable<ReportData> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.reportData(window, now));
    return readReportData(this.db, window, now);
  }

  close(): void {
    if (this.redo && this.db.open) this.closeRedoLog();
    this.checkpointer?.stop();
    if (this.walFd) fs.closeSync(this.walFd.fd);
    this.walFd = undefined;
    if (this.db.open) this.db.close();
  }

  /** A clean stop under the redo log: the database commits durably, and the log is emptied (or kept, if that failed). */
  private closeRedoLog(): void {
    clearTimeout(this.commitTimer);
    let committed = false;
    try {
      if (this.needsRecovery) this.ensureTxn();
      if (this.db.inTransaction) {
        setRedoMarker(this.db, this.redoSeq);
        this.st('COMMIT').run();
        // Durable before the log is emptied (the commit itself did not wait for the disk).
        fsyncPath(this.walFile);
      }
      committed = true;
    } catch {
      this.abort();
    }
    this.redo!.close(committed);
  }

  externalChange(): boolean {
    const v = this.db.pragma('data_version', { simple: true }) as number;
    const changed = v !== this.lastDataVersion;
    this.lastDataVersion = v;
    return changed;
  }

  // terminals

  insertTerminal(t: Omit<TerminalRow, 'lastSeq' | 'ackedSeq'>): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertTerminal(t));
    this.st(
      `INSERT INTO terminals (id, name, credential_hash, created_at, revoked_at, last_seen_at, version, device, address, predecessor_id)
       VALUES (@id, @name, @credentialHash, @createdAt, @revokedAt, @lastSeenAt, @version, @device, @address, @predecessorId)`,
    ).run({ ...t, predecessorId: t.predecessorId ?? null });
  }

  terminalById(id: string): Awaitable<TerminalRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.terminalById(id));
    return terminalFromRow(this.st('SELECT * FROM terminals WHERE id = ?').get(id) as Row | undefined);
  }

  terminalByCredentialHash(hash: string): Awaitable<TerminalRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.terminalByCredentialHash(hash));
    return terminalFromRow(this.st('SELECT * FROM terminals WHERE credential_hash = ?').get(hash) as Row | undefined);
  }

  successorOf(id: string): Awaitable<TerminalRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.successorOf(id));
    return terminalFromRow(this.st('SELECT * FROM terminals WHERE predecessor_id = ? ORDER BY created_at DESC LIMIT 1').get(id) as Row | undefined);
  }

  listTerminals(): Awaitable<TerminalRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.listTerminals());
    return (this.st('SELECT * FROM terminals ORDER BY created_at, id').all() as Row[]).map((r) => terminalFromRow(r)!);
  }

  renameTerminal(id: string, name: string, _at: string): Awaitable<boolean> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.renameTerminal(id, name, _at));
    return this.st('UPDATE terminals SET name = ? WHERE id = ?').run(name, id).changes > 0;
  }

  revokeTerminal(id: string, at: string): Awaitable<boolean> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.revokeTerminal(id, at));
    return this.st('UPDATE terminals SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }

  touchTerminal(id: string, at: string, info: { version?: string | null; address?: string | null }): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.touchTerminal(id, at, info));
    this.st(
      `UPDATE terminals SET last_seen_at = @at, version = COALESCE(@version, version), address = COALESCE(@address, address) WHERE id = @id`,
    ).run({ id, at, version: info.version ?? null, address: info.address ?? null });
  }

  // pairing

  insertPairing(p: PairingRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertPairing(p));
    this.st(
      `INSERT INTO pairings (id, code, secret_hash, credential_hash, name, version, device, address, created_at, expires_at, status, terminal_id, decided_at, replaces_terminal_id, source_key)
       VALUES (@id, @code, @secretHash, @credentialHash, @name, @version, @device, @address, @createdAt, @expiresAt, @status, @terminalId, @decidedAt, @replacesTerminalId, @sourceKey)`,
    ).run({ ...p, replacesTerminalId: p.replacesTerminalId ?? null, sourceKey: p.sourceKey ?? null });
  }

  countPendingPairingsFrom(sourceKey: string, now: string): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.countPendingPairingsFrom(sourceKey, now));
    return (this.st(`SELECT COUNT(*) AS n FROM pairings WHERE status = 'pending' AND source_key = ? AND expires_at > ?`).get(sourceKey, now) as { n: number }).n;
  }

  expireBusiestPendingPairing(now: string): Awaitable<boolean> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.expireBusiestPendingPairing(now));
    const busiest = this.st(
      `SELECT source_key AS k FROM pairings WHERE status = 'pending' AND expires_at > @now
       GROUP BY source_key ORDER BY COUNT(*) DESC, MIN(created_at) LIMIT 1`,
    ).get({ now }) as { k: string | null } | undefined;
    if (!busiest) return false;
    const r = this.st(
      `UPDATE pairings SET expires_at = @now WHERE id = (
         SELECT id FROM pairings WHERE status = 'pending' AND expires_at > @now AND source_key IS @k ORDER BY created_at LIMIT 1)`,
    ).run({ now, k: busiest.k });
    return r.changes > 0;
  }

  rateBucket(key: string): Awaitable<{ tokens: number; atMs: number } | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.rateBucket(key));
    const r = this.st('SELECT tokens, at_ms FROM rate_limits WHERE key = ?').get(key) as { tokens: number; at_ms: number } | undefined;
    return r && { tokens: r.tokens, atMs: r.at_ms };
  }

  saveRateBucket(key: string, state: { tokens: number; atMs: number }): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.saveRateBucket(key, state));
    this.st('INSERT INTO rate_limits (key, tokens, at_ms) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms').run(
      key,
      state.tokens,
      state.atMs,
    );
  }

  pruneRateBuckets(beforeMs: number): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pruneRateBuckets(beforeMs));
    return this.st('DELETE FROM rate_limits WHERE at_ms < ?').run(beforeMs).changes;
  }

  pairingById(id: string): Awaitable<PairingRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pairingById(id));
    return pairingFromRow(this.st('SELECT * FROM pairings WHERE id = ?').get(id) as Row | undefined);
  }

  pendingPairingByCode(code: string, now: string): Awaitable<PairingRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pendingPairingByCode(code, now));
    return pairingFromRow(
      this.st(`SELECT * FROM pairings WHERE code = ? AND status = 'pending' AND expires_at > ? ORDER BY created_at DESC LIMIT 1`).get(code, now) as
        | Row
        | undefined,
    );
  }

  countPendingPairings(now: string): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.countPendingPairings(now));
    return (this.st(`SELECT COUNT(*) AS n FROM pairings WHERE status = 'pending' AND expires_at > ?`).get(now) as { n: number }).n;
  }

  listPendingPairings(now: string): Awaitable<PairingRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.listPendingPairings(now));
    return (this.st(`SELECT * FROM pairings WHERE status = 'pending' AND expires_at > ? ORDER BY created_at`).all(now) as Row[]).map(
      (r) => pairingFromRow(r)!,
    );
  }

  decidePairing(id: string, status: 'approved' | 'rejected', terminalId: string | null, at: string): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.decidePairing(id, status, terminalId, at));
    this.st('UPDATE pairings SET status = ?, terminal_id = ?, decided_at = ? WHERE id = ?').run(status, terminalId, at, id);
  }

  // sales

  insertSale(s: SaleRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertSale(s));
    const { qrSvg, ...row } = s;
    this.atomic(() => {
      const qrId = qrSvg === null ? null : Number(this.st('INSERT INTO sale_qr (svg) VALUES (?)').run(qrSvg).lastInsertRowid);
      const p = { ...toParams(row, SALE_COLUMNS, SALE_BOOLS), qr_id: qrId };
      const cols = Object.keys(p);
      this.st(`INSERT INTO sales (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(p);
    });
  }

  sale(terminalId: string, saleId: string): Awaitable<SaleRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.sale(terminalId, saleId));
    return fromRow<SaleRow>(this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE terminal_id = ? AND sale_id = ?`).get(terminalId, saleId) as Row, SALE_COLUMNS, SALE_BOOLS);
  }

  saleByChargeId(chargeId: string): Awaitable<SaleRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.saleByChargeId(chargeId));
    return fromRow<SaleRow>(this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE charge_id = ?`).get(chargeId) as Row, SALE_COLUMNS, SALE_BOOLS);
  }

  /** Numbers of QR documents the sales no longer show, not yet deleted. */
  private droppedQrs: number[] = [];

  updateSale(terminalId: string, saleId: string, patch: Partial<Omit<SaleRow, 'terminalId' | 'saleId'>>): Awaitable<SaleRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.updateSale(terminalId, saleId, patch));
    const { qrSvg, ...rest } = patch;
    const p: Row = toParams(rest, SALE_COLUMNS, SALE_BOOLS);
    if (!Object.keys(p).length && qrSvg === undefined) return this.sale(terminalId, saleId);
    return this.atomic(() => {
      // A new document is written beside the row; a dropped one only loses its number in the row
      // (in the same UPDATE as the sale's change) and is deleted later with others (QR_PRUNE_EVERY).
      const old = qrSvg === undefined ? undefined : (this.st('SELECT qr_id FROM sales WHERE terminal_id = ? AND sale_id = ?').get(terminalId, saleId) as { qr_id: number | null } | undefined);
      if (qrSvg !== undefined && !old) return undefined;
      if (typeof qrSvg === 'string' && old?.qr_id != null) this.st('UPDATE sale_qr SET svg = ? WHERE id = ?').run(qrSvg, old.qr_id);
      else if (typeof qrSvg === 'string') p.qr_id = Number(this.st('INSERT INTO sale_qr (svg) VALUES (?)').run(qrSvg).lastInsertRowid);
      else if (qrSvg === null && old?.qr_id != null) {
        p.qr_id = null;
        this.droppedQrs.push(old.qr_id);
        if (this.droppedQrs.length >= QR_PRUNE_EVERY) {
          this.st('DELETE FROM sale_qr WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(this.droppedQrs));
          this.droppedQrs = [];
        }
      }
      // (updated_at = updated_at: a new document alone changes no column, and the row is still returned)
      const set = Object.keys(p).map((c) => `${c} = @${c}`).join(', ') || 'updated_at = updated_at';
      const row = this.st(`UPDATE sales SET ${set} WHERE terminal_id = @__t AND sale_id = @__s RETURNING *`).get({ ...p, __t: terminalId, __s: saleId }) as Row | undefined;
      if (!row) return undefined;
      const svg = typeof qrSvg === 'string' || qrSvg === null ? qrSvg : row.qr_id == null ? null : ((this.st('SELECT svg FROM sale_qr WHERE id = ?').pluck().get(row.qr_id) as string | undefined) ?? null);
      return fromRow<SaleRow>({ ...row, qr_svg: svg }, SALE_COLUMNS, SALE_BOOLS);
    });
  }

  salesSince(terminalId: string | null, since: string, limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.salesSince(terminalId, since, limit));
    const rows = terminalId
      ? this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE terminal_id = ? AND updated_at >= ? ORDER BY updated_at, sale_id LIMIT ?`).all(terminalId, since, limit)
      : this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE updated_at >= ? ORDER BY updated_at, sale_id LIMIT ?`).all(since, limit);
    return (rows as Row[]).map((r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!);
  }

  pendingSales(limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pendingSales(limit));
    return (this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE status = 'pending' ORDER BY checked_at LIMIT ?`).all(limit) as Row[]).map(
      (r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!,
    );
  }

  salesByStatus(status: SaleRow['status'], limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.salesByStatus(status, limit));
    // The status is written into the statement (one of the known ones, never a caller's text): only
    // then can SQLite use the index of the sales in that status (sales_creating).
    if (!SALE_STATUSES.includes(status)) throw new Error(`unknown sale status ${JSON.stringify(status)}`);
    return (this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE status = '${status}' ORDER BY updated_at LIMIT ?`).all(limit) as Row[]).map(
      (r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!,
    );
  }

  openSalesOf(terminalId: string, limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.openSalesOf(terminalId, limit));
    return (
      this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE terminal_id = ? AND status IN (${OPEN_STATUSES_SQL}) ORDER BY created_at LIMIT ?`).all(terminalId, limit) as Row[]
    ).map((r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!);
  }

  paidAfterCancel(limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.paidAfterCancel(limit));
    return (
      this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE expire_requested = 1 AND status = 'successful' ORDER BY updated_at DESC LIMIT ?`).all(limit) as Row[]
    ).map((r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!);
  }

  uncertainSales(limit: number): Awaitable<SaleRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.uncertainSales(limit));
    return (
      this.st(`SELECT * FROM ${SALES_WITH_QR} WHERE create_uncertain = 1 AND status != 'creating' ORDER BY orphan_checked_at LIMIT ?`).all(limit) as Row[]
    ).map((r) => fromRow<SaleRow>(r, SALE_COLUMNS, SALE_BOOLS)!);
  }

  // refunds

  insertRefund(r: RefundRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertRefund(r));
    const p = toParams(r as unknown as Row, REFUND_COLUMNS, REFUND_BOOLS);
    const cols = Object.keys(p);
    this.st(`INSERT INTO refunds (${cols.join(', ')}) VALUES (${cols.map((c) => '@' + c).join(', ')})`).run(p);
  }

  refund(terminalId: string, refundId: string): Awaitable<RefundRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.refund(terminalId, refundId));
    return fromRow<RefundRow>(
      this.st('SELECT * FROM refunds WHERE terminal_id = ? AND refund_id = ?').get(terminalId, refundId) as Row,
      REFUND_COLUMNS,
      REFUND_BOOLS,
    );
  }

  refundsOfSale(terminalId: string, saleId: string): Awaitable<RefundRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.refundsOfSale(terminalId, saleId));
    return (this.st('SELECT * FROM refunds WHERE terminal_id = ? AND sale_id = ? ORDER BY created_at, refund_id').all(terminalId, saleId) as Row[]).map(
      (r) => fromRow<RefundRow>(r, REFUND_COLUMNS, REFUND_BOOLS)!,
    );
  }

  updateRefund(terminalId: string, refundId: string, patch: Partial<Omit<RefundRow, 'terminalId' | 'refundId'>>): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.updateRefund(terminalId, refundId, patch));
    const p = toParams(patch, REFUND_COLUMNS, REFUND_BOOLS);
    const cols = Object.keys(p);
    if (!cols.length) return;
    this.st(`UPDATE refunds SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE terminal_id = @__t AND refund_id = @__r`).run({
      ...p,
      __t: terminalId,
      __r: refundId,
    });
  }

  pendingRefunds(limit: number): Awaitable<RefundRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pendingRefunds(limit));
    return (this.st(`SELECT * FROM refunds WHERE status = 'pending' ORDER BY updated_at LIMIT ?`).all(limit) as Row[]).map(
      (r) => fromRow<RefundRow>(r, REFUND_COLUMNS, REFUND_BOOLS)!,
    );
  }

  // event stream

  publish(terminalId: string, at: string, event: RelayEvent): Awaitable<StoredEvent> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.publish(terminalId, at, event));
    return this.atomic(() => {
      const row = this.st('UPDATE terminals SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq').get(terminalId) as
        | { last_seq: number }
        | undefined;
      if (!row) throw new Error(`publish: unknown terminal ${terminalId}`);
      const body = JSON.stringify(event);
      this.st('INSERT INTO events (terminal_id, seq, at, body) VALUES (?, ?, ?, ?)').run(terminalId, row.last_seq, at, body);
      if (this.deferring && !this.unsynced.has(terminalId)) this.unsynced.set(terminalId, { seq: row.last_seq, batch: this.deferring });
      return { terminalId, seq: row.last_seq, at, event, body };
    });
  }

  eventsAfter(terminalId: string, after: number, limit: number): Awaitable<StoredEvent[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.eventsAfter(terminalId, after, limit));
    const below = this.unsynced.get(terminalId)?.seq ?? Number.MAX_SAFE_INTEGER;
    const rows = this.st('SELECT seq, at, body FROM events WHERE terminal_id = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?').all(terminalId, after, below, limit) as {
      seq: number;
      at: string;
      body: string;
    }[];
    return rows.map((r) => ({
      terminalId,
      seq: r.seq,
      at: r.at,
      body: r.body,
      get event(): RelayEvent {
        return JSON.parse(r.body) as RelayEvent;
      },
    }));
  }

  ack(terminalId: string, seq: number): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.ack(terminalId, seq));
    return this.atomic(() => {
      const removed = this.st('DELETE FROM events WHERE terminal_id = ? AND seq <= ?').run(terminalId, seq).changes;
      this.st('UPDATE terminals SET acked_seq = MAX(acked_seq, MIN(?, last_seq)) WHERE id = ?').run(seq, terminalId);
      return removed;
    });
  }

  pendingEventCount(terminalId: string): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.pendingEventCount(terminalId));
    return (this.st('SELECT COUNT(*) AS n FROM events WHERE terminal_id = ?').get(terminalId) as { n: number }).n;
  }

  // webhooks

  insertWebhookEvent(e: WebhookEventRow): Awaitable<boolean> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertWebhookEvent(e));
    return (
      this.st(
        `INSERT OR IGNORE INTO webhook_events (id, key, object_type, object_id, received_at, status, attempts, next_attempt_at, last_error)
         VALUES (@id, @key, @objectType, @objectId, @receivedAt, @status, @attempts, @nextAttemptAt, @lastError)`,
      ).run(e).changes > 0
    );
  }

  webhookEvent(id: string): Awaitable<WebhookEventRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.webhookEvent(id));
    return webhookFromRow(this.st('SELECT * FROM webhook_events WHERE id = ?').get(id) as Row | undefined);
  }

  updateWebhookEvent(id: string, patch: Partial<Omit<WebhookEventRow, 'id'>>): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.updateWebhookEvent(id, patch));
    const map: Record<string, string> = {
      key: 'key',
      objectType: 'object_type',
      objectId: 'object_id',
      receivedAt: 'received_at',
      status: 'status',
      attempts: 'attempts',
      nextAttemptAt: 'next_attempt_at',
      lastError: 'last_error',
    };
    const p = toParams(patch, map, new Set());
    const cols = Object.keys(p);
    if (!cols.length) return;
    this.st(`UPDATE webhook_events SET ${cols.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @__id`).run({ ...p, __id: id });
  }

  unprocessedWebhookEvents(now: string, limit: number): Awaitable<WebhookEventRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.unprocessedWebhookEvents(now, limit));
    return (
      this.st(
        `SELECT * FROM webhook_events WHERE status = 'unprocessed' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY received_at LIMIT ?`,
      ).all(now, limit) as Row[]
    ).map((r) => webhookFromRow(r)!);
  }

  // orphans

  upsertOrphan(o: OrphanRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.upsertOrphan(o));
    this.st(
      `INSERT INTO orphans (charge_id, terminal_id, sale_id, status, found_at, updated_at) VALUES (@chargeId, @terminalId, @saleId, @status, @foundAt, @updatedAt)
       ON CONFLICT(charge_id) DO UPDATE SET status = CASE WHEN orphans.status = 'to_expire' THEN excluded.status ELSE orphans.status END, updated_at = excluded.updated_at`,
    ).run(o);
  }

  orphansToExpire(limit: number): Awaitable<OrphanRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.orphansToExpire(limit));
    return (this.st(`SELECT * FROM orphans WHERE status = 'to_expire' ORDER BY found_at LIMIT ?`).all(limit) as Row[]).map(orphanFromRow);
  }

  orphansOfSale(terminalId: string, saleId: string): Awaitable<OrphanRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.orphansOfSale(terminalId, saleId));
    return (this.st('SELECT * FROM orphans WHERE terminal_id = ? AND sale_id = ? ORDER BY found_at').all(terminalId, saleId) as Row[]).map(orphanFromRow);
  }

  orphansByStatus(status: OrphanStatus, limit: number): Awaitable<OrphanRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.orphansByStatus(status, limit));
    return (this.st('SELECT * FROM orphans WHERE status = ? ORDER BY found_at LIMIT ?').all(status, limit) as Row[]).map(orphanFromRow);
  }

  updateOrphan(chargeId: string, status: OrphanStatus, at: string): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.updateOrphan(chargeId, status, at));
    this.st('UPDATE orphans SET status = ?, updated_at = ? WHERE charge_id = ?').run(status, at, chargeId);
  }

  // records

  // ---- fleet updates ----------------------------------------------------------------------

  insertRelease(r: ReleaseRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertRelease(r));
    this.st(
      `INSERT INTO releases (version, arch, sha256, size, file, added_at) VALUES (@version, @arch, @sha256, @size, @file, @addedAt)`,
    ).run({ ...r });
  }

  release(version: string, arch: string): Awaitable<ReleaseRow | undefined> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.release(version, arch));
    const r = this.st(`SELECT * FROM releases WHERE version = ? AND arch = ?`).get(version, arch) as Row | undefined;
    return r && releaseFromRow(r);
  }

  listReleases(): Awaitable<ReleaseRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.listReleases());
    return (this.st(`SELECT * FROM releases ORDER BY added_at DESC, version DESC, arch`).all() as Row[]).map(releaseFromRow);
  }

  deleteRelease(version: string, arch: string): Awaitable<boolean> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.deleteRelease(version, arch));
    return this.st(`DELETE FROM releases WHERE version = ? AND arch = ?`).run(version, arch).changes > 0;
  }

  insertRollout(r: Omit<RolloutRow, 'id'>): Awaitable<RolloutRow> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertRollout(r));
    const info = this.st(`INSERT INTO rollouts (version, target, created_at) VALUES (?, ?, ?)`).run(r.version, JSON.stringify(r.target), r.createdAt);
    return { id: Number(info.lastInsertRowid), ...r };
  }

  listRollouts(): Awaitable<RolloutRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.listRollouts());
    return (this.st(`SELECT * FROM rollouts ORDER BY id DESC`).all() as Row[]).map(rolloutFromRow);
  }

  terminalArch(id: string): Awaitable<string | null> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.terminalArch(id));
    const r = this.st(`SELECT arch FROM terminal_arch WHERE terminal_id = ?`).get(id) as { arch: string } | undefined;
    return r?.arch ?? null;
  }

  setTerminalArch(id: string, arch: string): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.setTerminalArch(id, arch));
    this.st(`INSERT INTO terminal_arch (terminal_id, arch) VALUES (?, ?) ON CONFLICT (terminal_id) DO UPDATE SET arch = excluded.arch`).run(id, arch);
  }

  insertUpgradeReport(r: UpgradeReportRow): Awaitable<void> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertUpgradeReport(r));
    this.st(`INSERT INTO terminal_upgrades (terminal_id, version, outcome, detail, at) VALUES (?, ?, ?, ?, ?)`).run(r.terminalId, r.version, r.outcome, r.detail, r.at);
  }

  upgradeReports(terminalId: string, limit: number): Awaitable<UpgradeReportRow[]> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.upgradeReports(terminalId, limit));
    return (this.st(`SELECT * FROM terminal_upgrades WHERE terminal_id = ? ORDER BY at DESC, rowid DESC LIMIT ?`).all(terminalId, limit) as Row[]).map((r) => ({
      terminalId: r.terminal_id as string,
      version: r.version as string,
      outcome: r.outcome as UpgradeReportRow['outcome'],
      detail: (r.detail as string | null) ?? null,
      at: r.at as string,
    }));
  }

  insertRecords(terminalId: string, records: JournalRecord[], receivedAt: string): Awaitable<{ accepted: number; duplicates: number }> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.insertRecords(terminalId, records, receivedAt));
    return this.atomic(() => {
      const ins = this.st(
        'INSERT OR IGNORE INTO records (terminal_id, record_id, sale_id, kind, at, data, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      let accepted = 0;
      for (const r of records) accepted += ins.run(terminalId, r.recordId, r.saleId, r.kind, r.at, JSON.stringify(r.data), receivedAt).changes;
      return { accepted, duplicates: records.length - accepted };
    });
  }

  highestRecordRef(terminalId: string): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.highestRecordRef(terminalId));
    const row = this.st(
      `SELECT MAX(CAST(json_extract(data, '$.ref') AS INTEGER)) AS m FROM records WHERE terminal_id = ? AND kind IN ('sale.recorded', 'sale.adopted')`,
    ).get(terminalId) as { m: number | null };
    return row.m ?? 0;
  }

  countRecords(terminalId: string): Awaitable<number> {
    if (this.owner !== undefined && this.foreign()) return this.queued(() => this.countRecords(terminalId));
    return (this.st('SELECT COUNT(*) AS n FROM records WHERE terminal_id = ?').get(terminalId) as { n: number }).n;
  }
}

export type { RelayEvent };

// ---- reports (report.ts) --------------------------------------------------------------------------

const DAY_MS = 86_400_000;

/** Up to this long ago, a day's sales are found through the sales_updated index; older, by reading the table. */
const INDEXED_LOOKBACK_MS = 31 * DAY_MS;

/** Reads what a report of [from, to) needs, in one read transaction (`now` picks the faster plan). */
export function readReportData(db: Database.Database, window: { from: Date; to: Date }, now = new Date()): ReportData {
  // Text bounds a day wider than the window: the stored times are ISO 8601 in UTC but not all
  // written alike (Omise's have no milliseconds); computeReport compares them exactly.
  const lo = new Date(window.from.getTime() - DAY_MS).toISOString();
  const hi = new Date(window.to.getTime() + DAY_MS).toISOString();
  // A sale's updated_at (the relay's clock) is never before its creation nor before the relay
  // learned of its charge, so `updated_at >= lo` keeps every sale of the day, and lets SQLite read
  // the sales_updated index (terminal_id, updated_at) from `lo` on: only the rows changed since.
  // That is fast for a recent day (200,000 sales, a year of a busy shop: 1 ms a query instead of
  // 17 ms for the whole table) and slower than the table for a day months back (every sale since).
  const recent = now.getTime() - window.from.getTime() < INDEXED_LOOKBACK_MS;
  const near =
    (recent ? 's.terminal_id IN (SELECT id FROM terminals) AND s.updated_at >= @lo AND ' : '') +
    '((s.charge_created_at >= @lo AND s.charge_created_at < @hi) OR (s.charge_created_at IS NULL AND s.created_at >= @lo AND s.created_at < @hi))';
  return db
    .transaction(() => {
      const terminals = (
        db.prepare('SELECT id, name, predecessor_id, revoked_at FROM terminals ORDER BY created_at, id').all() as {
          id: string;
          name: string;
          predecessor_id: string | null;
          revoked_at: string | null;
        }[]
      ).map((t) => ({ id: t.id, name: t.name, predecessorId: t.predecessor_id, revoked: t.revoked_at !== null }));
      const sales = (
        db
          .prepare(
            `SELECT s.terminal_id, s.sale_id, s.method, s.amount, s.currency, s.status, s.charge_created_at, s.created_at, s.expire_requested FROM sales s WHERE ${near}`,
          )
          .all({ lo, hi }) as {
          terminal_id: string;
          sale_id: string;
          method: string;
          amount: number;
          currency: string;
          status: SaleStatus;
          charge_created_at: string | null;
          created_at: string;
          expire_requested: number;
        }[]
      ).map((s) => ({
        terminalId: s.terminal_id,
        saleId: s.sale_id,
        method: s.method,
        amount: s.amount,
        currency: s.currency,
        status: s.status,
        chargeCreatedAt: s.charge_created_at,
        createdAt: s.created_at,
        expireRequested: s.expire_requested === 1,
      }));
      const refunds = (
        db
          .prepare(
            `SELECT r.terminal_id, r.sale_id, r.amount, r.voided, r.status FROM refunds r
             JOIN sales s ON s.terminal_id = r.terminal_id AND s.sale_id = r.sale_id WHERE ${near}`,
          )
          .all({ lo, hi }) as { terminal_id: string; sale_id: string; amount: number; voided: number; status: RefundStatus }[]
      ).map((r) => ({ terminalId: r.terminal_id, saleId: r.sale_id, amount: r.amount, voided: r.voided === 1, status: r.status }));
      const extraPaid = (
        db
          .prepare(
            `SELECT o.terminal_id, o.sale_id FROM orphans o
             JOIN sales s ON s.terminal_id = o.terminal_id AND s.sale_id = o.sale_id WHERE o.status = 'paid' AND ${near}`,
          )
          .all({ lo, hi }) as { terminal_id: string; sale_id: string }[]
      ).map((o) => ({ terminalId: o.terminal_id, saleId: o.sale_id }));
      return { terminals, sales, refunds, extraPaid };
    })
    .deferred();
}

/** A read-only reader of a relay's database, for the CLI (the running relay keeps writing it). */
export interface ReportReader extends ReportSource {
  close(): void;
}

/** The database file of a relay's dataDir. */
export function relayDatabaseFile(dataDir: string): string {
  return path.join(dataDir, 'relay.db');
}

/**
 * Opens the relay's database read-only (the CLI; the running relay keeps writing it). Refuses a
 * database older or newer than this program's schema.
 */
export function openReportReader(dataDir: string): ReportReader {
  const file = relayDatabaseFile(dataDir);
  if (!fs.existsSync(file)) throw new Error(`no relay database at ${file} (has the relay run with this dataDir?)`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version !== SCHEMA_VERSION) {
      throw new Error(
        version > SCHEMA_VERSION
          ? `relay database schema version ${version} is newer than this program (${SCHEMA_VERSION}); upgrade qrpos`
          : `relay database schema version ${version} is older than this program's (${SCHEMA_VERSION}); start the relay once to upgrade it`,
      );
    }
    return { reportData: (window, now) => readReportData(db, window, now), close: () => db.close() };
  } catch (err) {
    db.close();
    throw err;
  }
}
