/**
 * Everything the relay keeps, behind one interface so another backend (PostgreSQL for several
 * relays) can implement it. Data methods return Awaitable<T>: SQLite answers synchronously (a
 * plain value, the relay's hot path allocates no promise), a networked store with a promise.
 * Callers always await.
 *
 * Invariants the implementation guarantees:
 *  - publish() assigns the terminal's next sequence number and stores the event in the same
 *    transaction as the state change that caused it (see `transaction`).
 *  - events stay until acknowledged; ack is cumulative.
 */
import type { Currency } from '../domain/money';
import type { PaymentMethod } from '../domain/methods';
import type { JournalRecord, RelayEvent, ReleaseArch, SaleStatus, UpgradeOutcome } from '../link/protocol';

export interface TerminalRow {
  id: string;
  name: string;
  credentialHash: string;
  createdAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
  version: string | null;
  device: string | null;
  address: string | null;
  lastSeq: number;
  ackedSeq: number;
  /** The terminal this one replaced when its device paired again (it inherits that one's sales). */
  predecessorId?: string | null;
}

/** A release bundle the operator uploaded (fleet updates), one per version and architecture. */
export interface ReleaseRow {
  version: string;
  arch: ReleaseArch;
  /** SHA-256 of the bundle file, hex. */
  sha256: string;
  size: number;
  /** The file's name in <dataDir>/releases/. */
  file: string;
  addedAt: string;
}

/** Who a rollout is for: every terminal, some by id, or a stable share of them (a hash of the id). */
export type RolloutTarget = { kind: 'all' } | { kind: 'terminals'; ids: string[] } | { kind: 'percent'; percent: number };
export interface RolloutRow {
  id: number;
  version: string;
  target: RolloutTarget;
  createdAt: string;
}

/** What a terminal reported after an upgrade. */
export interface UpgradeReportRow {
  terminalId: string;
  version: string;
  outcome: UpgradeOutcome;
  detail: string | null;
  at: string;
}

export type PairingStatus = 'pending' | 'approved' | 'rejected';
export interface PairingRow {
  id: string;
  code: string;
  secretHash: string;
  /** Hash of the credential the terminal will derive from its pairing secret once approved. */
  credentialHash: string;
  name: string;
  version: string;
  device: string | null;
  address: string | null;
  createdAt: string;
  expiresAt: string;
  status: PairingStatus;
  terminalId: string | null;
  decidedAt: string | null;
  /** The device proved it held this terminal's credential: approving replaces that terminal. */
  replacesTerminalId?: string | null;
  /** The rate-limit key of the address it came from (IPv4 address, IPv6 /64). */
  sourceKey?: string | null;
}

export interface SaleRow {
  terminalId: string;
  saleId: string;
  /** The payment method (Omise source type) the sale is charged with. */
  method: PaymentMethod;
  amount: number;
  currency: Currency;
  description: string | null;
  terminalCreatedAt: string | null;
  status: SaleStatus;
  chargeId: string | null;
  /** Charge creation attempts sent to Omise (a timed-out one may have created a charge). */
  createAttempts: number;
  lastAttemptAt: string | null;
  /** Some attempt's outcome was unknown: look for stray charges once things settle. */
  createUncertain: boolean;
  orphanCheckedAt: string | null;
  qrText: string | null;
  qrSvg: string | null;
  failureCode: string | null;
  failureMessage: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  chargeCreatedAt: string | null;
  chargeExpiresAt: string | null;
  paidAt: string | null;
  expireRequested: boolean;
  refundedAmount: number;
  /** Last time the relay saw the charge's state at Omise (webhook fetch, poll or create). */
  checkedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type RefundStatus = 'pending' | 'done' | 'failed';
export interface RefundRow {
  terminalId: string;
  refundId: string;
  saleId: string;
  chargeId: string;
  omiseRefundId: string | null;
  amount: number;
  currency: Currency;
  voided: boolean;
  /** What was asked: a void or a refund. */
  wantVoid: boolean;
  status: RefundStatus;
  reason: string | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
}

export interface StoredEvent {
  terminalId: string;
  seq: number;
  at: string;
  event: RelayEvent;
  /** The event's JSON as stored, so it is serialised once. */
  body?: string;
}

export type WebhookEventStatus = 'unprocessed' | 'done' | 'ignored';
export interface WebhookEventRow {
  id: string;
  key: string;
  objectType: string;
  objectId: string;
  receivedAt: string;
  status: WebhookEventStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
}

export type OrphanStatus = 'to_expire' | 'expired' | 'paid';
export interface OrphanRow {
  chargeId: string;
  terminalId: string;
  saleId: string;
  status: OrphanStatus;
  foundAt: string;
  updatedAt: string;
}

/** A plain value (SQLite, synchronous) or a promise of one (a networked store). */
export type Awaitable<T> = T | Promise<T>;

export type StoreWritable = { ok: true } | { ok: false; reason: string; since: string };

export interface RelayStore extends ReportSource {
  /**
   * Runs fn atomically. Nested calls (from fn's async context) join the outer transaction. Store
   * calls made in fn's async context (AsyncLocalStorage) run in the transaction; calls from any
   * other context neither see nor join it (SQLite: they wait until it ends). Never await network
   * I/O inside fn: the transaction (and, on SQLite, the connection) is held meanwhile.
   */
  transaction<T>(fn: () => Awaitable<T>): Promise<T>;
  /** Runs cb after the outermost transaction of the current async context commits (at once outside one); dropped on rollback. */
  afterCommit(cb: () => void): void;
  /**
   * Group commit: runs every item in one durable transaction, each isolated (a savepoint: a
   * failing item is rolled back alone). Resolves, once durable, with each item's error or undefined.
   */
  batch(items: (() => Awaitable<unknown>)[]): Promise<unknown[]>;
  /**
   * Mutual exclusion for `key` across every relay process sharing the store, held while fn runs
   * (fn may call Omise over HTTP; it is not a transaction). SQLite: in this process (one relay per
   * file). Used for "one live charge per sale", refunds, pairing approval, revocation.
   */
  lock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Optional: a store shared by several relays calls cb when another process committed events for
   * the terminal; the stream then reads eventsAfter from the terminal's cursor.
   */
  watchEvents?(cb: (terminalId: string) => void): void;
  close(): Awaitable<void>;
  /** True when something outside this store handle changed the database since the last call. */
  externalChange(): boolean;
  /**
   * Whether the store can take writes now: not when its last write failed for lack of space or an
   * I/O error (until a probe write succeeds again), nor when its disk is nearly full.
   */
  writable(): StoreWritable;
  /** The highest receipt reference in this terminal's synced records (0 when none). */
  highestRecordRef(terminalId: string): Awaitable<number>;

