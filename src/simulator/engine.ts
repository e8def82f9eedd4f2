/**
 * The simulator's account: sources, charges, refunds and events in memory (Maps), the charge
 * lifecycle, fees, and the JSON shapes of the seed's examples. No I/O here: the HTTP server,
 * the webhook dispatcher and the state file sit around it.
 */
import { AmountError, currencyOf, isCurrency, type Country, type Currency } from '../domain/money';
import { checkMethodAmount, isPaymentMethod, methodInfo, methodName, methodWorksIn, DEFAULT_METHOD, type PaymentMethod } from '../domain/methods';
import { qrPayload } from './payloads';
import { FAILURE_CODES, isFailureCode } from '../domain/failure';
import type { ChargeEnding } from '../domain/status';
import type { ChargeStatus, EventKey, Metadata, OmiseCharge, OmiseList, OmiseRefund, OmiseSource, WebhookDelivery } from '../omise/types';
import { badRequest, invalidCharge, notFound, SimError } from './errors';
import { computeFees, FEE_SCHEDULES } from './fees';
import { IdFactory, omiseTime } from './ids';
import { SVG_STYLES, type SvgStyle, type SvgStyleOption } from './qr-svg';

export interface SourceRec {
  id: string;
  /** The payment method (Omise source type); absent in state files from before there were several. */
  type?: PaymentMethod;
  amount: number;
  currency: Currency;
  createdMs: number;
  ip: string | null;
  chargeId: string | null;
}

export interface ChargeRec {
  id: string;
  seq: number;
  amount: number;
  currency: Currency;
  source: SourceRec;
  docId: string;
  docToken: string;
  payload: string;
  svgStyle: SvgStyle;
  createdMs: number;
  expiresMs: number;
  paidMs: number | null;
  expiredMs: number | null;
  status: ChargeStatus;
  failureCode: string | null;
  failureMessage: string | null;
  description: string | null;
  metadata: Metadata;
  refundIds: string[];
  refundedAmount: number;
  voided: boolean;
  transaction: string | null;
  fee: number;
  feeVat: number;
  net: number;
}

export interface RefundRec {
  id: string;
  seq: number;
  chargeId: string;
  amount: number;
  currency: Currency;
  voided: boolean;
  metadata: Metadata;
  createdMs: number;
  transaction: string;
}

/**
 * The object as it was when the event happened: a shallow copy of the charge record (far
 * smaller than its JSON, which is rendered on demand) or the refund (never changes).
 */
export type EventData = { kind: 'charge'; charge: ChargeRec; atMs: number } | { kind: 'refund'; refund: RefundRec };

export interface EventRec {
  id: string;
  seq: number;
  key: EventKey;
  createdMs: number;
  data: EventData;
  deliveries: WebhookDelivery[];
}

export const FAILURE_MESSAGES: Record<string, string> = {
  payment_expired: 'payment expired',
  payment_rejected: 'payment rejected',
  insufficient_fund: 'insufficient fund',
  failed_processing: 'failed processing',
};

export interface EngineOptions {
  country: Country;
  now: () => number;
  /** Base of download_uri, e.g. http://127.0.0.1:4010 */
  publicBase: () => string;
  svgStyle: SvgStyleOption;
  chargeTtlMs: number;
  onEvent: (ev: EventRec) => void;
  onChange: () => void;
}

type Params = Record<string, unknown>;

const VOID_CUTOFF_MS = (16 * 60 + 15) * 60_000;
const DAY_MS = 86_400_000;

/** The method a charge was made with (state files from before there were several have none). */
export function methodOf(c: ChargeRec): PaymentMethod {
  return c.source.type ?? DEFAULT_METHOD;
}

