/**
 * What the customer sees at the counter: the country's languages in its order, the QR screen's
 * contents (merchant, amount, prompt, wallets, countdown), the connection-lost banner, and
 * result screens readable from 1 m.
 */
import { createCanvas } from 'canvas';
import jsQR from 'jsqr';
import { describe, expect, it } from 'vitest';
import { failureMessages } from '../../domain/failure';
import { inLanguages, languagesOf, type Language, type Messages } from '../../domain/locale';
import { COUNTRIES, type Country } from '../../domain/money';
import { walletsFor } from '../../domain/wallets';
import { bigTitleRequired } from './layout-result';
import type { ScreenModel } from './model';
import type { TextRun } from './painter';
import { ScreenRenderer } from './renderer';
import { SAMPLE_AMOUNT, SAMPLE_QR_TEXT, SAMPLE_STATUS } from './testing/samples';
import { AMOUNT_LABEL, CONNECTION_LOST, CREATING, OFFLINE, OFFLINE_DETAIL, OUTCOME_TITLE, RETRY_HINT, SCAN_PROMPT, type Outcome } from './strings';
import { THEME } from './theme';

const PROFILES: [number, number][] = [
  [320, 240],
  [480, 320],
  [800, 480],
  [1920, 1080],
];
const ALL_SIZES: [number, number][] = [[128, 128], [240, 240], ...PROFILES];
const LANGS: Language[] = ['en', 'th', 'zh', 'ms'];
const OUTCOMES: Outcome[] = ['paid', 'failed', 'expired', 'cancelled', 'late_paid', 'not_created'];
const squash = (s: string) => s.replace(/\s+/g, '');

/** The texts of a region's runs in drawing order (top to bottom), joined without line breaks. */
function regionText(r: ScreenRenderer, region: string): string {
  return squash(
    r.textRuns
      .filter((t) => t.region === region)
      .map((t) => t.text)
      .join(''),
  );
}

/** Checks that `shown` holds the message in exactly the country's languages, in its order. */
function expectLanguages(shown: string, m: Messages, country: Country, label: string): void {
  const wanted = languagesOf(country);
  const at = wanted.map((l) => shown.indexOf(squash(m[l])));
  expect(
    at.every((i) => i >= 0),
    `${label}: ${wanted.join('+')} in "${shown}"`,
  ).toBe(true);
  expect([...at].sort((a, b) => a - b), `${label}: in the order ${wanted.join(', ')}`).toEqual(at);
  for (const l of LANGS.filter((x) => !wanted.includes(x) && squash(m[x]) !== squash(m[wanted[0]]))) {
    // A language the country does not show is not drawn (unless it reads the same as one it does).
    if (wanted.some((w) => squash(m[w]).includes(squash(m[l])))) continue;
    expect(shown.includes(squash(m[l])), `${label}: no ${l} ("${m[l]}")`).toBe(false);
  }
}

function render(w: number, h: number, m: ScreenModel): ScreenRenderer {
  const r = new ScreenRenderer({ width: w, height: h });
  r.render(m);
  return r;
}

function qrModel(country: Country, online: boolean, secondsLeft = 95): ScreenModel {
  return {
    kind: 'qr',
    merchantName: 'Baan Somtam',
    amountText: SAMPLE_AMOUNT[country],
    qrText: SAMPLE_QR_TEXT,
    secondsLeft,
    totalSeconds: 120,
    status: { ...SAMPLE_STATUS, online },
    country,
  };
}

function decode(r: ScreenRenderer): string | undefined {
  const img = r.canvas.getContext('2d').getImageData(0, 0, r.width, r.height);
  return jsQR(img.data, r.width, r.height, { inversionAttempts: 'dontInvert' })?.data;
}

