/**
 * The Display contract (drivers/display/contract.ts), run against every implementation: what
 * the terminal relies on is the same whether pixels end up in memory, a PNG file or /dev/fb0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCanvas, loadImage, type Canvas } from 'canvas';
import jsQR from 'jsqr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import { DisplayError, type Display } from './contract';
import { FramebufferDisplay } from './framebuffer';
import { MemoryDisplay } from './memory';
import { PngFileDisplay } from './png-file';
import { decodeFramebuffer, drawQr, makeFakeFb } from './testing';

interface Image {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}
interface Subject {
  display: Display;
  /** What is on the screen now, as RGBA. */
  readBack(): Promise<Image>;
}

const W = 160;
const H = 120;

const subjects: { name: string; make(dir: string): Subject }[] = [
  {
    name: 'MemoryDisplay',
    make() {
      const display = new MemoryDisplay(W, H);
      return { display, readBack: async () => display.rgba() };
    },
  },
  {
    name: 'PngFileDisplay',
    make(dir) {
      const file = path.join(dir, 'out', 'screen.png');
      const display = new PngFileDisplay({ driver: 'png', path: file, width: W, height: H }, memoryLogger());
      return {
        display,
        readBack: async () => {
          const img = await loadImage(fs.readFileSync(file));
          const c = createCanvas(img.width, img.height);
          c.getContext('2d').drawImage(img, 0, 0);
          return { data: c.getContext('2d').getImageData(0, 0, img.width, img.height).data, width: img.width, height: img.height };
        },
      };
    },
  },
  {
    name: 'FramebufferDisplay (XRGB8888 file, rotation 90)',
    make(dir) {
      // Physical 120×160 panel mounted sideways: the logical size is 160×120 like the others.
      const fb = makeFakeFb(dir, H, W, 32, H * 4 + 16);
      const display = new FramebufferDisplay(
        { driver: 'framebuffer', device: fb.device, sysfsDir: fb.sysfsDir, rotation: 90, tty: null, pixelFormat: 'XRGB8888' },
        memoryLogger(),
      );
      return { display, readBack: async () => decodeFramebuffer(fs.readFileSync(fb.device), fb, 'XRGB8888', 90) };
    },
  },
];

function solid(color: string): Canvas {
  const c = createCanvas(W, H);
  const ctx = c.getContext('2d');
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, W, H);
  return c;
}

function rgbAt(img: Image, x: number, y: number): string {
  const o = (y * img.width + x) * 4;
  return `${img.data[o]},${img.data[o + 1]},${img.data[o + 2]}`;
}

for (const subject of subjects) {
  describe(`Display contract: ${subject.name}`, () => {
    let dir: string;
    let s: Subject;
    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-display-'));
      s = subject.make(dir);
      await s.display.open();
    });
    afterEach(async () => {
      await s.display.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('has the logical size the terminal draws at', () => {
      expect([s.display.width, s.display.height]).toEqual([W, H]);
      expect(s.display.description.length).toBeGreaterThan(0);
    });

    it('an empty dirty list presents the whole frame, and a QR on it decodes', async () => {
      const frame = solid('#ffffff');
      drawQr(frame.getContext('2d'), 'contract QR 42.00', 10, 10, 3);
      await s.display.present(frame, []);
      const img = await s.readBack();
      expect([img.width, img.height]).toEqual([W, H]);
      expect(rgbAt(img, W - 1, H - 1)).toBe('255,255,255');
      expect(jsQR(img.data, img.width, img.height)?.data).toBe('contract QR 42.00');
    });

    it('dirty rectangles update only themselves; rectangles are clipped to the screen', async () => {
      await s.display.present(solid('#ff0000'), []);
      await s.display.present(solid('#0000ff'), [
        { x: 10, y: 20, w: 30, h: 5 },
        { x: W - 5, y: H - 5, w: 50, h: 50 }, // partly outside
        { x: W + 10, y: 0, w: 10, h: 10 }, // entirely outside: nothing
      ]);
      const img = await s.readBack();
      expect(rgbAt(img, 10, 20)).toBe('0,0,255');
      expect(rgbAt(img, 39, 24)).toBe('0,0,255');
      expect(rgbAt(img, 40, 24)).toBe('255,0,0');
      expect(rgbAt(img, 10, 25)).toBe('255,0,0');
      expect(rgbAt(img, W - 1, H - 1)).toBe('0,0,255');
      expect(rgbAt(img, W - 6, H - 1)).toBe('255,0,0');
      expect(rgbAt(img, 0, 0)).toBe('255,0,0');
    });

    it('a frame of the wrong size is a DisplayError and leaves the screen as it was', async () => {
      await s.display.present(solid('#00ff00'), []);
      await expect(s.display.present(createCanvas(W + 1, H), [])).rejects.toBeInstanceOf(DisplayError);
      expect(rgbAt(await s.readBack(), 5, 5)).toBe('0,255,0');
    });

    it('close() is idempotent', async () => {
      await s.display.close();
      await s.display.close();
    });
  });
}
