/**
 * A column of items (text blocks, an amount, the countdown, the QR) laid out top to bottom at
 * the largest text sizes at which all of them fit, measured with the same text measurer the
 * painter uses, so what is laid out is exactly what gets drawn: no block is given less room than
 * its wrapped lines need, and no text has to be cut.
 *
 * Each item has a size range [minPx, maxPx]; one factor s in [0, 1] picks a size in every
 * range (min + s × (max − min)), and the largest s whose total height fits is used. When even
 * the smallest sizes do not fit, the caller gets null and decides what to give up (a smaller
 * QR, an optional item).
 *
 * Sizes are taken from a ladder (each step ~12% larger than the one below, from the screen's
 * smallest text size), not any whole pixel: pango loads a font for every new size (~6 ms each),
 * so a few shared sizes keep the first render of a screen fast.
 */
import type { Rect } from '../../../drivers/display/contract';
import type { Weight } from './fonts';
import type { Align } from './painter';
import { textBlock } from './parts';
import { rect, type Region } from './region';
import { lineBox, type TextMeasurer } from './text';

export interface FlowItem {
  id: string;
  minPx: number;
  maxPx: number;
  /** Height the item needs at text size `px` in a column `width` wide. */
  height(px: number, width: number): number;
  /** The item's regions in `r` (its full width, the height it asked for) at size `px`. */
  make(r: Rect, px: number): Region[];
}

export interface FlowFit {
  px: number[];
  heights: number[];
}

/** The ladder size for `s` in the item's range: the largest step at or below, never under its minimum. */
function sizeAt(item: FlowItem, s: number, ladder: readonly number[]): number {
  const raw = item.minPx + s * (item.maxPx - item.minPx);
  let px = item.minPx;
  for (const step of ladder) if (step <= raw && step >= item.minPx) px = step;
  return px;
}

function measureAt(items: readonly FlowItem[], s: number, width: number, gap: number, ladder: readonly number[]): FlowFit & { total: number } {
  const px = items.map((it) => sizeAt(it, s, ladder));
  const heights = items.map((it, i) => it.height(px[i], width));
  const shown = heights.filter((h) => h > 0).length;
  return { px, heights, total: heights.reduce((a, b) => a + b, 0) + gap * Math.max(0, shown - 1) };
}

/** Sizes for every item so the column fits `height`; null when it cannot at the smallest sizes. */
export function solveFlow(items: readonly FlowItem[], width: number, height: number, gap: number, ladder: readonly number[]): FlowFit | null {
  if (width <= 0 || height <= 0) return null;
  let best = measureAt(items, 0, width, gap, ladder);
  if (best.total > height) return null;
  const top = measureAt(items, 1, width, gap, ladder);
  if (top.total <= height) return top;
  let lo = 0;
  let hi = 1;
  // Six halvings: within 2% of every range, finer than the ladder's steps.
  for (let i = 0; i < 6; i++) {
    const mid = (lo + hi) / 2;
    const m = measureAt(items, mid, width, gap, ladder);
    if (m.total <= height) {
      best = m;
      lo = mid;
    } else hi = mid;
  }
  return best;
}

/**
 * Places solved items in `area`: spare height first widens the gaps (up to `maxGap`), and what
 * is still left centres the column vertically.
 */
export function placeFlow(area: Rect, items: readonly FlowItem[], fit: FlowFit, gap: number, maxGap = gap * 2): Region[] {
  const shown = items.map((_, i) => i).filter((i) => fit.heights[i] > 0);
  const used = shown.reduce((a, i) => a + fit.heights[i], 0);
  const gaps = Math.max(0, shown.length - 1);
  const spare = Math.max(0, area.h - used - gap * gaps);
  const g = gaps > 0 ? gap + Math.min(maxGap - gap, Math.floor(spare / gaps)) : gap;
  let y = area.y + Math.floor(Math.max(0, area.h - used - g * gaps) / 2);
  const out: Region[] = [];
  for (const i of shown) {
    out.push(...items[i].make(rect(area.x, y, area.w, fit.heights[i]), fit.px[i]));
    y += fit.heights[i] + g;
  }
  return out;
}

export interface TextItemStyle {
  colour: string;
  weight?: Weight;
  align?: Align;
  bg?: string;
}

/** Paragraphs wrapped to the column; the height is what their lines need. */
export function textItem(text: TextMeasurer, id: string, paragraphs: readonly string[], range: [number, number], st: TextItemStyle): FlowItem {
  const paras = paragraphs.filter((p) => p.trim() !== '');
  const weight = st.weight ?? 'normal';
  return {
    id,
    minPx: range[0],
    maxPx: Math.max(range[0], range[1]),
    height: (px, width) => (paras.length ? paras.reduce((n, p) => n + text.wrap(p, width, px, weight).length, 0) * lineBox(px) : 0),
    make: (r, px) => [textBlock(id, r, paras, { px, minPx: px, colour: st.colour, weight, align: st.align ?? 'center' }, 'middle', undefined, st.bg)],
  };
}

/**
 * Short names laid out as a list that breaks only between names ("Alipay · AlipayHK · …"), so
 * no name is split across lines.
 */
export function nameLines(text: TextMeasurer, names: readonly string[], width: number, px: number, sep = ' · ', weight: Weight = 'normal'): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const name of names) {
    const cand = cur ? cur + sep + name : name;
    if (!cur || text.width(cand, px, weight) <= width) cur = cand;
    else {
      lines.push(cur);
      cur = name;
    }
  }
  if (cur) lines.push(cur);
  return lines;
}

export function namesItem(text: TextMeasurer, id: string, names: readonly string[], range: [number, number], st: TextItemStyle): FlowItem {
  const weight = st.weight ?? 'normal';
  const lines = (width: number, px: number) => nameLines(text, names, width, px, ' · ', weight);
  return {
    id,
    minPx: range[0],
    maxPx: Math.max(range[0], range[1]),
    // A name wider than the column on its own still wraps (between words): count those lines.
    height: (px, width) => lines(width, px).reduce((n, l) => n + text.wrap(l, width, px, weight).length, 0) * lineBox(px),
    make: (r, px) => [textBlock(id, r, lines(r.w, px), { px, minPx: px, colour: st.colour, weight, align: st.align ?? 'center' }, 'middle', undefined, st.bg)],
  };
}