  // terminals
  insertTerminal(t: Omit<TerminalRow, 'lastSeq' | 'ackedSeq'>): Awaitable<void>;
  terminalById(id: string): Awaitable<TerminalRow | undefined>;
  terminalByCredentialHash(hash: string): Awaitable<TerminalRow | undefined>;
  listTerminals(): Awaitable<TerminalRow[]>;
  renameTerminal(id: string, name: string, at: string): Awaitable<boolean>;
  revokeTerminal(id: string, at: string): Awaitable<boolean>;
  touchTerminal(id: string, at: string, info: { version?: string | null; address?: string | null }): Awaitable<void>;
  /** The terminal that replaced this one (re-pairing), if any. */
  successorOf(id: string): Awaitable<TerminalRow | undefined>;

  // pairing
  insertPairing(p: PairingRow): Awaitable<void>;
  pairingById(id: string): Awaitable<PairingRow | undefined>;
  pendingPairingByCode(code: string, now: string): Awaitable<PairingRow | undefined>;
  countPendingPairings(now: string): Awaitable<number>;
  /** Pending, unexpired pairings asked for from one source (rate-limit key). */
  countPendingPairingsFrom(sourceKey: string, now: string): Awaitable<number>;
  /**
   * Ends (expires now) the oldest pending pairing of the source with the most pending ones, to
   * make room when every slot is taken; false when none is pending.
   */
  expireBusiestPendingPairing(now: string): Awaitable<boolean>;
  /** A stored rate-limit bucket (pairing), undefined when never used or pruned. */
  rateBucket(key: string): Awaitable<{ tokens: number; atMs: number } | undefined>;
  saveRateBucket(key: string, state: { tokens: number; atMs: number }): Awaitable<void>;
  /** Forgets buckets last used before `beforeMs` (full again by then); returns how many. */
  pruneRateBuckets(beforeMs: number): Awaitable<number>;
  listPendingPairings(now: string): Awaitable<PairingRow[]>;
  decidePairing(id: string, status: 'approved' | 'rejected', terminalId: string | null, at: string): Awaitable<void>;

  // sales
  insertSale(s: SaleRow): Awaitable<void>;
  sale(terminalId: string, saleId: string): Awaitable<SaleRow | undefined>;
  saleByChargeId(chargeId: string): Awaitable<SaleRow | undefined>;
  /** Applies the patch and returns the stored row (undefined: no such sale). */
  updateSale(terminalId: string, saleId: string, patch: Partial<Omit<SaleRow, 'terminalId' | 'saleId'>>): Awaitable<SaleRow | undefined>;
  salesSince(terminalId: string | null, since: string, limit: number): Awaitable<SaleRow[]>;
  /** Non-final sales with a charge, for the reconciler. */
  pendingSales(limit: number): Awaitable<SaleRow[]>;
  salesByStatus(status: SaleStatus, limit: number): Awaitable<SaleRow[]>;
  /** Sales out of 'creating' still watched for stray charges (createUncertain), least recently checked first. */
  uncertainSales(limit: number): Awaitable<SaleRow[]>;
  /** The terminal's sales still 'creating' or 'pending'. */
  openSalesOf(terminalId: string, limit: number): Awaitable<SaleRow[]>;
  /** Sales paid although their expiry had been asked for (cancelled, or their terminal revoked). */
  paidAfterCancel(limit: number): Awaitable<SaleRow[]>;

