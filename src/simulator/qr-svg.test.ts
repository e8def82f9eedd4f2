import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCanvas, loadImage } from 'canvas';
import jsQR from 'jsqr';
import { OmiseClient } from '../omise/client';
import { startSimulator, type SimulatorHandle } from './server';

async function decodeSvg(svg: Buffer): Promise<string | null> {
  const img = await loadImage(svg);
  const canvas = createCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height);
  return jsQR(new Uint8ClampedArray(data.data), img.width, img.height)?.data ?? null;
}

let sim: SimulatorHandle;
let client: OmiseClient;
beforeAll(async () => {
  sim = await startSimulator({ publicKey: 'pkey_test_qr', secretKey: 'skey_test_qr' });
  client = new OmiseClient({ baseUrl: sim.url, secretKey: 'skey_test_qr' });
});
afterAll(async () => {
  await sim.stop();
});

describe('QR documents', () => {
  it('rotates SVG structures per charge, each decoding to that charge payload', async () => {
    const seen: string[] = [];
    const payloads = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const ch = await client.createCharge({ amount: 5000 + i, currency: 'THB', source: { type: 'alipayplus_mpm' } });
      const doc = await client.downloadDocument(ch.source.scannable_code!.image.download_uri);
      const svg = doc.body.toString('utf8');
      const rects = (svg.match(/<rect /g) ?? []).length;
      seen.push(svg.includes('<path') ? 'path' : svg.includes('transform=') ? 'rects-transform' : 'rects');
      if (!svg.includes('<path')) expect(rects).toBeGreaterThan(100);
      const text = sim.qrTextOf(ch.id);
      payloads.add(text);
      expect(await decodeSvg(doc.body)).toBe(text);
      // The same document again is identical (built once, cached).
      expect((await client.downloadDocument(ch.source.scannable_code!.image.download_uri)).body.equals(doc.body)).toBe(true);
    }
    expect(seen.sort()).toEqual(['path', 'rects', 'rects-transform']);
    expect(payloads.size).toBe(3);
  });
});
