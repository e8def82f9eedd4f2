/**
 * The relay's store in PostgreSQL, for several relays (replicas) sharing one database. Same rows
 * and meanings as the SQLite store (sqlite-store.ts); every method returns a promise (the async
 * contract, docs in store.ts once the callers are converted).
 *
 * What sharing needs, and how it is done here:
 *  - Sequence numbers: publish() bumps terminals.last_seq with UPDATE ... RETURNING, which takes
 *    the row lock, so two replicas never hand out the same number and none is skipped.
 *  - Mutual exclusion across replicas: lock() holds a session advisory lock on a connection of
 *    its own; it goes when fn ends or when the holder's connection does (its process died).
 *  - Waking the other replicas' streams: publish() does pg_notify in its transaction; PostgreSQL
 *    delivers it only once that commits (never for a rollback). watchEvents() LISTENs on a
 *    connection of its own that comes back when it drops.
 *  - Transactions run at READ COMMITTED: unlike SQLite's (one writer at a time), two replicas'
 *    transactions interleave, so a read-then-write that must not race another replica belongs
 *    under lock(). A failed statement ends the whole transaction (PostgreSQL aborts it).
 *
 * Times stay ISO 8601 TEXT (exactly the strings SQLite returns) with the "C" collation, so
 * comparisons and ORDER BY are byte order as in SQLite whatever the database's locale.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { silentLogger, type Logger } from '../shared/log';
import { OPEN_SALE_STATUSES } from '../domain/status';
import type { JournalRecord, RelayEvent, SaleStatus } from '../link/protocol';
import type {
  Awaitable,
  OrphanRow,
  OrphanStatus,
  PairingRow,
  RefundRow,
  RefundStatus,
  RelayStore,
  ReleaseRow,
  ReportData,
  RolloutRow,
  RolloutTarget,
  SaleRow,
  StoredEvent,
  StoreWritable,
  TerminalRow,
  UpgradeReportRow,
  WebhookEventRow,
} from './store';


/**
 * Numbered migrations, recorded in schema_migrations. Never edit one that shipped: add another.
 * Number 1 is the SQLite store's schema at its version 7. TEXT columns are COLLATE "C" (byte order).
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE terminals (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    credential_hash TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at TEXT COLLATE "C" NOT NULL,
    revoked_at TEXT COLLATE "C",
    last_seen_at TEXT COLLATE "C",
    version TEXT COLLATE "C",
    device TEXT COLLATE "C",
    address TEXT COLLATE "C",
    last_seq BIGINT NOT NULL DEFAULT 0,
    acked_seq BIGINT NOT NULL DEFAULT 0,
    predecessor_id TEXT COLLATE "C",
    CHECK (acked_seq >= 0 AND acked_seq <= last_seq)
  );
  CREATE INDEX terminals_predecessor ON terminals(predecessor_id) WHERE predecessor_id IS NOT NULL;
  CREATE TABLE pairings (
    id TEXT COLLATE "C" PRIMARY KEY,
    code TEXT COLLATE "C" NOT NULL,
    secret_hash TEXT COLLATE "C" NOT NULL,
    credential_hash TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    device TEXT COLLATE "C",
    address TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    terminal_id TEXT COLLATE "C",
    decided_at TEXT COLLATE "C",
    replaces_terminal_id TEXT COLLATE "C",
    source_key TEXT COLLATE "C"
  );
  CREATE INDEX pairings_code ON pairings(code, status);
  CREATE INDEX pairings_pending_source ON pairings(source_key, created_at) WHERE status = 'pending';
  CREATE TABLE sales (
    terminal_id TEXT COLLATE "C" NOT NULL,
    sale_id TEXT COLLATE "C" NOT NULL,
    method TEXT COLLATE "C" NOT NULL DEFAULT 'alipayplus_mpm',
    amount BIGINT NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    terminal_created_at TEXT COLLATE "C",
    status TEXT COLLATE "C" NOT NULL,
    charge_id TEXT COLLATE "C" UNIQUE,
    create_attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT COLLATE "C",
    create_uncertain BOOLEAN NOT NULL DEFAULT false,
    orphan_checked_at TEXT COLLATE "C",
    qr_text TEXT COLLATE "C",
    qr_svg TEXT COLLATE "C",
    failure_code TEXT COLLATE "C",
    failure_message TEXT COLLATE "C",
    error_code TEXT COLLATE "C",
    error_message TEXT COLLATE "C",
    charge_created_at TEXT COLLATE "C",
    charge_expires_at TEXT COLLATE "C",
    paid_at TEXT COLLATE "C",
    expire_requested BOOLEAN NOT NULL DEFAULT false,
    refunded_amount BIGINT NOT NULL DEFAULT 0,
    checked_at TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (terminal_id, sale_id),
    -- Not refunded_amount <= amount: it records what Omise reports, which must be stored even then.
    CHECK (amount >= 0 AND refunded_amount >= 0)
  );
  CREATE INDEX sales_status ON sales(status);
  CREATE INDEX sales_updated ON sales(terminal_id, updated_at);
  CREATE INDEX sales_uncertain ON sales(orphan_checked_at) WHERE create_uncertain;
  CREATE INDEX sales_paid_after_cancel ON sales(updated_at) WHERE expire_requested AND status = 'successful';
  CREATE TABLE refunds (
    terminal_id TEXT COLLATE "C" NOT NULL,
    refund_id TEXT COLLATE "C" NOT NULL,
    sale_id TEXT COLLATE "C" NOT NULL,
    charge_id TEXT COLLATE "C" NOT NULL,
    omise_refund_id TEXT COLLATE "C",
    amount BIGINT NOT NULL CHECK (amount >= 0),
    currency TEXT COLLATE "C" NOT NULL,
    voided BOOLEAN NOT NULL DEFAULT false,
    want_void BOOLEAN NOT NULL DEFAULT false,
    status TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C",
    error TEXT COLLATE "C",
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (terminal_id, refund_id)
  );
  CREATE INDEX refunds_sale ON refunds(terminal_id, sale_id);
  CREATE TABLE events (
    terminal_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL CHECK (seq > 0),
    at TEXT COLLATE "C" NOT NULL,
    body TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (terminal_id, seq)
  );
  CREATE TABLE webhook_events (
    id TEXT COLLATE "C" PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL,
    object_type TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT COLLATE "C",
    last_error TEXT COLLATE "C"
  );
  CREATE INDEX webhook_events_unprocessed ON webhook_events(received_at) WHERE status = 'unprocessed';
  CREATE TABLE orphans (
    charge_id TEXT COLLATE "C" PRIMARY KEY,
    terminal_id TEXT COLLATE "C" NOT NULL,
    sale_id TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    found_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
  );
  CREATE TABLE records (
    terminal_id TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    sale_id TEXT COLLATE "C",
    kind TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    data TEXT COLLATE "C" NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (terminal_id, record_id)
  );
  CREATE TABLE rate_limits (
    key TEXT COLLATE "C" PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at_ms BIGINT NOT NULL
  );
  CREATE INDEX rate_limits_at ON rate_limits(at_ms);
  CREATE TABLE releases (
    version TEXT COLLATE "C" NOT NULL,
    arch TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    file TEXT COLLATE "C" NOT NULL,
    added_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (version, arch)
  );
  CREATE TABLE rollouts (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    version TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
  );
  -- id: the order reports arrived in (SQLite's rowid), to order reports of the same instant.
  CREATE TABLE terminal_upgrades (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    terminal_id TEXT COLLATE "C" NOT NULL,
    version TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C",
    at TEXT COLLATE "C" NOT NULL
  );
  CREATE INDEX terminal_upgrades_terminal ON terminal_upgrades(terminal_id, at);
  CREATE TABLE terminal_arch (
    terminal_id TEXT COLLATE "C" PRIMARY KEY,
    arch TEXT COLLATE "C" NOT NULL
  );
  -- One row rewritten by writable()'s probe after a failed write.
  CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL
  );
  `,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** The tables holding the relay's data (store_probe and schema_migrations are the store's own). */
