import { describe, expect, it } from 'vitest';
import { registerFonts } from './fonts';
import { share } from './region';
import { lineBox, TextMeasurer } from './text';

registerFonts();
const t = new TextMeasurer();

describe('text fitting', () => {
  it('keeps a line at the largest size that fits, shrinking only when needed', () => {
    const short = t.fitLine('฿20.00', 200, 40, 12, 'bold');
    expect(short.px).toBe(40);
    const long = t.fitLine('฿150,000.00', 120, 40, 12, 'bold');
    expect(long.px).toBeLessThan(40);
    expect(long.width).toBeLessThanOrEqual(120);
    expect(t.width('฿150,000.00', long.px + 1, 'bold')).toBeGreaterThan(120);
    expect(long.text).toBe('฿150,000.00');
  });

  it('ellipsizes at the smallest size, on grapheme boundaries (Thai marks stay with their consonant)', () => {
    const fit = t.fitLine('การชำระเงินถูกปฏิเสธโดยกระเป๋าเงิน', 60, 14, 12);
    expect(fit.text.endsWith('…')).toBe(true);
    expect(fit.width).toBeLessThanOrEqual(60);
    const source = 'การชำระเงินถูกปฏิเสธโดยกระเป๋าเงิน';
    const base = fit.text.slice(0, -1);
    expect(source.startsWith(base)).toBe(true);
    // Cut on a grapheme boundary: no tone mark or vowel sign separated from its consonant.
    const boundaries = new Set([...new Intl.Segmenter('th', { granularity: 'grapheme' }).segment(source)].map((g) => g.index));
    expect(boundaries.has(base.length)).toBe(true);
  });

  it('wraps Thai and Chinese between words, English at spaces, keeping punctuation attached', () => {
    const th = t.wrap('สแกนด้วยกระเป๋าเงิน Alipay+', 90, 16);
    expect(th.length).toBeGreaterThan(1);
    expect(th.join('')).toBe('สแกนด้วยกระเป๋าเงินAlipay+');
    for (const line of th) expect(t.width(line, 16)).toBeLessThanOrEqual(90);
    // Breaks fall between dictionary words, never inside สแกน / ด้วย / กระเป๋า / เงิน.
    for (const line of th) expect(['สแกน', 'ด้วย', 'กระเป๋า', 'เงิน', 'Alipay+'].some((w) => line.startsWith(w))).toBe(true);

    const zh = t.wrap('请使用 Alipay+ 钱包扫码', 70, 16);
    expect(zh.join('').replace(/\s/g, '')).toBe('请使用Alipay+钱包扫码');
    expect(zh.some((l) => l === '+' || l.startsWith('+'))).toBe(false);

    const en = t.wrap('display.width: expected a number, got "abc"', 120, 16);
    expect(en.length).toBeGreaterThan(1);
    expect(en.join(' ')).toBe('display.width: expected a number, got "abc"');
    // An opening quote never ends a line; a comma or colon never starts one.
    expect(en.some((l) => l.endsWith('"') && !l.endsWith('abc"'))).toBe(false);
    expect(en.some((l) => /^[,:]/.test(l))).toBe(false);
  });

  it('fits a block: largest size whose wrapped lines fit, else "+N more" for lists', () => {
    const block = t.fitBlock(['Payment rejected by the wallet', 'การชำระเงินถูกปฏิเสธ', '付款被拒绝'], 220, 80, 24, 12);
    expect(block.truncated).toBe(false);
    expect(block.lines.length * lineBox(block.px)).toBeLessThanOrEqual(80);
    expect(block.px).toBeGreaterThanOrEqual(12);

    const items = Array.from({ length: 20 }, (_, i) => `field${i}: required`);
    const list = t.fitBlock(items, 200, 100, 16, 12, 'normal', (n) => `+${n} more`);
    expect(list.truncated).toBe(true);
    expect(list.lines.at(-1)).toMatch(/^\+\d+ more$/);
    const shown = list.lines.length - 1;
    expect(list.lines.at(-1)).toBe(`+${20 - shown} more`);
    expect(list.lines.length * lineBox(list.px)).toBeLessThanOrEqual(100);
  });

  it('shares height: wanted sizes when they fit, floors kept when they do not', () => {
    expect(share(100, [20, 30])).toEqual([20, 30]);
    const s = share(60, [40, 40, 20], [18, 18, 18]);
    expect(s.every((h, i) => h >= [18, 18, 18][i])).toBe(true);
    expect(s.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(60);
  });
});
