/**
 * The payment methods qrpos creates charges with (Omise source types), and each one's rules: the
 * countries it works in, its amount limits, its QR document's format and payload, which failure
 * codes Omise ends its charges with, and whether (and how long) it can be refunded or voided.
 * The one home of these rules; docs/payment-methods.md says where each fact came from.
 *
 * All four are merchant-presented QR codes on the same flow: charge → `source.scannable_code`
 * → the customer scans → `charge.complete`.
 */
import { AmountError, countryOf, formatMoney, limitsOf, type Country, type Currency } from './money';
import type { FailureCode } from './failure';
import { walletsFor } from './wallets';

export const PAYMENT_METHODS = ['alipayplus_mpm', 'promptpay', 'paynow', 'wechat_pay_mpm'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** The method of a sale stored without one (everything before there were several). */
export const DEFAULT_METHOD: PaymentMethod = 'alipayplus_mpm';

/** What the QR payload is: an HTTPS URL (Alipay+), an EMVCo merchant-presented TLV string with a CRC, or a WeChat Pay URL. */
export type PayloadKind = 'https-url' | 'emvco' | 'weixin-url';

export interface RefundRule {
  /** A refund may be less than what is left. */
  readonly partial: boolean;
  /** Days after the payment within which a refund is accepted. */
  readonly windowDays: number;
}

interface MethodInfo {
  /** The brand name a cashier and a customer know. */
  readonly name: string;
  /** One short word for narrow screens and receipts. */
  readonly short: string;
  readonly countries: readonly Country[];
  /** Inclusive, smallest unit; null: the currency's limits in money.ts (Alipay+ MPM's own). */
  readonly limits: { readonly min: number; readonly max: number } | null;
  /** The QR document's file format at `scannable_code.image` (its `filename` is `qrcode.<format>`). */
  readonly document: 'svg' | 'png';
  readonly payload: PayloadKind;
  readonly failureCodes: readonly FailureCode[];
  /** null: Omise does not refund this method; refund the customer another way. */
  readonly refund: RefundRule | null;
  /** Whether a full refund on the charge's day is a void (until 16:15 UTC). */
  readonly voidable: boolean;
}

const METHODS: Record<PaymentMethod, MethodInfo> = {
  alipayplus_mpm: {
    name: 'Alipay+',
    short: 'Alipay+',
    countries: ['TH', 'SG', 'MY'],
    limits: null,
    document: 'svg',
    payload: 'https-url',
    failureCodes: ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing'],
    refund: { partial: true, windowDays: 365 },
    voidable: true,
  },
  promptpay: {
    name: 'PromptPay',
    short: 'PromptPay',
    countries: ['TH'],
    limits: { min: 2_000, max: 15_000_000 },
    document: 'svg',
    payload: 'emvco',
    failureCodes: ['payment_expired', 'payment_rejected', 'failed_processing'],
    refund: null,
    voidable: false,
  },
  paynow: {
    name: 'PayNow',
    short: 'PayNow',
    countries: ['SG'],
    limits: { min: 100, max: 20_000_000 },
    document: 'png',
    payload: 'emvco',
    failureCodes: ['payment_expired', 'payment_rejected', 'failed_processing'],
    refund: { partial: true, windowDays: 180 },
    voidable: false,
  },
  wechat_pay_mpm: {
    name: 'WeChat Pay',
    short: 'WeChat',
    countries: ['TH'],
    limits: { min: 2_000, max: 15_000_000 },
    document: 'svg',
    payload: 'weixin-url',
    failureCodes: ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing'],
    refund: { partial: true, windowDays: 365 },
    voidable: false,
  },
};

export function isPaymentMethod(value: unknown): value is PaymentMethod {
  return typeof value === 'string' && (PAYMENT_METHODS as readonly string[]).includes(value);
}

export function methodInfo(method: PaymentMethod): MethodInfo {
  return METHODS[method];
}

export function methodName(method: PaymentMethod): string {
  return METHODS[method].name;
}

/** Methods Omise offers to a merchant in `country`, in the table's order. */
export function methodsFor(country: Country): PaymentMethod[] {
  return PAYMENT_METHODS.filter((m) => METHODS[m].countries.includes(country));
}

export function methodWorksIn(method: PaymentMethod, country: Country): boolean {
  return METHODS[method].countries.includes(country);
}

/** The amount limits of `method` in `currency` (inclusive, smallest unit). */
export function methodLimits(method: PaymentMethod, currency: Currency): { min: number; max: number } {
  return METHODS[method].limits ?? limitsOf(currency);
}

/** The widest range any of `methods` accepts (for keying an amount before the method is picked). */
export function widestLimits(methods: readonly PaymentMethod[], currency: Currency): { min: number; max: number } {
  const all = (methods.length ? methods : [DEFAULT_METHOD]).map((m) => methodLimits(m, currency));
  return { min: Math.min(...all.map((l) => l.min)), max: Math.max(...all.map((l) => l.max)) };
}

export class MethodError extends Error {
  constructor(
    message: string,
    readonly code: 'method_not_available',
  ) {
    super(message);
    this.name = 'MethodError';
  }
}

/**
 * Checks a sale before anything is sent: the method works in the currency's country and the
 * amount is within the method's limits. Messages name the method and the limit in display form.
 */
export function checkMethodAmount(method: PaymentMethod, amount: number, currency: Currency): void {
  const country = countryOf(currency);
  if (!methodWorksIn(method, country)) {
    throw new MethodError(`${methodName(method)} is not offered in ${country} (${currency})`, 'method_not_available');
  }
  if (!Number.isSafeInteger(amount)) throw new AmountError(`amount must be an integer, got ${String(amount)}`, 'invalid_amount');
  const { min, max } = methodLimits(method, currency);
  // The currency's own limits (Alipay+) read as before; a method's own limits say whose they are.
  const whose = METHODS[method].limits ? ` for ${methodName(method)}` : '';
  if (amount < min) throw new AmountError(`Minimum${whose} is ${formatMoney(min, currency)}`, 'below_minimum');
  if (amount > max) throw new AmountError(`Maximum${whose} is ${formatMoney(max, currency)}`, 'above_maximum');
}

/** Whether a failure code is one Omise ends this method's charges with. */
export function isMethodFailureCode(method: PaymentMethod, code: string): code is FailureCode {
  return (METHODS[method].failureCodes as readonly string[]).includes(code);
}

/** Why a paid sale of this method cannot be refunded (null: it can be, within its window). */
export function refundRefusal(method: PaymentMethod): string | null {
  return METHODS[method].refund ? null : `${methodName(method)} payments cannot be refunded through Omise: refund the customer another way`;
}

/** What the customer can pay a QR of this method with, as the QR screen lists it. */
export function appsFor(method: PaymentMethod, country: Country): string[] {
  switch (method) {
    case 'alipayplus_mpm':
      return walletsFor(country);
    case 'promptpay':
      return ['PromptPay', 'Thai bank apps'];
    case 'paynow':
      return ['PayNow', 'Singapore bank apps'];
    case 'wechat_pay_mpm':
      return ['WeChat Pay'];
  }
}
