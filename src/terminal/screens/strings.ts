/**
 * Every fixed customer-facing text, in each customer language (English, Thai, Simplified
 * Chinese, Malay): the one home for these words. A screen shows the terminal country's
 * languages in the country's order (src/domain/locale.ts). Failure reasons from Omise live with
 * their codes in src/domain/failure.ts. Operator-only text (status strip, supervisor menu) is
 * English and comes from the state machine.
 *
 * The same thing has the same name everywhere: the result titles below are also what the
 * receipt, the pole display and the supervisor screens should call the outcome (OUTCOME_NAME).
 */
import type { PaymentMethod } from '../../domain/methods';
import type { Messages } from '../../domain/locale';

export const SCAN_PROMPT: Messages = {
  en: 'Scan with an Alipay+ wallet',
  th: 'สแกนด้วยกระเป๋าเงิน Alipay+',
  zh: '请使用 Alipay+ 钱包扫码',
  ms: 'Imbas dengan e-dompet Alipay+',
};

/** The scan prompt of a method other than Alipay+ (whose prompt is SCAN_PROMPT). */
export const SCAN_WITH: Record<Exclude<PaymentMethod, 'alipayplus_mpm'>, Messages> = {
  promptpay: { en: 'Scan with your bank app (PromptPay)', th: 'สแกนด้วยแอปธนาคาร (พร้อมเพย์)', zh: '请使用银行应用扫码（PromptPay）', ms: 'Imbas dengan aplikasi bank (PromptPay)' },
  paynow: { en: 'Scan with your bank app (PayNow)', th: 'สแกนด้วยแอปธนาคาร (PayNow)', zh: '请使用银行应用扫码（PayNow）', ms: 'Imbas dengan aplikasi bank (PayNow)' },
  wechat_pay_mpm: { en: 'Scan with WeChat', th: 'สแกนด้วย WeChat', zh: '请使用微信扫码支付', ms: 'Imbas dengan WeChat' },
};

/** Above the method picker on a screen large enough for the customer to choose. */
export const CHOOSE_METHOD: Messages = { en: 'How would you like to pay?', th: 'ต้องการชำระเงินด้วยวิธีใด', zh: '请选择付款方式', ms: 'Bagaimana anda mahu membayar?' };

export const AMOUNT_LABEL: Messages = { en: 'Amount', th: 'ยอดเงิน', zh: '金额', ms: 'Jumlah' };

export const CREATING: Messages = {
  en: 'Creating QR code…',
  th: 'กำลังสร้างคิวอาร์โค้ด…',
  zh: '正在生成二维码…',
  ms: 'Menjana kod QR…',
};

export const OFFLINE: Messages = { en: 'Offline', th: 'ออฟไลน์', zh: '离线', ms: 'Luar talian' };

export const OFFLINE_DETAIL: Messages = {
  en: 'QR payments are unavailable right now',
  th: 'ไม่สามารถรับชำระด้วยคิวอาร์โค้ดได้ในขณะนี้',
  zh: '暂时无法使用二维码付款',
  ms: 'Pembayaran QR tidak tersedia buat masa ini',
};

/**
 * On the QR screen while the link to the relay is down. The QR stays: a customer who has not
 * paid yet can still pay, and a payment made now is confirmed when the link is back.
 */
export const CONNECTION_LOST: Messages = {
  en: 'Connection lost. Already paid? Please wait: your payment is safe.',
  th: 'ขาดการเชื่อมต่อ หากชำระเงินแล้ว โปรดรอสักครู่ เงินของคุณปลอดภัย',
  zh: '网络连接中断。如已付款，请稍候：您的付款是安全的。',
  ms: 'Talian terputus. Sudah membayar? Sila tunggu: bayaran anda selamat.',
};

export type Outcome = 'paid' | 'failed' | 'expired' | 'cancelled' | 'late_paid' | 'not_created';

/** Result screen titles: short, so the main language's title can be shown large (1 m away). */
export const OUTCOME_TITLE: Record<Outcome, Messages> = {
  paid: { en: 'Paid', th: 'ชำระเงินแล้ว', zh: '付款成功', ms: 'Dibayar' },
  failed: { en: 'Payment failed', th: 'ชำระเงินไม่สำเร็จ', zh: '付款失败', ms: 'Pembayaran gagal' },
  expired: { en: 'QR code expired', th: 'คิวอาร์โค้ดหมดอายุ', zh: '二维码已过期', ms: 'Kod QR tamat tempoh' },
  cancelled: { en: 'Cancelled', th: 'ยกเลิกแล้ว', zh: '已取消', ms: 'Dibatalkan' },
  late_paid: { en: 'Late payment', th: 'ชำระเงินล่าช้า', zh: '延迟付款', ms: 'Pembayaran lewat' },
  /** No charge could be made (rate limit, no answer, refusal): nothing was paid, nothing failed. */
  not_created: { en: 'Payment not created', th: 'สร้างรายการไม่สำเร็จ', zh: '未能创建付款', ms: 'Pembayaran tidak dibuat' },
};

/** The English outcome names, for operator text (receipts, pole display, supervisor screens). */
export const OUTCOME_NAME: Record<Outcome, string> = {
  paid: OUTCOME_TITLE.paid.en,
  failed: OUTCOME_TITLE.failed.en,
  expired: OUTCOME_TITLE.expired.en,
  cancelled: OUTCOME_TITLE.cancelled.en,
  late_paid: OUTCOME_TITLE.late_paid.en,
  not_created: OUTCOME_TITLE.not_created.en,
};

/** The way out of `not_created`, shown with whatever reason is given. */
export const RETRY_HINT: Messages = {
  en: 'Enter to retry',
  th: 'กด Enter เพื่อลองอีกครั้ง',
  zh: '按 Enter 重试',
  ms: 'Tekan Enter untuk cuba lagi',
};

/** Shown under the title when the model gives no reason of its own. */
export const OUTCOME_DETAIL: Partial<Record<Outcome, Messages>> = {
  late_paid: {
    // No promise of a refund here: a supervisor decides (keep it as the sale, or refund it).
    en: 'Paid after cancel: please see the cashier',
    th: 'ชำระหลังยกเลิกรายการ กรุณาติดต่อพนักงาน',
    zh: '取消后付款，请联系收银员',
    ms: 'Dibayar selepas dibatalkan: sila jumpa juruwang',
  },
};