export const PG_DATA_TABLES = [
  'terminals',
  'pairings',
  'sales',
  'refunds',
  'events',
  'webhook_events',
  'orphans',
  'records',
  'rate_limits',
  'releases',
  'rollouts',
  'terminal_upgrades',
  'terminal_arch',
] as const;

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

const WEBHOOK_COLUMNS: Record<keyof WebhookEventRow, string> = {
  id: 'id',
  key: 'key',
  objectType: 'object_type',
  objectId: 'object_id',
  receivedAt: 'received_at',
  status: 'status',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  lastError: 'last_error',
};

/** `'creating', 'pending'`: the sales still waiting for an outcome, for SQL. */
const OPEN_STATUSES_SQL = OPEN_SALE_STATUSES.map((s) => `'${s}'`).join(', ');

function fromRow<T>(row: Row | undefined, columns: Record<string, string>): T | undefined {
  if (!row) return undefined;
  const out: Row = {};
  for (const [k, c] of Object.entries(columns)) out[k] = row[c];
  return out as T;
}

/** The defined fields of a row or patch as columns and values (undefined: the column's default, or unchanged). */
function toColumns(obj: object, columns: Record<string, string>): { cols: string[]; values: unknown[] } {
  const cols: string[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (!(k in columns) || v === undefined) continue;
    cols.push(columns[k]);
    values.push(v);
  }
  return { cols, values };
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

const saleFromRow = (r: Row | undefined) => fromRow<SaleRow>(r, SALE_COLUMNS);
const refundFromRow = (r: Row | undefined) => fromRow<RefundRow>(r, REFUND_COLUMNS);
const webhookFromRow = (r: Row | undefined) => fromRow<WebhookEventRow>(r, WEBHOOK_COLUMNS);

/** BIGINT (seqs, amounts, counts) as a JS number: every such value here is far below 2^53. */
const INT8_OID = 20;
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/** After a failed write, probe at most this often. */
const PROBE_EVERY_MS = 200;
/** How long a connection attempt may take before it counts as a failure. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A transaction idle this long (its relay hung between two statements) is ended by the server. */
const IDLE_IN_TRANSACTION_MS = 60_000;
/** TCP keepalive probes start after this long without traffic. */
const KEEPALIVE_MS = 10_000;
/** The listener's reconnection delays: doubling from the first to the last. */
const LISTEN_RETRY_MIN_MS = 100;
const LISTEN_RETRY_MAX_MS = 5_000;

/**
 * An error that means the database cannot take writes now (unreachable, shutting down, disk full,
 * read-only standby), as opposed to a constraint or a bug.
 */
export function isUnavailableError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  // 08: connection exception; 53: insufficient resources (53100 disk full); 57P0x: shutdown;
  // 58: system error (58030 I/O error); 25006: read-only transaction (a standby).
  if (/^(08|53|57P0|58)/.test(code) || code === '25006') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

/**
 * A deadlock (40P01) or a serialization failure (40001): the server undid the statement so that
 * another transaction could go on; the same work done again, alone, succeeds.
 */
export function isConflictError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** How many times an item of a batch that lost a deadlock is tried again. */
const CONFLICT_RETRIES = 4;

/** A URL's parts safe to show: never its password. */
function describeUrl(url: URL): string {
  const user = url.username ? `${safeDecode(url.username)}@` : '';
  return `${url.protocol}//${user}${url.host}${url.pathname}`;
}

/** `text` with every occurrence of the secret (as given and URL-encoded) replaced. */
function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** A 64-bit advisory lock id for `key` (signed, as pg_advisory_lock takes it), per schema. */
function advisoryLockId(schema: string, key: string): string {
  const digest = createHash('sha256').update(`${schema}\0${key}`).digest();
  return digest.readBigInt64BE(0).toString();
}

interface Tx {
  client: pg.PoolClient;
  /** Committed or rolled back: later calls from its async context go to the pool. */
  done: boolean;
  afterCommit: (() => void)[];
}

export interface PostgresStoreOptions {
  log?: Logger;
  /** Connections for queries and transactions (default 10); lock() has as many more of its own. */
  poolSize?: number;
  /** A schema of its own (created if missing) instead of the connection's search_path. */
  schema?: string;
}

/**
 * Opens (and creates or upgrades) the relay's store in the PostgreSQL database at `url`
 * (postgres://user:password@host:port/database). Errors never contain the password.
 */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not even a URL: say so without echoing it (it may hold the password).
    throw new Error('the PostgreSQL URL is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the PostgreSQL URL must start with postgres:// or postgresql://, not ${parsed.protocol}//`);
  }
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,39}$/.test(opts.schema)) {
    throw new Error(`PostgreSQL schema name ${JSON.stringify(opts.schema)}: use lower-case letters, digits and _ (at most 40)`);
  }
  const store = new PostgresStore(url, parsed, opts);
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw store.clearError(err, `cannot open the relay store in PostgreSQL at ${describeUrl(parsed)}`);
  }
  return store;
}

