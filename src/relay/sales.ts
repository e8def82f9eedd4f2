/**
 * Sales: creating the one Omise charge of a sale, its QR, status, expiry, refunds, and applying
 * what Omise says about a charge (from webhooks, polls or our own calls) to the stored sale.
 *
 * One charge per sale, without an idempotency key at Omise:
 *  1. the sale is stored before any call to Omise;
 *  2. every attempt is counted durably before it is sent;
 *  3. when an attempt may have reached Omise (timeout, reset, 5xx), nothing new is sent until the
 *     charge list (matched on our metadata) has been searched; and no new attempt is sent until
 *     the previous one had time to settle;
 *  4. an attempt can still land long after that (Omise answers late): for LATE_ANSWER_WINDOW_MS
 *     after a sale's last uncertain attempt the reconciler searches again on every pass; every
 *     charge found besides the sale's own is recorded (orphans) and expired.
 *
 * The search never builds a time window from the relay's clock: it pages Omise's charge list
 * newest first and stops at charges older, on Omise's clock, than the sale can be. "Now" on
 * Omise's clock comes from the list itself; only the time elapsed since the sale was stored is
 * measured locally, and a clock that is off by a constant does not change that.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AmountError, currencyOf, type Country } from '../domain/money';
import { checkMethodAmount, DEFAULT_METHOD, methodInfo, methodName, MethodError, refundRefusal, type PaymentMethod } from '../domain/methods';
import { isFinalSaleStatus, saleStatusAfterCharge } from '../domain/status';
import type { CreateSaleRequest, RefundRequest, RefundView, SaleView } from '../link/protocol';
import { OmiseError, type OmiseApi } from '../omise/api';
import type { OmiseCharge, OmiseRefund } from '../omise/types';
import type { Logger } from '../shared/log';
import { LinkError } from './errors';
import type { DeferredSyncStore } from './group-commit';
import { decodeQrDocument } from './qr-decode';
import type { Awaitable, OrphanRow, RefundRow, RelayStore, SaleRow, StoredEvent, TerminalRow } from './store';
import { canVoid, refundDeadline, refundView, saleView, voidDeadline } from './views';

export const META_TERMINAL = 'qrpos_terminal_id';
export const META_SALE = 'qrpos_sale_id';
export const META_REFUND = 'qrpos_refund_id';
/** Searches reach this much further back than the sale's age, for clock steps and rounding. */
const LOOKUP_MARGIN_MS = 15 * 60_000;
const LOOKUP_MAX_PAGES = 50;
/**
 * How long after an uncertain attempt its charge may still appear at Omise. Far longer than any
 * request lives at Omise; an Alipay+ code is dead after 30 minutes anyway. A charge that lands
 * even later is still caught by its charge.create webhook (applyCharge adopts or expires it).
 */
export const LATE_ANSWER_WINDOW_MS = 30 * 60_000;

/** What a search of Omise's charge list found; `complete` is false when it gave up paging. */
export interface ChargeSearch {
  charges: OmiseCharge[];
  complete: boolean;
}

export interface SaleServiceOptions {
  store: RelayStore;
  omise: OmiseApi;
  log: Logger;
  clock: () => Date;
  country: Country;
  /** The payment methods a terminal may charge with (default: Alipay+ only). */
  methodsOf?: (terminal: TerminalRow) => PaymentMethod[];
  omiseTimeoutMs: number;
  /**
   * How long after the sale was stored its charge may still be created (default 30 s, the
   * terminal's default create timeout): HTTP 429 from Omise is retried within it.
   */
  createDeadlineMs?: number;
  statusStaleMs: number;
  /** Called after a commit that published events. */
  onPublished: (events: StoredEvent[]) => void;
}

function omiseUnavailable(what: string, err: unknown): LinkError {
  const detail = err instanceof OmiseError ? `${err.kind}${err.status ? ' ' + err.status : ''}` : 'error';
  return new LinkError('omise_unavailable', `${what}: Omise did not answer (${detail}); retry with the same ids`);
}

function chargeMatches(c: OmiseCharge, terminalId: string, saleId: string): boolean {
  return c.metadata?.[META_TERMINAL] === terminalId && c.metadata?.[META_SALE] === saleId;
}

type SalePatch = Partial<Omit<SaleRow, 'terminalId' | 'saleId'>>;

/** Omise's clock is read again (one small list call) when the last reading is older than this. */
const OMISE_CLOCK_FRESH_MS = 10 * 60_000;

/** The charges Omise answered with while a sale left 'creating' (filled in by ensureCharge). */
interface SeenCharges {
  charges?: OmiseCharge[];
}

export class SaleService {
  readonly currency;
  /** Omise's clock minus ours, from Omise's own answers; null until the first one. */
  private omiseOffsetMs: number | null = null;
  private omiseOffsetReadAt = 0;
  /** Set in the async context of withoutWaitingForDisk. */
  private readonly unwaited = new AsyncLocalStorage<true>();

  constructor(private readonly o: SaleServiceOptions) {
    this.currency = currencyOf(o.country);
  }

  private now(): Date {
    return this.o.clock();
  }

  /**
   * Now on Omise's clock, as last read from Omise: what the void window (16:15 UTC on the day of
   * the charge's created_at) and charge expiry are judged by, so a relay clock that is off does
   * not open or close them. Our own clock until Omise has answered once.
   */
  omiseNow(): Date {
    return new Date(this.now().getTime() + (this.omiseOffsetMs ?? 0));
  }

