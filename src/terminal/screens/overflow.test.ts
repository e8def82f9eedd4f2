import { createCanvas } from 'canvas';
import { describe, expect, it } from 'vitest';
import { FAILURE_CODES, failureMessages } from '../../domain/failure';
import { languagesOf } from '../../domain/locale';
import { COUNTRIES } from '../../domain/money';
import type { ScreenModel } from './model';
import type { TextRun } from './painter';
import { ScreenRenderer } from './renderer';
import { SAMPLE_QR_TEXT, SAMPLE_STATUS, sampleModels } from './testing/samples';

const measure = createCanvas(1, 1).getContext('2d');

/**
 * Ink extent of a run, from pango's own measurement of the drawn font and text. node-canvas
 * reports actualBoundingBoxLeft as the ink's offset to the right of the origin (checked
 * against drawn pixels), the opposite sign of the HTML spec.
 */
function extent(run: TextRun) {
  measure.font = run.font;
  const m = measure.measureText(run.text);
  return {
    left: run.x + m.actualBoundingBoxLeft,
    right: run.x + Math.max(run.width, m.actualBoundingBoxRight),
    top: run.baseline - m.actualBoundingBoxAscent,
    bottom: run.baseline + m.actualBoundingBoxDescent,
  };
}

/** Every run inside its region's box and the screen (1 px of anti-aliasing slack). */
function checkRuns(r: ScreenRenderer, label: string): void {
  expect(r.textRuns.length, label).toBeGreaterThan(0);
  for (const run of r.textRuns) {
    const e = extent(run);
    const where = `${label}: "${run.text}" (${run.font}) in ${run.region}`;
    const b = run.box;
    expect(e.left, where).toBeGreaterThanOrEqual(Math.max(0, b.x) - 1);
    expect(e.right, where).toBeLessThanOrEqual(Math.min(r.width, b.x + b.w) + 1);
    expect(e.top, where).toBeGreaterThanOrEqual(Math.max(0, b.y) - 1);
    expect(e.bottom, where).toBeLessThanOrEqual(Math.min(r.height, b.y + b.h) + 1);
    expect(measure.measureText(run.text).width, where).toBeLessThanOrEqual(b.w + 0.5);
  }
}

const LONG_NAME = 'Khun Somchai Jaidee Authentic Northeastern Thai Som Tam & Grilled Chicken Restaurant (Sukhumvit Soi 11 Branch)';
const THAI_NAME = 'ร้านส้มตำไก่ย่างเจ๊แดงสาขาสุขุมวิทซอยสิบเอ็ดตรงข้ามเซเว่นอีเลฟเว่น';

