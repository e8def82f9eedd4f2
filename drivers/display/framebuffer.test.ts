import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCanvas, type Canvas } from 'canvas';
import jsQR from 'jsqr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import { DisplayConfigSchema } from '../config';
import { DisplayError, type Rect } from './contract';
import { FramebufferDisplay, fbNameMatches, type FramebufferConfig } from './framebuffer';
import { physicalRect, type FbPixelFormat, type Rotation } from './pixels';
import { decodeFramebuffer, drawQr, makeFakeFb, makeFakeGraphics, physicalPixel, type FakeFb } from './testing';

const ROTATIONS: Rotation[] = [0, 90, 180, 270];
const RED: [number, number, number] = [255, 0, 0];
const GREEN: [number, number, number] = [0, 255, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const WHITE: [number, number, number] = [255, 255, 255];
const QR_TEXT = 'qrpos fb test 1500 THB';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-fb-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function config(fb: FakeFb, extra: Partial<FramebufferConfig> = {}): FramebufferConfig {
  const cfg = DisplayConfigSchema.parse({ driver: 'framebuffer', device: fb.device, sysfsDir: fb.sysfsDir, tty: null, ...extra });
  if (cfg.driver !== 'framebuffer') throw new Error('unreachable');
  return cfg;
}

/** White frame, coloured 8×8 corners (top-left red, top-right green, bottom-left blue) and a QR. */
function testFrame(width: number, height: number): Canvas {
  const c = createCanvas(width, height);
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#ff0000';
  ctx.fillRect(0, 0, 8, 8);
  ctx.fillStyle = '#00ff00';
  ctx.fillRect(width - 8, 0, 8, 8);
  ctx.fillStyle = '#0000ff';
  ctx.fillRect(0, height - 8, 8, 8);
  // A colour that survives RGB565 exactly but catches channel shifts that pure colours hide.
  ctx.fillStyle = '#84454a';
  ctx.fillRect(width - 20, height - 20, 8, 8);
  drawQr(ctx, QR_TEXT, 12, 12, 2);
  return c;
}

function pixel(img: { data: Uint8ClampedArray; width: number }, x: number, y: number): number[] {
  const o = (y * img.width + x) * 4;
  return [img.data[o], img.data[o + 1], img.data[o + 2]];
}

/** Physical corner where the logical top-left lands for a panel mounted at each rotation. */
function physicalOfLogicalTopLeft(fb: FakeFb, rotation: Rotation): [number, number] {
  return ({ 0: [0, 0], 90: [fb.width - 1, 0], 180: [fb.width - 1, fb.height - 1], 270: [0, fb.height - 1] } as const)[rotation] as [number, number];
}

const FORMATS: { format: FbPixelFormat; bpp: 16 | 24 | 32; explicit: boolean }[] = [
  { format: 'RGB565', bpp: 16, explicit: false },
  { format: 'XRGB8888', bpp: 32, explicit: false },
  { format: 'RGB888', bpp: 24, explicit: false },
  { format: 'BGR565', bpp: 16, explicit: true },
  { format: 'XBGR8888', bpp: 32, explicit: true },
  { format: 'BGR888', bpp: 24, explicit: true },
];

describe('FramebufferDisplay on a regular file with fake sysfs geometry', () => {
  for (const { format, bpp, explicit } of FORMATS) {
    for (const rotation of ROTATIONS) {
      it(`${format} rotation ${rotation}: full frame reads back pixel-exact, QR decodes, row padding untouched`, async () => {
        // 120×100 panel, rows padded by 24 bytes.
        const fb = makeFakeFb(dir, 120, 100, bpp, 120 * (bpp / 8) + 24, 0xaa);
        const d = new FramebufferDisplay(config(fb, { rotation, ...(explicit ? { pixelFormat: format } : {}) }), memoryLogger());
        await d.open();
        expect([d.width, d.height]).toEqual(rotation % 180 ? [100, 120] : [120, 100]);
        const frame = testFrame(d.width, d.height);
        await d.present(frame, []);
        await d.close();

        const bytes = fs.readFileSync(fb.device);
        const [px, py] = physicalOfLogicalTopLeft(fb, rotation);
        expect(physicalPixel(bytes, fb, format, px, py)).toEqual(RED);
        const img = decodeFramebuffer(bytes, fb, format, rotation);
        expect([img.width, img.height]).toEqual([d.width, d.height]);
        expect(pixel(img, 0, 0)).toEqual(RED);
        expect(pixel(img, d.width - 1, 0)).toEqual(GREEN);
        expect(pixel(img, 0, d.height - 1)).toEqual(BLUE);
        expect(pixel(img, d.width - 1, d.height - 1)).toEqual(WHITE);
        expect(pixel(img, d.width - 16, d.height - 16)).toEqual([0x84, 0x45, 0x4a]);
        // Every pixel matches the canvas (exact colours: the frame uses only pure ones).
        const want = frame.getContext('2d').getImageData(0, 0, d.width, d.height).data;
        let diff = 0;
        for (let i = 0; i < want.length; i++) if (Math.abs(want[i] - img.data[i]) > 0) diff++;
        expect(diff).toBe(0);
        expect(jsQR(img.data, img.width, img.height)?.data).toBe(QR_TEXT);
        for (let y = 0; y < fb.height; y++) {
          const pad = bytes.subarray(y * fb.stride + fb.width * (bpp / 8), (y + 1) * fb.stride);
          expect(pad.every((b) => b === 0xaa)).toBe(true);
        }
      });
    }
  }

  for (const { format, bpp } of FORMATS.slice(0, 3)) {
    for (const rotation of ROTATIONS) {
      it(`${format} rotation ${rotation}: dirty rectangles write only their own bytes`, async () => {
        const fb = makeFakeFb(dir, 96, 64, bpp, 96 * (bpp / 8) + 8, 0x55);
        const d = new FramebufferDisplay(config(fb, { rotation }), memoryLogger());
        await d.open();
        const frame = testFrame(d.width, d.height);
        await d.present(frame, []);
        const before = fs.readFileSync(fb.device);

        const ctx = frame.getContext('2d');
        ctx.fillStyle = '#0000ff';
        ctx.fillRect(0, 0, d.width, d.height); // everything changes on the canvas...
        const small: Rect = { x: 5, y: 7, w: 11, h: 9 };
        const large: Rect = { x: 0, y: Math.floor(d.height / 2), w: d.width, h: Math.ceil(d.height / 2) }; // > 40 %: raw-surface path
        await d.present(frame, [small, large]); // ...but only these are pushed
        await d.close();

        const after = fs.readFileSync(fb.device);
        const bytesPerPx = bpp / 8;
        const inside = (px: number, py: number) =>
          [small, large].some((r) => {
            const p = physicalRect(r, rotation, d.width, d.height);
            return px >= p.x && px < p.x + p.w && py >= p.y && py < p.y + p.h;
          });
        let changedOutside = 0;
        let wrongInside = 0;
        for (let py = 0; py < fb.height; py++) {
          for (let off = 0; off < fb.stride; off++) {
            const px = Math.floor(off / bytesPerPx);
            const i = py * fb.stride + off;
            if (px < fb.width && inside(px, py)) continue;
            if (after[i] !== before[i]) changedOutside++;
          }
          for (let px = 0; px < fb.width; px++) if (inside(px, py) && physicalPixel(after, fb, format, px, py).join() !== BLUE.join()) wrongInside++;
        }
        expect(changedOutside).toBe(0);
        expect(wrongInside).toBe(0);
        // One positioned write per rectangle, spanning from its first pixel to its last.
        expect(d.writes).toBe(2);
        const span = (r: Rect) => {
          const p = physicalRect(r, rotation, d.width, d.height);
          return (p.h - 1) * fb.stride + p.w * bytesPerPx;
        };
        expect(d.bytesWritten).toBe(span(small) + span(large));
      });
    }
  }

  it('writes each dirty rectangle with one write, keeping what is on the panel between its rows', async () => {
    const fb = makeFakeFb(dir, 320, 240, 16, 320 * 2, 0x11);
    const d = new FramebufferDisplay(config(fb), memoryLogger());
    await d.open();
    const frame = testFrame(320, 240);
    await d.present(frame, [{ x: 10, y: 10, w: 100, h: 48 }]);
    expect(d.writes).toBe(1);
    expect(d.bytesWritten).toBe(47 * 640 + 200);
    const bytes = fs.readFileSync(fb.device);
    expect(bytes[10 * 640 + 110 * 2]).toBe(0x11); // right of the rectangle: the file's old content, rewritten as it was
    expect(physicalPixel(bytes, fb, 'RGB565', 100, 40)).toEqual(WHITE); // inside: the frame's white
    await d.close();
  });

  it('a one-line rectangle that ends at the end of a scanline is written across two lines (Linux 6.1 DRM fbdev damage bug)', async () => {
    const fb = makeFakeFb(dir, 100, 50, 32);
    const d = new FramebufferDisplay(config(fb), memoryLogger());
    await d.open();
    const frame = testFrame(100, 50);
    await d.present(frame, [{ x: 60, y: 20, w: 40, h: 1 }]);
    expect(d.bytesWritten).toBe(41 * 4); // ends with the first pixel of line 21
    await d.present(frame, [{ x: 60, y: 49, w: 40, h: 1 }]);
    expect(d.bytesWritten).toBe(101 * 4); // last line: starts with the last pixel of line 48
    await d.present(frame, [{ x: 10, y: 20, w: 40, h: 1 }]);
    expect(d.bytesWritten).toBe(40 * 4); // not at the line end: exactly the rectangle
    await d.close();
  });

  it('geometry that does not fit the config is an error naming both (onMismatch "error")', async () => {
    const fb = makeFakeFb(dir, 320, 240, 16);
    const d = new FramebufferDisplay(config(fb, { width: 800, height: 480, onMismatch: 'error' }), memoryLogger());
    const err = await d.open().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DisplayError);
    expect((err as Error).message).toContain('320x240');
    expect((err as Error).message).toContain('800x480');
    expect((err as Error).message).toContain(fb.sysfsDir);
  });

  it('a pixel format of the wrong depth is an error naming both (onMismatch "error")', async () => {
    const fb = makeFakeFb(dir, 320, 240, 16);
    const d = new FramebufferDisplay(config(fb, { pixelFormat: 'XRGB8888', onMismatch: 'error' }), memoryLogger());
    await expect(d.open()).rejects.toThrow(/16 bits per pixel.*XRGB8888/);
  });

  it('unsupported depth, missing sysfs, short file and wrong frame size are DisplayErrors', async () => {
    const fb24 = makeFakeFb(path.join(dir, 'a'), 100, 100, 32);
    fs.writeFileSync(path.join(fb24.sysfsDir, 'bits_per_pixel'), '8\n');
    await expect(new FramebufferDisplay(config(fb24), memoryLogger()).open()).rejects.toThrow(/8 bits per pixel.*supported: 16 .* 24 .* 32/);

    const missing = new FramebufferDisplay(config(fb24, { sysfsDir: path.join(dir, 'nope') }), memoryLogger());
    await expect(missing.open()).rejects.toBeInstanceOf(DisplayError);

    const short = makeFakeFb(path.join(dir, 'b'), 100, 100, 16);
    fs.truncateSync(short.device, 100 * 200 - 1);
    await expect(new FramebufferDisplay(config(short), memoryLogger()).open()).rejects.toThrow(/less than 100 rows of 200/);

    const ok = makeFakeFb(path.join(dir, 'c'), 100, 80, 16);
    const d = new FramebufferDisplay(config(ok, { rotation: 90 }), memoryLogger());
    await d.open();
    await expect(d.present(createCanvas(100, 80), [])).rejects.toThrow(/frame is 100x80 .* draws at 80x100/);
    await d.close();
    await d.close(); // idempotent
    await expect(d.present(createCanvas(80, 100), [])).rejects.toThrow(/not open/);
  });

  it('a failing device write rejects present() with a DisplayError', async () => {
    const fb = makeFakeFb(dir, 64, 64, 16);
    const d = new FramebufferDisplay(config(fb, { device: '/dev/full' }), memoryLogger());
    await d.open();
    await expect(d.present(testFrame(64, 64), [])).rejects.toThrow(/write to framebuffer \/dev\/full failed/);
    await d.close();
  });

  it('hides the console cursor and stops blanking on open, restores the cursor on close', async () => {
    const fb = makeFakeFb(dir, 64, 64, 16);
    const tty = path.join(dir, 'tty1');
    fs.writeFileSync(tty, '');
    const d = new FramebufferDisplay(config(fb, { tty }), memoryLogger());
    await d.open();
    expect(fs.readFileSync(tty, 'latin1')).toBe('\x1b[?25l\x1b[9;0]');
    await d.close();
    expect(fs.readFileSync(tty, 'latin1')).toBe('\x1b[?25l\x1b[9;0]\x1b[?25h');
  });

  it('a console tty that cannot be opened is logged and does not stop the display (and is not created)', async () => {
    const fb = makeFakeFb(dir, 64, 64, 16);
    const tty = path.join(dir, 'no-such-tty');
    const log = memoryLogger();
    const d = new FramebufferDisplay(config(fb, { tty }), log);
    await d.open();
    await d.present(testFrame(64, 64), []);
    await d.close();
    expect(fs.existsSync(tty)).toBe(false);
    expect(log.records().some((l) => l.level === 'warn' && String(l.msg).includes('cursor'))).toBe(true);
  });

  it('reports the configured logical size before open and the device size after', async () => {
    const fb = makeFakeFb(dir, 320, 240, 16);
    const d = new FramebufferDisplay(config(fb, { rotation: 270, width: 320, height: 240 }), memoryLogger());
    expect([d.width, d.height]).toEqual([240, 320]);
    await d.open();
    expect([d.width, d.height]).toEqual([240, 320]);
    expect(d.description).toContain('RGB565');
    await d.close();
  });
});

