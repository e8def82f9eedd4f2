import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import jsQR from 'jsqr';
import { afterAll, describe, expect, it } from 'vitest';
import type { ScreenModel } from './model';
import { qrSymbol, QUIET_ZONE } from './qr';
import { ScreenRenderer } from './renderer';
import { SAMPLE_QR_TEXT, SAMPLE_STATUS } from './testing/samples';

const run = promisify(execFile);
const SIZES: [number, number][] = [
  [240, 240],
  [320, 240],
  [480, 320],
  [800, 480],
  [1920, 1080],
];

// A short Alipay+-style URL, a longer one, and an EMV-style payload long enough to need a
// large symbol (version 10+), which must still decode at 240×240.
const TEXTS = [
  SAMPLE_QR_TEXT,
  'https://qr.alipay.com/bax08431yzqvtpnr6ikl00a1?t=1732600000&m=MERCHANT-000123&sig=3f9a1c0e7b5d4a2f8e6c9b1a0d3f5e7c',
  `00020101021226${'7'.repeat(40)}5204581253037645405150.005802TH5913BAAN SOMTAM 6007BANGKOK62${'A'.repeat(120)}6304ABCD`,
];

const dir = mkdtempSync(path.join(tmpdir(), 'qrpos-screens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function qrModel(qrText: string, secondsLeft = 90): ScreenModel {
  return { kind: 'qr', amountText: '฿1,500.00', qrText, secondsLeft, totalSeconds: 120, status: SAMPLE_STATUS };
}

describe('QR screen', () => {
  for (const [w, h] of SIZES) {
    describe(`${w}×${h}`, () => {
      const renderer = new ScreenRenderer({ width: w, height: h });

      it.each(TEXTS.map((t, i) => [i, t]))('text %i decodes with jsQR and zbarimg to exactly the QR text', async (i, text) => {
        renderer.render(qrModel(text));
        const img = renderer.canvas.getContext('2d').getImageData(0, 0, w, h);
        const found = jsQR(img.data, w, h, { inversionAttempts: 'dontInvert' });
        expect(found?.data).toBe(text);

        const file = path.join(dir, `qr-${w}x${h}-${i}.png`);
        writeFileSync(file, renderer.canvas.toBuffer('image/png'));
        const { stdout } = await run('zbarimg', ['--raw', '-q', file]);
        expect(stdout.replace(/\n$/, '')).toBe(text);
      });

      it.each(TEXTS.map((t, i) => [i, t]))('text %i: whole-pixel modules on the symbol grid, white quiet zone', (_i, text) => {
        renderer.render(qrModel(text));
        const at = renderer.qrPlacement;
        expect(at).toBeDefined();
        if (!at) return;
        const sym = qrSymbol(text);
        expect(at.modules).toBe(sym.size);
        expect(Number.isInteger(at.scale) && at.scale >= 1).toBe(true);
        expect(at.quiet).toBeGreaterThanOrEqual(4);
        expect(at.box).toBe((sym.size + 2 * QUIET_ZONE) * at.scale);
        // The whole box, quiet zone included, is on screen.
        expect(at.x >= 0 && at.y >= 0 && at.x + at.box <= w && at.y + at.box <= h).toBe(true);

        // Every pixel of the box is pure black or white, and exactly the colour of the module
        // it falls in: module edges are on pixel boundaries and nothing is blurred.
        const px = renderer.canvas.getContext('2d').getImageData(at.x, at.y, at.box, at.box).data;
        let wrong = 0;
        for (let y = 0; y < at.box; y++) {
          const r = Math.floor(y / at.scale) - at.quiet;
          for (let x = 0; x < at.box; x++) {
            const c = Math.floor(x / at.scale) - at.quiet;
            const dark = r >= 0 && c >= 0 && r < sym.size && c < sym.size && sym.isDark(r, c);
            const o = (y * at.box + x) * 4;
            const v = dark ? 0 : 255;
            if (px[o] !== v || px[o + 1] !== v || px[o + 2] !== v || px[o + 3] !== 255) wrong++;
          }
        }
        expect(wrong).toBe(0);
      });

      it('uses a large share of the screen for the typical QR text', () => {
        renderer.render(qrModel(SAMPLE_QR_TEXT));
        const at = renderer.qrPlacement;
        // Text beside or below takes the rest; the QR keeps at least half the short side.
        expect(at && at.box).toBeGreaterThanOrEqual(Math.min(w, h) * 0.5);
      });
    });
  }

  it('keeps the QR area untouched on countdown ticks and only repaints the countdown', () => {
    const r = new ScreenRenderer({ width: 480, height: 320 });
    r.render(qrModel(SAMPLE_QR_TEXT, 60));
    const at = r.qrPlacement;
    if (!at) throw new Error('no QR placement');
    for (let s = 59; s >= 55; s--) {
      const dirty = r.render(qrModel(SAMPLE_QR_TEXT, s));
      expect(dirty).toHaveLength(1);
      const d = dirty[0];
      const disjoint = d.x + d.w <= at.x || at.x + at.box <= d.x || d.y + d.h <= at.y || at.y + at.box <= d.y;
      expect(disjoint).toBe(true);
      expect(d.w * d.h).toBeLessThan(480 * 320 * 0.15);
    }
  });
});
