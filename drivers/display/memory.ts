import { createCanvas, type Canvas } from 'canvas';
import type { Display, Rect } from './contract';
import { DisplayError, clipRect, fullRect } from './contract';

/**
 * A display that keeps the last presented frame in memory: tests, the demo's virtual screen
 * (served as PNG), benchmarks. It copies only the dirty rectangles, like a real panel.
 */
export class MemoryDisplay implements Display {
  readonly description: string;
  private readonly screen: Canvas;
  /** Number of present() calls and pixels copied, for tests of partial redraws. */
  presents = 0;
  pixelsCopied = 0;
  private listeners = new Set<(dirty: Rect[]) => void>();

  constructor(
    readonly width: number,
    readonly height: number,
    description = `memory ${width}x${height}`,
  ) {
    this.description = description;
    this.screen = createCanvas(width, height);
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  present(frame: Canvas, dirty: Rect[]): Promise<void> {
    if (frame.width !== this.width || frame.height !== this.height) {
      return Promise.reject(new DisplayError(`frame is ${frame.width}x${frame.height} but ${this.description} draws at ${this.width}x${this.height}`));
    }
    const rects = dirty.length ? dirty : [fullRect(this)];
    const ctx = this.screen.getContext('2d');
    const applied: Rect[] = [];
    for (const r of rects) {
      const c = clipRect(r, this.width, this.height);
      if (!c) continue;
      ctx.drawImage(frame, c.x, c.y, c.w, c.h, c.x, c.y, c.w, c.h);
      this.pixelsCopied += c.w * c.h;
      applied.push(c);
    }
    this.presents++;
    for (const l of this.listeners) l(applied);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The screen as PNG bytes. */
  png(): Buffer {
    return this.screen.toBuffer('image/png');
  }

  /** RGBA pixels of the whole screen (for QR decoders such as jsQR). */
  rgba(): { data: Uint8ClampedArray; width: number; height: number } {
    const img = this.screen.getContext('2d').getImageData(0, 0, this.width, this.height);
    return { data: img.data, width: this.width, height: this.height };
  }

  /** Called after every present() with the rectangles actually copied. */
  onPresent(listener: (dirty: Rect[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
