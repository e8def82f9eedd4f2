/**
 * Framebuffer push benchmark: time for FramebufferDisplay.present() of a full frame and of the
 * amount line (full width × 1/5 height, what changes on each key press), at 320×240 RGB565
 * (SPI panel) and 800×480 XRGB8888 (HDMI / DSI), into a regular file on disk and in /dev/shm.
 * The time includes reading the canvas pixels, conversion, rotation and the write.
 *
 * usage: npx tsx scripts/bench/framebuffer.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCanvas, type Canvas } from 'canvas';
import { createLogger } from '../../src/shared/log';
import { FramebufferDisplay } from '../../drivers/display/framebuffer';
import type { Rect } from '../../drivers/display/contract';
import type { Rotation } from '../../drivers/display/pixels';
import { drawQr, makeFakeFb } from '../../drivers/display/testing';

/** Budget per key press for the amount line on this (x86) machine; a Pi 3/4 is roughly 4–8× slower. */
const TARGET_AMOUNT_LINE_MS = 2;
const TARGET_FULL_FRAME_MS = 10;

function frame(width: number, height: number): Canvas {
  const c = createCanvas(width, height);
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#000000';
  ctx.font = `bold ${Math.floor(height / 8)}px sans-serif`;
  ctx.fillText('THB 1,500.00', 10, Math.floor(height / 7));
  drawQr(ctx, 'https://example.invalid/qr/0123456789abcdef', Math.floor(width / 3), Math.floor(height / 4), 2);
  return c;
}

function stats(samples: number[]): { median: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.floor(s.length * 0.95))] };
}

async function time(d: FramebufferDisplay, f: Canvas, dirty: Rect[], iterations: number): Promise<{ median: number; p95: number; bytes: number }> {
  for (let i = 0; i < 5; i++) await d.present(f, dirty); // warm-up (JIT, page cache)
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await d.present(f, dirty);
    samples.push(performance.now() - t);
  }
  return { ...stats(samples), bytes: d.bytesWritten };
}

async function main(): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const places: [string, string][] = [['file', os.tmpdir()]];
  if (fs.existsSync('/dev/shm')) places.push(['/dev/shm', '/dev/shm']);
  const cases: { name: string; w: number; h: number; bpp: 16 | 32; rotation: Rotation }[] = [
    { name: '320x240 RGB565', w: 320, h: 240, bpp: 16, rotation: 0 },
    { name: '800x480 XRGB8888', w: 800, h: 480, bpp: 32, rotation: 0 },
    { name: '800x480 XRGB8888 rot90', w: 800, h: 480, bpp: 32, rotation: 90 },
  ];
  console.log(`framebuffer push (node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}), median / p95 in ms`);
  console.log(`targets here: amount line <= ${TARGET_AMOUNT_LINE_MS} ms, full frame <= ${TARGET_FULL_FRAME_MS} ms`);
  let ok = true;
  for (const [placeName, base] of places) {
    for (const c of cases) {
      const dir = fs.mkdtempSync(path.join(base, 'qrpos-fb-bench-'));
      try {
        const fb = makeFakeFb(dir, c.w, c.h, c.bpp);
        const d = new FramebufferDisplay({ driver: 'framebuffer', device: fb.device, sysfsDir: fb.sysfsDir, rotation: c.rotation, tty: null }, log);
        await d.open();
        const f = frame(d.width, d.height);
        const full = await time(d, f, [], 100);
        const line = await time(d, f, [{ x: 0, y: 0, w: d.width, h: Math.floor(d.height / 5) }], 300);
        await d.close();
        const verdict = full.median <= TARGET_FULL_FRAME_MS && line.median <= TARGET_AMOUNT_LINE_MS ? 'ok' : 'OVER TARGET';
        if (verdict !== 'ok') ok = false;
        console.log(
          `${placeName.padEnd(9)} ${c.name.padEnd(24)} full frame ${full.median.toFixed(3)} / ${full.p95.toFixed(3)} (${(full.bytes / 1024).toFixed(0)} KiB)` +
            `   amount line ${line.median.toFixed(3)} / ${line.p95.toFixed(3)} (${(line.bytes / 1024).toFixed(0)} KiB)   ${verdict}`,
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  if (!ok) process.exitCode = 1;
}

void main();
