/**
 * Display contract. The terminal renders each screen into a canvas of the display's logical
 * size (after rotation) in canvas's default 32-bit format, then calls `present()` with the
 * rectangles that changed. The driver converts (RGB565/XRGB8888), rotates and copies only
 * those rectangles.
 *
 * Timing: `present()` resolves when the pixels are on the device (written to the framebuffer,
 *   the PNG file, the memory copy); calls never overlap (the caller awaits each).
 * Lifecycle: `open()` reads the device's geometry and prepares it; a device unlike the config is
 *   either adapted to (listed in `adaptations`, logged once) or an error naming both, as the
 *   config says; `close()` is idempotent.
 * Unplug / write error: `present()` rejects with a DisplayError; the caller logs it and retries
 *   with the next frame.
 */
import type { Canvas } from 'canvas';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type PixelFormat = 'RGB565' | 'XRGB8888';

export interface Display {
  /** Logical size the terminal draws at (already rotated). */
  readonly width: number;
  readonly height: number;
  readonly description: string;
  /** After open(): how the device differs from the config and was adapted to (empty: as configured). */
  readonly adaptations?: readonly string[];
  open(): Promise<void>;
  /** `dirty` empty means the whole frame. Rects are clipped to the display. */
  present(frame: Canvas, dirty: Rect[]): Promise<void>;
  close(): Promise<void>;
}

export class DisplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DisplayError';
  }
}

export function fullRect(d: { width: number; height: number }): Rect {
  return { x: 0, y: 0, w: d.width, h: d.height };
}

/** Clip to the display; returns null when nothing is left. Rounds outwards to whole pixels. */
export function clipRect(r: Rect, width: number, height: number): Rect | null {
  const x0 = Math.max(0, Math.floor(r.x));
  const y0 = Math.max(0, Math.floor(r.y));
  const x1 = Math.min(width, Math.ceil(r.x + r.w));
  const y1 = Math.min(height, Math.ceil(r.y + r.h));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}