  /**
   * Learns Omise's clock from a time Omise stamped (in whole seconds) between `sentAtMs` (our
   * clock) and now. An offset within what the reading can tell apart counts as none.
   */
  private learnOmiseClock(omiseIso: string | undefined, sentAtMs: number): void {
    const t = Date.parse(omiseIso ?? '');
    if (Number.isNaN(t)) return;
    const local = this.now().getTime();
    const offset = t + 500 - (sentAtMs + local) / 2;
    const uncertainty = 500 + (local - sentAtMs) / 2 + 1000;
    this.omiseOffsetMs = Math.abs(offset) <= uncertainty ? 0 : Math.round(offset);
    this.omiseOffsetReadAt = local;
  }

  /** Reads Omise's clock (a one-charge list names Omise's now as its `to`) unless a recent reading exists. */
  async readOmiseClock(force = false): Promise<void> {
    const local = this.now().getTime();
    if (!force && this.omiseOffsetMs !== null && Math.abs(local - this.omiseOffsetReadAt) < OMISE_CLOCK_FRESH_MS) return;
    const list = await this.o.omise.listCharges({ limit: 1 }, { timeoutMs: this.o.omiseTimeoutMs });
    this.learnOmiseClock(list.to, local);
  }

  private tx<T>(fn: () => Awaitable<T>): Promise<T> {
    const store = this.o.store as RelayStore & Partial<Pick<DeferredSyncStore, 'batchDeferred'>>;
    if (!this.unwaited.getStore() || !store.batchDeferred) return this.o.store.transaction(fn);
    // Committed now, on disk moments later (SQLite: the WAL's fsync in the thread pool). Calls
    // nested in fn join this transaction as usual; its events reach terminals once on disk.
    const batchDeferred = store.batchDeferred.bind(store);
    return this.unwaited.exit(async () => {
      let out: T | undefined;
      const { errors, durable } = await batchDeferred([async () => (out = await fn())]);
      durable.catch((err: unknown) => this.o.log.warn('a sale update is committed but not yet on disk; Omise has it and the relay reads it again if lost', { error: err }));
      const err = errors[0];
      if (err !== undefined) throw err instanceof Error ? err : new Error(String(err));
      return out as T;
    });
  }

  /**
   * Runs fn with commits that do not wait for the disk. Only for what Omise holds and the relay
   * finds again after a crash or power loss: a charge just made for a sale whose attempt was
   * recorded durably before the request (an uncertain create is looked up by its metadata), and
   * the QR document of a charge (fetched again while the sale has no QR text).
   */
  private withoutWaitingForDisk<T>(fn: () => Promise<T>): Promise<T> {
    return this.unwaited.run(true, fn);
  }

  /** Published events reach the stream only once the transaction that stored them committed. */
  private published(ev: StoredEvent): void {
    this.o.store.afterCommit(() => this.o.onPublished([ev]));
  }

  private key(terminalId: string, saleId: string): string {
    return `${terminalId}\u0000${saleId}`;
  }

  async view(s: SaleRow, withQr = true): Promise<SaleView> {
    return saleView(s, await this.o.store.refundsOfSale(s.terminalId, s.saleId), this.omiseNow(), withQr);
  }

  private async mustGet(terminalId: string, saleId: string): Promise<SaleRow> {
    const s = await this.o.store.sale(terminalId, saleId);
    if (!s) throw new LinkError('not_found', `no sale ${saleId} for this terminal`);
    return s;
  }

  /**
   * Updates a sale and, when its status or money changed, publishes `sale.updated` in the same
   * transaction. Returns the stored row.
   */
  private async commit(s: SaleRow, patch: SalePatch, publish: boolean): Promise<SaleRow> {
    const at = this.now().toISOString();
    // A final sale's QR can no longer be paid and no view of it carries the QR: dropping the SVG
    // document (often 5–30 KB) keeps the row small, so neither this update nor any later one
    // rewrites kilobytes of overflow pages to the WAL.
    if (patch.status !== undefined && isFinalSaleStatus(patch.status) && s.qrSvg !== null) patch = { ...patch, qrSvg: null };
    return this.tx(async () => {
      const fresh = (await this.o.store.updateSale(s.terminalId, s.saleId, publish ? { ...patch, updatedAt: at } : patch))!;
      if (publish) {
        const sale = await this.view(fresh, !isFinalSaleStatus(fresh.status));
        this.published(await this.o.store.publish(await this.streamOf(s.terminalId), at, { kind: 'sale.updated', sale }));
      }
      return fresh;
    });
  }

  // ---- create -------------------------------------------------------------------------------

