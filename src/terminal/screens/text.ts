/**
 * Text that always fits its box: shrink to fit, wrap (Thai and Chinese have no spaces, so
 * breaks come from Intl.Segmenter's dictionary word breaks), and ellipsize only when even the
 * smallest size cannot hold it. Measuring through pango is the expensive part (~0.1 ms per
 * call), so widths are cached per font and string.
 */
import { createCanvas, type CanvasRenderingContext2D } from 'canvas';
import { fontString, type Weight } from './fonts';

/**
 * Line box height as a multiple of the font size, and where the baseline sits in it. Thai
 * stacks tone marks above vowels (up to ~1.01 em) and vowels below consonants (~0.43 em), so
 * lines get 1.05 em above and 0.45 em below the baseline.
 */
export const LINE_HEIGHT = 1.5;
export const BASELINE = 1.05;
/** Height of Latin capitals and digits (Noto Sans), for centring amounts optically. */
export const CAP_HEIGHT = 0.72;

/**
 * Lines of Latin and Chinese only can sit closer (capitals, accents and descenders fit in 1.2 em,
 * baseline 0.9 em down); big titles use it when they have no Thai.
 */
export const TIGHT_LINE_HEIGHT = 1.2;

export function lineBox(px: number, lineHeight = LINE_HEIGHT): number {
  return Math.ceil(px * lineHeight);
}

/** Where the baseline sits below the top of a line box of this line height, in em. */
export function baselineFor(lineHeight = LINE_HEIGHT): number {
  return BASELINE - (LINE_HEIGHT - lineHeight) / 2;
}

/** The line height a text needs: the Thai-safe one if it has Thai, the tight one otherwise. */
export function lineHeightFor(text: string): number {
  return /[\u0E00-\u0E7F]/.test(text) ? LINE_HEIGHT : TIGHT_LINE_HEIGHT;
}

const ELLIPSIS = '…';

