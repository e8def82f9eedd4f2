/** Omise charge failure codes for Alipay+ MPM, and what the customer screen says about them. */
import type { Messages } from './locale';

export { LANGUAGES, type Language, type Messages } from './locale';

export const FAILURE_CODES = ['payment_expired', 'payment_rejected', 'insufficient_fund', 'failed_processing'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

const MESSAGES: Record<FailureCode, Messages> = {
  payment_expired: {
    en: 'Payment expired',
    th: 'การชำระเงินหมดอายุ',
    zh: '付款已过期',
    ms: 'Pembayaran telah tamat tempoh',
  },
  payment_rejected: {
    en: 'Payment rejected by the wallet',
    th: 'กระเป๋าเงินปฏิเสธการชำระเงิน',
    zh: '付款被钱包拒绝',
    ms: 'Pembayaran ditolak oleh e-dompet',
  },
  insufficient_fund: {
    en: 'Insufficient funds or limit reached',
    th: 'ยอดเงินไม่เพียงพอหรือเกินวงเงิน',
    zh: '余额不足或超出限额',
    ms: 'Baki tidak mencukupi atau had telah dicapai',
  },
  failed_processing: {
    en: 'Payment could not be processed',
    th: 'ไม่สามารถดำเนินการชำระเงินได้',
    zh: '付款处理失败',
    ms: 'Pembayaran tidak dapat diproses',
  },
};

/** Same words as the "failed" result title (src/terminal/screens/strings.ts). */
const UNKNOWN: Messages = { en: 'Payment failed', th: 'ชำระเงินไม่สำเร็จ', zh: '付款失败', ms: 'Pembayaran gagal' };

export function isFailureCode(code: unknown): code is FailureCode {
  return typeof code === 'string' && (FAILURE_CODES as readonly string[]).includes(code);
}

/** Short customer-facing messages for a failure code; unknown or missing codes get a generic one. */
export function failureMessages(code: string | null | undefined): Messages {
  return isFailureCode(code) ? MESSAGES[code] : UNKNOWN;
}