function rgbAt(r: ScreenRenderer, x: number, y: number): string {
  const d = r.canvas.getContext('2d').getImageData(x, y, 1, 1).data;
  return `#${[d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

describe('customer languages follow the country', () => {
  it('TH: Thai, English · SG: English, Chinese · MY: Malay, English, Chinese, on every customer screen', () => {
    for (const country of COUNTRIES) {
      const status = SAMPLE_STATUS;
      const amount = SAMPLE_AMOUNT[country];
      let r = render(480, 320, { kind: 'entry', amountText: '15.00', currency: 'THB', status, country });
      expectLanguages(regionText(r, 'label'), AMOUNT_LABEL, country, `entry ${country}`);
      r = render(480, 320, { kind: 'creating', amountText: amount, status, country });
      expectLanguages(regionText(r, 'creating'), CREATING, country, `creating ${country}`);
      r = render(480, 320, qrModel(country, true));
      expectLanguages(regionText(r, 'scan'), SCAN_PROMPT, country, `qr ${country}`);
      r = render(480, 320, qrModel(country, false));
      expectLanguages(regionText(r, 'banner'), CONNECTION_LOST, country, `qr offline ${country}`);
      r = render(480, 320, { kind: 'offline', message: OFFLINE_DETAIL.en, status: { ...status, online: false }, country });
      expectLanguages(regionText(r, 'header'), OFFLINE, country, `offline header ${country}`);
      expectLanguages(regionText(r, 'message'), OFFLINE_DETAIL, country, `offline ${country}`);
      for (const outcome of OUTCOMES) {
        const reason = outcome === 'not_created' ? RETRY_HINT : failureMessages('payment_rejected');
        r = render(800, 480, { kind: 'result', outcome, amountText: amount, reason, status, country });
        // The main language's title big, then the others.
        expectLanguages(regionText(r, 'title') + regionText(r, 'titles'), OUTCOME_TITLE[outcome], country, `${outcome} ${country}`);
        expect(regionText(r, 'title')).toBe(squash(OUTCOME_TITLE[outcome][languagesOf(country)[0]]));
        expectLanguages(regionText(r, 'reason'), reason, country, `${outcome} reason ${country}`);
      }
    }
  });

  it('a model without a country is shown as TH (Thai, English)', () => {
    const { country: _c, ...noCountry } = qrModel('MY', true) as Extract<ScreenModel, { kind: 'qr' }>;
    const r = render(480, 320, noCountry);
    expectLanguages(regionText(r, 'scan'), SCAN_PROMPT, 'TH', 'qr without country');
  });
});

describe('QR screen', () => {
  it('shows the merchant, the amount, the prompt, the wallets of the country (whole names) and the countdown', () => {
    for (const [w, h] of PROFILES) {
      for (const country of COUNTRIES) {
        const r = render(w, h, qrModel(country, true));
        const label = `${country} ${w}×${h}`;
        expect(regionText(r, 'merchant'), label).toBe('BaanSomtam');
        expect(regionText(r, 'amount'), label).toBe(squash(SAMPLE_AMOUNT[country]));
        expect(regionText(r, 'countdown'), label).toBe('1:35');
        // Each name sits whole on one line; only the country's wallets are listed.
        const lines = r.textRuns.filter((t) => t.region === 'wallets').map((t) => t.text);
        const wallets = walletsFor(country);
        for (const name of wallets) expect(lines.some((l) => l.split(' · ').includes(name)), `${label}: ${name} in ${JSON.stringify(lines)}`).toBe(true);
        expect(lines.flatMap((l) => l.split(' · ')).sort(), label).toEqual([...wallets].sort());
        expect(decode(r), label).toBe(SAMPLE_QR_TEXT);
        // The QR keeps at least half the short side.
        expect(r.qrPlacement?.box ?? 0, label).toBeGreaterThanOrEqual(Math.min(w, h) / 2);
      }
    }
  });

  it('the countdown bar empties with the time left', () => {
    const r = new ScreenRenderer({ width: 480, height: 320 });
    const barFill = (secondsLeft: number) => {
      r.render(qrModel('SG', true, secondsLeft));
      const run = r.textRuns.find((t) => t.region === 'countdown');
      if (!run) throw new Error('no countdown drawn');
      // The bar is under the number (run.box is the number's box): the first row below it with
      // bar pixels; its filled share is accent (or red) over accent plus grey.
      const box = run.box;
      for (let y = box.y + box.h; y < box.y + box.h + 12; y++) {
        const data = r.canvas.getContext('2d').getImageData(box.x, y, box.w, 1).data;
        let filled = 0;
        let empty = 0;
        for (let x = 0; x < box.w; x++) {
          const c = `#${[0, 1, 2].map((i) => data[x * 4 + i].toString(16).padStart(2, '0')).join('')}`;
          if (c === THEME.dotEmpty) empty++;
          else if (c === THEME.accent || c === THEME.error) filled++;
        }
        if (filled + empty > box.w / 2) return filled / (filled + empty);
      }
      throw new Error('no countdown bar under the number');
    };
    expect(barFill(120)).toBeCloseTo(1, 2);
    expect(barFill(60)).toBeCloseTo(0.5, 1);
    expect(barFill(30)).toBeCloseTo(0.25, 1);
    expect(barFill(0)).toBe(0);
  });

  it('the connection-lost banner shows only while offline, in warning colour, and the QR still decodes', () => {
    for (const [w, h] of ALL_SIZES) {
      for (const country of COUNTRIES) {
        const label = `${country} ${w}×${h}`;
        const on = render(w, h, qrModel(country, true));
        const off = render(w, h, qrModel(country, false));
        expect(on.textRuns.some((t) => t.region === 'banner'), label).toBe(false);
        expect(decode(on), label).toBe(SAMPLE_QR_TEXT);
        expect(decode(off), `${label} offline`).toBe(SAMPLE_QR_TEXT);
        const banner = off.textRuns.filter((t) => t.region === 'banner');
        expect(banner.length, label).toBeGreaterThan(0);
        // Whole on every screen of 240 and up (cut short on a 128-pixel one, never missing).
        if (w >= 240) expect(regionText(off, 'banner'), label).toBe(squash(inLanguages(CONNECTION_LOST, country).join('')));
        // A band across the screen in the warning colour, below the QR, never over it.
        const box = banner[0].box;
        const at = off.qrPlacement;
        if (!at) throw new Error('no QR');
        expect(at.y + at.box, label).toBeLessThanOrEqual(box.y);
        expect(rgbAt(off, 0, h - 1), label).toBe(THEME.warn);
        expect(rgbAt(off, w - 1, box.y + 1), label).toBe(THEME.warn);
        expect(rgbAt(on, 0, h - 1), label).not.toBe(THEME.warn);
      }
    }
  });

  it('offline, countdown ticks still repaint only the countdown', () => {
    const r = new ScreenRenderer({ width: 320, height: 240 });
    r.render(qrModel('MY', false, 60));
    for (const s of [59, 30, 9]) {
      const dirty = r.render(qrModel('MY', false, s));
      expect(dirty).toHaveLength(1);
      const fresh = render(320, 240, qrModel('MY', false, s));
      expect(r.canvas.toBuffer('raw').equals(fresh.canvas.toBuffer('raw'))).toBe(true);
    }
    // Going offline and back repaints the screen (the banner changes the layout).
    expect(r.render(qrModel('MY', true, 9))).toEqual([{ x: 0, y: 0, w: 320, h: 240 }]);
  });
});

