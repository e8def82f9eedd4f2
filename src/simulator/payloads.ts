/**
 * What the simulator's QR codes say, per payment method: the text a wallet or bank app reads.
 *
 * - Alipay+ MPM: an HTTPS URL (the form Alipay+ documents for its order codes).
 * - PromptPay: a Thai QR Payment (EMVCo merchant-presented) payload: dynamic (01 = 12), merchant
 *   account in tag 30 (bill payment: AID A000000677010112, a 15-digit biller id, two references),
 *   currency 764, the amount, country TH, CRC in tag 63.
 * - PayNow: an SGQR / EMVCo payload: dynamic, merchant account in tag 26 (SG.PAYNOW, proxy type
 *   2 = UEN, the UEN, amount not editable, an expiry date), MCC, currency 702, the amount,
 *   country SG, merchant name and city, a bill reference in tag 62, CRC in tag 63.
 * - WeChat Pay MPM: a `weixin://wxpay/bizpayurl?pr=…` URL (WeChat Pay's native-pay code form).
 *
 * The identifiers are the simulator's own test values, not any real merchant's.
 */
import { currencyInfo, type Currency } from '../domain/money';
import type { PaymentMethod } from '../domain/methods';
import { tlv, withCrc } from '../shared/emvco';

/** A test biller id: a 13-digit tax id plus a 2-digit suffix. */
const PROMPTPAY_BILLER = '010556099999901';
/** A test UEN (Singapore business registration number form). */
const PAYNOW_UEN = '201999999Z';

function amountText(amount: number, currency: Currency): string {
  const exp = currencyInfo(currency).exponent;
  const unit = 10 ** exp;
  return `${Math.floor(amount / unit)}.${String(amount % unit).padStart(exp, '0')}`;
}

export interface PayloadInput {
  method: PaymentMethod;
  amount: number;
  currency: Currency;
  /** A unique reference for this charge (letters and digits). */
  reference: string;
  /** The charge's expiry, for PayNow's expiry date (YYYYMMDD, UTC). */
  expiresMs: number;
  merchantName: string;
}

export function qrPayload(input: PayloadInput): string {
  // EMVCo references are kept to upper-case letters and digits (alphanumeric QR mode, SGQR practice).
  const p = input.method === 'promptpay' || input.method === 'paynow' ? { ...input, reference: input.reference.toUpperCase() } : input;
  switch (p.method) {
    case 'alipayplus_mpm':
      return `https://global.alipay.com/281002040090${p.reference}`;
    case 'wechat_pay_mpm':
      return `weixin://wxpay/bizpayurl?pr=${p.reference.slice(0, 12)}`;
    case 'promptpay': {
      const account = tlv('00', 'A000000677010112') + tlv('01', PROMPTPAY_BILLER) + tlv('02', p.reference.slice(0, 20)) + tlv('03', 'QRPOS');
      return withCrc(
        tlv('00', '01') + tlv('01', '12') + tlv('30', account) + tlv('53', '764') + tlv('54', amountText(p.amount, p.currency)) + tlv('58', 'TH') + tlv('62', tlv('05', p.reference.slice(0, 25))),
      );
    }
    case 'paynow': {
      const expiry = new Date(p.expiresMs).toISOString().slice(0, 10).replace(/-/g, '');
      const account = tlv('00', 'SG.PAYNOW') + tlv('01', '2') + tlv('02', PAYNOW_UEN) + tlv('03', '0') + tlv('04', expiry);
      return withCrc(
        tlv('00', '01') +
          tlv('01', '12') +
          tlv('26', account) +
          tlv('52', '0000') +
          tlv('53', '702') +
          tlv('54', amountText(p.amount, p.currency)) +
          tlv('58', 'SG') +
          tlv('59', p.merchantName.slice(0, 25)) +
          tlv('60', 'Singapore') +
          tlv('62', tlv('01', p.reference.slice(0, 25))),
      );
    }
  }
}