  // refunds
  insertRefund(r: RefundRow): Awaitable<void>;
  refund(terminalId: string, refundId: string): Awaitable<RefundRow | undefined>;
  refundsOfSale(terminalId: string, saleId: string): Awaitable<RefundRow[]>;
  updateRefund(terminalId: string, refundId: string, patch: Partial<Omit<RefundRow, 'terminalId' | 'refundId'>>): Awaitable<void>;
  pendingRefunds(limit: number): Awaitable<RefundRow[]>;

  // event stream
  /** Appends an event for the terminal with the next sequence number. */
  publish(terminalId: string, at: string, event: RelayEvent): Awaitable<StoredEvent>;
  eventsAfter(terminalId: string, after: number, limit: number): Awaitable<StoredEvent[]>;
  /** Cumulative; returns how many events it removed. */
  ack(terminalId: string, seq: number): Awaitable<number>;
  pendingEventCount(terminalId: string): Awaitable<number>;

  // webhooks
  /** False when the event id was seen before (a duplicate). */
  insertWebhookEvent(e: WebhookEventRow): Awaitable<boolean>;
  webhookEvent(id: string): Awaitable<WebhookEventRow | undefined>;
  updateWebhookEvent(id: string, patch: Partial<Omit<WebhookEventRow, 'id'>>): Awaitable<void>;
  unprocessedWebhookEvents(now: string, limit: number): Awaitable<WebhookEventRow[]>;

  // orphan charges (extra charges found for a sale that already has one)
  upsertOrphan(o: OrphanRow): Awaitable<void>;
  orphansToExpire(limit: number): Awaitable<OrphanRow[]>;
  /** Every extra charge recorded for a sale, oldest first. */
  orphansOfSale(terminalId: string, saleId: string): Awaitable<OrphanRow[]>;
  orphansByStatus(status: OrphanStatus, limit: number): Awaitable<OrphanRow[]>;
  updateOrphan(chargeId: string, status: OrphanStatus, at: string): Awaitable<void>;

  // fleet updates: release bundles, rollouts, upgrade reports
  insertRelease(r: ReleaseRow): Awaitable<void>;
  release(version: string, arch: string): Awaitable<ReleaseRow | undefined>;
  /** Newest first. */
  listReleases(): Awaitable<ReleaseRow[]>;
  /** Forgets a bundle (its file is removed after, by the caller). False: there was none. */
  deleteRelease(version: string, arch: string): Awaitable<boolean>;
  insertRollout(r: Omit<RolloutRow, 'id'>): Awaitable<RolloutRow>;
  /** Newest first: the newest rollout that targets a terminal decides what it runs. */
  listRollouts(): Awaitable<RolloutRow[]>;
  /** The architecture the terminal said it runs on when it last asked for a release. */
  terminalArch(id: string): Awaitable<string | null>;
  setTerminalArch(id: string, arch: string): Awaitable<void>;
  insertUpgradeReport(r: UpgradeReportRow): Awaitable<void>;
  /** The terminal's reports, newest first. */
  upgradeReports(terminalId: string, limit: number): Awaitable<UpgradeReportRow[]>;

  // journal records uploaded by terminals
  insertRecords(terminalId: string, records: JournalRecord[], receivedAt: string): Awaitable<{ accepted: number; duplicates: number }>;
  countRecords(terminalId: string): Awaitable<number>;
}

// ---- what an end-of-day report reads (report.ts computes it) ------------------------------------

export interface ReportSale {
  terminalId: string;
  saleId: string;
  method: string;
  amount: number;
  currency: string;
  status: SaleStatus;
  /** Omise's created_at of the charge (Omise's clock), null when the sale never got one. */
  chargeCreatedAt: string | null;
  /** When the relay stored the sale (the relay's clock). */
  createdAt: string;
  expireRequested: boolean;
}

export interface ReportRefund {
  terminalId: string;
  saleId: string;
  amount: number;
  voided: boolean;
  status: RefundStatus;
}

export interface ReportTerminal {
  id: string;
  name: string;
  predecessorId: string | null;
  revoked: boolean;
}

export interface ReportData {
  terminals: ReportTerminal[];
  /** At least the sales of the window (more is fine: computeReport keeps those of the day). */
  sales: ReportSale[];
  /** The refunds of those sales (any status). */
  refunds: ReportRefund[];
  /** Paid extra charges (a second charge of a sale that was paid too), by their sale. */
  extraPaid: { terminalId: string; saleId: string }[];
}

/** Where a report's data comes from: the running relay's store, or a read-only reader of its database (the CLI). */
export interface ReportSource {
  /** What a report of [from, to) needs, read in one transaction (`now` may pick a faster plan). */
  reportData(window: { from: Date; to: Date }, now?: Date): Awaitable<ReportData>;
}
