/** Turning stored rows into the link protocol's views, and the void/refund windows. */
import type { RefundView, SaleView } from '../link/protocol';
import type { RefundRow, SaleRow } from './store';
import { DEFAULT_METHOD, methodInfo, type PaymentMethod } from '../domain/methods';

/** When a void stops being possible: 16:15 UTC on the UTC day of the charge. */
export function voidDeadline(chargeCreatedAt: string): Date {
  const d = new Date(chargeCreatedAt);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 16, 15, 0, 0));
}

/**
 * Refunds are possible for the method's window after the payment: one year (the same calendar day
 * a year on) for a 365-day window, otherwise that many days. Null: the method is never refunded.
 */
export function refundDeadline(paidAt: string, method: PaymentMethod = DEFAULT_METHOD): Date | null {
  const rule = methodInfo(method).refund;
  if (!rule) return null;
  const d = new Date(paidAt);
  if (rule.windowDays === 365) d.setUTCFullYear(d.getUTCFullYear() + 1);
  else d.setTime(d.getTime() + rule.windowDays * 86_400_000);
  return d;
}

export function canVoid(sale: SaleRow, now: Date): boolean {
  return (
    methodInfo(sale.method ?? DEFAULT_METHOD).voidable &&
    sale.status === 'successful' &&
    sale.chargeCreatedAt !== null &&
    sale.refundedAmount < sale.amount &&
    now.getTime() < voidDeadline(sale.chargeCreatedAt).getTime()
  );
}

export function refundView(r: RefundRow): RefundView {
  return {
    refundId: r.refundId,
    saleId: r.saleId,
    omiseRefundId: r.omiseRefundId,
    amount: r.amount,
    currency: r.currency,
    voided: r.voided,
    status: r.status,
    reason: r.reason,
    error: r.error,
    createdAt: r.createdAt,
  };
}

/**
 * The sale as the terminal sees it. Events for final sales leave the QR out (`withQr: false`):
 * it is useless then and would make every stored event several kilobytes.
 */
export function saleView(s: SaleRow, refunds: RefundRow[], now: Date, withQr = true): SaleView {
  return {
    saleId: s.saleId,
    terminalId: s.terminalId,
    method: s.method ?? DEFAULT_METHOD,
    amount: s.amount,
    currency: s.currency,
    status: s.status,
    chargeId: s.chargeId,
    qr: withQr && s.qrText !== null && s.qrSvg !== null ? { text: s.qrText, svg: s.qrSvg } : null,
    failureCode: s.failureCode,
    failureMessage: s.failureMessage,
    error: s.errorCode !== null ? { code: s.errorCode, message: s.errorMessage ?? '' } : null,
    chargeExpiresAt: s.chargeExpiresAt,
    chargeCreatedAt: s.chargeCreatedAt,
    paidAt: s.paidAt,
    expireRequested: s.expireRequested,
    refundedAmount: s.refundedAmount,
    canVoid: canVoid(s, now),
    refunds: refunds.map(refundView),
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
