import { describe, expect, it } from 'vitest';
import { AmountError, checkAmount, formatMoney, parseMoney, currencyOf, limitsOf } from './money';
import { failureMessages } from './failure';

describe('money', () => {
  it('formats in display form', () => {
    expect(formatMoney(150000, 'THB')).toBe('฿1,500.00');
    expect(formatMoney(2000, 'SGD')).toBe('S$20.00');
    expect(formatMoney(3000, 'MYR')).toBe('RM30.00');
    expect(formatMoney(15000000, 'THB')).toBe('฿150,000.00');
    expect(formatMoney(5, 'THB')).toBe('฿0.05');
    expect(formatMoney(-105, 'SGD')).toBe('-S$1.05');
  });

  it('parses human amounts into the smallest unit', () => {
    expect(parseMoney('1500', 'THB')).toBe(150000);
    expect(parseMoney('1,500.5', 'THB')).toBe(150050);
    expect(parseMoney('฿1,500.00', 'THB')).toBe(150000);
    expect(parseMoney('S$20', 'SGD')).toBe(2000);
    expect(parseMoney('MYR 0.07', 'MYR')).toBe(7);
    for (const bad of ['', 'abc', '1.234', '-5', '1e3', '1..2']) expect(() => parseMoney(bad, 'THB')).toThrow(AmountError);
  });

  it('enforces the per-country limits with the limit in display form', () => {
    expect(() => checkAmount(1999, 'THB')).toThrow('Minimum is ฿20.00');
    expect(() => checkAmount(15000001, 'THB')).toThrow('Maximum is ฿150,000.00');
    expect(() => checkAmount(99, 'SGD')).toThrow('Minimum is S$1.00');
    expect(() => checkAmount(2000001, 'SGD')).toThrow('Maximum is S$20,000.00');
    expect(() => checkAmount(3000001, 'MYR')).toThrow('Maximum is RM30,000.00');
    expect(() => checkAmount(100, 'USD')).toThrow(/currency/);
    expect(() => checkAmount(100.5, 'MYR')).toThrow(/integer/);
    for (const [c, min, max] of [['THB', 2000, 15000000], ['SGD', 100, 2000000], ['MYR', 100, 3000000]] as const) {
      expect(limitsOf(c)).toEqual({ min, max });
      expect(() => checkAmount(min, c)).not.toThrow();
      expect(() => checkAmount(max, c)).not.toThrow();
    }
    expect(currencyOf('TH')).toBe('THB');
  });

  it('has customer messages for every failure code in three languages', () => {
    for (const code of ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing', 'something_new', null]) {
      const m = failureMessages(code);
      expect(m.en.length).toBeGreaterThan(3);
      expect(m.th).toMatch(/[\u0E00-\u0E7F]/);
      expect(m.zh).toMatch(/[\u4E00-\u9FFF]/);
    }
    expect(failureMessages('something_new')).toEqual(failureMessages(undefined));
    expect(failureMessages('insufficient_fund').en).not.toEqual(failureMessages('payment_rejected').en);
  });
});
