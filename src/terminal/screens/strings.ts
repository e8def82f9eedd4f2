/**
 * Fixed customer-facing text in English, Thai and Simplified Chinese (Alipay+ wallets are
 * mostly used by Chinese-speaking visitors; Thai for local customers). Operator-only text
 * (status bar, supervisor menu) is English.
 */
import type { Messages } from '../../domain/failure';

export const SCAN_PROMPT: Messages = {
  en: 'Scan with an Alipay+ wallet',
  th: 'สแกนด้วยกระเป๋าเงิน Alipay+',
  zh: '请使用 Alipay+ 钱包扫码',
};

export const AMOUNT_LABEL: Messages = { en: 'Amount', th: 'ยอดเงิน', zh: '金额' };

export const CREATING: Messages = {
  en: 'Creating QR code…',
  th: 'กำลังสร้างคิวอาร์โค้ด…',
  zh: '正在生成二维码…',
};

export const OFFLINE: Messages = { en: 'Offline', th: 'ออฟไลน์', zh: '离线' };

export const OFFLINE_DETAIL: Messages = {
  en: 'QR payments are unavailable right now',
  th: 'ไม่สามารถรับชำระด้วยคิวอาร์โค้ดได้ในขณะนี้',
  zh: '暂时无法使用二维码付款',
};

export type Outcome = 'paid' | 'failed' | 'expired' | 'cancelled' | 'late_paid' | 'not_created';

export const OUTCOME_TITLE: Record<Outcome, Messages> = {
  paid: { en: 'Paid', th: 'ชำระเงินแล้ว', zh: '付款成功' },
  failed: { en: 'Payment failed', th: 'การชำระเงินไม่สำเร็จ', zh: '付款失败' },
  expired: { en: 'QR code expired', th: 'คิวอาร์โค้ดหมดอายุ', zh: '二维码已过期' },
  cancelled: { en: 'Cancelled', th: 'ยกเลิกแล้ว', zh: '已取消' },
  late_paid: { en: 'Late payment', th: 'ชำระเงินล่าช้า', zh: '延迟付款' },
  /** No charge could be made (rate limit, no answer, refusal): nothing was paid, nothing failed. */
  not_created: { en: 'Could not create the payment', th: 'ไม่สามารถสร้างรายการชำระเงินได้', zh: '无法创建付款' },
};

/** The way out of `not_created`, shown with whatever reason is given. */
export const RETRY_HINT: Messages = { en: 'Enter to retry', th: 'กด Enter เพื่อลองอีกครั้ง', zh: '按 Enter 重试' };

/** Shown under the title when the model gives no reason of its own. */
export const OUTCOME_DETAIL: Partial<Record<Outcome, Messages>> = {
  late_paid: {
    en: 'Paid after cancel: will be refunded',
    th: 'ชำระหลังยกเลิก จะได้รับเงินคืน',
    zh: '取消后付款，款项将退回',
  },
};

export function languages(m: Messages): string[] {
  return [m.en, m.th, m.zh];
}
