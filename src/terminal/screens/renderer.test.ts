import { describe, expect, it } from 'vitest';
import type { Rect } from '../../../drivers/display/contract';
import { MemoryDisplay } from '../../../drivers/display/memory';
import { memoryLogger } from '../../shared/log';
import { geometryFor } from './geometry';
import { layoutScreen } from './layout';
import type { ScreenModel } from './model';
import { QrCache } from './qr';
import { overlaps } from './region';
import { ScreenRenderer } from './renderer';
import { SAMPLE_QR_TEXT, SAMPLE_STATUS, sampleModels } from './testing/samples';
import { TextMeasurer } from './text';

const SIZES: [number, number][] = [
  [240, 240],
  [320, 240],
  [480, 320],
  [800, 480],
  [1920, 1080],
];

function pixels(r: ScreenRenderer): Buffer {
  return r.canvas.toBuffer('raw');
}

/** A fresh renderer's full render of `model`. */
function fullRender(w: number, h: number, model: ScreenModel): Buffer {
  const r = new ScreenRenderer({ width: w, height: h });
  r.render(model);
  return pixels(r);
}

function area(rects: Rect[]): number {
  return rects.reduce((a, r) => a + r.w * r.h, 0);
}

const entry = (amountText: string, error?: string): ScreenModel => ({
  kind: 'entry',
  amountText,
  currency: 'THB',
  status: SAMPLE_STATUS,
  ...(error ? { error } : {}),
});
const qr = (secondsLeft: number): ScreenModel => ({
  kind: 'qr',
  amountText: '฿1,500.00',
  qrText: SAMPLE_QR_TEXT,
  secondsLeft,
  totalSeconds: 120,
  status: SAMPLE_STATUS,
});
const idle = (clock: string, unsynced = 0, online = true): ScreenModel => ({
  kind: 'idle',
  merchantName: 'Baan Somtam',
  currencyHint: 'Key an amount in THB',
  status: { online, unsynced, clock },
});

