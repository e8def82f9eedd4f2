/**
 * Pixel conversion and rotation for the framebuffer driver, kept free of I/O so it can be
 * tested and benchmarked on its own.
 *
 * Source pixels are 32-bit words read little-endian from canvas: either canvas's raw surface
 * (`toBuffer('raw')`, bytes B,G,R,A → word 0xAARRGGBB) or `getImageData` (bytes R,G,B,A →
 * word 0xAABBGGRR). The two differ only by a red/blue swap, so a source in RGBA order is
 * handled by swapping the target's channel order instead of touching every pixel twice.
 */
import type { Rect } from './contract';

/**
 * Framebuffer pixel formats by depth. Names give the channels from the most significant bit of
 * the little-endian pixel word down: RGB888 (24 bpp) is bytes B,G,R in memory, BGR888 is R,G,B.
 */
export type FbPixelFormat = 'RGB565' | 'BGR565' | 'RGB888' | 'BGR888' | 'XRGB8888' | 'XBGR8888';
export type Rotation = 0 | 90 | 180 | 270;
export type SourceOrder = 'BGRA' | 'RGBA';

export function bytesPerPixel(format: FbPixelFormat): 2 | 3 | 4 {
  return format.endsWith('565') ? 2 : format.endsWith('888') && !format.startsWith('X') ? 3 : 4;
}

/** The usual format at a depth (red in the high bits), or undefined for an unsupported depth. */
export function defaultFormat(bitsPerPixel: number): FbPixelFormat | undefined {
  return ({ 16: 'RGB565', 24: 'RGB888', 32: 'XRGB8888' } as const)[bitsPerPixel as 16 | 24 | 32];
}

/** The same channel order at another depth: BGR565 at 32 bpp is XBGR8888. */
export function formatAtDepth(format: FbPixelFormat, bitsPerPixel: number): FbPixelFormat | undefined {
  const base = defaultFormat(bitsPerPixel);
  if (!base) return undefined;
  const redLow = format === 'BGR565' || format === 'BGR888' || format === 'XBGR8888';
  return redLow ? ({ RGB565: 'BGR565', RGB888: 'BGR888', XRGB8888: 'XBGR8888' } as const)[base as 'RGB565' | 'RGB888' | 'XRGB8888'] : base;
}

/** The logical (drawing) size of a panel mounted at `rotation`. */
export function logicalSize(physW: number, physH: number, rotation: Rotation): { width: number; height: number } {
  return rotation === 90 || rotation === 270 ? { width: physH, height: physW } : { width: physW, height: physH };
}

/** Where a logical rectangle lands on the physical panel. */
export function physicalRect(r: Rect, rotation: Rotation, logicalW: number, logicalH: number): Rect {
  switch (rotation) {
    case 0:
      return { ...r };
    case 90:
      return { x: logicalH - r.y - r.h, y: r.x, w: r.h, h: r.w };
    case 180:
      return { x: logicalW - r.x - r.w, y: logicalH - r.y - r.h, w: r.w, h: r.h };
    case 270:
      return { x: r.y, y: logicalW - r.x - r.w, w: r.h, h: r.w };
  }
}

export interface Source {
  /** 32-bit words, one per pixel. */
  words: Uint32Array;
  order: SourceOrder;
  /** Logical coordinates of words[0] and the row length in pixels. */
  x0: number;
  y0: number;
  stride: number;
}

/**
 * Converts the physical rectangle `phys` into `out`: row j starts at byte `outOffset + j × outStride`
 * (defaults: tightly packed rows from the start). `logicalW/H` is the canvas size. At 16 and 32 bpp
 * the offset and stride must be whole pixels (the framebuffer driver checks the stride at open()).
 */
export function convertRect(
  src: Source,
  phys: Rect,
  rotation: Rotation,
  logicalW: number,
  logicalH: number,
  format: FbPixelFormat,
  out: ArrayBufferLike,
  outStride = phys.w * bytesPerPixel(format),
  outOffset = 0,
): void {
  // A source in RGBA order is a BGRA source with red and blue swapped: swap the target instead.
  const swapped = src.order === 'RGBA';
  const redHigh = (format === 'RGB565' || format === 'RGB888' || format === 'XRGB8888') !== swapped;
  const words = src.words;
  const ss = src.stride;
  // Index in `words` of logical (lx, ly), and how it moves when the physical x grows by one.
  const at = (lx: number, ly: number) => (ly - src.y0) * ss + (lx - src.x0);
  let step: number;
  let rowStart: (py: number) => number;
  switch (rotation) {
    case 0:
      step = 1;
      rowStart = (py) => at(phys.x, py);
      break;
    case 90:
      step = -ss;
      rowStart = (py) => at(py, logicalH - 1 - phys.x);
      break;
    case 180:
      step = -1;
      rowStart = (py) => at(logicalW - 1 - phys.x, logicalH - 1 - py);
      break;
    case 270:
      step = ss;
      rowStart = (py) => at(logicalW - 1 - py, phys.x);
      break;
  }
  const w = phys.w;
  const bpp = bytesPerPixel(format);
  if (bpp === 3) {
    // Packed 24-bit: the pixel word's low three bytes, least significant first.
    const dst = new Uint8Array(out);
    for (let j = 0; j < phys.h; j++) {
      let d = outOffset + j * outStride;
      let s = rowStart(phys.y + j);
      for (let i = 0; i < w; i++, s += step) {
        const p = words[s];
        const lo = redHigh ? p & 0xff : (p >>> 16) & 0xff;
        const hi = redHigh ? (p >>> 16) & 0xff : p & 0xff;
        dst[d++] = lo;
        dst[d++] = (p >>> 8) & 0xff;
        dst[d++] = hi;
      }
    }
    return;
  }
  if (outOffset % bpp !== 0 || outStride % bpp !== 0) throw new RangeError(`offset ${outOffset} and stride ${outStride} must be whole ${bpp}-byte pixels`);
  const pxOffset = outOffset / bpp;
  const pxStride = outStride / bpp;
  if (bpp === 4) {
    const dst = new Uint32Array(out);
    for (let j = 0; j < phys.h; j++) {
      let d = pxOffset + j * pxStride;
      let s = rowStart(phys.y + j);
      if (redHigh) {
        if (step === 1) {
          dst.set(words.subarray(s, s + w), d);
        } else {
          for (let i = 0; i < w; i++, s += step) dst[d++] = words[s];
        }
      } else {
        for (let i = 0; i < w; i++, s += step) {
          const p = words[s];
          dst[d++] = (p & 0xff00ff00) | ((p & 0xff) << 16) | ((p >>> 16) & 0xff);
        }
      }
    }
    return;
  }
  const dst = new Uint16Array(out);
  for (let j = 0; j < phys.h; j++) {
    let d = pxOffset + j * pxStride;
    let s = rowStart(phys.y + j);
    if (redHigh) {
      for (let i = 0; i < w; i++, s += step) {
        const p = words[s];
        dst[d++] = ((p >>> 8) & 0xf800) | ((p >>> 5) & 0x07e0) | ((p >>> 3) & 0x001f);
      }
    } else {
      for (let i = 0; i < w; i++, s += step) {
        const p = words[s];
        dst[d++] = ((p << 8) & 0xf800) | ((p >>> 5) & 0x07e0) | ((p >>> 19) & 0x001f);
      }
    }
  }
}
