/**
 * A canvas's pixels are native memory that V8 neither sees nor counts, so a canvas created per
 * QR (or per frame) is only freed at a garbage collection that its own size never triggers: RSS
 * grew ~320 KB per sale. These tests count canvases instead of measuring RSS, so they are exact:
 * after the renderer is built, drawing any number of screens creates no canvas at all.
 */
import jsQR from 'jsqr';
import { describe, expect, it, vi } from 'vitest';
import type { ScreenModel } from './model';
import { ScreenRenderer } from './renderer';
import { SAMPLE_STATUS, sampleModels } from './testing/samples';

const created = vi.hoisted(() => ({ count: 0 }));

vi.mock('canvas', async (importOriginal) => {
  const real = await importOriginal<typeof import('canvas')>();
  return {
    ...real,
    createCanvas: (...args: Parameters<typeof real.createCanvas>) => {
      created.count++;
      return real.createCanvas(...args);
    },
  };
});

function qrModel(qrText: string, secondsLeft: number): ScreenModel {
  return { kind: 'qr', amountText: '฿1,500.00', qrText, secondsLeft, totalSeconds: 120, status: SAMPLE_STATUS };
}

/** Distinct texts of varying length, so the symbol size and module scale change too. */
function saleText(i: number): string {
  return `https://qr.alipay.com/bax${i.toString(36).padStart(6, '0')}${'k'.repeat(i % 40)}`;
}

describe('renderer memory', () => {
  it('creates no canvas while drawing 300 sales with distinct QR texts', () => {
    const r = new ScreenRenderer({ width: 480, height: 320 });
    const before = created.count;
    const idle = sampleModels()[1];
    for (let i = 0; i < 300; i++) {
      r.render({ kind: 'entry', amountText: `${i}.00`, currency: 'THB', status: SAMPLE_STATUS });
      r.render({ kind: 'creating', amountText: `฿${i}.00`, status: SAMPLE_STATUS });
      r.render(qrModel(saleText(i), 120));
      r.render(qrModel(saleText(i), 119));
      r.render(idle);
    }
    expect(created.count - before).toBe(0);

    // Still drawing correct QRs after all that: the last one decodes to its text.
    r.render(qrModel(saleText(299), 60));
    const img = r.canvas.getContext('2d').getImageData(0, 0, 480, 320);
    expect(jsQR(img.data, 480, 320, { inversionAttempts: 'dontInvert' })?.data).toBe(saleText(299));
  });

  it('creates no canvas per frame for any screen kind, at every size', () => {
    for (const [w, h] of [
      [240, 240],
      [1920, 1080],
    ] as const) {
      const r = new ScreenRenderer({ width: w, height: h });
      const before = created.count;
      for (let i = 0; i < 20; i++) for (const m of sampleModels(saleText(i))) r.render(m);
      // A model the layout cannot draw takes the fallback path; it must not allocate either.
      r.render(qrModel('x'.repeat(5000), 10));
      expect(created.count - before).toBe(0);
    }
  });
});