const CHARGE_PARAMS = new Set(['amount', 'currency', 'source', 'metadata', 'description', 'expires_at', 'return_uri', 'capture', 'ip', 'webhook_endpoints', 'zero_interest_installments', 'platform_fee']);
const SOURCE_PARAMS = new Set(['type', 'amount', 'currency', 'platform_type', 'ip']);
const REFUND_PARAMS = new Set(['amount', 'metadata', 'void']);
const UPDATE_PARAMS = new Set(['description', 'metadata']);
const LIST_PARAMS = new Set(['limit', 'offset', 'from', 'to', 'order']);

function rejectUnknown(params: Params, allowed: Set<string>): void {
  for (const k of Object.keys(params)) if (!allowed.has(k)) throw badRequest(`${k} is not a valid parameter`);
}

function parseAmount(v: unknown, field = 'amount'): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d{1,15}$/.test(v.trim())) n = Number(v.trim());
  else if (v === undefined || v === '') throw badRequest(`${field} is required`);
  else throw badRequest(`${field} must be an integer`);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${field} must be a positive integer`);
  return n;
}

function parseBool(v: unknown, field: string): boolean {
  if (v === undefined || v === '' || v === false || v === 'false' || v === '0') return false;
  if (v === true || v === 'true' || v === '1') return true;
  throw badRequest(`${field} must be true or false`);
}

function parseMetadata(v: unknown): Metadata {
  if (v === undefined || v === '') return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('metadata must be an object');
  const out: Metadata = {};
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 50) throw badRequest('metadata has too many keys (at most 50)');
  for (const [k, val] of entries) {
    if (k.length > 100) throw badRequest('metadata key too long');
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') throw badRequest(`metadata key not allowed: ${k}`);
    if (val === null || typeof val === 'boolean' || typeof val === 'number') out[k] = val;
    else if (typeof val === 'string') {
      if (val.length > 1000) throw badRequest(`metadata ${k.slice(0, 40)} is too long`);
      out[k] = val;
    } else throw badRequest('metadata values must be strings, numbers, booleans or null');
  }
  return out;
}

function parseTime(v: unknown, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw badRequest(`${field} must be an ISO 8601 time`);
  const ms = Date.parse(v);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw badRequest(`${field} must be an ISO 8601 time`);
  return ms;
}

/** An unsupported currency on a charge is 400 invalid_charge "currency is currently not supported" (as Omise answers). */
function parseCurrency(v: unknown, err: (m: string) => SimError = badRequest): Currency {
  if (typeof v !== 'string' || v === '') throw badRequest('currency is required');
  const up = v.toUpperCase();
  if (!isCurrency(up)) throw err('currency is currently not supported');
  return up;
}

export interface ListQuery {
  limit: number;
  offset: number;
  fromMs: number;
  toMs: number;
  order: 'chronological' | 'reverse_chronological';
}

export function parseListQuery(q: Params, nowMs: number): ListQuery {
  rejectUnknown(q, LIST_PARAMS);
  let limit = 20;
  if (q.limit !== undefined && q.limit !== '') {
    limit = parseAmount(q.limit, 'limit');
    if (limit < 1) throw badRequest('limit must be at least 1');
    limit = Math.min(limit, 100);
  }
  const offset = q.offset !== undefined && q.offset !== '' ? parseAmount(q.offset, 'offset') : 0;
  const fromMs = parseTime(q.from, 'from') ?? 0;
  const toMs = parseTime(q.to, 'to') ?? nowMs;
  let order: ListQuery['order'] = 'chronological';
  if (q.order !== undefined && q.order !== '') {
    if (q.order !== 'chronological' && q.order !== 'reverse_chronological') throw badRequest('order must be chronological or reverse_chronological');
    order = q.order;
  }
  return { limit, offset, fromMs, toMs, order };
}

export class Engine {
  readonly sources = new Map<string, SourceRec>();
  readonly charges = new Map<string, ChargeRec>();
  readonly refunds = new Map<string, RefundRec>();
  readonly events = new Map<string, EventRec>();
  /** Charges still pending, so the expiry sweep does not walk every charge. */
  readonly pending = new Set<string>();
  private readonly ids = new IdFactory();
  private seq = 0;
  private styleTurn = 0;

  constructor(private readonly o: EngineOptions) {}

  get country(): Country {
    return this.o.country;
  }

  now(): number {
    return this.o.now();
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** After loading a state file. */
  restoreSeq(seq: number): void {
    this.seq = Math.max(this.seq, seq);
  }

  // ---- sources ----

  createSource(params: Params, ip: string | null): SourceRec {
    rejectUnknown(params, SOURCE_PARAMS);
    const type = this.methodOf(params.type, badRequest);
    const { amount, currency } = this.checkMoney(params, type, badRequest);
    const src: SourceRec = { id: this.ids.id('src', this.now()), type, amount, currency, createdMs: this.now(), ip, chargeId: null };
    this.sources.set(src.id, src);
    this.o.onChange();
    return src;
  }

  /** A source type this account can take: a known method that works in the account's country. */
  private methodOf(type: unknown, err: (m: string) => SimError): PaymentMethod {
    if (!isPaymentMethod(type) || !methodWorksIn(type, this.o.country)) throw err('type is currently not supported');
    return type;
  }

  private checkMoney(params: Params, method: PaymentMethod, err: (m: string) => SimError): { amount: number; currency: Currency } {
    const amount = parseAmount(params.amount);
    const currency = parseCurrency(params.currency, err);
    if (currency !== currencyOf(this.o.country)) throw err('currency is currently not supported');
    try {
      checkMethodAmount(method, amount, currency);
    } catch (e) {
      if (e instanceof AmountError) throw err(`amount is invalid: ${e.message}`);
      throw e;
    }
    return { amount, currency };
  }

  retrieveSource(id: string): SourceRec {
    const s = this.sources.get(id);
    if (!s) throw notFound('source', id);
    return s;
  }

  // ---- charges ----

  createCharge(params: Params, ip: string | null): ChargeRec {
    rejectUnknown(params, CHARGE_PARAMS);
    const now = this.now();
    let source: SourceRec;
    let amount: number;
    let currency: Currency;
    if (typeof params.source === 'string') {
      const s = this.sources.get(params.source);
      if (!s) throw invalidCharge('source was not found');
      ({ amount, currency } = this.checkMoney(params, s.type ?? DEFAULT_METHOD, invalidCharge));
      if (s.chargeId) throw invalidCharge('source has already been used');
      if (s.amount !== amount || s.currency !== currency) throw invalidCharge('amount and currency must match the source');
      source = s;
    } else if (params.source && typeof params.source === 'object' && !Array.isArray(params.source)) {
      const inline = params.source as Params;
      rejectUnknown(inline, new Set(['type']));
      const type = this.methodOf(inline.type, (m) => invalidCharge(`source ${m}`));
      ({ amount, currency } = this.checkMoney(params, type, invalidCharge));
      source = { id: this.ids.id('src', now), type, amount, currency, createdMs: now, ip, chargeId: null };
      this.sources.set(source.id, source);
    } else throw invalidCharge('source is required');
    const metadata = parseMetadata(params.metadata);
    let description: string | null = null;
    if (params.description !== undefined) {
      if (typeof params.description !== 'string' || params.description.length > 255) throw badRequest('description must be a string of at most 255 characters');
      description = params.description;
    }
    let expiresMs = now + this.o.chargeTtlMs;
    const requested = parseTime(params.expires_at, 'expires_at');
    if (requested !== undefined) {
      if (requested <= now) throw invalidCharge('expires_at must be in the future');
      if (requested > now + 10 * DAY_MS) throw invalidCharge('expires_at must be within 10 days');
      expiresMs = requested;
    }
    const id = this.ids.id('chrg', now);
    const fees = computeFees(amount, this.o.country);
    const rec: ChargeRec = {
      id,
      seq: this.nextSeq(),
      amount,
      currency,
      source,
      docId: this.ids.id('docu', now),
      docToken: this.ids.downloadToken(),
      payload: qrPayload({ method: source.type ?? DEFAULT_METHOD, amount, currency, reference: this.ids.alnum(24), expiresMs, merchantName: 'QRPOS TEST SHOP' }),
      svgStyle: this.o.svgStyle === 'rotate' ? SVG_STYLES[this.styleTurn++ % SVG_STYLES.length] : this.o.svgStyle,
      createdMs: now,
      expiresMs,
      paidMs: null,
      expiredMs: null,
      status: 'pending',
      failureCode: null,
      failureMessage: null,
      description,
      metadata,
      refundIds: [],
      refundedAmount: 0,
      voided: false,
      transaction: null,
      fee: fees.fee,
      feeVat: fees.fee_vat,
      net: fees.net,
    };
    source.chargeId = id;
    this.charges.set(id, rec);
    this.pending.add(id);
    this.emitCharge('charge.create', rec);
    this.o.onChange();
    return rec;
  }

  /** Applies expiry at expires_at; every read goes through here so no sweep is needed to be right. */
  getCharge(id: string): ChargeRec {
    const c = this.charges.get(id);
    if (!c) throw notFound('charge', id);
    this.expireIfDue(c);
    return c;
  }

  expireIfDue(c: ChargeRec): void {
    if (c.status !== 'pending' || this.now() < c.expiresMs) return;
    this.finish(c, 'expired', 'payment_expired');
  }

  sweepExpired(): void {
    const now = this.now();
    for (const id of this.pending) {
      const c = this.charges.get(id);
      if (c && now >= c.expiresMs) this.expireIfDue(c);
    }
  }

  private finish(c: ChargeRec, status: ChargeEnding, failureCode: string | null): void {
    const now = this.now();
    c.status = status;
    this.pending.delete(c.id);
    if (status === 'successful') {
      c.paidMs = now;
      c.transaction = this.ids.id('trxn', now);
    } else {
      c.failureCode = failureCode;
      c.failureMessage = failureCode ? (FAILURE_MESSAGES[failureCode] ?? failureCode) : null;
      if (status === 'expired') c.expiredMs = Math.min(now, Math.max(c.expiresMs, c.createdMs));
    }
    this.emitCharge('charge.complete', c);
    this.o.onChange();
  }

  /** PATCH /charges/:id: description and metadata (given metadata replaces the old); emits charge.update. */
  updateCharge(id: string, params: Params): ChargeRec {
    rejectUnknown(params, UPDATE_PARAMS);
    const c = this.getCharge(id);
    if (params.description !== undefined) {
      if (params.description !== null && (typeof params.description !== 'string' || params.description.length > 255)) {
        throw badRequest('description must be a string of at most 255 characters');
      }
      c.description = params.description === '' ? null : (params.description);
    }
    if (params.metadata !== undefined) c.metadata = parseMetadata(params.metadata);
    this.emitCharge('charge.update', c);
    this.o.onChange();
    return c;
  }

  /** The events about one charge (its own and its refunds'), for GET /charges/:id/events. */
  eventsOfCharge(id: string): EventRec[] {
    const c = this.getCharge(id);
    const out: EventRec[] = [];
    for (const e of this.events.values()) {
      if (e.data.kind === 'charge' ? e.data.charge.id === c.id : e.data.refund.chargeId === c.id) out.push(e);
    }
    return out;
  }

  expireCharge(id: string): ChargeRec {
    const c = this.getCharge(id);
    if (c.status !== 'pending') throw new SimError(400, 'failed_expire', `charge ${c.status === 'expired' ? 'has already expired' : `is ${c.status} and cannot be expired`}`);
    const now = this.now();
    c.status = 'expired';
    c.expiredMs = now;
    this.pending.delete(c.id);
    this.emitCharge('charge.complete', c);
    this.o.onChange();
    return c;
  }

  markAsPaid(id: string): ChargeRec {
    const c = this.getCharge(id);
    if (c.status !== 'pending') throw invalidCharge(`charge is ${c.status}, not pending`);
    this.finish(c, 'successful', null);
    return c;
  }

  markAsFailed(id: string, params: Params): ChargeRec {
    rejectUnknown(params, new Set(['failure_code']));
    const code = params.failure_code === undefined || params.failure_code === '' ? 'failed_processing' : params.failure_code;
    if (!isFailureCode(code)) throw badRequest(`failure_code must be one of ${FAILURE_CODES.join(', ')}`);
    const c = this.getCharge(id);
    const method = methodOf(c);
    if (!methodInfo(method).failureCodes.includes(code)) {
      throw badRequest(`failure_code must be one of ${methodInfo(method).failureCodes.join(', ')} for ${methodName(method)}`);
    }
    if (c.status !== 'pending') throw invalidCharge(`charge is ${c.status}, not pending`);
    this.finish(c, 'failed', code);
    return c;
  }

  // ---- refunds ----

  /** The void window closes at 16:15 UTC on the UTC date the charge was created. */
  voidDeadline(c: ChargeRec): number {
    return Math.floor(c.createdMs / DAY_MS) * DAY_MS + VOID_CUTOFF_MS;
  }

  private remaining(c: ChargeRec): number {
    return c.amount - c.refundedAmount;
  }

  private refundable(c: ChargeRec, now: number): boolean {
    const rule = methodInfo(methodOf(c)).refund;
    return rule !== null && c.status === 'successful' && this.remaining(c) > 0 && c.paidMs !== null && now - c.paidMs <= rule.windowDays * DAY_MS;
  }

  private canVoid(c: ChargeRec, now: number): boolean {
    return methodInfo(methodOf(c)).voidable && this.refundable(c, now) && now < this.voidDeadline(c);
  }

  createRefund(chargeId: string, params: Params): RefundRec {
    rejectUnknown(params, REFUND_PARAMS);
    const amount = parseAmount(params.amount);
    const wantVoid = parseBool(params.void, 'void');
    const metadata = parseMetadata(params.metadata);
    const c = this.getCharge(chargeId);
    const now = this.now();
    if (c.status !== 'successful') throw new SimError(400, 'failed_refund', `charge is ${c.status} and cannot be refunded`);
    if (amount < 1) throw new SimError(400, 'failed_refund', 'amount must be greater than 0');
    if (amount > this.remaining(c)) throw new SimError(400, 'failed_refund', 'amount is greater than the amount left to refund');
    const method = methodOf(c);
    const rule = methodInfo(method).refund;
    if (!rule) throw new SimError(400, 'failed_refund', `${methodName(method)} charges cannot be refunded`);
    if (!rule.partial && amount !== c.amount) throw new SimError(400, 'failed_refund', `${methodName(method)} charges can only be refunded in full`);
    if (!this.refundable(c, now)) throw new SimError(400, 'failed_refund', `charge can no longer be refunded (more than ${rule.windowDays} days)`);
    if (wantVoid && !methodInfo(method).voidable) throw new SimError(400, 'failed_refund', `${methodName(method)} charges cannot be voided`);
    const isVoid = this.canVoid(c, now);
    if (wantVoid && !isVoid) throw new SimError(400, 'failed_refund', 'charge can no longer be voided (after 16:15 UTC on the transaction date)');
    const r: RefundRec = {
      id: this.ids.id('rfnd', now),
      seq: this.nextSeq(),
      chargeId: c.id,
      amount,
      currency: c.currency,
      voided: isVoid,
      metadata,
      createdMs: now,
      transaction: this.ids.id('trxn', now),
    };
    this.refunds.set(r.id, r);
    c.refundIds.push(r.id);
    c.refundedAmount += amount;
    if (isVoid) c.voided = true;
    this.emit('refund.create', { kind: 'refund', refund: r });
    this.emitCharge('charge.update', c);
    this.o.onChange();
    return r;
  }

  getRefund(chargeId: string, refundId: string): RefundRec {
    const r = this.refunds.get(refundId);
    if (!r || r.chargeId !== chargeId) throw notFound('refund', refundId);
    return r;
  }

  // ---- events ----

  private emitCharge(key: EventKey, c: ChargeRec): void {
    this.emit(key, { kind: 'charge', charge: { ...c, refundIds: c.refundIds.slice() }, atMs: this.now() });
  }

  private emit(key: EventKey, data: EventData): void {
    const now = this.now();
    const ev: EventRec = { id: this.ids.id('evnt', now), seq: this.nextSeq(), key, createdMs: now, data, deliveries: [] };
    this.events.set(ev.id, ev);
    this.o.onEvent(ev);
  }

  getEvent(id: string): EventRec {
    const e = this.events.get(id);
    if (!e) throw notFound('event', id);
    return e;
  }

  newDeliveryId(): string {
    return this.ids.id('whdl', this.now());
  }

  // ---- rendering (the seed's shapes) ----

  renderSource(s: SourceRec): OmiseSource {
    const c = s.chargeId ? this.charges.get(s.chargeId) : undefined;
    return this.renderSourceOf(s, c);
  }

  private renderSourceOf(s: SourceRec, c: ChargeRec | undefined): OmiseSource {
    const base = this.o.publicBase();
    return {
      object: 'source',
      id: s.id,
      livemode: false,
      location: `/sources/${s.id}`,
      amount: s.amount,
      barcode: null,
      bank: null,
      created_at: omiseTime(s.createdMs),
      currency: s.currency,
      email: null,
      flow: 'offline',
      installment_term: null,
      ip: s.ip,
      absorption_type: null,
      name: null,
      mobile_number: null,
      phone_number: null,
      platform_type: null,
      scannable_code: c
        ? {
            object: 'barcode',
            type: 'qr',
            image: {
              object: 'document',
              livemode: false,
              id: c.docId,
              deleted: false,
              filename: `qrcode.${methodInfo(s.type ?? DEFAULT_METHOD).document}`,
              location: `/charges/${c.id}/documents/${c.docId}`,
              kind: 'qr',
              download_uri: `${base}/charges/${c.id}/documents/${c.docId}/downloads/${c.docToken}`,
              created_at: omiseTime(c.createdMs),
            },
          }
        : null,
      billing: null,
      shipping: null,
      items: [],
      references: null,
      provider_references: null,
      store_id: null,
      store_name: null,
      terminal_id: null,
      type: s.type ?? DEFAULT_METHOD,
      zero_interest_installments: null,
      charge_status: c ? c.status : 'unknown',
      receipt_amount: null,
      discounts: [],
      promotion_code: null,
    };
  }

  renderRefund(r: RefundRec): OmiseRefund {
    return {
      object: 'refund',
      id: r.id,
      location: `/charges/${r.chargeId}/refunds/${r.id}`,
      amount: r.amount,
      currency: r.currency,
      charge: r.chargeId,
      transaction: r.transaction,
      voided: r.voided,
      status: 'closed',
      funding_amount: r.amount,
      funding_currency: r.currency,
      metadata: r.metadata,
      created_at: omiseTime(r.createdMs),
      livemode: false,
    };
  }

  /** `now` decides the time-dependent fields (refundable, can_perform_void, refunds.to). */
  renderCharge(c: ChargeRec, now = this.now()): OmiseCharge {
    const paid = c.status === 'successful';
    const fees = FEE_SCHEDULES[this.o.country];
    const refunds = c.refundIds.map((id) => this.renderRefund(this.refunds.get(id)!));
    const refundable = this.refundable(c, now);
    return {
      object: 'charge',
      id: c.id,
      location: `/charges/${c.id}`,
      amount: c.amount,
      acquirer_reference_number: null,
      net: c.net,
      fee: c.fee,
      fee_vat: c.feeVat,
      interest: 0,
      interest_vat: 0,
      funding_amount: c.amount,
      refunded_amount: c.refundedAmount,
      transaction_fees: { fee_flat: fees.feeFlat, fee_rate: fees.feeRate, vat_rate: fees.vatRate },
      platform_fee: { fixed: null, amount: null, percentage: null },
      currency: c.currency,
      funding_currency: c.currency,
      ip: null,
      refunds: {
        object: 'list',
        data: refunds,
        limit: 20,
        offset: 0,
        total: refunds.length,
        location: `/charges/${c.id}/refunds`,
        order: 'chronological',
        from: '1970-01-01T00:00:00Z',
        to: omiseTime(now),
      },
      link: null,
      description: c.description,
      metadata: c.metadata,
      card: null,
      source: this.renderSourceOf(c.source, c),
      schedule: null,
      linked_account: null,
      customer: null,
      dispute: null,
      transaction: c.transaction,
      failure_code: c.failureCode,
      failure_message: c.failureMessage,
      status: c.status,
      authorize_uri: null,
      return_uri: null,
      created_at: omiseTime(c.createdMs),
      paid_at: c.paidMs !== null ? omiseTime(c.paidMs) : null,
      authorized_at: c.paidMs !== null ? omiseTime(c.paidMs) : null,
      expires_at: omiseTime(c.expiresMs),
      expired_at: c.expiredMs !== null ? omiseTime(c.expiredMs) : null,
      reversed_at: null,
      zero_interest_installments: false,
      branch: null,
      terminal: null,
      device: null,
      authorized: paid,
      capturable: false,
      capture: true,
      disputable: false,
      livemode: false,
      refundable,
      partially_refundable: refundable && methodInfo(methodOf(c)).refund?.partial === true,
      reversed: false,
      reversible: false,
      voided: c.voided,
      paid,
      expired: c.status === 'expired',
      can_perform_void: this.canVoid(c, now),
      approval_code: null,
    };
  }

  renderChargeJson(c: ChargeRec): string {
    return JSON.stringify(this.renderCharge(c));
  }

  renderEventJson(e: EventRec, withDeliveries = true): string {
    return JSON.stringify({
      object: 'event',
      id: e.id,
      livemode: false,
      location: `/events/${e.id}`,
      key: e.key,
      data: this.eventData(e),
      created_at: omiseTime(e.createdMs),
      webhook_deliveries: withDeliveries ? e.deliveries : [],
    });
  }

  eventData(e: EventRec): OmiseCharge | OmiseRefund {
    return e.data.kind === 'charge' ? this.renderCharge(e.data.charge, e.data.atMs) : this.renderRefund(e.data.refund);
  }

  // ---- lists ----

  list<T extends { seq: number; createdMs: number }>(
    items: Iterable<T>,
    q: ListQuery,
    location: string,
  ): { page: T[]; meta: Omit<OmiseList<unknown>, 'data'> } {
    const from = Math.floor(q.fromMs / 1000) * 1000;
    const to = q.toMs;
    const matching: T[] = [];
    for (const it of items) {
      const createdSec = Math.floor(it.createdMs / 1000) * 1000;
      if (createdSec >= from && createdSec <= to) matching.push(it);
    }
    matching.sort((a, b) => (q.order === 'chronological' ? a.seq - b.seq : b.seq - a.seq));
    return {
      page: matching.slice(q.offset, q.offset + q.limit),
      meta: { object: 'list', limit: q.limit, offset: q.offset, total: matching.length, location, order: q.order, from: omiseTime(q.fromMs), to: omiseTime(q.toMs) },
    };
  }

  chargeOfDocument(chargeId: string, docId: string, token: string): ChargeRec | undefined {
    const c = this.charges.get(chargeId);
    if (!c || c.docId !== docId || c.docToken !== token) return undefined;
    return c;
  }
}