  async create(terminal: TerminalRow, req: CreateSaleRequest): Promise<SaleView> {
    terminal = await this.ownerOf(terminal, req.saleId);
    if (req.currency !== this.currency) {
      throw new LinkError('currency_mismatch', `this relay charges in ${this.currency}; the sale is in ${req.currency}`);
    }
    const method = req.method ?? DEFAULT_METHOD;
    const enabled = this.o.methodsOf?.(terminal) ?? [DEFAULT_METHOD];
    if (!enabled.includes(method)) {
      throw new LinkError('method_not_enabled', `${methodName(method)} is not enabled for this terminal (enabled: ${enabled.map(methodName).join(', ')})`);
    }
    try {
      checkMethodAmount(method, req.amount, req.currency);
    } catch (err) {
      if (err instanceof AmountError) throw new LinkError('amount_out_of_range', err.message);
      if (err instanceof MethodError) throw new LinkError('method_not_enabled', err.message);
      throw err;
    }
    // Under the sale's lock from the first read: two relays (or two requests) asked for the same
    // new sale at once would otherwise both find none and both insert it.
    return this.o.store.lock(this.key(terminal.id, req.saleId), async () => {
      const at = this.now().toISOString();
      // A new sale is stored with its first create attempt already counted: one durable commit
      // before POST /charges instead of two (the attempt must be on disk before the request).
      const existing = await this.o.store.transaction(async () => {
        const s = await this.o.store.sale(terminal.id, req.saleId);
        if (s) return s;
        await this.o.store.insertSale({
          terminalId: terminal.id,
          saleId: req.saleId,
          method,
          amount: req.amount,
          currency: req.currency,
          description: req.description ?? null,
          terminalCreatedAt: req.createdAt ?? null,
          status: 'creating',
          chargeId: null,
          createAttempts: 1,
          lastAttemptAt: at,
          createUncertain: true,
          orphanCheckedAt: null,
          qrText: null,
          qrSvg: null,
          failureCode: null,
          failureMessage: null,
          errorCode: null,
          errorMessage: null,
          chargeCreatedAt: null,
          chargeExpiresAt: null,
          paidAt: null,
          expireRequested: false,
          refundedAmount: 0,
          checkedAt: null,
          createdAt: at,
          updatedAt: at,
        });
        return undefined;
      });
      if (existing && (existing.amount !== req.amount || existing.currency !== req.currency || (existing.method ?? DEFAULT_METHOD) !== method)) {
        throw new LinkError(
          'conflict',
          `sale ${req.saleId} already exists with amount ${existing.amount} ${existing.currency} by ${methodName(existing.method ?? DEFAULT_METHOD)}; a different sale needs a new saleId`,
        );
      }
      let s = await this.mustGet(terminal.id, req.saleId);
      const seen: SeenCharges = {};
      if (!existing) s = await this.sendCreate(s, { createAttempts: 0, lastAttemptAt: null, createUncertain: false }, seen);
      else if (s.status === 'creating') s = await this.ensureCharge(s, true, seen);
      if (s.status === 'creating') throw new LinkError('omise_unavailable', 'the charge could not be created yet; retry with the same saleId');
      // The charge Omise just answered with already names its QR document: no second request.
      if (s.status === 'pending' && !s.qrText) {
        const known = seen.charges?.find((c) => c.id === s.chargeId);
        s = await this.withoutWaitingForDisk(() => this.ensureQr(s, known));
      }
      return this.view(s);
    });
  }

  /**
   * Charges at Omise that carry this sale's metadata. Pages the list newest first, with no from/to,
   * and stops at the first charge older on Omise's clock than the sale can be: Omise's "now" (the
   * list's `to`) minus the sale's age as measured here, minus a margin. New charges arriving while
   * it pages only push older ones further down, so none is skipped (one may be seen twice).
   */
  async findCharges(s: SaleRow): Promise<ChargeSearch> {
    const found = new Map<string, OmiseCharge>();
    const ageMs = Math.max(0, this.now().getTime() - Date.parse(s.createdAt));
    let oldestPossible: number | undefined;
    for (let page = 0, offset = 0; page < LOOKUP_MAX_PAGES; page++) {
      const sentAt = this.now().getTime();
      const list = await this.o.omise.listCharges({ limit: 100, offset, order: 'reverse_chronological' }, { timeoutMs: this.o.omiseTimeoutMs });
      if (oldestPossible === undefined) {
        this.learnOmiseClock(list.to, sentAt);
        // Without a usable `to`, the newest charge's time is a lower bound of Omise's now.
        const omiseNow = Date.parse(list.to) || Date.parse(list.data[0]?.created_at ?? '');
        oldestPossible = Number.isNaN(omiseNow) ? -Infinity : omiseNow - ageMs - LOOKUP_MARGIN_MS;
      }
      for (const c of list.data) if (chargeMatches(c, s.terminalId, s.saleId)) found.set(c.id, c);
      offset += list.data.length;
      const last = list.data[list.data.length - 1];
      if (!last || offset >= list.total || Date.parse(last.created_at) < oldestPossible) return { charges: [...found.values()], complete: true };
    }
    this.o.log.warn('charge search stopped before reaching the sale\'s start', { terminalId: s.terminalId, saleId: s.saleId, pages: LOOKUP_MAX_PAGES });
    return { charges: [...found.values()], complete: false };
  }