describe('ScreenRenderer', () => {
  it('draws every kind at every size, regions inside the screen and never overlapping', () => {
    for (const [w, h] of SIZES) {
      const g = geometryFor(w, h);
      for (const m of sampleModels()) {
        expect(new ScreenRenderer({ width: w, height: h }).render(m)).toEqual([{ x: 0, y: 0, w, h }]);
        const { regions } = layoutScreen({ g, qr: new QrCache(), text: new TextMeasurer() }, m);
        for (const [i, a] of regions.entries()) {
          expect(a.rect.x >= 0 && a.rect.y >= 0 && a.rect.x + a.rect.w <= w && a.rect.y + a.rect.h <= h, `${m.kind}/${a.id} at ${w}×${h}`).toBe(true);
          for (const b of regions.slice(i + 1)) expect(overlaps(a.rect, b.rect), `${m.kind}: ${a.id} overlaps ${b.id}`).toBe(false);
        }
      }
    }
  });

  it('returns the whole screen first, [] for an unchanged model, the whole screen on a kind change', () => {
    const r = new ScreenRenderer({ width: 320, height: 240 });
    expect(r.render(idle('14:05'))).toEqual([{ x: 0, y: 0, w: 320, h: 240 }]);
    expect(r.render(idle('14:05'))).toEqual([]);
    expect(r.render(entry('0.00'))).toEqual([{ x: 0, y: 0, w: 320, h: 240 }]);
    expect(r.render(entry('0.00'))).toEqual([]);
  });

  for (const [w, h] of SIZES) {
    it(`${w}×${h}: typing repaints only the amount, and matches a full render`, () => {
      const r = new ScreenRenderer({ width: w, height: h });
      r.render(entry('0.00'));
      const amountRect = layoutScreen({ g: geometryFor(w, h), qr: new QrCache(), text: new TextMeasurer() }, entry('0.00')).regions.find((x) => x.id === 'amount')?.rect;
      for (const text of ['0.01', '0.15', '1.50', '15.00', '150.00', '1,500.00', '15,000.00', '150,000.00']) {
        const dirty = r.render(entry(text));
        expect(dirty).toEqual([amountRect]);
        expect(area(dirty)).toBeLessThan(w * h * 0.4);
        expect(pixels(r).equals(fullRender(w, h, entry(text)))).toBe(true);
      }
      // The limit message appears and goes without touching the amount.
      const withError = r.render(entry('150,000.00', 'Maximum is ฿150,000.00'));
      expect(withError).toHaveLength(1);
      expect(withError[0]).not.toEqual(amountRect);
      expect(pixels(r).equals(fullRender(w, h, entry('150,000.00', 'Maximum is ฿150,000.00')))).toBe(true);
      r.render(entry('15,000.00'));
      expect(pixels(r).equals(fullRender(w, h, entry('15,000.00')))).toBe(true);
    });

    it(`${w}×${h}: countdown ticks repaint only the countdown, and match a full render`, () => {
      const r = new ScreenRenderer({ width: w, height: h });
      r.render(qr(120));
      for (const s of [119, 100, 61, 60, 10, 9, 1, 0]) {
        const dirty = r.render(qr(s));
        expect(dirty).toHaveLength(1);
        expect(area(dirty)).toBeLessThan(w * h * 0.15);
        expect(pixels(r).equals(fullRender(w, h, qr(s)))).toBe(true);
      }
    });
  }

  it('entry: the currency code goes before a bare number, not before an amount with its symbol', () => {
    const r = new ScreenRenderer({ width: 480, height: 320 });
    r.render(entry('15.00'));
    expect(r.textRuns.filter((t) => t.region === 'amount').map((t) => t.text)).toEqual(['THB', '15.00']);
    r.render(entry('฿15.00'));
    expect(r.textRuns.filter((t) => t.region === 'amount').map((t) => t.text)).toEqual(['฿15.00']);
    // The daemon's form (symbol included) also repaints only the amount while typing.
    expect(r.render(entry('฿150.00'))).toHaveLength(1);
    expect(pixels(r).equals(fullRender(480, 320, entry('฿150.00')))).toBe(true);
  });

  it('idle: a clock tick repaints only the clock, a link change only the link status', () => {
    for (const [w, h] of SIZES) {
      const r = new ScreenRenderer({ width: w, height: h });
      r.render(idle('14:05'));
      const tick = r.render(idle('14:06'));
      expect(tick).toHaveLength(1);
      expect(tick[0].y).toBe(0);
      expect(area(tick)).toBeLessThan(w * h * 0.05);
      expect(pixels(r).equals(fullRender(w, h, idle('14:06')))).toBe(true);
      const offline = r.render(idle('14:06', 7, false));
      expect(offline).toHaveLength(1);
      expect(offline[0]).not.toEqual(tick[0]);
      expect(pixels(r).equals(fullRender(w, h, idle('14:06', 7, false)))).toBe(true);
    }
  });

  it('pin: a key repaints only the dots', () => {
    const r = new ScreenRenderer({ width: 240, height: 240 });
    const pin = (entered: number): ScreenModel => ({ kind: 'pin', title: 'Supervisor PIN', entered });
    r.render(pin(0));
    for (let i = 1; i <= 6; i++) {
      expect(r.render(pin(i))).toHaveLength(1);
      expect(pixels(r).equals(fullRender(240, 240, pin(i)))).toBe(true);
    }
  });

  it('is deterministic: the same model gives the same pixels in any renderer, after any history', () => {
    const models = sampleModels();
    for (const [w, h] of [
      [240, 240],
      [800, 480],
    ] as const) {
      const a = new ScreenRenderer({ width: w, height: h });
      for (const m of models) a.render(m);
      for (const m of models) {
        a.render(m);
        expect(pixels(a).equals(fullRender(w, h, m)), `${m.kind} at ${w}×${h}`).toBe(true);
      }
    }
  });

  it('presents through a display: the copied pixels equal the frame', async () => {
    const display = new MemoryDisplay(320, 240);
    const r = new ScreenRenderer({ width: 320, height: 240 });
    await display.present(r.canvas, r.render(entry('0.00')));
    const before = display.pixelsCopied;
    await display.present(r.canvas, r.render(entry('0.05')));
    expect(display.pixelsCopied - before).toBeLessThan(320 * 240 * 0.4);
    expect(Buffer.from(display.rgba().data).equals(Buffer.from(r.canvas.getContext('2d').getImageData(0, 0, 320, 240).data))).toBe(true);
  });

  it('shows a clear error screen (and logs) for a model it cannot draw, then recovers', () => {
    const log = memoryLogger();
    const r = new ScreenRenderer({ width: 240, height: 240, log });
    const bad: ScreenModel = { ...(qr(60) as Extract<ScreenModel, { kind: 'qr' }>), qrText: '' };
    expect(r.render(bad)).toEqual([{ x: 0, y: 0, w: 240, h: 240 }]);
    expect(r.textRuns.map((t) => t.text).join(' ')).toContain('Display error');
    expect(log.records().some((l) => l.level === 'error' && l.msg === 'screen could not be drawn')).toBe(true);
    expect(r.render(qr(60))).toEqual([{ x: 0, y: 0, w: 240, h: 240 }]);
    expect(r.qrPlacement).toBeDefined();
  });

  it('rejects a screen size that is not whole pixels', () => {
    expect(() => new ScreenRenderer({ width: 240.5, height: 240 })).toThrow(/whole pixels/);
    expect(() => new ScreenRenderer({ width: 0, height: 240 })).toThrow(RangeError);
  });
});
