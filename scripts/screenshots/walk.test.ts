/**
 * The screenshot walk at one size, against the real demo: every step reaches its screen, each
 * saved file is a frame of the terminal's display at that size, no two saved screens are the
 * same picture, the QR frame holds a scannable QR, and the index lists every file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCanvas, loadImage } from 'canvas';
import jsQR from 'jsqr';
import { indexPage, shootSize } from './run';
import { WALK } from './walk';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-shots-test-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

async function pixels(file: string): Promise<{ width: number; height: number; data: Uint8ClampedArray }> {
  const img = await loadImage(fs.readFileSync(file));
  const c = createCanvas(img.width, img.height);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return { width: img.width, height: img.height, data: ctx.getImageData(0, 0, img.width, img.height).data };
}

describe('screenshots walk', () => {
  it('saves one frame per named step at 320x240, all different, and indexes them', async () => {
    const shots = await shootSize('320x240', out);
    const named = WALK.filter((s) => s.file).map((s) => s.file);
    expect(shots.map((s) => s.file)).toEqual(named.map((n, i) => `${String(i + 1).padStart(2, '0')}-${n}.png`));
    expect(named).toEqual(expect.arrayContaining(['idle', 'amount-entry', 'method-picker', 'creating', 'qr', 'paid', 'failed', 'expired', 'cancelled', 'late-payment', 'offline', 'supervisor-pin', 'supervisor-menu', 'idle-late-payment', 'late-payments', 'late-payment-decide', 'refund-review', 'refund-done', 'x-report', 'recent-sales', 'sale-view', 'refund-confirm', 'z-confirm', 'z-report', 'pairing']));

    const hashes = new Set<string>();
    for (const s of shots) {
      const file = path.join(out, '320x240', s.file);
      const px = await pixels(file);
      expect([px.width, px.height], s.file).toEqual([320, 240]);
      hashes.add(crypto.createHash('sha256').update(px.data).digest('hex'));
      const qr = jsQR(px.data, px.width, px.height);
      if (s.file.endsWith('-qr.png')) expect(qr?.data, s.file).toBeTruthy();
      if (s.file.endsWith('-paid.png')) expect(qr, s.file).toBeNull();
    }
    expect(hashes.size).toBe(shots.length);

    const index = indexPage([{ size: '320x240', shots }]);
    expect(index).toContain('## 320x240');
    for (const s of shots) expect(index).toContain(`320x240/${s.file}`);
  }, 120_000);
});