export class PostgresStore implements RelayStore {
  private readonly pool: pg.Pool;
  /** Connections that hold advisory locks while fn runs (apart, so holders never starve the queries). */
  private readonly lockPool: pg.Pool;
  private readonly log: Logger;
  private readonly schema: string;
  private readonly where: string;
  private readonly secrets: string[];
  private readonly clientConfig: pg.ClientConfig;
  private readonly als = new AsyncLocalStorage<Tx>();
  /** In-process queue per lock key, so waiting callers do not each hold a connection. */
  private readonly localLocks = new Map<string, Promise<void>>();
  /** Backend pids of this store's connections: their notifications are our own events. */
  private readonly ownPids = new Set<number>();
  private writeFailure: { reason: string; since: string } | null = null;
  private lastProbeAt = 0;
  private probing = false;
  private closed = false;
  // LISTEN/NOTIFY
  readonly channel: string;
  private readonly watchers: ((terminalId: string) => void)[] = [];
  private listener: pg.Client | null = null;
  private listenRetryMs = LISTEN_RETRY_MIN_MS;
  private listenTimer: NodeJS.Timeout | null = null;
  private listenedOnce = false;
  /** The listener is connected and LISTENing. */
  private listenReady = false;

  /** Use openPostgresStore (it creates the schema). */
  constructor(url: string, parsed: URL, opts: PostgresStoreOptions) {
    this.log = opts.log ?? silentLogger;
    this.schema = opts.schema ?? 'public';
    this.where = describeUrl(parsed);
    const password = parsed.password;
    const inQuery = parsed.searchParams.get('password') ?? '';
    this.secrets = [password, safeDecode(password), inQuery, encodeURIComponent(inQuery)].filter((s) => s.length > 0);
    this.channel = `qrpos_relay_events_${this.schema}`;
    // A relay that hangs inside a transaction would hold its row locks (a terminal's, stopping
    // the other replicas' publishes) for good: the server ends such a transaction after a while.
    const settings = [`-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`, ...(opts.schema ? [`-c search_path=${opts.schema}`] : [])];
    this.clientConfig = {
      connectionString: url,
      types: TYPES,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // Notice a peer gone silent (a lock held over a dead network) sooner than the system's 2 hours.
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_MS,
      application_name: 'qrpos-relay',
      options: settings.join(' '),
    };
    const size = Math.max(1, opts.poolSize ?? 10);
    this.pool = this.makePool(size);
    this.lockPool = this.makePool(Math.max(2, size));
  }

  private makePool(max: number): pg.Pool {
    const pool = new pg.Pool({ ...this.clientConfig, max });
    // An idle connection that drops (server restart, pg_terminate_backend) is reported here; the
    // pool replaces it on the next query.
    pool.on('error', (err) => this.log.warn('PostgreSQL connection lost', { error: this.clearMessage(err) }));
    pool.on('connect', (client) => {
      const pid = (client as unknown as { processID: number | null }).processID;
      if (pid !== null) this.ownPids.add(pid);
    });
    pool.on('remove', (client) => {
      const pid = (client as unknown as { processID: number | null }).processID;
      if (pid !== null) this.ownPids.delete(pid);
    });
    return pool;
  }

  /** An error's message without the password. */
  clearMessage(err: unknown): string {
    const e = err as { message?: unknown; code?: unknown } | null;
    const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
    const code = typeof e?.code === 'string' && !message.includes(e.code) ? ` (${e.code})` : '';
    return scrub(message + code, this.secrets);
  }

  /** A new Error saying what failed, with the cause's message (never the password) and no cause object. */
  clearError(err: unknown, what: string): Error {
    const out = new Error(`${what}: ${this.clearMessage(err)}`);
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string') (out as Error & { code: string }).code = code;
    return out;
  }