  /**
   * Gets the sale out of 'creating': adopts a charge that an earlier attempt made, or (when
   * allowed) sends a new attempt. Call under the sale's lock.
   */
  private async ensureCharge(s: SaleRow, mayCreate: boolean, seen: SeenCharges = {}): Promise<SaleRow> {
    if (s.createAttempts > 0) {
      let found: ChargeSearch;
      try {
        found = await this.findCharges(s);
      } catch (err) {
        this.o.log.warn('charge lookup failed', { terminalId: s.terminalId, saleId: s.saleId, error: err });
        return s;
      }
      if (found.charges.length) return this.adopt(s, (seen.charges = found.charges));
      // A search that did not reach back far enough proves nothing: send nothing new.
      if (!found.complete) return s;
      // The previous attempt might still land at Omise: give it time before sending another.
      const settleUntil = (s.lastAttemptAt ? Date.parse(s.lastAttemptAt) : 0) + 2 * this.o.omiseTimeoutMs;
      if (this.now().getTime() < settleUntil) return s;
    }
    if (s.expireRequested) {
      // Cancelled before any charge exists: nothing to pay. The orphan scan still looks for a
      // late-landing charge of an uncertain attempt and expires it.
      return this.commit(s, { status: 'expired' }, true);
    }
    if (!mayCreate) return s;
    const before = s;
    s = await this.commit(s, { createAttempts: s.createAttempts + 1, lastAttemptAt: this.now().toISOString(), createUncertain: true }, false);
    return this.sendCreate(s, before, seen);
  }

  /**
   * Sends the create attempt that `s` records: the attempt is on disk before this is called, so a
   * crash from here on leaves an uncertain attempt that is looked up by its metadata. `before` is
   * the attempt bookkeeping to restore when Omise did not act (HTTP 429).
   */
  private async sendCreate(s: SaleRow, before: Pick<SaleRow, 'createAttempts' | 'lastAttemptAt' | 'createUncertain'>, seen: SeenCharges): Promise<SaleRow> {
    const sentAt = this.now().getTime();
    // HTTP 429 is waited out (backoff, Retry-After) within the sale's deadline, at most half a timeout per request.
    const deadline = Date.parse(s.createdAt) + (this.o.createDeadlineMs ?? 30_000);
    const retryBudgetMs = Math.max(0, Math.min(deadline - this.now().getTime(), this.o.omiseTimeoutMs / 2));
    try {
      const charge = await this.o.omise.createCharge(
        {
          amount: s.amount,
          currency: s.currency,
          source: { type: s.method ?? DEFAULT_METHOD },
          metadata: { [META_TERMINAL]: s.terminalId, [META_SALE]: s.saleId },
          ...(s.description ? { description: s.description } : {}),
        },
        { timeoutMs: this.o.omiseTimeoutMs, retryBudgetMs },
      );
      this.o.log.info('charge created', { terminalId: s.terminalId, saleId: s.saleId, chargeId: charge.id, attempt: s.createAttempts });
      this.learnOmiseClock(charge.created_at, sentAt);
      // Only a first attempt that answered cleanly leaves no doubt about stray charges.
      return await this.withoutWaitingForDisk(() => this.adopt(s, (seen.charges = [charge]), s.createAttempts === 1));
    } catch (err) {
      if (err instanceof OmiseError && err.rateLimited) {
        // Omise did not act on a 429: this attempt made no charge, so it does not count. The sale
        // stays 'creating' and the terminal may retry; it is never a failed payment.
        this.o.log.warn('Omise is limiting requests; charge not created', { terminalId: s.terminalId, saleId: s.saleId, retryBudgetMs });
        await this.commit(s, { createAttempts: before.createAttempts, lastAttemptAt: before.lastAttemptAt, createUncertain: before.createUncertain }, false);
        throw new LinkError('omise_unavailable', 'could not create the charge: Omise is limiting requests (HTTP 429); retry with the same saleId');
      }
      if (err instanceof OmiseError && !err.outcomeUnknown && err.kind === 'api') {
        this.o.log.warn('Omise refused the charge', { terminalId: s.terminalId, saleId: s.saleId, code: err.code, status: err.status });
        // A refusal with no earlier uncertain attempt means no charge exists.
        return this.commit(
          s,
          { status: 'create_failed', errorCode: err.code, errorMessage: err.message, createUncertain: s.createAttempts > 1 },
          true,
        );
      }
      this.o.log.warn('charge creation outcome unknown; will look it up before any retry', {
        terminalId: s.terminalId,
        saleId: s.saleId,
        error: err,
      });
      try {
        const found = await this.findCharges(s);
        if (found.charges.length) return await this.adopt(s, (seen.charges = found.charges));
      } catch (lookupErr) {
        this.o.log.warn('charge lookup failed', { terminalId: s.terminalId, saleId: s.saleId, error: lookupErr });
      }
      return this.mustGet(s.terminalId, s.saleId);
    }
  }

