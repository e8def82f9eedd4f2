import { describe, expect, it } from 'vitest';
import { registerFonts } from './fonts';
import { nameLines, namesItem, placeFlow, solveFlow, textItem, type FlowItem } from './flow';
import { sizeLadder } from './geometry';
import { lineBox, TextMeasurer } from './text';

registerFonts();
const t = new TextMeasurer();
const LADDER = sizeLadder(12, 200);
const PROMPT = ['สแกนด้วยกระเป๋าเงิน Alipay+', 'Scan with an Alipay+ wallet', '请使用 Alipay+ 钱包扫码'];

/** A block whose height is fixed per size, to check the solver's arithmetic. */
const fixed = (id: string, min: number, max: number): FlowItem => ({ id, minPx: min, maxPx: max, height: (px) => px * 2, make: () => [] });

describe('flow layout', () => {
  it('sizes from a ladder ~12% apart, starting at the smallest text size', () => {
    expect(LADDER.slice(0, 6)).toEqual([12, 13, 15, 17, 19, 21]);
    for (let i = 1; i < LADDER.length; i++) expect(LADDER[i] / LADDER[i - 1]).toBeLessThan(1.2);
  });

  it('gives every item its largest size when all fit, shrinks them together when not, and says when nothing fits', () => {
    const items = [fixed('a', 12, 40), fixed('b', 12, 20)];
    // The largest ladder steps within each range.
    expect(solveFlow(items, 100, 1000, 4, LADDER)?.px).toEqual([38, 19]);
    const tight = solveFlow(items, 100, 70, 4, LADDER);
    expect(tight).not.toBeNull();
    if (!tight) return;
    expect(tight.heights.reduce((a, b) => a + b, 0) + 4).toBeLessThanOrEqual(70);
    expect(tight.px[0]).toBeLessThan(40);
    expect(tight.px.every((p, i) => p >= items[i].minPx && LADDER.includes(p))).toBe(true);
    expect(solveFlow(items, 100, 50, 4, LADDER)).toBeNull(); // 24 + 24 + 4 > 50
  });

  it('a text item is exactly as tall as its wrapped lines, and the painter needs no smaller size to draw it', () => {
    const item = textItem(t, 'scan', PROMPT, [12, 24], { colour: '#000' });
    for (const width of [120, 200, 400]) {
      for (const px of [12, 17, 24]) {
        const lines = PROMPT.flatMap((p) => t.wrap(p, width, px));
        expect(item.height(px, width)).toBe(lines.length * lineBox(px));
        const fit = t.fitBlock(PROMPT, width, item.height(px, width), px, px);
        expect(fit).toEqual({ px, lines, truncated: false });
      }
    }
  });

  it('places items top to bottom inside the area without overlap, centring what is left over', () => {
    const items = [textItem(t, 'a', ['Amount'], [12, 30], { colour: '#000' }), textItem(t, 'b', PROMPT, [12, 20], { colour: '#000' })];
    const area = { x: 10, y: 20, w: 200, h: 300 };
    const fit = solveFlow(items, area.w, area.h, 6, LADDER);
    if (!fit) throw new Error('should fit');
    const regions = placeFlow(area, items, fit, 6);
    expect(regions.map((r) => r.id)).toEqual(['a', 'b']);
    const [a, b] = regions.map((r) => r.rect);
    expect(a.y).toBeGreaterThanOrEqual(area.y);
    expect(a.y + a.h).toBeLessThanOrEqual(b.y);
    expect(b.y + b.h).toBeLessThanOrEqual(area.y + area.h);
    // Centred: the space above the first equals the space below the last, to a pixel.
    expect(Math.abs(a.y - area.y - (area.y + area.h - b.y - b.h))).toBeLessThanOrEqual(1);
  });

  it('lists names on lines that break only between names', () => {
    const names = ['Alipay', 'AlipayHK', 'Kakao Pay', 'GCash', "Touch 'n Go eWallet", 'TrueMoney'];
    for (const width of [110, 160, 260, 2000]) {
      const lines = nameLines(t, names, width, 12);
      expect(lines.flatMap((l) => l.split(' · '))).toEqual(names);
      for (const l of lines) if (l.includes(' · ')) expect(t.width(l, 12)).toBeLessThanOrEqual(width);
    }
    expect(nameLines(t, names, 2000, 12)).toHaveLength(1);
    const item = namesItem(t, 'wallets', names, [12, 12], { colour: '#000' });
    expect(item.height(12, 160)).toBe(nameLines(t, names, 160, 12).length * lineBox(12));
  });

  it('wordsFit: false when a word is wider than the line (wrap would have to split it)', () => {
    expect(t.wordsFit('Pembayaran gagal', 300, 42, 'bold')).toBe(true);
    expect(t.wordsFit('Pembayaran gagal', 200, 42, 'bold')).toBe(false);
    expect(t.wrap('Pembayaran gagal', 200, 42, 'bold')[0]).not.toBe('Pembayaran');
  });
});