  /** Creates or upgrades the schema, under an advisory lock so replicas starting together take turns. */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      const lockId = advisoryLockId(this.schema, 'qrpos relay schema migrations');
      await client.query('SELECT pg_advisory_lock($1)', [lockId]);
      try {
        if (this.schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.schema)}`);
        await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
        const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
        const current = rows[0].v ?? 0;
        if (current > MIGRATIONS.length) {
          throw new Error(`relay database schema version ${current} is newer than this program (${MIGRATIONS.length}); upgrade qrpos`);
        }
        for (let v = current; v < MIGRATIONS.length; v++) {
          await client.query('BEGIN');
          try {
            await client.query(MIGRATIONS[v]);
            await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          }
          this.log.info('PostgreSQL relay schema migrated', { version: v + 1 });
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [lockId]).catch((err: unknown) => {
          broken = err;
        });
      }
    } catch (err) {
      broken ??= isUnavailableError(err) ? err : undefined;
      throw err;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /**
   * A pooled connection for fn, returned afterwards (closed when fn failed for want of a
   * connection). For store-migrate.ts, which copies whole tables in one transaction of its own.
   */
  async withClient<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const { client, done } = await this.checkout(this.pool);
    try {
      const result = await fn(client);
      done();
      return result;
    } catch (err) {
      done(isUnavailableError(err) ? err : undefined);
      throw err;
    }
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  /** The transaction of the calling async context, if one is open. */
  private current(): Tx | undefined {
    const tx = this.als.getStore();
    return tx && !tx.done ? tx : undefined;
  }

  private async q<R extends Row = Row>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    const tx = this.current();
    try {
      const result = tx ? await tx.client.query<R>(sql, params) : await this.pool.query<R>(sql, params);
      // A write that went through outside a transaction (in one, the commit decides).
      if (!tx && !/^\s*SELECT\b/i.test(sql)) this.writeFailure = null;
      return result;
    } catch (err) {
      this.noteError(err);
      throw err;
    }
  }

  private async rows<R extends Row = Row>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.q<R>(sql, params)).rows;
  }

  private async first<R extends Row = Row>(sql: string, params: unknown[] = []): Promise<R | undefined> {
    return (await this.q<R>(sql, params)).rows[0];
  }

  private async count(sql: string, params: unknown[]): Promise<number> {
    return (await this.first<{ n: number }>(sql, params))!.n;
  }

  private noteError(err: unknown): void {
    if (!isUnavailableError(err)) return;
    // The latest reason (what is wrong now), since the first failure.
    this.writeFailure = { reason: `cannot write the PostgreSQL database (${this.clearMessage(err)})`, since: this.writeFailure?.since ?? new Date().toISOString() };
  }

  /** A pooled connection for a transaction, with a listener for its errors while it is out of the pool. */
  private async checkout(pool: pg.Pool): Promise<{ client: pg.PoolClient; done: (broken?: unknown) => void }> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      this.noteError(err);
      throw this.clearError(err, `cannot connect to PostgreSQL at ${this.where}`);
    }
    // Without a listener an 'error' (the server closed the connection) would crash the process;
    // the query in flight fails on its own.
    const onError = (err: Error) => this.log.warn('PostgreSQL connection lost while in use', { error: this.clearMessage(err) });
    client.on('error', onError);
    return {
      client,
      done: (broken) => {
        client.off('error', onError);
        client.release(broken === undefined ? undefined : broken instanceof Error ? broken : new Error(String(broken)));
      },
    };
  }

  async transaction<T>(fn: () => Awaitable<T>): Promise<T> {
    if (this.current()) return await fn();
    const { client, done } = await this.checkout(this.pool);
    const tx: Tx = { client, done: false, afterCommit: [] };
    let result: T;
    try {
      await client.query('BEGIN');
      result = await this.als.run(tx, fn);
      await client.query('COMMIT');
    } catch (err) {
      tx.done = true;
      let broken: unknown;
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr;
      }
      done(broken);
      this.noteError(err);
      throw err;
    }
    tx.done = true;
    done();
    this.writeFailure = null;
    this.runCallbacks(tx.afterCommit);
    return result;
  }

  private runCallbacks(callbacks: (() => void)[]): void {
    // Outside the finished transaction's context: what they start uses the pool.
    this.als.exit(() => {
      for (const cb of callbacks) cb();
    });
  }

  afterCommit(cb: () => void): void {
    const tx = this.current();
    if (tx) tx.afterCommit.push(cb);
    else cb();
  }

  /**
   * Each item in a transaction of its own, several at once over the pool. One transaction for the
   * whole batch (as SQLite does, to share one fsync) would make every item wait for the round
   * trips of all the others, one after the other: at 100 webhooks/s that queue alone took over a
   * second with the relay and PostgreSQL mostly idle. PostgreSQL shares WAL flushes between
   * commits that arrive together, which is what a batch is for. An item that loses a deadlock or a
   * serialization conflict to another transaction (of this relay or another one) runs again:
   * batch items are written to be run again (a webhook stored twice is a duplicate, an ack or a
   * last-seen time written twice is the same).
   */
  async batch(items: (() => Awaitable<unknown>)[]): Promise<unknown[]> {
    if (this.current()) throw new Error('batch() cannot run inside a transaction');
    const errors: unknown[] = new Array<unknown>(items.length).fill(undefined);
    await Promise.all(
      items.map(async (item, i) => {
        for (let attempt = 0; ; attempt++) {
          try {
            await this.transaction(item);
            errors[i] = undefined;
            return;
          } catch (err) {
            errors[i] = err ?? new Error('batch item failed');
            if (!isConflictError(err) || attempt >= CONFLICT_RETRIES) return;
            await new Promise((r) => setTimeout(r, 2 + Math.random() * 10 * (attempt + 1)));
          }
        }
      }),
    );
    const failed = errors.find((e) => isUnavailableError(e));
    if (failed) this.noteError(failed);
    return errors;
  }

  async lock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    // First in this process (a queue per key), then across processes (the advisory lock).
    const before = this.localLocks.get(key) ?? Promise.resolve();
    let unlockLocal!: () => void;
    const mine = new Promise<void>((resolve) => (unlockLocal = resolve));
    const tail = before.then(() => mine);
    this.localLocks.set(key, tail);
    await before;
    try {
      const { client, done } = await this.checkout(this.lockPool);
      const id = advisoryLockId(this.schema, key);
      try {
        await client.query('SELECT pg_advisory_lock($1)', [id]);
      } catch (err) {
        done(err);
        this.noteError(err);
        throw this.clearError(err, `cannot take the lock ${JSON.stringify(key)} in PostgreSQL`);
      }
      // The lock goes with its connection: say so, as mutual exclusion for fn has ended early.
      const onLost = (err: Error) => this.log.error('PostgreSQL lock lost while held (its connection dropped)', { key, error: this.clearMessage(err) });
      client.on('error', onLost);
      try {
        return await fn();
      } finally {
        client.off('error', onLost);
        // Should the unlock fail, the connection is closed instead, which ends the lock as well.
        await client.query('SELECT pg_advisory_unlock($1)', [id]).then(
          () => done(),
          (err: unknown) => done(err),
        );
      }
    } finally {
      unlockLocal();
      if (this.localLocks.get(key) === tail) this.localLocks.delete(key);
    }
  }

  watchEvents(cb: (terminalId: string) => void): void {
    this.watchers.push(cb);
    // Outside any transaction of the caller: the listener and its catch-up queries use their own connections.
    if (this.watchers.length === 1) void this.als.exit(() => this.listen());
  }

  /** Connects the listening client and LISTENs; on failure or when it drops, tries again later. */
  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client(this.clientConfig);
    this.listener = client;
    let lost = false;
    const retry = (err?: unknown) => {
      if (lost) return;
      lost = true;
      this.listenReady = false;
      if (this.listener === client) this.listener = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      if (err !== undefined) this.log.warn('PostgreSQL event listener lost; reconnecting', { error: this.clearMessage(err), inMs: this.listenRetryMs });
      this.listenTimer = setTimeout(() => {
        this.listenTimer = null;
        void this.listen();
      }, this.listenRetryMs);
      this.listenRetryMs = Math.min(this.listenRetryMs * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on('error', (err) => retry(err));
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel !== this.channel || !msg.payload || this.ownPids.has(msg.processId)) return;
      this.deliver(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
    } catch (err) {
      retry(err);
      return;
    }
    if (this.closed) {
      retry();
      return;
    }
    this.listenRetryMs = LISTEN_RETRY_MIN_MS;
    this.listenReady = true;
    if (this.listenedOnce) {
      // Notifications sent while we were not listening are gone: wake every terminal with events
      // waiting (its stream reads from its cursor, so a spurious wake-up costs one query).
      try {
        const rows = await this.rows<{ terminal_id: string }>('SELECT DISTINCT terminal_id FROM events');
        for (const r of rows) this.deliver(r.terminal_id);
      } catch (err) {
        this.log.warn('PostgreSQL event listener: cannot list the terminals with events', { error: this.clearMessage(err) });
      }
    }
    this.listenedOnce = true;
  }

  private deliver(terminalId: string): void {
    for (const cb of this.watchers) {
      try {
        cb(terminalId);
      } catch (err) {
        this.log.error('event watcher failed', { error: this.clearMessage(err) });
      }
    }
  }

  /** Whether the listener is connected and listening (tests). */
  listening(): boolean {
    return this.listenReady;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.listenTimer) clearTimeout(this.listenTimer);
    this.listenTimer = null;
    const listener = this.listener;
    this.listener = null;
    await Promise.all([listener?.end().catch(() => undefined), this.pool.end(), this.lockPool.end()]);
  }

  externalChange(): boolean {
    return false;
  }

  writable(): StoreWritable {
    if (this.writeFailure && !this.probing && Date.now() - this.lastProbeAt >= PROBE_EVERY_MS && !this.closed) {
      this.lastProbeAt = Date.now();
      this.probing = true;
      // A real write (WAL and all); its success clears writeFailure. The answer here is from the
      // last error: this call stays synchronous.
      void this.q(`INSERT INTO store_probe (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at`)
        .catch(() => undefined)
        .finally(() => (this.probing = false));
    }
    return this.writeFailure ? { ok: false, ...this.writeFailure } : { ok: true };
  }

  async highestRecordRef(terminalId: string): Promise<number> {
    // As SQLite's CAST(json_extract(data, '$.ref') AS INTEGER): a number truncated, a string's
    // leading integer, anything else none.
    const row = await this.first<{ m: string | null }>(
      `SELECT MAX(CASE jsonb_typeof(d->'ref')
                    WHEN 'number' THEN trunc((d->>'ref')::numeric)
                    WHEN 'string' THEN substring(d->>'ref' from '^\\s*([+-]?[0-9]+)')::numeric
                  END)::text AS m
       FROM (SELECT data::jsonb AS d FROM records WHERE terminal_id = $1 AND kind IN ('sale.recorded', 'sale.adopted')) r`,
      [terminalId],
    );
    return row?.m == null ? 0 : Number(row.m);
  }

  // ---- terminals --------------------------------------------------------------------------------

  async insertTerminal(t: Omit<TerminalRow, 'lastSeq' | 'ackedSeq'>): Promise<void> {
    await this.q(
      `INSERT INTO terminals (id, name, credential_hash, created_at, revoked_at, last_seen_at, version, device, address, predecessor_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [t.id, t.name, t.credentialHash, t.createdAt, t.revokedAt, t.lastSeenAt, t.version, t.device, t.address, t.predecessorId ?? null],
    );
  }