const REPO = path.resolve(__dirname, '..', '..');

/** The display section of a device profile, pointed at a fake /dev and /sys/class/graphics tree. */
function profileDisplay(profile: string, fake: { devDir: string; graphicsDir: string }): FramebufferConfig {
  const raw = JSON.parse(fs.readFileSync(path.join(REPO, 'device', 'profiles', `${profile}.json`), 'utf8')) as { drivers: { display: Record<string, unknown> } };
  const d = raw.drivers.display;
  const cfg = DisplayConfigSchema.parse({ ...d, device: path.join(fake.devDir, path.basename(String(d.device))), graphicsDir: fake.graphicsDir, tty: null });
  if (cfg.driver !== 'framebuffer') throw new Error(`${profile}: not a framebuffer display`);
  return cfg;
}

async function showAndDecode(d: FramebufferDisplay, fb: FakeFb, format: FbPixelFormat): Promise<string | undefined> {
  await d.open();
  await d.present(testFrame(d.width, d.height), []);
  await d.close();
  const img = decodeFramebuffer(fs.readFileSync(fb.device), fb, format, 0);
  expect(pixel(img, 0, 0)).toEqual(RED);
  return jsQR(img.data, img.width, img.height)?.data;
}

describe('FramebufferDisplay on the framebuffer that is there (issue 13 item 4)', () => {
  it('the HDMI profile (XRGB8888) on a Pi 4/5 vc4drmfb at its default 16 bpp draws RGB565 and logs the adaptation once', async () => {
    // Today's failure: open() threw "16 bits per pixel ... pixelFormat is XRGB8888" and the service crash-looped.
    const fake = makeFakeGraphics(dir, [{ name: 'vc4drmfb', width: 800, height: 480, bpp: 16, stride: 1600 }]);
    const log = memoryLogger();
    const d = new FramebufferDisplay(profileDisplay('pi-hdmi-800x480-usb-numpad', fake), log);
    expect(await showAndDecode(d, fake.fbs[0], 'RGB565')).toBe(QR_TEXT);
    expect(d.description).toContain('RGB565');
    expect(d.adaptations).toEqual([expect.stringMatching(/has 16 bits per pixel .*bits_per_pixel\) but the config's pixelFormat is XRGB8888: drawing RGB565/)]);
    await d.open(); // a re-open (the daemon's retry) finds the same difference and does not log it again
    await d.close();
    const warns = log.records().filter((r) => r.level === 'warn' && String(r.msg).includes('differs from the config'));
    expect(warns).toHaveLength(1);
    expect(JSON.stringify(warns[0])).toContain('XRGB8888');
  });

  it('adaptations describe the framebuffer of the latest open(): a later 32 bpp mode clears them', async () => {
    const fake = makeFakeGraphics(dir, [{ name: 'vc4drmfb', width: 800, height: 480, bpp: 16 }]);
    const d = new FramebufferDisplay(profileDisplay('pi-hdmi-800x480-usb-numpad', fake), memoryLogger());
    await d.open();
    await d.close();
    expect(d.adaptations).toHaveLength(1);
    // The same fb0 after the mode changed to 32 bpp (e.g. video=HDMI-A-1:800x480-32 and a reboot).
    fs.writeFileSync(path.join(fake.graphicsDir, 'fb0', 'bits_per_pixel'), '32\n');
    fs.writeFileSync(path.join(fake.graphicsDir, 'fb0', 'stride'), '3200\n');
    fs.writeFileSync(fake.fbs[0].device, Buffer.alloc(3200 * 480));
    await d.open();
    expect(d.adaptations).toEqual([]);
    expect(d.description).toContain('XRGB8888');
    await d.close();
  });

  it('the HDMI profile at 32 bpp and at 24 bpp with a padded stride', async () => {
    const fake = makeFakeGraphics(path.join(dir, '32'), [{ name: 'vc4drmfb', width: 800, height: 480, bpp: 32, stride: 3200 + 64 }]);
    const d32 = new FramebufferDisplay(profileDisplay('pi-hdmi-800x480-membrane-4x4', fake), memoryLogger());
    expect(await showAndDecode(d32, fake.fbs[0], 'XRGB8888')).toBe(QR_TEXT);
    expect(d32.adaptations).toEqual([]);
    // 24 bpp rows of 2400 bytes padded to 2404: not a whole number of pixels, which is fine at 24 bpp.
    const fake24 = makeFakeGraphics(path.join(dir, '24'), [{ name: 'simple', width: 800, height: 480, bpp: 24, stride: 2404 }]);
    const d24 = new FramebufferDisplay(profileDisplay('pi-hdmi-800x480-usb-numpad', fake24), memoryLogger());
    expect(await showAndDecode(d24, fake24.fbs[0], 'RGB888')).toBe(QR_TEXT);
    expect(d24.adaptations[0]).toMatch(/24 bits per pixel.*drawing RGB888/);
  });

  it('a monitor of another size than the profile is drawn at its own size (adapted, logged); "error" refuses it', async () => {
    const fake = makeFakeGraphics(dir, [{ name: 'vc4drmfb', width: 1024, height: 600, bpp: 32 }]);
    const d = new FramebufferDisplay(profileDisplay('pi-hdmi-800x480-usb-numpad', fake), memoryLogger());
    expect(await showAndDecode(d, fake.fbs[0], 'XRGB8888')).toBe(QR_TEXT);
    expect([d.width, d.height]).toEqual([1024, 600]);
    expect(d.adaptations).toEqual([expect.stringMatching(/is 1024x600 .*expects 800x480 .*: drawing at 1024x600/)]);
    const strict = new FramebufferDisplay({ ...profileDisplay('pi-hdmi-800x480-usb-numpad', fake), onMismatch: 'error' }, memoryLogger());
    await expect(strict.open()).rejects.toThrow(/1024x600 .*800x480.*onMismatch is "error"/);
  });

  it('finds an SPI panel by its driver name whichever fbN it is, next to the HDMI framebuffer', async () => {
    // Usual layout: HDMI fb0, the ILI9486 panel fb1 (the profile's device).
    const usual = makeFakeGraphics(path.join(dir, 'a'), [
      { name: 'vc4drmfb', width: 1920, height: 1080, bpp: 16 },
      { name: 'fb_ili9486', width: 480, height: 320, bpp: 16 },
    ]);
    const a = new FramebufferDisplay(profileDisplay('pi-ili9486-480x320-usb-numpad', usual), memoryLogger());
    expect(await showAndDecode(a, usual.fbs[1], 'RGB565')).toBe(QR_TEXT);
    expect(a.description).toContain(path.join(usual.devDir, 'fb1'));
    expect(fs.readFileSync(usual.fbs[0].device).every((b) => b === 0x10)).toBe(true); // the HDMI framebuffer untouched

    // No HDMI framebuffer (KMS off, or the panel probed first): the panel is fb0, not the profile's fb1.
    const swapped = makeFakeGraphics(path.join(dir, 'b'), [
      { name: 'ili9486drmfb', width: 480, height: 320, bpp: 16 },
      { name: 'vc4drmfb', width: 800, height: 480, bpp: 32 },
    ]);
    const log = memoryLogger();
    const b = new FramebufferDisplay(profileDisplay('pi-ili9486-480x320-usb-numpad', swapped), log);
    expect(await showAndDecode(b, swapped.fbs[0], 'RGB565')).toBe(QR_TEXT);
    expect(b.description).toContain(path.join(swapped.devDir, 'fb0'));
    expect(fs.readFileSync(swapped.fbs[1].device).every((x) => x === 0x11)).toBe(true);
    expect(log.records().some((r) => r.msg === 'framebuffer found by name')).toBe(true);

    // The ILI9341 profile among three framebuffers; fb10 sorts after fb2.
    const three = makeFakeGraphics(path.join(dir, 'c'), [
      { name: 'vc4drmfb', width: 800, height: 480, bpp: 16 },
      { name: 'fb_ili9486', width: 480, height: 320, bpp: 16 },
      { name: 'fb_ili9340', width: 320, height: 240, bpp: 16 },
    ]);
    const c = new FramebufferDisplay(profileDisplay('pi-ili9341-320x240-membrane-4x4', three), memoryLogger());
    expect(await showAndDecode(c, three.fbs[2], 'RGB565')).toBe(QR_TEXT);
  });

  it('no framebuffer of that name: an error naming the wanted names and what is there; no file is touched', async () => {
    const fake = makeFakeGraphics(dir, [{ name: 'vc4drmfb', width: 800, height: 480, bpp: 16 }]);
    const d = new FramebufferDisplay(profileDisplay('pi-ili9486-480x320-usb-numpad', fake), memoryLogger());
    const err = await d.open().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(DisplayError);
    expect(err!.message).toMatch(/no framebuffer named "fb_ili9486" or "ili9486\*" in .*graphics \(there: fb0 "vc4drmfb"\)/);
    expect(fs.existsSync(path.join(fake.devDir, 'fb1'))).toBe(false);
    expect(fs.readFileSync(fake.fbs[0].device).every((b) => b === 0x10)).toBe(true);
    const none = new FramebufferDisplay(config(makeFakeFb(path.join(dir, 'x'), 64, 64, 16), { name: 'vc4drmfb', graphicsDir: path.join(dir, 'no-such') }), memoryLogger());
    await expect(none.open()).rejects.toThrow(/cannot list framebuffers in .*no-such/);
  });

  it('name patterns: exact, `*` for any run, regex characters taken literally', () => {
    expect(fbNameMatches('vc4drmfb', ['vc4drmfb'])).toBe(true);
    expect(fbNameMatches('vc4drmfb2', ['vc4drmfb'])).toBe(false);
    expect(fbNameMatches('simpledrmdrmfb', ['vc4drmfb', 'simple*'])).toBe(true);
    expect(fbNameMatches('fb_ili9486', ['*ili9486*'])).toBe(true);
    expect(fbNameMatches('fbXili9486', ['fb.ili9486'])).toBe(false);
    expect(fbNameMatches('', ['*x'])).toBe(false);
  });
});