  /**
   * Takes one of the charges as the sale's, and records every other one for expiry (sent at once
   * unless `expireNow` is false: the caller then sends it and waits).
   */
  private async adopt(s: SaleRow, charges: OmiseCharge[], certain = false, expireNow = true): Promise<SaleRow> {
    const fresh = await this.mustGet(s.terminalId, s.saleId);
    const byAge = [...charges].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    const chosen = fresh.chargeId
      ? charges.find((c) => c.id === fresh.chargeId)
      : (byAge.find((c) => c.status === 'successful') ?? byAge[0]);
    const keepId = fresh.chargeId ?? chosen?.id;
    const at = this.now().toISOString();
    const row = await this.tx(async () => {
      for (const c of charges) {
        if (c.id === keepId) continue;
        this.o.log.warn('extra charge for a sale; it will be expired', { terminalId: s.terminalId, saleId: s.saleId, chargeId: c.id });
        await this.o.store.upsertOrphan({
          chargeId: c.id,
          terminalId: s.terminalId,
          saleId: s.saleId,
          status: c.status === 'pending' ? 'to_expire' : c.status === 'successful' ? 'paid' : 'expired',
          foundAt: at,
          updatedAt: at,
        });
        if (c.status === 'successful') {
          this.o.log.error('a second charge of a sale was paid: refund it by hand', { terminalId: s.terminalId, saleId: s.saleId, chargeId: c.id });
        }
      }
      if (!chosen) return fresh;
      if (!fresh.chargeId) {
        // A sale marked expired locally (cancelled before any charge was seen) takes whatever the
        // late charge says: a payment is never hidden.
        return this.merge({ ...fresh, status: 'creating' }, chosen, { chargeId: chosen.id, ...(certain ? { createUncertain: false } : {}) }, true);
      }
      return this.merge(fresh, chosen, {}, false);
    });
    // Calls to Omise start once what they act on is committed (at once when adopt runs outside a
    // transaction; after the webhook's group commit when it runs inside one), and never inside it.
    this.o.store.afterCommit(() => {
      if (row.status === 'pending' && row.expireRequested) void this.expireQuietly(row);
      // Extra live charges are expired now; the reconciler retries whatever fails.
      for (const c of expireNow ? charges : []) {
        if (c.id !== keepId && c.status === 'pending') {
          this.expireOrphan(c.id).catch((err: unknown) => this.o.log.warn('extra charge not expired yet; will retry', { chargeId: c.id, error: err }));
        }
      }
    });
    return row;
  }

  // ---- QR -----------------------------------------------------------------------------------

  private async ensureQr(s: SaleRow, known?: OmiseCharge): Promise<SaleRow> {
    try {
      const documentOf = (c: OmiseCharge | undefined) => c?.source?.scannable_code?.image?.download_uri;
      const uri = documentOf(known) ?? documentOf(await this.o.omise.retrieveCharge(s.chargeId!, { timeoutMs: this.o.omiseTimeoutMs }));
      if (!uri) throw new LinkError('internal', 'the charge has no QR document');
      const doc = await this.o.omise.downloadDocument(uri, { timeoutMs: this.o.omiseTimeoutMs });
      const { text, svg } = await decodeQrDocument(doc.body);
      return await this.commit(s, { qrText: text, qrSvg: svg }, false);
    } catch (err) {
      if (err instanceof LinkError) throw err;
      if (err instanceof OmiseError) throw omiseUnavailable('fetching the QR document', err);
      this.o.log.error('QR document could not be decoded', { terminalId: s.terminalId, saleId: s.saleId, error: err });
      throw new LinkError('internal', 'the QR document from Omise could not be decoded');
    }
  }

  // ---- applying Omise's truth ---------------------------------------------------------------

  /**
   * Folds a charge into the sale row. A final status never returns to pending; the only change
   * between final statuses is successful → reversed. Runs inside a transaction.
   */
  private merge(s: SaleRow, c: OmiseCharge, extra: SalePatch, forceChange: boolean): Promise<SaleRow> {
    const status = saleStatusAfterCharge(s.status, c.status);
    const patch: SalePatch = {
      ...extra,
      status,
      checkedAt: this.now().toISOString(),
      chargeCreatedAt: s.chargeCreatedAt ?? c.created_at,
      chargeExpiresAt: c.expires_at ?? s.chargeExpiresAt,
      paidAt: s.paidAt ?? c.paid_at ?? null,
      failureCode: status === c.status ? (c.failure_code ?? null) : s.failureCode,
      failureMessage: status === c.status ? (c.failure_message ?? null) : s.failureMessage,
      refundedAmount: Math.max(s.refundedAmount, c.refunded_amount ?? 0),
    };
    const changed =
      forceChange ||
      patch.status !== s.status ||
      patch.paidAt !== s.paidAt ||
      patch.failureCode !== s.failureCode ||
      patch.refundedAmount !== s.refundedAmount ||
      (extra.chargeId !== undefined && extra.chargeId !== s.chargeId);
    return this.commit(s, patch, changed);
  }

  /** What Omise says about a charge (webhook, poll, or an answer to our own call). */
  async applyCharge(c: OmiseCharge): Promise<SaleRow | undefined> {
    const merged = await this.tx(async () => {
      const s = await this.o.store.saleByChargeId(c.id);
      return s && this.merge(s, c, {}, false);
    });
    return merged ?? this.applyUnknownCharge(c);
  }

  private async applyUnknownCharge(c: OmiseCharge): Promise<SaleRow | undefined> {
    const terminalId = c.metadata?.[META_TERMINAL];
    const saleId = c.metadata?.[META_SALE];
    if (typeof terminalId !== 'string' || typeof saleId !== 'string') return undefined;
    const s = await this.o.store.sale(terminalId, saleId);
    if (!s) {
      this.o.log.warn('charge names a sale this relay does not know', { chargeId: c.id, terminalId, saleId });
      return undefined;
    }
    // Either the answer to an attempt that timed out (adopt it) or a second charge (expire it).
    return this.adopt(s, [c]);
  }

  async refreshSale(s: SaleRow): Promise<SaleRow> {
    if (!s.chargeId) return s;
    const c = await this.o.omise.retrieveCharge(s.chargeId, { timeoutMs: this.o.omiseTimeoutMs });
    return (await this.applyCharge(c)) ?? s;
  }

  // ---- status -------------------------------------------------------------------------------

