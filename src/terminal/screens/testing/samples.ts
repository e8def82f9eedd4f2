/**
 * One example model of every screen kind, for tests, the benchmark and the demo's screen
 * gallery. Texts are realistic, including the long ones that must shrink or wrap.
 */
import { failureMessages } from '../../../domain/failure';
import { currencyOf, type Country } from '../../../domain/money';
import type { ScreenModel, StatusBar } from '../model';
import { RETRY_HINT } from '../strings';

export const SAMPLE_STATUS: StatusBar = { online: true, unsynced: 0, clock: '14:05' };

/** Shaped like Alipay+ MPM QR text: an https URL with an opaque code. */
export const SAMPLE_QR_TEXT = 'https://qr.alipay.com/bax08431yzqvtpnr6ikl00a1';

/** Amounts as the daemon formats them (formatMoney), per country. */
export const SAMPLE_AMOUNT: Record<Country, string> = { TH: '฿1,500.00', SG: 'S$20.00', MY: 'RM30.00' };

/**
 * Every screen kind; customer screens in `country`'s languages (the model's `country` is left
 * out for TH, which is also what a model without one shows).
 */
export function sampleModels(qrText = SAMPLE_QR_TEXT, country: Country = 'TH'): ScreenModel[] {
  const status = SAMPLE_STATUS;
  const c = country === 'TH' ? {} : { country };
  const amount = SAMPLE_AMOUNT[country];
  return [
    { kind: 'boot', message: 'Starting: checking the journal' },
    { kind: 'idle', merchantName: 'Baan Somtam', currencyHint: 'Key an amount in THB', status },
    { kind: 'entry', amountText: '1,500.00', currency: currencyOf(country), status, ...c },
    {
      kind: 'methods',
      amountText: amount,
      choices: [
        { key: '1', label: 'Alipay+' },
        { key: '2', label: 'PromptPay', isDefault: true },
        { key: '3', label: 'WeChat Pay' },
      ],
      error: 'Alipay+: not for this amount',
      status,
      ...c,
    },
    { kind: 'creating', amountText: amount, status, ...c },
    { kind: 'qr', merchantName: 'Baan Somtam', amountText: amount, qrText, secondsLeft: 95, totalSeconds: 120, status, ...c },
    // Another method: its own prompt and what pays it instead of the Alipay+ wallets.
    { kind: 'qr', merchantName: 'Baan Somtam', amountText: amount, qrText, secondsLeft: 95, totalSeconds: 120, method: 'promptpay', wallets: ['PromptPay', 'Thai bank apps'], status, ...c },
    // The link to the relay lost while the QR is up: the banner, and the QR still there.
    { kind: 'qr', merchantName: 'Baan Somtam', amountText: amount, qrText, secondsLeft: 95, totalSeconds: 120, status: { ...status, online: false, unsynced: 2 }, ...c },
    { kind: 'result', outcome: 'paid', amountText: amount, reference: '#12', status, ...c },
    { kind: 'result', outcome: 'failed', amountText: amount, reason: failureMessages('insufficient_fund'), reference: '#12', status, ...c },
    { kind: 'result', outcome: 'expired', amountText: amount, reference: '#12', status, ...c },
    { kind: 'result', outcome: 'cancelled', amountText: amount, reference: '#12', status, ...c },
    { kind: 'result', outcome: 'late_paid', amountText: amount, reference: '#12', status, ...c },
    { kind: 'result', outcome: 'not_created', amountText: amount, reason: RETRY_HINT, reference: '#12', status, ...c },
    { kind: 'offline', message: 'No connection to the relay.', status: { ...status, online: false, unsynced: 4 }, ...c },
    { kind: 'pairing', code: 'K7Q-4MX', relayUrl: 'https://relay.example.com:8443', message: 'Approve with: qrpos relay terminals approve K7Q-4MX' },
    {
      kind: 'error',
      title: 'Invalid configuration',
      lines: ['display.width: expected a number, got "abc"', 'keypad.device: required', 'currency: must be one of THB, SGD, MYR'],
    },
    {
      kind: 'fatal',
      title: 'Cannot start',
      reason: ['Cannot open the sales journal.'],
      action: ['Check the data folder, then reload.'],
    },
    { kind: 'pin', title: 'Supervisor PIN', entered: 2 },
    {
      kind: 'menu',
      title: 'Supervisor',
      items: [
        { key: '1', label: 'Void / refund last sale' },
        { key: '2', label: 'Refund by reference' },
        { key: '3', label: "Today's totals" },
        { key: '4', label: 'Re-pair with the relay' },
        { key: '5', label: 'Network info' },
      ],
      footer: 'Cancel to exit',
    },
    { kind: 'message', title: "Today's totals", tone: 'info', lines: ['THB paid: 12 · ฿18,450.00', 'THB failed: 1', 'THB expired: 2'] },
  ];
}