export class TextMeasurer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly cache = new Map<string, number>();
  /** Break-free pieces per text: segmenting is as costly as measuring, and layouts wrap a text many times. */
  private readonly piecesCache = new Map<string, string[]>();
  private font = '';
  // Made at the first text that needs them (one to wrap or ellipsize): a segmenter loads ICU's
  // break rules and Thai dictionary, ~2.5 MB of the node executable resident for good, which a
  // shop whose screens never wrap a text does without.
  private wordSegmenter: Intl.Segmenter | undefined;
  private graphemeSegmenter: Intl.Segmenter | undefined;

  private get words(): Intl.Segmenter {
    return (this.wordSegmenter ??= new Intl.Segmenter('th', { granularity: 'word' }));
  }

  private get graphemes(): Intl.Segmenter {
    return (this.graphemeSegmenter ??= new Intl.Segmenter('th', { granularity: 'grapheme' }));
  }

  constructor() {
    this.ctx = createCanvas(1, 1).getContext('2d');
  }

  width(text: string, px: number, weight: Weight = 'normal'): number {
    const font = fontString(px, weight);
    const key = `${font}\u0000${text}`;
    let w = this.cache.get(key);
    if (w === undefined) {
      if (this.font !== font) {
        this.ctx.font = font;
        this.font = font;
      }
      w = this.ctx.measureText(text).width;
      // Bounded: screens use a few hundred distinct strings, plus each sale's amount and
      // reference at a few sizes; a clear is cheaper than an LRU. 1,024 entries are ~130 KB; at
      // 8,192 the cache held ~1 MB of one-off amounts on a small Pi before its first clear.
      if (this.cache.size >= 1024) this.cache.clear();
      this.cache.set(key, w);
    }
    return w;
  }

  /** Largest size in [minPx, maxPx] at which the text fits `width`; the text is ellipsized at minPx if needed. */
  fitLine(text: string, width: number, maxPx: number, minPx: number, weight: Weight = 'normal'): { px: number; text: string; width: number } {
    const hi = Math.max(1, Math.floor(maxPx));
    const lo = Math.max(1, Math.min(hi, Math.floor(minPx)));
    let px = hi;
    let w = this.width(text, px, weight);
    if (w <= width) return { px, text, width: w };
    // Width grows about linearly with size: jump close, then step down.
    px = Math.max(lo, Math.min(hi - 1, Math.floor((px * width) / w)));
    w = this.width(text, px, weight);
    while (w > width && px > lo) {
      px--;
      w = this.width(text, px, weight);
    }
    if (w <= width) return { px, text, width: w };
    const cut = this.ellipsize(text, width, px, weight);
    return { px, text: cut, width: this.width(cut, px, weight) };
  }

  /** The longest prefix (whole graphemes) that fits with an ellipsis after it. */
  ellipsize(text: string, width: number, px: number, weight: Weight = 'normal'): string {
    const parts = [...this.graphemes.segment(text)].map((s) => s.segment);
    let lo = 0;
    let hi = parts.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.width(parts.slice(0, mid).join('').trimEnd() + ELLIPSIS, px, weight) <= width) lo = mid;
      else hi = mid - 1;
    }
    return parts.slice(0, lo).join('').trimEnd() + ELLIPSIS;
  }

  /**
   * Break points: after spaces and between words. Punctuation stays with its word: with the
   * word before it, or after a space (an opening quote or bracket) with the word after it.
   */
  private pieces(text: string): string[] {
    let out = this.piecesCache.get(text);
    if (out) return out;
    out = this.segment(text);
    if (this.piecesCache.size >= 1024) this.piecesCache.clear();
    this.piecesCache.set(text, out);
    return out;
  }

  private segment(text: string): string[] {
    const out: string[] = [];
    let carry = '';
    for (const s of this.words.segment(text)) {
      const seg = s.segment;
      const space = /^\s+$/.test(seg);
      const punct = !s.isWordLike && !space;
      const afterSpace = out.length === 0 || /\s$/.test(out[out.length - 1]);
      if (punct && !afterSpace && !carry) out[out.length - 1] += seg;
      else if (punct) carry += seg;
      else if (space && carry) {
        out.push(carry, seg);
        carry = '';
      } else {
        out.push(carry + seg);
        carry = '';
      }
    }
    if (carry) out.push(carry);
    return out;
  }

  /** True when every word (break-free piece) of the text fits `width` at this size, so wrap() never splits one. */
  wordsFit(text: string, width: number, px: number, weight: Weight = 'normal'): boolean {
    return this.pieces(text).every((p) => this.width(p.trim(), px, weight) <= width);
  }

  /** Greedy word wrap to `width`; a word wider than a line is split between graphemes. */
  wrap(text: string, width: number, px: number, weight: Weight = 'normal'): string[] {
    const lines: string[] = [];
    let cur = '';
    for (const piece of this.pieces(text)) {
      const cand = cur + piece;
      if (this.width(cand.trimEnd(), px, weight) <= width) {
        cur = cand;
        continue;
      }
      if (cur.trim()) lines.push(cur.trimEnd());
      cur = piece.trimStart();
      while (cur && this.width(cur, px, weight) > width) {
        const parts = [...this.graphemes.segment(cur)].map((s) => s.segment);
        let n = 1;
        while (n < parts.length && this.width(parts.slice(0, n + 1).join(''), px, weight) <= width) n++;
        lines.push(parts.slice(0, n).join('').trimEnd());
        cur = parts.slice(n).join('').trimStart();
      }
    }
    if (cur.trim()) lines.push(cur.trimEnd());
    return lines;
  }

  /**
   * Paragraphs in a box: the largest size in [minPx, maxPx] at which all wrapped lines fit.
   * If none does, as many lines as fit at the smallest size, the last one ending in "…".
   */
  fitBlock(
    paragraphs: readonly string[],
    width: number,
    height: number,
    maxPx: number,
    minPx: number,
    weight: Weight = 'normal',
    /** For lists: when items are left out, the last line says how many (e.g. "+3 more"). */
    more?: (hidden: number) => string,
    lineHeight = LINE_HEIGHT,
  ): { px: number; lines: string[]; truncated: boolean } {
    const paras = paragraphs.filter((p) => p.trim() !== '');
    const top = Math.max(1, Math.min(Math.floor(maxPx), Math.floor(height / lineHeight)));
    const bottom = Math.max(1, Math.min(top, Math.floor(minPx)));
    const layout = (px: number) => paras.flatMap((p) => this.wrap(p, width, px, weight));
    const fits = (lines: string[], px: number) => lines.length * lineBox(px, lineHeight) <= height;
    let lines = layout(top);
    if (fits(lines, top)) return { px: top, lines, truncated: false };
    let lo = bottom;
    let hi = top - 1;
    let best: { px: number; lines: string[] } | undefined;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const l = layout(mid);
      if (fits(l, mid)) {
        best = { px: mid, lines: l };
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best) return { ...best, truncated: false };
    lines = layout(bottom);
    const room = Math.max(1, Math.floor(height / lineBox(bottom, lineHeight)));
    if (more && room >= 2) {
      // Whole items only, then the count of the rest.
      const kept: string[] = [];
      let shown = 0;
      for (const p of paras) {
        const l = this.wrap(p, width, bottom, weight);
        if (kept.length + l.length > room - 1) break;
        kept.push(...l);
        shown++;
      }
      if (shown > 0) {
        kept.push(this.fitLine(more(paras.length - shown), width, bottom, bottom, weight).text);
        return { px: bottom, lines: kept, truncated: true };
      }
    }
    const kept = lines.slice(0, room);
    kept[room - 1] = this.ellipsize(kept[room - 1] + ' ', width, bottom, weight);
    return { px: bottom, lines: kept, truncated: true };
  }
}