  async status(terminal: TerminalRow, saleId: string): Promise<SaleView> {
    terminal = await this.ownerOf(terminal, saleId);
    let s = await this.mustGet(terminal.id, saleId);
    if (isFinalSaleStatus(s.status)) return this.view(s);
    return this.o.store.lock(this.key(terminal.id, saleId), async () => {
      s = await this.mustGet(terminal.id, saleId);
      if (s.status === 'creating') s = await this.ensureCharge(s, false);
      const age = this.now().getTime() - (s.checkedAt ? Date.parse(s.checkedAt) : 0);
      if (s.status === 'pending' && age >= this.o.statusStaleMs) {
        try {
          s = await this.refreshSale(s);
        } catch (err) {
          // The stored view is still right as of checkedAt; the terminal keeps waiting for events.
          this.o.log.warn('status refresh failed', { terminalId: s.terminalId, saleId, error: err });
        }
      }
      return this.view(s);
    });
  }

  /** The terminal's sales, and those of the terminals it replaced (newest terminal first, then by time). */
  async list(terminal: TerminalRow, since: string, limit: number): Promise<SaleView[]> {
    const rows: SaleRow[] = [];
    for (const t of await this.lineage(terminal)) rows.push(...(await this.o.store.salesSince(t.id, since, limit)));
    if (rows.length > limit) rows.splice(limit);
    const views: SaleView[] = [];
    for (const s of rows) views.push(await this.view(s, !isFinalSaleStatus(s.status)));
    return views;
  }

  // ---- revocation and re-pairing ----------------------------------------------------------

  /** The terminal and those it replaced by pairing again, newest first (bounded against loops). */
  private async lineage(t: TerminalRow): Promise<TerminalRow[]> {
    const out = [t];
    for (let cur = t; cur.predecessorId && out.length < 20; ) {
      const prev = await this.o.store.terminalById(cur.predecessorId);
      if (!prev || out.some((x) => x.id === prev.id)) break;
      out.push((cur = prev));
    }
    return out;
  }

  /**
   * Whose sale this is: the terminal's own, or one of a terminal it replaced (a device that paired
   * again asks about the sales it had in flight). A new sale id belongs to the terminal itself.
   */
  private async ownerOf(t: TerminalRow, saleId: string): Promise<TerminalRow> {
    if (!t.predecessorId || (await this.o.store.sale(t.id, saleId))) return t;
    for (const x of await this.lineage(t)) if (await this.o.store.sale(x.id, saleId)) return x;
    return t;
  }

  /** Where a terminal's events go: to the terminal that replaced it once it is revoked. */
  private async streamOf(terminalId: string): Promise<string> {
    let id = terminalId;
    for (let i = 0; i < 20; i++) {
      const t = await this.o.store.terminalById(id);
      if (!t?.revokedAt) return id;
      const next = await this.o.store.successorOf(id);
      if (!next) return id;
      id = next.id;
    }
    return id;
  }

  /**
   * Reconciler and revocation: sends the expiry of every open sale of a revoked terminal (marked by
   * cancelOpenSales in revocation.ts). A sale whose charge is paid anyway stays successful with expireRequested:
   * a late payment for the operator.
   */
  async expireOpenSales(terminalId: string): Promise<void> {
    for (const s of await this.o.store.openSalesOf(terminalId, 500)) {
      if (!s.expireRequested) continue;
      try {
        if (s.status === 'pending') await this.retryExpire(s);
        else await this.resolveCreating(s);
      } catch (err) {
        this.o.log.warn('expiring a revoked terminal\'s sale failed; the reconciler retries', { terminalId, saleId: s.saleId, error: err });
      }
    }
  }

  /** Sales paid although their expiry was asked for (cancelled or revoked): the operator settles them. */
  async latePayments(limit = 500): Promise<{ sales: SaleView[]; extraCharges: OrphanRow[] }> {
    const sales: SaleView[] = [];
    for (const s of await this.o.store.paidAfterCancel(limit)) sales.push(await this.view(s, false));
    return { sales, extraCharges: await this.o.store.orphansByStatus('paid', limit) };
  }

  // ---- expire -------------------------------------------------------------------------------

  async expire(terminal: TerminalRow, saleId: string): Promise<SaleView> {
    terminal = await this.ownerOf(terminal, saleId);
    let s = await this.mustGet(terminal.id, saleId);
    if (isFinalSaleStatus(s.status)) return this.view(s);
    return this.o.store.lock(this.key(terminal.id, saleId), async () => {
      s = await this.mustGet(terminal.id, saleId);
      if (isFinalSaleStatus(s.status)) return this.view(s);
      if (!s.expireRequested) s = await this.commit(s, { expireRequested: true }, false);
      if (s.status === 'creating') s = await this.ensureCharge(s, false);
      if (s.status === 'pending') s = await this.expireAtOmise(s);
      return this.view(s);
    });
  }

  /** Sends the expire; when Omise cannot be reached it stays requested and the reconciler retries. */
  private async expireAtOmise(s: SaleRow): Promise<SaleRow> {
    try {
      const c = await this.o.omise.expireCharge(s.chargeId!, { timeoutMs: this.o.omiseTimeoutMs });
      return (await this.applyCharge(c)) ?? s;
    } catch (err) {
      if (err instanceof OmiseError && err.kind === 'api' && !err.outcomeUnknown) {
        // e.g. failed_expire: the charge was paid or failed meanwhile; Omise's state decides.
        try {
          return await this.refreshSale(s);
        } catch {
          return s;
        }
      }
      this.o.log.warn('expire not sent; queued for retry', { terminalId: s.terminalId, saleId: s.saleId, error: err });
      return s;
    }
  }