  async terminalById(id: string): Promise<TerminalRow | undefined> {
    return terminalFromRow(await this.first('SELECT * FROM terminals WHERE id = $1', [id]));
  }

  async terminalByCredentialHash(hash: string): Promise<TerminalRow | undefined> {
    return terminalFromRow(await this.first('SELECT * FROM terminals WHERE credential_hash = $1', [hash]));
  }

  async successorOf(id: string): Promise<TerminalRow | undefined> {
    return terminalFromRow(await this.first('SELECT * FROM terminals WHERE predecessor_id = $1 ORDER BY created_at DESC LIMIT 1', [id]));
  }

  async listTerminals(): Promise<TerminalRow[]> {
    return (await this.rows('SELECT * FROM terminals ORDER BY created_at, id')).map((r) => terminalFromRow(r)!);
  }

  async renameTerminal(id: string, name: string, _at: string): Promise<boolean> {
    return ((await this.q('UPDATE terminals SET name = $1 WHERE id = $2', [name, id])).rowCount ?? 0) > 0;
  }

  async revokeTerminal(id: string, at: string): Promise<boolean> {
    return ((await this.q('UPDATE terminals SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) > 0;
  }

  async touchTerminal(id: string, at: string, info: { version?: string | null; address?: string | null }): Promise<void> {
    await this.q('UPDATE terminals SET last_seen_at = $2, version = COALESCE($3, version), address = COALESCE($4, address) WHERE id = $1', [
      id,
      at,
      info.version ?? null,
      info.address ?? null,
    ]);
  }

  // ---- pairing ----------------------------------------------------------------------------------

  async insertPairing(p: PairingRow): Promise<void> {
    await this.q(
      `INSERT INTO pairings (id, code, secret_hash, credential_hash, name, version, device, address, created_at, expires_at, status, terminal_id, decided_at, replaces_terminal_id, source_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        p.id,
        p.code,
        p.secretHash,
        p.credentialHash,
        p.name,
        p.version,
        p.device,
        p.address,
        p.createdAt,
        p.expiresAt,
        p.status,
        p.terminalId,
        p.decidedAt,
        p.replacesTerminalId ?? null,
        p.sourceKey ?? null,
      ],
    );
  }

  async pairingById(id: string): Promise<PairingRow | undefined> {
    return pairingFromRow(await this.first('SELECT * FROM pairings WHERE id = $1', [id]));
  }

  async pendingPairingByCode(code: string, now: string): Promise<PairingRow | undefined> {
    return pairingFromRow(
      await this.first(`SELECT * FROM pairings WHERE code = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at DESC LIMIT 1`, [code, now]),
    );
  }

  async countPendingPairings(now: string): Promise<number> {
    return this.count(`SELECT COUNT(*) AS n FROM pairings WHERE status = 'pending' AND expires_at > $1`, [now]);
  }

  async countPendingPairingsFrom(sourceKey: string, now: string): Promise<number> {
    return this.count(`SELECT COUNT(*) AS n FROM pairings WHERE status = 'pending' AND source_key = $1 AND expires_at > $2`, [sourceKey, now]);
  }

  async expireBusiestPendingPairing(now: string): Promise<boolean> {
    // One statement: the oldest pending pairing of the source with the most pending ones.
    const r = await this.q(
      `UPDATE pairings SET expires_at = $1 WHERE id = (
         SELECT id FROM pairings WHERE status = 'pending' AND expires_at > $1 AND source_key IS NOT DISTINCT FROM (
           SELECT source_key FROM pairings WHERE status = 'pending' AND expires_at > $1
           GROUP BY source_key ORDER BY COUNT(*) DESC, MIN(created_at) LIMIT 1)
         ORDER BY created_at LIMIT 1)`,
      [now],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async rateBucket(key: string): Promise<{ tokens: number; atMs: number } | undefined> {
    const r = await this.first<{ tokens: number; at_ms: number }>('SELECT tokens, at_ms FROM rate_limits WHERE key = $1', [key]);
    return r && { tokens: r.tokens, atMs: r.at_ms };
  }

  async saveRateBucket(key: string, state: { tokens: number; atMs: number }): Promise<void> {
    await this.q(
      'INSERT INTO rate_limits (key, tokens, at_ms) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, at_ms = excluded.at_ms',
      [key, state.tokens, Math.trunc(state.atMs)],
    );
  }

  async pruneRateBuckets(beforeMs: number): Promise<number> {
    return (await this.q('DELETE FROM rate_limits WHERE at_ms < $1', [beforeMs])).rowCount ?? 0;
  }

  async listPendingPairings(now: string): Promise<PairingRow[]> {
    return (await this.rows(`SELECT * FROM pairings WHERE status = 'pending' AND expires_at > $1 ORDER BY created_at`, [now])).map((r) => pairingFromRow(r)!);
  }

  async decidePairing(id: string, status: 'approved' | 'rejected', terminalId: string | null, at: string): Promise<void> {
    await this.q('UPDATE pairings SET status = $1, terminal_id = $2, decided_at = $3 WHERE id = $4', [status, terminalId, at, id]);
  }

  // ---- sales ------------------------------------------------------------------------------------

  async insertSale(s: SaleRow): Promise<void> {
    const { cols, values } = toColumns(s, SALE_COLUMNS);
    await this.q(`INSERT INTO sales (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values);
  }

  /**
   * Inside a transaction a sale is read FOR UPDATE: every such read is followed by a write decided
   * on what it saw (a charge's result merged, a sale inserted if absent), so another relay's
   * transaction on the same sale waits for this one and then sees its result, instead of deciding
   * on the old row and publishing the same change a second time.
   */
  private get forUpdate(): string {
    return this.current() ? ' FOR UPDATE' : '';
  }

  async sale(terminalId: string, saleId: string): Promise<SaleRow | undefined> {
    return saleFromRow(await this.first(`SELECT * FROM sales WHERE terminal_id = $1 AND sale_id = $2${this.forUpdate}`, [terminalId, saleId]));
  }

  async saleByChargeId(chargeId: string): Promise<SaleRow | undefined> {
    return saleFromRow(await this.first(`SELECT * FROM sales WHERE charge_id = $1${this.forUpdate}`, [chargeId]));
  }

  async updateSale(terminalId: string, saleId: string, patch: Partial<Omit<SaleRow, 'terminalId' | 'saleId'>>): Promise<SaleRow | undefined> {
    const { cols, values } = toColumns(patch, SALE_COLUMNS);
    if (!cols.length) return this.sale(terminalId, saleId);
    const n = values.length;
    return saleFromRow(
      await this.first(`UPDATE sales SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE terminal_id = $${n + 1} AND sale_id = $${n + 2} RETURNING *`, [
        ...values,
        terminalId,
        saleId,
      ]),
    );
  }

  async salesSince(terminalId: string | null, since: string, limit: number): Promise<SaleRow[]> {
    const rows = terminalId
      ? await this.rows('SELECT * FROM sales WHERE terminal_id = $1 AND updated_at >= $2 ORDER BY updated_at, sale_id LIMIT $3', [terminalId, since, limit])
      : await this.rows('SELECT * FROM sales WHERE updated_at >= $1 ORDER BY updated_at, sale_id LIMIT $2', [since, limit]);
    return rows.map((r) => saleFromRow(r)!);
  }

  async pendingSales(limit: number): Promise<SaleRow[]> {
    // NULLS FIRST: SQLite's order (never-checked sales first).
    return (await this.rows(`SELECT * FROM sales WHERE status = 'pending' ORDER BY checked_at NULLS FIRST LIMIT $1`, [limit])).map((r) => saleFromRow(r)!);
  }

  async salesByStatus(status: SaleStatus, limit: number): Promise<SaleRow[]> {
    return (await this.rows('SELECT * FROM sales WHERE status = $1 ORDER BY updated_at LIMIT $2', [status, limit])).map((r) => saleFromRow(r)!);
  }

  async uncertainSales(limit: number): Promise<SaleRow[]> {
    return (
      await this.rows(`SELECT * FROM sales WHERE create_uncertain AND status != 'creating' ORDER BY orphan_checked_at NULLS FIRST LIMIT $1`, [limit])
    ).map((r) => saleFromRow(r)!);
  }

  async openSalesOf(terminalId: string, limit: number): Promise<SaleRow[]> {
    return (
      await this.rows(`SELECT * FROM sales WHERE terminal_id = $1 AND status IN (${OPEN_STATUSES_SQL}) ORDER BY created_at LIMIT $2`, [terminalId, limit])
    ).map((r) => saleFromRow(r)!);
  }

  async paidAfterCancel(limit: number): Promise<SaleRow[]> {
    return (await this.rows(`SELECT * FROM sales WHERE expire_requested AND status = 'successful' ORDER BY updated_at DESC LIMIT $1`, [limit])).map(
      (r) => saleFromRow(r)!,
    );
  }

  // ---- refunds ----------------------------------------------------------------------------------

  async insertRefund(r: RefundRow): Promise<void> {
    const { cols, values } = toColumns(r, REFUND_COLUMNS);
    await this.q(`INSERT INTO refunds (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, values);
  }

  async refund(terminalId: string, refundId: string): Promise<RefundRow | undefined> {
    return refundFromRow(await this.first('SELECT * FROM refunds WHERE terminal_id = $1 AND refund_id = $2', [terminalId, refundId]));
  }

  async refundsOfSale(terminalId: string, saleId: string): Promise<RefundRow[]> {
    return (await this.rows('SELECT * FROM refunds WHERE terminal_id = $1 AND sale_id = $2 ORDER BY created_at, refund_id', [terminalId, saleId])).map(
      (r) => refundFromRow(r)!,
    );
  }

  async updateRefund(terminalId: string, refundId: string, patch: Partial<Omit<RefundRow, 'terminalId' | 'refundId'>>): Promise<void> {
    const { cols, values } = toColumns(patch, REFUND_COLUMNS);
    if (!cols.length) return;
    const n = values.length;
    await this.q(`UPDATE refunds SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE terminal_id = $${n + 1} AND refund_id = $${n + 2}`, [
      ...values,
      terminalId,
      refundId,
    ]);
  }

  async pendingRefunds(limit: number): Promise<RefundRow[]> {
    return (await this.rows(`SELECT * FROM refunds WHERE status = 'pending' ORDER BY updated_at LIMIT $1`, [limit])).map((r) => refundFromRow(r)!);
  }

  // ---- event stream -----------------------------------------------------------------------------

  async publish(terminalId: string, at: string, event: RelayEvent): Promise<StoredEvent> {
    const body = JSON.stringify(event);
    // One statement (atomic on its own, one round trip): the row lock of UPDATE ... RETURNING
    // orders concurrent publishers, and the notification goes out when the transaction commits.
    const row = await this.first<{ seq: number }>(
      `WITH t AS (UPDATE terminals SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq),
            e AS (INSERT INTO events (terminal_id, seq, at, body) SELECT $1, last_seq, $2, $3 FROM t RETURNING seq)
       SELECT seq, pg_notify($4, $1) FROM e`,
      [terminalId, at, body, this.channel],
    );
    if (!row) throw new Error(`publish: unknown terminal ${terminalId}`);
    return { terminalId, seq: row.seq, at, event, body };
  }

  async eventsAfter(terminalId: string, after: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.rows<{ seq: number; at: string; body: string }>(
      'SELECT seq, at, body FROM events WHERE terminal_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [terminalId, after, limit],
    );
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

  async ack(terminalId: string, seq: number): Promise<number> {
    const row = await this.first<{ n: number }>(
      `WITH d AS (DELETE FROM events WHERE terminal_id = $1 AND seq <= $2 RETURNING 1),
            u AS (UPDATE terminals SET acked_seq = GREATEST(acked_seq, LEAST($2, last_seq)) WHERE id = $1)
       SELECT COUNT(*) AS n FROM d`,
      [terminalId, seq],
    );
    return row!.n;
  }

  async pendingEventCount(terminalId: string): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM events WHERE terminal_id = $1', [terminalId]);
  }

  // ---- webhooks ---------------------------------------------------------------------------------

  async insertWebhookEvent(e: WebhookEventRow): Promise<boolean> {
    const r = await this.q(
      `INSERT INTO webhook_events (id, key, object_type, object_id, received_at, status, attempts, next_attempt_at, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      [e.id, e.key, e.objectType, e.objectId, e.receivedAt, e.status, e.attempts, e.nextAttemptAt, e.lastError],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async webhookEvent(id: string): Promise<WebhookEventRow | undefined> {
    return webhookFromRow(await this.first('SELECT * FROM webhook_events WHERE id = $1', [id]));
  }

  async updateWebhookEvent(id: string, patch: Partial<Omit<WebhookEventRow, 'id'>>): Promise<void> {
    const { id: _ignored, ...rest } = patch as Partial<WebhookEventRow>;
    const { cols, values } = toColumns(rest, WEBHOOK_COLUMNS);
    if (!cols.length) return;
    await this.q(`UPDATE webhook_events SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE id = $${values.length + 1}`, [...values, id]);
  }

  async unprocessedWebhookEvents(now: string, limit: number): Promise<WebhookEventRow[]> {
    return (
      await this.rows(
        `SELECT * FROM webhook_events WHERE status = 'unprocessed' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY received_at LIMIT $2`,
        [now, limit],
      )
    ).map((r) => webhookFromRow(r)!);
  }

  // ---- orphans ----------------------------------------------------------------------------------

  async upsertOrphan(o: OrphanRow): Promise<void> {
    await this.q(
      `INSERT INTO orphans (charge_id, terminal_id, sale_id, status, found_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (charge_id) DO UPDATE SET status = CASE WHEN orphans.status = 'to_expire' THEN excluded.status ELSE orphans.status END, updated_at = excluded.updated_at`,
      [o.chargeId, o.terminalId, o.saleId, o.status, o.foundAt, o.updatedAt],
    );
  }

  async orphansToExpire(limit: number): Promise<OrphanRow[]> {
    return (await this.rows(`SELECT * FROM orphans WHERE status = 'to_expire' ORDER BY found_at LIMIT $1`, [limit])).map(orphanFromRow);
  }

  async orphansOfSale(terminalId: string, saleId: string): Promise<OrphanRow[]> {
    return (await this.rows('SELECT * FROM orphans WHERE terminal_id = $1 AND sale_id = $2 ORDER BY found_at', [terminalId, saleId])).map(orphanFromRow);
  }

  async orphansByStatus(status: OrphanStatus, limit: number): Promise<OrphanRow[]> {
    return (await this.rows('SELECT * FROM orphans WHERE status = $1 ORDER BY found_at LIMIT $2', [status, limit])).map(orphanFromRow);
  }

  async updateOrphan(chargeId: string, status: OrphanStatus, at: string): Promise<void> {
    await this.q('UPDATE orphans SET status = $1, updated_at = $2 WHERE charge_id = $3', [status, at, chargeId]);
  }

  // ---- fleet updates ----------------------------------------------------------------------------

  async insertRelease(r: ReleaseRow): Promise<void> {
    await this.q('INSERT INTO releases (version, arch, sha256, size, file, added_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      r.version,
      r.arch,
      r.sha256,
      r.size,
      r.file,
      r.addedAt,
    ]);
  }

  async release(version: string, arch: string): Promise<ReleaseRow | undefined> {
    const r = await this.first('SELECT * FROM releases WHERE version = $1 AND arch = $2', [version, arch]);
    return r && releaseFromRow(r);
  }

  async listReleases(): Promise<ReleaseRow[]> {
    return (await this.rows('SELECT * FROM releases ORDER BY added_at DESC, version DESC, arch')).map(releaseFromRow);
  }

  async deleteRelease(version: string, arch: string): Promise<boolean> {
    return ((await this.q('DELETE FROM releases WHERE version = $1 AND arch = $2', [version, arch])).rowCount ?? 0) > 0;
  }

  async insertRollout(r: Omit<RolloutRow, 'id'>): Promise<RolloutRow> {
    const row = await this.first<{ id: number }>('INSERT INTO rollouts (version, target, created_at) VALUES ($1, $2, $3) RETURNING id', [
      r.version,
      JSON.stringify(r.target),
      r.createdAt,
    ]);
    return { id: row!.id, ...r };
  }

  async listRollouts(): Promise<RolloutRow[]> {
    return (await this.rows('SELECT * FROM rollouts ORDER BY id DESC')).map(rolloutFromRow);
  }

  async terminalArch(id: string): Promise<string | null> {
    return (await this.first<{ arch: string }>('SELECT arch FROM terminal_arch WHERE terminal_id = $1', [id]))?.arch ?? null;
  }

  async setTerminalArch(id: string, arch: string): Promise<void> {
    await this.q('INSERT INTO terminal_arch (terminal_id, arch) VALUES ($1, $2) ON CONFLICT (terminal_id) DO UPDATE SET arch = excluded.arch', [id, arch]);
  }

  async insertUpgradeReport(r: UpgradeReportRow): Promise<void> {
    await this.q('INSERT INTO terminal_upgrades (terminal_id, version, outcome, detail, at) VALUES ($1, $2, $3, $4, $5)', [
      r.terminalId,
      r.version,
      r.outcome,
      r.detail,
      r.at,
    ]);
  }

  async upgradeReports(terminalId: string, limit: number): Promise<UpgradeReportRow[]> {
    return (await this.rows('SELECT * FROM terminal_upgrades WHERE terminal_id = $1 ORDER BY at DESC, id DESC LIMIT $2', [terminalId, limit])).map((r) => ({
      terminalId: r.terminal_id as string,
      version: r.version as string,
      outcome: r.outcome as UpgradeReportRow['outcome'],
      detail: (r.detail as string | null) ?? null,
      at: r.at as string,
    }));
  }

  // ---- journal records --------------------------------------------------------------------------

  async insertRecords(terminalId: string, records: JournalRecord[], receivedAt: string): Promise<{ accepted: number; duplicates: number }> {
    if (!records.length) return { accepted: 0, duplicates: 0 };
    // One statement for the whole upload; rows go in in order, so of two with one id the first stays.
    const r = await this.q(
      `INSERT INTO records (terminal_id, record_id, sale_id, kind, at, data, received_at)
       SELECT $1, r.record_id, r.sale_id, r.kind, r.at, r.data, $2
       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS r(record_id, sale_id, kind, at, data, n)
       ORDER BY r.n
       ON CONFLICT (terminal_id, record_id) DO NOTHING`,
      [
        terminalId,
        receivedAt,
        records.map((x) => x.recordId),
        records.map((x) => x.saleId),
        records.map((x) => x.kind),
        records.map((x) => x.at),
        records.map((x) => JSON.stringify(x.data)),
      ],
    );
    const accepted = r.rowCount ?? 0;
    return { accepted, duplicates: records.length - accepted };
  }

  async countRecords(terminalId: string): Promise<number> {
    return this.count('SELECT COUNT(*) AS n FROM records WHERE terminal_id = $1', [terminalId]);
  }

  // ---- reports ----------------------------------------------------------------------------------

  async reportData(window: { from: Date; to: Date }, _now?: Date): Promise<ReportData> {
    if (this.current()) return this.readReportData(window);
    // One snapshot for the four reads, as SQLite's read transaction.
    const { client, done } = await this.checkout(this.pool);
    const tx: Tx = { client, done: false, afterCommit: [] };
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const data = await this.als.run(tx, () => this.readReportData(window));
      await client.query('COMMIT');
      tx.done = true;
      done();
      return data;
    } catch (err) {
      tx.done = true;
      await client.query('ROLLBACK').then(
        () => done(),
        (e: unknown) => done(e),
      );
      throw err;
    }
  }

  private async readReportData(window: { from: Date; to: Date }): Promise<ReportData> {
    // Bounds a day wider than the window, as the SQLite store: stored times are ISO 8601 in UTC
    // but not all written alike (Omise's have no milliseconds); computeReport compares them exactly.
    const lo = new Date(window.from.getTime() - DAY_MS).toISOString();
    const hi = new Date(window.to.getTime() + DAY_MS).toISOString();
    const near = '((s.charge_created_at >= $1 AND s.charge_created_at < $2) OR (s.charge_created_at IS NULL AND s.created_at >= $1 AND s.created_at < $2))';
    const terminals = (await this.rows('SELECT id, name, predecessor_id, revoked_at FROM terminals ORDER BY created_at, id')).map((t) => ({
      id: t.id as string,
      name: t.name as string,
      predecessorId: (t.predecessor_id as string | null) ?? null,
      revoked: t.revoked_at !== null,
    }));
    const sales = (
      await this.rows(
        `SELECT s.terminal_id, s.sale_id, s.method, s.amount, s.currency, s.status, s.charge_created_at, s.created_at, s.expire_requested FROM sales s WHERE ${near}`,
        [lo, hi],
      )
    ).map((s) => ({
      terminalId: s.terminal_id as string,
      saleId: s.sale_id as string,
      method: s.method as string,
      amount: s.amount as number,
      currency: s.currency as string,
      status: s.status as SaleStatus,
      chargeCreatedAt: (s.charge_created_at as string | null) ?? null,
      createdAt: s.created_at as string,
      expireRequested: s.expire_requested as boolean,
    }));
    const refunds = (
      await this.rows(
        `SELECT r.terminal_id, r.sale_id, r.amount, r.voided, r.status FROM refunds r
         JOIN sales s ON s.terminal_id = r.terminal_id AND s.sale_id = r.sale_id WHERE ${near}`,
        [lo, hi],
      )
    ).map((r) => ({
      terminalId: r.terminal_id as string,
      saleId: r.sale_id as string,
      amount: r.amount as number,
      voided: r.voided as boolean,
      status: r.status as RefundStatus,
    }));
    const extraPaid = (
      await this.rows(
        `SELECT o.terminal_id, o.sale_id FROM orphans o
         JOIN sales s ON s.terminal_id = o.terminal_id AND s.sale_id = o.sale_id WHERE o.status = 'paid' AND ${near}`,
        [lo, hi],
      )
    ).map((o) => ({ terminalId: o.terminal_id as string, saleId: o.sale_id as string }));
    return { terminals, sales, refunds, extraPaid };
  }
}

const DAY_MS = 86_400_000;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
