/** Omise charge failure codes for Alipay+ MPM, and what the customer screen says about them. */
export const FAILURE_CODES = ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export type Language = 'en' | 'th' | 'zh';
export const LANGUAGES: readonly Language[] = ['en', 'th', 'zh'];

export type Messages = Record<Language, string>;

const MESSAGES: Record<FailureCode, Messages> = {
  payment_expired: { en: 'Payment expired', th: 'การชำระเงินหมดอายุ', zh: '付款已过期' },
  payment_rejected: { en: 'Payment rejected by the wallet', th: 'การชำระเงินถูกปฏิเสธ', zh: '付款被拒绝' },
  insufficient_fund: { en: 'Insufficient funds or limit reached', th: 'ยอดเงินไม่เพียงพอ', zh: '余额不足或超出限额' },
  failed_processing: { en: 'Payment could not be processed', th: 'ไม่สามารถดำเนินการชำระเงินได้', zh: '付款处理失败' },
};

const UNKNOWN: Messages = { en: 'Payment failed', th: 'การชำระเงินล้มเหลว', zh: '付款失败' };

export function isFailureCode(code: unknown): code is FailureCode {
  return typeof code === 'string' && (FAILURE_CODES as readonly string[]).includes(code);
}

/** Short customer-facing messages for a failure code; unknown or missing codes get a generic one. */
export function failureMessages(code: string | null | undefined): Messages {
  return isFailureCode(code) ? MESSAGES[code] : UNKNOWN;
}