  private async expireQuietly(s: SaleRow, force = false): Promise<void> {
    try {
      await this.o.store.lock(this.key(s.terminalId, s.saleId), async () => {
        const fresh = await this.mustGet(s.terminalId, s.saleId);
        if (fresh.status === 'pending' && (fresh.expireRequested || force)) await this.expireAtOmise(fresh);
      });
    } catch (err) {
      this.o.log.warn('queued expire failed', { saleId: s.saleId, error: err });
    }
  }

  /** Reconciler: retries queued expires; `force` expires a charge that outlived its expiry time. */
  async retryExpire(s: SaleRow, force = false): Promise<void> {
    await this.expireQuietly(s, force);
  }

  /** Reconciler: a 'creating' sale whose attempt may have landed. Never creates. */
  async resolveCreating(s: SaleRow): Promise<void> {
    await this.o.store.lock(this.key(s.terminalId, s.saleId), async () => {
      const fresh = await this.mustGet(s.terminalId, s.saleId);
      if (fresh.status === 'creating') await this.ensureCharge(fresh, false);
    });
  }

  /**
   * Reconciler, every pass: a sale with an uncertain attempt is searched for stray charges until
   * LATE_ANSWER_WINDOW_MS after its last attempt (the first search after that ends the watch).
   * Strays are recorded and expired by adopt(); this waits for their expiry.
   */
  async scanForOrphans(s: SaleRow): Promise<void> {
    const strays = await this.o.store.lock(this.key(s.terminalId, s.saleId), async () => {
      const fresh = await this.mustGet(s.terminalId, s.saleId);
      if (fresh.status === 'creating' || !fresh.createUncertain) return [];
      const found = await this.findCharges(fresh);
      const row = found.charges.length ? await this.adopt(fresh, found.charges, false, false) : fresh;
      const sinceAttempt = this.now().getTime() - Date.parse(row.lastAttemptAt ?? row.createdAt);
      // Late charges are the newest in the list, so even a search cut short at 50 pages has seen
      // them: the watch ends with the window either way.
      const over = sinceAttempt >= LATE_ANSWER_WINDOW_MS;
      await this.commit(row, { orphanCheckedAt: this.now().toISOString(), ...(over ? { createUncertain: false } : {}) }, false);
      return found.charges.filter((c) => c.id !== row.chargeId && c.status === 'pending');
    });
    for (const c of strays) await this.expireOrphan(c.id);
  }

  /** Reconciler: expire an extra charge. */
  async expireOrphan(chargeId: string): Promise<void> {
    const at = () => this.now().toISOString();
    let c = await this.o.omise.retrieveCharge(chargeId, { timeoutMs: this.o.omiseTimeoutMs });
    if (c.status === 'pending') {
      try {
        c = await this.o.omise.expireCharge(chargeId, { timeoutMs: this.o.omiseTimeoutMs });
      } catch (err) {
        if (!(err instanceof OmiseError && err.kind === 'api' && !err.outcomeUnknown)) throw err;
        c = await this.o.omise.retrieveCharge(chargeId, { timeoutMs: this.o.omiseTimeoutMs });
      }
    }
    if (c.status === 'pending') return;
    if (c.status === 'successful') this.o.log.error('an extra charge of a sale was paid: refund it by hand', { chargeId });
    await this.o.store.updateOrphan(chargeId, c.status === 'successful' ? 'paid' : 'expired', at());
    this.o.log.info('extra charge settled', { chargeId, status: c.status });
  }

  // ---- refunds ------------------------------------------------------------------------------