function longModels(): ScreenModel[] {
  const status = { online: false, unsynced: 123456, clock: '23:59' };
  return [
    { kind: 'idle', merchantName: LONG_NAME, currencyHint: 'Key an amount in THB, then press Enter to show the QR code', status, notice: 'The journal was corrupt and has been moved aside to /var/lib/qrpos/journal.corrupt-2026-11-26; a fresh one was started' },
    { kind: 'idle', merchantName: THAI_NAME, currencyHint: 'THB', status },
    { kind: 'idle', merchantName: '支付宝和微信支付都可以使用的非常长的中文商户名称测试店铺', currencyHint: 'THB', status },
    { kind: 'entry', amountText: '150,000.00', currency: 'THB', status, error: 'Maximum is ฿150,000.00 for Alipay+ payments in Thailand; split the sale into two payments' },
    { kind: 'entry', amountText: '20,000.00', currency: 'SGD', status },
    { kind: 'creating', amountText: '฿150,000.00', status },
    { kind: 'qr', amountText: '฿150,000.00', qrText: SAMPLE_QR_TEXT, secondsLeft: 5999, totalSeconds: 6000, status },
    { kind: 'qr', merchantName: LONG_NAME, amountText: 'RM30,000.00', qrText: SAMPLE_QR_TEXT, secondsLeft: 5999, totalSeconds: 6000, status, country: 'MY' },
    { kind: 'qr', merchantName: THAI_NAME, amountText: '฿150,000.00', qrText: SAMPLE_QR_TEXT, secondsLeft: 95, totalSeconds: 120, status: { ...status, online: true } },
    ...(['SG', 'MY'] as const).map((country): ScreenModel => ({ kind: 'result', outcome: 'not_created', amountText: 'S$20,000.00', reason: failureMessages('insufficient_fund'), reference: '#123456', status, country })),
    ...FAILURE_CODES.map((code): ScreenModel => ({ kind: 'result', outcome: 'failed', amountText: '฿150,000.00', reason: failureMessages(code), reference: 'chrg_test_5y1xq3zj4cw0kz8h2ab', status })),
    {
      kind: 'result',
      outcome: 'failed',
      amountText: 'S$20,000.00',
      reason: {
        en: 'The wallet declined the payment because the risk check failed; ask the customer to pay another way',
        th: 'กระเป๋าเงินปฏิเสธการชำระเงินเนื่องจากการตรวจสอบความเสี่ยงไม่ผ่าน โปรดให้ลูกค้าชำระด้วยวิธีอื่น',
        zh: '由于风险检查未通过，钱包拒绝了这笔付款，请让顾客使用其他方式付款',
        ms: 'E-dompet menolak pembayaran kerana semakan risiko tidak lulus; minta pelanggan membayar dengan cara lain',
      },
      status,
    },
    { kind: 'result', outcome: 'late_paid', amountText: 'RM30,000.00', reference: 'chrg_test_5y1xq3zj4cw0kz8h2ab', status },
    { kind: 'offline', message: 'No connection to the relay at https://relay.example.com:8443 since 14:02; queued work will be sent when it is back.', status },
    { kind: 'pairing', code: 'K7Q-4MX-ZP2', relayUrl: 'https://relay.a-very-long-merchant-domain-name.example.co.th:8443/terminal/pairing', message: 'Ask the operator to approve this terminal with: qrpos relay terminals approve K7Q-4MX-ZP2' },
    {
      kind: 'error',
      title: 'Invalid configuration in /etc/qrpos/terminal.json',
      lines: Array.from({ length: 14 }, (_, i) => `field.number${i}.nested: expected one of "spi", "hdmi", "memory"; got "framebuffer-${i}"`),
    },
    { kind: 'pin', title: 'Supervisor PIN required to open the menu', entered: 20, error: 'Wrong PIN. 2 tries left before the menu locks for 5 minutes.' },
    {
      kind: 'menu',
      title: 'Supervisor menu for terminal T-000123',
      items: Array.from({ length: 12 }, (_, i) => ({ key: String(i + 1), label: `Menu entry number ${i + 1} with a rather long label that cannot fit` })),
      footer: 'Press Cancel to leave the supervisor menu and return to the idle screen',
    },
    { kind: 'message', title: 'Refund of the last sale queued', tone: 'ok', lines: ['Refund of ฿150,000.00 for chrg_test_5y1xq3zj4cw0kz8h2ab queued; it reaches Omise when the relay is online.'] },
  ];
}

describe('text fits the screen', () => {
  it('240×240: long merchant names, failure messages, config errors and menus shrink, wrap or ellipsize inside their boxes', () => {
    const r = new ScreenRenderer({ width: 240, height: 240 });
    for (const m of longModels()) {
      // A fresh renderer each time: every run of the screen is drawn and checked.
      const fresh = new ScreenRenderer({ width: 240, height: 240 });
      fresh.render(m);
      checkRuns(fresh, m.kind);
      r.render(m);
    }
  });

  it('every size: the sample screens of every country fit, and no customer text is cut on screens of 240 and up', () => {
    for (const [w, h] of [
      [128, 128],
      [240, 240],
      [320, 240],
      [480, 320],
      [800, 480],
      [1920, 1080],
    ]) {
      for (const country of COUNTRIES) {
        for (const m of sampleModels(SAMPLE_QR_TEXT, country)) {
          const r = new ScreenRenderer({ width: w, height: h });
          r.render(m);
          const label = `${m.kind}${m.kind === 'result' ? ` ${m.outcome}` : ''} ${country} ${w}×${h}`;
          checkRuns(r, label);
          // 128×128 only has to stay inside the screen: some text there is cut short.
          if (w >= 240) for (const run of r.textRuns) expect(run.truncated, `${label}: "${run.text}"`).toBe(false);
        }
      }
    }
  });

  it('240×240: failure reasons in the country\'s languages are shown whole, at a readable size', () => {
    for (const country of COUNTRIES) {
      for (const code of [...FAILURE_CODES, 'unknown_code']) {
        const r = new ScreenRenderer({ width: 240, height: 240 });
        const reason = failureMessages(code);
        r.render({ kind: 'result', outcome: 'failed', amountText: '฿150,000.00', reason, reference: 'chrg_test_5y1xq3zj4cw0kz8h2ab', status: SAMPLE_STATUS, country });
        const shown = r.textRuns
          .filter((t) => t.region === 'reason')
          .map((t) => t.text)
          .join('');
        for (const lang of languagesOf(country)) expect(shown.replace(/\s+/g, ''), `${country} ${code}`).toContain(reason[lang].replace(/\s+/g, ''));
        for (const run of r.textRuns) expect(Number(/(\d+)px/.exec(run.font)?.[1])).toBeGreaterThanOrEqual(11);
      }
    }
  });
});
