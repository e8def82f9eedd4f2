/**
 * Test and harness helpers for displays: a fake framebuffer (regular file + sysfs geometry
 * folder), an independent decoder that turns framebuffer bytes back into the logical picture,
 * and whole-pixel QR drawing. The decoder deliberately does not share code with the driver,
 * so a conversion or rotation bug cannot cancel itself out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import QRCode from 'qrcode';
import type { CanvasRenderingContext2D } from 'canvas';
import type { FbPixelFormat, Rotation } from './pixels';

export interface FakeFb {
  device: string;
  sysfsDir: string;
  width: number;
  height: number;
  bpp: 16 | 24 | 32;
  stride: number;
}

/** Creates `<dir>/fb` (filled with `fill`) and `<dir>/sysfs/{virtual_size,bits_per_pixel,stride,name}`. */
export function makeFakeFb(dir: string, width: number, height: number, bpp: 16 | 24 | 32, stride = width * (bpp / 8), fill = 0xaa, name = 'fake fb'): FakeFb {
  return writeFakeFb(path.join(dir, 'fb'), path.join(dir, 'sysfs'), width, height, bpp, stride, fill, name);
}

/**
 * A fake /dev plus /sys/class/graphics with several framebuffers, as a Pi with HDMI and an SPI
 * panel has: `<dir>/dev/fbN` and `<dir>/graphics/fbN/{name,…}` for each entry, in order (fb0, fb1, …).
 */
export function makeFakeGraphics(
  dir: string,
  fbs: { name: string; width: number; height: number; bpp: 16 | 24 | 32; stride?: number }[],
): { devDir: string; graphicsDir: string; fbs: FakeFb[] } {
  const devDir = path.join(dir, 'dev');
  const graphicsDir = path.join(dir, 'graphics');
  fs.mkdirSync(devDir, { recursive: true });
  // Something else sysfs lists there too (fbcon), which is not a framebuffer.
  fs.mkdirSync(path.join(graphicsDir, 'fbcon'), { recursive: true });
  const made = fbs.map((f, i) => writeFakeFb(path.join(devDir, `fb${i}`), path.join(graphicsDir, `fb${i}`), f.width, f.height, f.bpp, f.stride ?? f.width * (f.bpp / 8), 0x10 + i, f.name));
  return { devDir, graphicsDir, fbs: made };
}

function writeFakeFb(device: string, sysfsDir: string, width: number, height: number, bpp: 16 | 24 | 32, stride: number, fill: number, name: string): FakeFb {
  fs.mkdirSync(sysfsDir, { recursive: true });
  fs.writeFileSync(path.join(sysfsDir, 'virtual_size'), `${width},${height}\n`);
  fs.writeFileSync(path.join(sysfsDir, 'bits_per_pixel'), `${bpp}\n`);
  fs.writeFileSync(path.join(sysfsDir, 'stride'), `${stride}\n`);
  fs.writeFileSync(path.join(sysfsDir, 'name'), `${name}\n`);
  fs.writeFileSync(device, Buffer.alloc(stride * height, fill));
  return { device, sysfsDir, width, height, bpp, stride };
}

/** RGB of the physical pixel (px, py) in framebuffer bytes; 5/6-bit channels are widened to 8 bits. */
export function physicalPixel(bytes: Buffer, fb: Pick<FakeFb, 'stride'>, format: FbPixelFormat, px: number, py: number): [number, number, number] {
  if (format === 'RGB565' || format === 'BGR565') {
    const v = bytes.readUInt16LE(py * fb.stride + px * 2);
    const hi = (v >> 11) & 0x1f;
    const mid = (v >> 5) & 0x3f;
    const lo = v & 0x1f;
    const five = (c: number) => (c << 3) | (c >> 2);
    const r = format === 'RGB565' ? five(hi) : five(lo);
    const b = format === 'RGB565' ? five(lo) : five(hi);
    return [r, (mid << 2) | (mid >> 4), b];
  }
  if (format === 'RGB888' || format === 'BGR888') {
    const o = py * fb.stride + px * 3;
    // Packed little-endian: RGB888 is B,G,R in memory; BGR888 is R,G,B.
    return format === 'RGB888' ? [bytes[o + 2], bytes[o + 1], bytes[o]] : [bytes[o], bytes[o + 1], bytes[o + 2]];
  }
  const o = py * fb.stride + px * 4;
  // XRGB8888 little-endian is B,G,R,X in memory; XBGR8888 is R,G,B,X.
  return format === 'XRGB8888' ? [bytes[o + 2], bytes[o + 1], bytes[o]] : [bytes[o], bytes[o + 1], bytes[o + 2]];
}

/** The logical picture (RGBA, as the terminal drew it) from framebuffer bytes of a panel mounted at `rotation`. */
export function decodeFramebuffer(bytes: Buffer, fb: Pick<FakeFb, 'width' | 'height' | 'stride'>, format: FbPixelFormat, rotation: Rotation): { data: Uint8ClampedArray; width: number; height: number } {
  const turned = rotation === 90 || rotation === 270;
  const width = turned ? fb.height : fb.width;
  const height = turned ? fb.width : fb.height;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let py = 0; py < fb.height; py++) {
    for (let px = 0; px < fb.width; px++) {
      // Undo a clockwise mounting rotation: the logical pixel shown at physical (px, py).
      let lx: number;
      let ly: number;
      if (rotation === 0) [lx, ly] = [px, py];
      else if (rotation === 90) [lx, ly] = [py, fb.width - 1 - px];
      else if (rotation === 180) [lx, ly] = [fb.width - 1 - px, fb.height - 1 - py];
      else [lx, ly] = [fb.height - 1 - py, px];
      const [r, g, b] = physicalPixel(bytes, fb, format, px, py);
      const o = (ly * width + lx) * 4;
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
      data[o + 3] = 255;
    }
  }
  return { data, width, height };
}

/** Draws `text` as a QR with whole-pixel modules and a 4-module quiet zone; returns the side in pixels. */
export function drawQr(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, scale: number): number {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const side = (n + 8) * scale;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(x, y, side, side);
  ctx.fillStyle = '#000000';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.modules.get(r, c)) ctx.fillRect(x + (c + 4) * scale, y + (r + 4) * scale, scale, scale);
    }
  }
  return side;
}

/** Largest whole-pixel module size at which `text` fits in `side` pixels (quiet zone included). */
export function qrScaleFor(text: string, side: number): number {
  const n = QRCode.create(text, { errorCorrectionLevel: 'M' }).modules.size;
  return Math.max(1, Math.floor(side / (n + 8)));
}