  async refund(terminal: TerminalRow, saleId: string, req: RefundRequest): Promise<RefundView> {
    terminal = await this.ownerOf(terminal, saleId);
    return this.o.store.lock(this.key(terminal.id, saleId), async () => {
      const s = await this.mustGet(terminal.id, saleId);
      const prior = await this.o.store.refund(terminal.id, req.refundId);
      if (prior) {
        if (prior.saleId !== saleId || prior.amount !== req.amount) {
          throw new LinkError('conflict', `refund ${req.refundId} already exists for a different sale or amount`);
        }
        if (prior.status !== 'pending') return refundView(prior);
        return refundView(await this.sendRefund(s, prior));
      }
      if (s.status !== 'successful' || !s.chargeId) {
        throw new LinkError('not_refundable', `sale ${saleId} is ${s.status}; only paid sales can be refunded`);
      }
      const method = s.method ?? DEFAULT_METHOD;
      const refusal = refundRefusal(method);
      if (refusal) throw new LinkError('not_refundable', refusal);
      if (req.mode === 'void' && !methodInfo(method).voidable) {
        throw new LinkError('void_window_closed', `${methodName(method)} payments cannot be voided; use a refund`);
      }
      // Void or refund is decided on Omise's clock, never ours alone.
      try {
        await this.readOmiseClock();
      } catch (err) {
        throw omiseUnavailable('reading Omise\'s clock before a refund', err);
      }
      const now = this.omiseNow();
      const voidOk = canVoid(s, now);
      const mode = req.mode ?? 'auto';
      if (mode === 'void' && !voidOk) {
        const deadline = s.chargeCreatedAt ? voidDeadline(s.chargeCreatedAt).toISOString() : 'unknown';
        throw new LinkError('void_window_closed', `the void window closed at ${deadline}; use a refund`);
      }
      const wantVoid = mode === 'void' || (mode === 'auto' && voidOk);
      const deadline = refundDeadline(s.paidAt ?? s.chargeCreatedAt ?? s.createdAt, method);
      if (!wantVoid && deadline && now.getTime() >= deadline.getTime()) {
        throw new LinkError('refund_window_closed', `${methodName(method)} refunds are possible for ${methodInfo(method).refund!.windowDays} days after the payment`);
      }
      const at = now.toISOString();
      const row = await this.o.store.transaction(async () => {
        const committed = (await this.o.store.refundsOfSale(terminal.id, saleId))
          .filter((r) => r.status !== 'failed')
          .reduce((n, r) => n + r.amount, 0);
        const remaining = s.amount - Math.max(committed, s.refundedAmount);
        if (remaining <= 0) {
          // A retry with a new id after the first request went through (its answer was lost):
          // the money is back with the customer, which is what the supervisor asked for.
          throw new LinkError('already_refunded', `sale ${saleId} is already refunded in full`);
        }
        if (req.amount > remaining) {
          throw new LinkError('conflict', `refund of ${req.amount} exceeds what remains refundable (${remaining})`);
        }
        if (!methodInfo(method).refund!.partial && req.amount !== remaining) {
          throw new LinkError('conflict', `${methodName(method)} payments can only be refunded in full (${remaining})`);
        }
        const r: RefundRow = {
          terminalId: terminal.id,
          refundId: req.refundId,
          saleId,
          chargeId: s.chargeId!,
          omiseRefundId: null,
          amount: req.amount,
          currency: s.currency,
          voided: false,
          wantVoid,
          status: 'pending',
          reason: req.reason ?? null,
          error: null,
          attempts: 0,
          createdAt: at,
          updatedAt: at,
        };
        await this.o.store.insertRefund(r);
        return r;
      });
      return refundView(await this.sendRefund(s, row));
    });
  }

  private async findRefund(r: RefundRow): Promise<OmiseRefund | undefined> {
    const list = await this.o.omise.listRefunds(r.chargeId, { limit: 100, order: 'reverse_chronological' }, { timeoutMs: this.o.omiseTimeoutMs });
    return list.data.find((x) => x.metadata?.[META_REFUND] === r.refundId);
  }

  /** Sends (or finds) the refund at Omise. Under the sale's lock. */
  private async sendRefund(s: SaleRow, r: RefundRow): Promise<RefundRow> {
    let found: OmiseRefund | undefined;
    try {
      if (r.attempts > 0) found = await this.findRefund(r);
      if (!found) {
        await this.o.store.updateRefund(r.terminalId, r.refundId, { attempts: r.attempts + 1, updatedAt: this.now().toISOString() });
        r = { ...r, attempts: r.attempts + 1 };
        found = await this.o.omise.createRefund(
          r.chargeId,
          { amount: r.amount, metadata: { [META_TERMINAL]: r.terminalId, [META_SALE]: r.saleId, [META_REFUND]: r.refundId }, ...(r.wantVoid ? { void: true } : {}) },
          { timeoutMs: this.o.omiseTimeoutMs },
        );
      }
    } catch (err) {
      if (err instanceof OmiseError && err.kind === 'api' && !err.outcomeUnknown && !err.rateLimited) {
        return this.finishRefund(s, r, { status: 'failed', error: `${err.code}: ${err.message}` });
      }
      throw omiseUnavailable('refund', err);
    }
    const status = found.status === 'failed' ? 'failed' : found.status === 'closed' ? 'done' : 'pending';
    const done = await this.finishRefund(s, r, { status, omiseRefundId: found.id, voided: found.voided });
    try {
      await this.refreshSale(await this.mustGet(s.terminalId, s.saleId));
    } catch (err) {
      this.o.log.warn('charge refresh after refund failed', { saleId: s.saleId, error: err });
    }
    return done;
  }

  private async finishRefund(s: SaleRow, r: RefundRow, patch: Partial<RefundRow>): Promise<RefundRow> {
    const at = this.now().toISOString();
    const row = await this.tx(async () => {
      await this.o.store.updateRefund(r.terminalId, r.refundId, { ...patch, updatedAt: at });
      const fresh = (await this.o.store.refund(r.terminalId, r.refundId))!;
      if (fresh.status !== 'pending') this.published(await this.o.store.publish(r.terminalId, at, { kind: 'refund.updated', refund: refundView(fresh) }));
      return fresh;
    });
    this.o.log.info('refund settled', { terminalId: r.terminalId, saleId: s.saleId, refundId: r.refundId, status: row.status, voided: row.voided });
    return row;
  }

  /** Reconciler: a refund whose answer never came. */
  async resolveRefund(r: RefundRow): Promise<void> {
    await this.o.store.lock(this.key(r.terminalId, r.saleId), async () => {
      const fresh = await this.o.store.refund(r.terminalId, r.refundId);
      if (!fresh || fresh.status !== 'pending') return;
      await this.sendRefund(await this.mustGet(r.terminalId, r.saleId), fresh);
    });
  }
}
