/**
 * Money in qrpos is always an integer count of the currency's smallest unit
 * (satang, cents, sen). Nothing here uses floating point on amounts.
 */
export const CURRENCIES = ['THB', 'SGD', 'MYR'] as const;
export type Currency = (typeof CURRENCIES)[number];

export const COUNTRIES = ['TH', 'SG', 'MY'] as const;
export type Country = (typeof COUNTRIES)[number];

interface CurrencyInfo {
  readonly country: Country;
  readonly symbol: string;
  /** Digits after the decimal point (all three use 2). */
  readonly exponent: number;
  /** Inclusive Alipay+ MPM limits from the specification, in the smallest unit. */
  readonly min: number;
  readonly max: number;
}

const INFO: Record<Currency, CurrencyInfo> = {
  THB: { country: 'TH', symbol: '฿', exponent: 2, min: 2000, max: 15_000_000 },
  SGD: { country: 'SG', symbol: 'S$', exponent: 2, min: 100, max: 2_000_000 },
  MYR: { country: 'MY', symbol: 'RM', exponent: 2, min: 100, max: 3_000_000 },
};

const COUNTRY_CURRENCY: Record<Country, Currency> = { TH: 'THB', SG: 'SGD', MY: 'MYR' };

export function isCurrency(value: unknown): value is Currency {
  return typeof value === 'string' && (CURRENCIES as readonly string[]).includes(value);
}

export function isCountry(value: unknown): value is Country {
  return typeof value === 'string' && (COUNTRIES as readonly string[]).includes(value);
}

export function currencyOf(country: Country): Currency {
  return COUNTRY_CURRENCY[country];
}

export function countryOf(currency: Currency): Country {
  return INFO[currency].country;
}

export function currencyInfo(currency: Currency): CurrencyInfo {
  return INFO[currency];
}

export function limitsOf(currency: Currency): { min: number; max: number } {
  const { min, max } = INFO[currency];
  return { min, max };
}

/** Digits with thousands separators and fixed decimals, no symbol: 150000 → "1,500.00". */
export function formatNumber(amount: number, currency: Currency): string {
  assertAmountInteger(amount);
  const { exponent } = INFO[currency];
  const negative = amount < 0;
  const abs = Math.abs(amount);
  const unit = 10 ** exponent;
  const whole = Math.floor(abs / unit);
  const frac = abs % unit;
  const wholeText = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const text = exponent > 0 ? `${wholeText}.${frac.toString().padStart(exponent, '0')}` : wholeText;
  return negative ? `-${text}` : text;
}

/** Display form with the currency symbol: 150000 THB → "฿1,500.00", 2000 SGD → "S$20.00". */
export function formatMoney(amount: number, currency: Currency): string {
  const text = formatNumber(Math.abs(amount), currency);
  return `${amount < 0 ? '-' : ''}${INFO[currency].symbol}${text}`;
}

/** Display form with the ISO code, for receipts and logs: "THB 1,500.00". */
export function formatMoneyCode(amount: number, currency: Currency): string {
  return `${currency} ${formatNumber(amount, currency)}`;
}

export class AmountError extends Error {
  constructor(
    message: string,
    readonly code: 'invalid_amount' | 'below_minimum' | 'above_maximum' | 'invalid_currency',
  ) {
    super(message);
    this.name = 'AmountError';
  }
}

function assertAmountInteger(amount: number): void {
  if (!Number.isSafeInteger(amount)) throw new AmountError(`amount must be an integer, got ${String(amount)}`, 'invalid_amount');
}

/**
 * Parse a human amount in major units ("1500", "1,500.5", "฿1,500.00", "20.00") into the
 * smallest unit. Rejects more decimals than the currency has, signs and garbage.
 */
export function parseMoney(text: string, currency: Currency): number {
  const { exponent, symbol } = INFO[currency];
  let t = text.trim();
  if (t.startsWith(symbol)) t = t.slice(symbol.length);
  else if (t.toUpperCase().startsWith(currency)) t = t.slice(currency.length);
  t = t.trim().replace(/,(?=\d{3}(\D|$))/g, '');
  const m = /^(\d+)(?:\.(\d*))?$/.exec(t);
  if (!m) throw new AmountError(`not an amount: "${text}"`, 'invalid_amount');
  const frac = m[2] ?? '';
  if (frac.length > exponent) {
    throw new AmountError(`${currency} amounts have at most ${exponent} decimals: "${text}"`, 'invalid_amount');
  }
  const value = Number(m[1]) * 10 ** exponent + Number(frac.padEnd(exponent, '0') || '0');
  if (!Number.isSafeInteger(value)) throw new AmountError(`amount too large: "${text}"`, 'invalid_amount');
  return value;
}

/**
 * Check an amount against the Alipay+ MPM limits of its currency. The message names the
 * limit in display form, e.g. "Minimum is ฿20.00".
 */
export function checkAmount(amount: number, currency: string): void {
  if (!isCurrency(currency)) {
    throw new AmountError(`currency must be one of ${CURRENCIES.join(', ')}, got "${currency}"`, 'invalid_currency');
  }
  assertAmountInteger(amount);
  const { min, max } = INFO[currency];
  if (amount < min) throw new AmountError(`Minimum is ${formatMoney(min, currency)}`, 'below_minimum');
  if (amount > max) throw new AmountError(`Maximum is ${formatMoney(max, currency)}`, 'above_maximum');
}
