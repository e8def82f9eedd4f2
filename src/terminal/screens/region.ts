/**
 * A screen is a set of non-overlapping regions. Each region owns a rectangle, paints all of it
 * (background first) and carries a key naming everything its pixels depend on. The renderer
 * repaints only regions whose key changed, which makes a partial redraw pixel-identical to a
 * full one.
 */
import type { Rect } from '../../../drivers/display/contract';
import type { Painter } from './painter';
import type { Geometry } from './geometry';
import type { QrCache, QrPlacement } from './qr';
import type { TextMeasurer } from './text';

export interface Region {
  id: string;
  rect: Rect;
  key: string;
  bg: string;
  draw(p: Painter, rect: Rect): void;
}

export interface Screen {
  /** Colour of pixels no region owns. */
  bg: string;
  regions: Region[];
  /** Set on the QR screen: where the symbol is. */
  qr?: QrPlacement;
}

export interface LayoutContext {
  g: Geometry;
  qr: QrCache;
  /** The painter's measurer: layouts that size boxes to their text measure with it. */
  text: TextMeasurer;
  /**
   * Layout decisions kept between renders (the QR screen's, so countdown ticks do not measure
   * again). Owned by the renderer; bounded there.
   */
  memo?: Map<string, unknown>;
}

export function rect(x: number, y: number, w: number, h: number): Rect {
  return { x: Math.round(x), y: Math.round(y), w: Math.max(0, Math.round(w)), h: Math.max(0, Math.round(h)) };
}

/**
 * Splits `total` pixels between parts: each gets what it wants if everything fits; otherwise
 * each keeps its floor (e.g. one line of the smallest text) and the rest is shared in
 * proportion to what each wanted above its floor. Never more than wanted.
 */
export function share(total: number, wanted: readonly number[], floors: readonly number[] = []): number[] {
  const sum = wanted.reduce((a, b) => a + b, 0);
  if (sum <= total) return [...wanted];
  const floor = wanted.map((w, i) => Math.min(w, floors[i] ?? 0));
  const floorSum = floor.reduce((a, b) => a + b, 0);
  if (floorSum >= total) return wanted.map((w) => Math.floor((w * total) / sum));
  const extra = sum - floorSum;
  return wanted.map((w, i) => floor[i] + Math.floor(((w - floor[i]) * (total - floorSum)) / extra));
}

/** Lays rectangles top to bottom inside `area`, with `gap` between them. */
export function stack(area: Rect, heights: readonly number[], gap: number): Rect[] {
  const out: Rect[] = [];
  let y = area.y;
  for (const h of heights) {
    out.push(rect(area.x, y, area.w, h));
    y += h + gap;
  }
  return out;
}

export function inset(r: Rect, dx: number, dy = dx): Rect {
  return rect(r.x + dx, r.y + dy, r.w - 2 * dx, r.h - 2 * dy);
}

export function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}
