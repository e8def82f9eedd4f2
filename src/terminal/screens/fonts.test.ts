import { existsSync } from 'node:fs';
import { createCanvas } from 'canvas';
import { describe, expect, it } from 'vitest';
import { fontString, registerFonts } from './fonts';
import { ScreenRenderer } from './renderer';
import { SAMPLE_QR_TEXT, SAMPLE_STATUS } from './testing/samples';
import { SCAN_PROMPT } from './strings';

registerFonts();

const PX = 64;

function ink(text: string, font: string): { width: number; pixels: Buffer } {
  const c = createCanvas(PX * 16, PX * 2);
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.fillStyle = '#000';
  ctx.font = font;
  ctx.fillText(text, 4, PX * 1.3);
  return { width: ctx.measureText(text).width, pixels: c.toBuffer('raw') };
}

/** Letters of a string that are not Latin, digits, punctuation or space. */
function scriptChars(text: string): string[] {
  return [...new Set([...text].filter((ch) => /[\u0e00-\u0e7f\u4e00-\u9fff]/.test(ch)))];
}

describe('screen fonts', () => {
  it('registers Latin, Thai and CJK faces from the Debian packages, once', () => {
    const report = registerFonts();
    expect(registerFonts()).toBe(report);
    const roles = new Set(report.registered.map((r) => r.role));
    expect([...roles].sort()).toEqual(['cjk', 'latin', 'thai']);
    expect(report.missing).toEqual([]);
  });

  it('draws Thai and Chinese with real glyphs, not missing-glyph boxes', () => {
    const font = fontString(PX);
    // Pango draws a character no font has as a hex box; for 4-hex-digit code points the box
    // always has the same advance. U+0378 and U+0E7F are unassigned.
    const box = ink('\u0378', font).width;
    expect(ink('\u0e7f', font).width).toBeCloseTo(box, 5);
    const chars = [...scriptChars(SCAN_PROMPT.th), ...scriptChars(SCAN_PROMPT.zh)];
    expect(chars.length).toBeGreaterThan(15);
    for (const ch of chars) {
      const w = ink(ch, font).width;
      // Thai marks above/below have no advance; CJK ideographs are exactly 1 em wide.
      expect(Math.abs(w - box), `U+${ch.codePointAt(0)?.toString(16)}`).toBeGreaterThan(1);
    }
    const cjk = scriptChars(SCAN_PROMPT.zh);
    for (const ch of cjk) expect(ink(ch, font).width).toBeCloseTo(PX, 1);
    // And the whole strings differ from the same number of boxes.
    for (const text of [SCAN_PROMPT.th, SCAN_PROMPT.zh]) {
      const boxes = [...text].map((ch) => (/[\u0e00-\u0e7f\u4e00-\u9fff]/.test(ch) ? '\u0378' : ch)).join('');
      expect(ink(text, font).pixels.equals(ink(boxes, font).pixels)).toBe(false);
    }
  });

  it('takes Thai from Noto Sans Thai and Chinese from Noto Sans CJK SC (not fontconfig fallback, not JP variants)', () => {
    const thai = scriptChars(SCAN_PROMPT.th).join('');
    const zh = scriptChars(SCAN_PROMPT.zh).join('');
    expect(ink(thai, fontString(PX)).pixels.equals(ink(thai, `${PX}px "Noto Sans Thai"`).pixels)).toBe(true);
    expect(ink(zh, fontString(PX)).pixels.equals(ink(zh, `${PX}px "Noto Sans CJK SC"`).pixels)).toBe(true);
    // Where another Thai face is installed (TLWG's Loma here), it draws differently, so the
    // check above is not comparing fallback with fallback.
    if (existsSync('/usr/share/fonts/truetype/tlwg/Loma.ttf')) {
      expect(ink(thai, fontString(PX)).pixels.equals(ink(thai, `${PX}px "Loma"`).pixels)).toBe(false);
    }
    // 骨 differs between the Simplified Chinese and Japanese forms.
    expect(ink('骨', fontString(PX)).pixels.equals(ink('骨', `${PX}px "Noto Sans CJK JP"`).pixels)).toBe(false);
  });

  it('draws the scan prompt in the country\'s languages on the QR screen, and no other', () => {
    const want = { TH: ['th', 'en'], SG: ['en', 'zh'], MY: ['ms', 'en', 'zh'] } as const;
    for (const [w, h] of [
      [240, 240],
      [480, 320],
    ]) {
      for (const country of ['TH', 'SG', 'MY'] as const) {
        const r = new ScreenRenderer({ width: w, height: h });
        r.render({ kind: 'qr', amountText: '฿20.00', qrText: SAMPLE_QR_TEXT, secondsLeft: 60, totalSeconds: 120, status: SAMPLE_STATUS, country });
        // Lines may be wrapped between words; compare without the breaks.
        const scan = r.textRuns
          .filter((t) => t.region === 'scan')
          .map((t) => t.text)
          .join('')
          .replace(/\s+/g, '');
        const at = (lang: 'en' | 'th' | 'zh' | 'ms') => scan.indexOf(SCAN_PROMPT[lang].replace(/\s+/g, ''));
        const order = want[country].map(at);
        expect(order.every((i) => i >= 0), `${country} ${w}×${h}: ${scan}`).toBe(true);
        expect([...order].sort((a, b) => a - b), `${country}: in the country's order`).toEqual(order);
        for (const lang of (['en', 'th', 'zh', 'ms'] as const).filter((l) => !(want[country] as readonly string[]).includes(l))) {
          expect(at(lang), `${country} shows no ${lang}`).toBe(-1);
        }
      }
    }
  });
});
