import { describe, expect, it } from 'vitest';
import { renderQrSvg, SVG_STYLES } from '../simulator/qr-svg';
import { decodeQrSvg, sizeSvg } from './qr-decode';

const TEXT = 'https://global.alipay.com/281002040090bbmmzTC4BzSex92tUglv31de';

describe('QR document decoding', () => {
  for (const style of SVG_STYLES) {
    it(`reads the simulator's ${style} layout`, async () => {
      expect(await decodeQrSvg(renderQrSvg(TEXT, style))).toBe(TEXT);
    });
  }

  // Too many modules for the first, small raster: decoding must fall back to a larger one.
  const LONG = `https://global.alipay.com/${'281002040090bbmmzTC4BzSex92tUglv31de'.repeat(16)}`;
  for (const style of SVG_STYLES) {
    it(`reads a large code (${LONG.length} characters) in the ${style} layout`, async () => {
      expect(await decodeQrSvg(renderQrSvg(LONG, style))).toBe(LONG);
    });
  }

  it('reads an SVG with only a viewBox (no intrinsic size)', async () => {
    const svg = renderQrSvg(TEXT, 'path').replace(/ width="\d+" height="\d+"/, '');
    expect(svg).not.toMatch(/<svg[^>]* width=/);
    expect(await decodeQrSvg(svg)).toBe(TEXT);
  });

  it('reads an SVG sized in millimetres without a viewBox', async () => {
    const svg = renderQrSvg(TEXT, 'rects').replace(/ viewBox="[^"]*"/, '').replace(/width="(\d+)" height="(\d+)"/, 'width="41mm" height="41mm"');
    // The modules are in user units of 1; give it a matching size so the picture is complete.
    expect(sizeSvg(svg, 800)).toMatch(/viewBox="0 0 41 41"/);
    expect(await decodeQrSvg(svg)).toBe(TEXT);
  });

  it('fails clearly on a document without a QR', async () => {
    await expect(decodeQrSvg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="#fff"/></svg>')).rejects.toThrow(/no QR code/);
    await expect(decodeQrSvg('not an svg')).rejects.toThrow(/no QR code/);
  });
});