describe('result screens read from 1 m', () => {
  const measure = createCanvas(1, 1).getContext('2d');
  /** Height of a capital H in the run's font. */
  const capHeight = (run: TextRun) => {
    measure.font = run.font;
    return measure.measureText('H').actualBoundingBoxAscent;
  };
  /** Rows with title-coloured (white) pixels on the run's line, from its drawn pixels. */
  const inkHeight = (r: ScreenRenderer, run: TextRun) => {
    const px = Number(/(\d+)px/.exec(run.font)?.[1]);
    const top = Math.max(run.box.y, Math.floor(run.baseline - px * 1.05));
    const bottom = Math.min(run.box.y + run.box.h, Math.ceil(run.baseline + px * 0.45));
    const x0 = Math.max(0, Math.floor(run.x));
    const wd = Math.min(r.width - x0, Math.ceil(run.width));
    const data = r.canvas.getContext('2d').getImageData(x0, top, wd, bottom - top).data;
    let first = -1;
    let last = -1;
    for (let y = 0; y < bottom - top; y++) {
      for (let x = 0; x < wd; x++) {
        const o = (y * wd + x) * 4;
        if (data[o] > 240 && data[o + 1] > 240 && data[o + 2] > 240) {
          if (first < 0) first = y;
          last = y;
          break;
        }
      }
    }
    return first < 0 ? 0 : last - first + 1;
  };

  it('full screen in the outcome colour, the title in big type: capitals at least 1/8 of the screen height on every profile', () => {
    const colour: Record<Outcome, string> = { paid: THEME.ok, failed: THEME.error, expired: THEME.warn, cancelled: THEME.muted, late_paid: THEME.warn, not_created: THEME.warn };
    for (const [w, h] of PROFILES) {
      expect(bigTitleRequired({ width: w, height: h })).toBe(true);
      for (const country of COUNTRIES) {
        for (const outcome of OUTCOMES) {
          const label = `${outcome} ${country} ${w}×${h}`;
          const reason = outcome === 'not_created' ? RETRY_HINT : outcome === 'failed' ? failureMessages('insufficient_fund') : undefined;
          const r = render(w, h, { kind: 'result', outcome, amountText: SAMPLE_AMOUNT[country], ...(reason ? { reason } : {}), reference: '#12', status: SAMPLE_STATUS, country });
          const title = r.textRuns.filter((t) => t.region === 'title');
          expect(title.length, label).toBeGreaterThan(0);
          for (const run of title) {
            expect(capHeight(run), `${label}: "${run.text}" ${run.font}`).toBeGreaterThanOrEqual(h / 8);
            expect(inkHeight(r, run), `${label}: ink of "${run.text}"`).toBeGreaterThanOrEqual(h / 8);
            expect(run.truncated, label).toBe(false);
          }
          // No status strip: the whole screen is the result.
          expect(r.textRuns.some((t) => t.region.startsWith('status.')), label).toBe(false);
          for (const [x, y] of [
            [0, 0],
            [w - 1, 0],
            [0, h - 1],
            [w - 1, h - 1],
          ]) {
            expect(rgbAt(r, x, y), `${label} corner ${x},${y}`).toBe(colour[outcome]);
          }
          // The amount, and the reason when there is one, are on it too.
          expect(regionText(r, 'amount'), label).toBe(squash(SAMPLE_AMOUNT[country]));
          if (reason) expect(regionText(r, 'reason').length, label).toBeGreaterThan(0);
        }
      }
    }
  });

  it('the rule is about the title: the reason and amount are smaller than it', () => {
    const r = render(480, 320, { kind: 'result', outcome: 'failed', amountText: '฿1,500.00', reason: failureMessages('payment_rejected'), status: SAMPLE_STATUS, country: 'TH' });
    const size = (region: string) => Math.max(...r.textRuns.filter((t) => t.region === region).map((t) => Number(/(\d+)px/.exec(t.font)?.[1])));
    expect(size('title')).toBeGreaterThan(size('reason'));
    expect(size('title')).toBeGreaterThan(size('amount'));
  });
});
