import { describe, expect, it } from 'vitest';
import type { SaleRow } from './store';
import { canVoid, refundDeadline, voidDeadline } from './views';

const sale = (over: Partial<SaleRow>): SaleRow => ({
  terminalId: 't', saleId: 'saleid01', method: 'alipayplus_mpm', amount: 5000, currency: 'THB', description: null, terminalCreatedAt: null, status: 'successful',
  chargeId: 'chrg_test_1', createAttempts: 1, lastAttemptAt: null, createUncertain: false, orphanCheckedAt: null, qrText: null, qrSvg: null,
  failureCode: null, failureMessage: null, errorCode: null, errorMessage: null, chargeCreatedAt: '2026-03-10T09:00:00.000Z',
  chargeExpiresAt: null, paidAt: '2026-03-10T09:01:00.000Z', expireRequested: false, refundedAmount: 0, checkedAt: null,
  createdAt: '2026-03-10T09:00:00.000Z', updatedAt: '2026-03-10T09:01:00.000Z', ...over,
});

describe('void and refund windows', () => {
  it('voids until 16:15 UTC on the charge’s UTC day', () => {
    expect(voidDeadline('2026-03-10T23:59:00.000Z').toISOString()).toBe('2026-03-10T16:15:00.000Z');
    expect(canVoid(sale({}), new Date('2026-03-10T16:14:59.999Z'))).toBe(true);
    expect(canVoid(sale({}), new Date('2026-03-10T16:15:00.000Z'))).toBe(false);
    // A charge made after the cut-off cannot be voided at all.
    expect(canVoid(sale({ chargeCreatedAt: '2026-03-10T16:30:00.000Z' }), new Date('2026-03-10T16:31:00.000Z'))).toBe(false);
  });

  it('voids only paid sales with something left', () => {
    const now = new Date('2026-03-10T10:00:00.000Z');
    expect(canVoid(sale({ status: 'pending' }), now)).toBe(false);
    expect(canVoid(sale({ refundedAmount: 5000 }), now)).toBe(false);
  });

  it('refunds for one year after payment (leap day safe)', () => {
    expect(refundDeadline('2026-03-10T09:01:00.000Z')!.toISOString()).toBe('2027-03-10T09:01:00.000Z');
    expect(refundDeadline('2028-02-29T12:00:00.000Z')!.toISOString()).toBe('2029-03-01T12:00:00.000Z');
  });

  it('follows each method: PromptPay is never refunded, PayNow within 180 days, only Alipay+ is voided', () => {
    expect(refundDeadline('2026-03-10T09:01:00.000Z', 'promptpay')).toBeNull();
    expect(refundDeadline('2026-03-10T09:01:00.000Z', 'paynow')!.toISOString()).toBe('2026-09-06T09:01:00.000Z');
    expect(refundDeadline('2026-03-10T09:01:00.000Z', 'wechat_pay_mpm')!.toISOString()).toBe('2027-03-10T09:01:00.000Z');
    const before = new Date('2026-03-10T10:00:00.000Z');
    expect(canVoid(sale({ method: 'alipayplus_mpm' }), before)).toBe(true);
    for (const method of ['promptpay', 'paynow', 'wechat_pay_mpm'] as const) expect(canVoid(sale({ method }), before), method).toBe(false);
  });
});
