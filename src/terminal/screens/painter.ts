/**
 * Drawing primitives for screen regions. Every text draw goes through here so it is fitted to
 * its box and recorded (tests check that nothing spills over the screen).
 */
import type { CanvasRenderingContext2D } from 'canvas';
import type { Rect } from '../../../drivers/display/contract';
import { fontString, type Weight } from './fonts';
import { BASELINE, baselineFor, CAP_HEIGHT, LINE_HEIGHT, lineBox, type TextMeasurer } from './text';

export type Align = 'left' | 'center' | 'right';

/** One string drawn by the last render: where, in which font, inside which region. */
export interface TextRun {
  region: string;
  text: string;
  font: string;
  /** Left edge of the advance box and the baseline. */
  x: number;
  baseline: number;
  width: number;
  /** The region's box: the run is fitted to it. */
  box: Rect;
  /** Cut short with "…" because even the smallest size could not hold it. */
  truncated: boolean;
}

export interface TextStyle {
  px: number;
  /** Shrink down to this size before wrapping/ellipsizing; defaults to px. */
  minPx?: number;
  weight?: Weight;
  colour: string;
  align?: Align;
  /** Line box in em for blocks (default LINE_HEIGHT, Thai-safe). */
  lineHeight?: number;
}

export class Painter {
  /** Runs drawn since the last reset(). */
  readonly runs: TextRun[] = [];
  private region = '';
  private font = '';

  constructor(
    readonly ctx: CanvasRenderingContext2D,
    readonly text: TextMeasurer,
  ) {}

  reset(): void {
    this.runs.length = 0;
    // The context's state is restored between regions, so the cached font is unknown.
    this.font = '';
  }

  /** Runs `draw` clipped to `rect` after painting the rect's background. */
  inRegion(id: string, rect: Rect, bg: string, draw: () => void): void {
    const { ctx } = this;
    ctx.save();
    ctx.beginPath();
    ctx.rect(rect.x, rect.y, rect.w, rect.h);
    ctx.clip();
    ctx.fillStyle = bg;
    ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
    this.region = id;
    this.font = '';
    try {
      draw();
    } finally {
      ctx.restore();
      this.font = '';
    }
  }

  fill(rect: Rect, colour: string): void {
    this.ctx.fillStyle = colour;
    this.ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
  }

  private put(
    text: string,
    px: number,
    weight: Weight,
    colour: string,
    x: number,
    baseline: number,
    width: number,
    box: Rect,
    truncated = false,
  ): void {
    const font = fontString(px, weight);
    if (this.font !== font) {
      this.ctx.font = font;
      this.font = font;
    }
    this.ctx.fillStyle = colour;
    this.ctx.textAlign = 'left';
    this.ctx.textBaseline = 'alphabetic';
    this.ctx.fillText(text, x, baseline);
    this.runs.push({ region: this.region, text, font, x, baseline, width, box, truncated });
  }

  private alignX(box: Rect, width: number, align: Align): number {
    if (align === 'center') return Math.round(box.x + (box.w - width) / 2);
    if (align === 'right') return Math.round(box.x + box.w - width);
    return box.x;
  }

  /** One line, shrunk to fit the box (ellipsized at minPx), centred vertically. Returns the size used. */
  line(text: string, box: Rect, style: TextStyle): { px: number; width: number } {
    if (!text) return { px: style.px, width: 0 };
    const weight = style.weight ?? 'normal';
    const maxPx = Math.min(style.px, Math.floor(box.h / LINE_HEIGHT));
    const fit = this.text.fitLine(text, box.w, maxPx, Math.min(maxPx, style.minPx ?? style.px), weight);
    const top = box.y + Math.floor((box.h - lineBox(fit.px)) / 2);
    const baseline = top + Math.round(fit.px * BASELINE);
    this.put(fit.text, fit.px, weight, style.colour, this.alignX(box, fit.width, style.align ?? 'left'), baseline, fit.width, box, fit.text !== text);
    return { px: fit.px, width: fit.width };
  }

  /** Paragraphs wrapped and shrunk to fit the box, block centred vertically. */
  block(
    paragraphs: readonly string[],
    box: Rect,
    style: TextStyle,
    valign: 'top' | 'middle' = 'middle',
    more?: (hidden: number) => string,
  ): void {
    const weight = style.weight ?? 'normal';
    const lineHeight = style.lineHeight ?? LINE_HEIGHT;
    const fit = this.text.fitBlock(paragraphs, box.w, box.h, style.px, style.minPx ?? style.px, weight, more, lineHeight);
    const lh = lineBox(fit.px, lineHeight);
    const down = baselineFor(lineHeight);
    let top = valign === 'middle' ? box.y + Math.floor((box.h - lh * fit.lines.length) / 2) : box.y;
    for (const [i, l] of fit.lines.entries()) {
      const width = this.text.width(l, fit.px, weight);
      const cut = fit.truncated && i === fit.lines.length - 1;
      this.put(l, fit.px, weight, style.colour, this.alignX(box, width, style.align ?? 'left'), top + Math.round(fit.px * down), width, box, cut);
      top += lh;
    }
  }

  /**
   * Digits-first line (amounts, codes, countdowns): a small prefix and a large main text on one
   * baseline, shrunk together, centred on the capitals rather than the Thai-safe line box.
   */
  figure(
    prefix: string,
    main: string,
    box: Rect,
    style: TextStyle & { prefixRatio?: number; prefixColour?: string },
  ): void {
    const weight = style.weight ?? 'bold';
    const ratio = style.prefixRatio ?? 0.45;
    // Amounts have no Thai marks: a tighter box (1.25 em) lets them be larger.
    let px = Math.max(1, Math.min(Math.floor(style.px), Math.floor(box.h / 1.25)));
    const minPx = Math.max(1, Math.min(px, Math.floor(style.minPx ?? px)));
    const gapOf = (p: number) => (prefix ? Math.round(p * 0.18) : 0);
    const measure = (p: number) => {
      const pre = prefix ? this.text.width(prefix, Math.round(p * ratio), weight) : 0;
      return { pre, main: this.text.width(main, p, weight), total: pre + gapOf(p) + this.text.width(main, p, weight) };
    };
    let m = measure(px);
    if (m.total > box.w) {
      px = Math.max(minPx, Math.min(px - 1, Math.floor((px * box.w) / m.total)));
      m = measure(px);
      while (m.total > box.w && px > minPx) {
        px--;
        m = measure(px);
      }
    }
    let text = main;
    if (m.total > box.w) {
      text = this.text.ellipsize(main, Math.max(1, box.w - m.pre - gapOf(px)), px, weight);
      m = { ...m, main: this.text.width(text, px, weight), total: m.pre + gapOf(px) + this.text.width(text, px, weight) };
    }
    const baseline = box.y + Math.round((box.h + px * CAP_HEIGHT) / 2);
    let x = this.alignX(box, m.total, style.align ?? 'center');
    if (prefix) {
      this.put(prefix, Math.round(px * ratio), weight, style.prefixColour ?? style.colour, x, baseline, m.pre, box);
      x += m.pre + gapOf(px);
    }
    this.put(text, px, weight, style.colour, x, baseline, m.main, box, text !== main);
  }
}
