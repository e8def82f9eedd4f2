/**
 * Fuzz test of reading the QR text out of Omise's QR document (an SVG from the network): a QR
 * document of any text round-trips in every layout the simulator draws; a damaged or foreign
 * document is a QrDecodeError, never another exception. Few runs: each decode rasterises.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderQrSvg, SVG_STYLES } from '../simulator/qr-svg';
import { applyEdit, fuzzParams, textEdit } from '../shared/testing/fuzz';
import { decodeQrSvg, QrDecodeError, sizeSvg } from './qr-decode';

const qrText = fc.oneof(fc.webUrl(), fc.string({ minLength: 1, maxLength: 120 }));

describe('QR document decoding (fuzz)', () => {
  it('the text of a QR document round-trips, in each SVG layout', async () => {
    await fc.assert(
      fc.asyncProperty(qrText, fc.constantFrom(...SVG_STYLES), async (text, style) => {
        expect(await decodeQrSvg(renderQrSvg(text, style))).toBe(text);
      }),
      fuzzParams(20),
    );
  });

  it('a damaged or foreign document: its own text or a QrDecodeError', async () => {
    const damaged = fc
      .tuple(qrText, fc.constantFrom(...SVG_STYLES), fc.array(textEdit('<>"=/ svgwidthviewBox0-9%'), { minLength: 1, maxLength: 4 }))
      .map(([text, style, edits]) => ({ svg: edits.reduce(applyEdit, renderQrSvg(text, style)), text }));
    const foreign = fc.oneof(
      fc.string({ maxLength: 100, unit: 'binary' }),
      fc.tuple(fc.constantFrom('', '0', '-5', '1e9', '50%', 'NaN', 'abc'), fc.constantFrom('', '0 0 0 0', '0 0 -1 1', 'x')).map(([w, vb]) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${w}" viewBox="${vb}"><rect width="1" height="1"/></svg>`),
    ).map((svg) => ({ svg, text: undefined }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(damaged, foreign), async ({ svg, text }) => {
        let decoded: string | undefined;
        try {
          decoded = await decodeQrSvg(svg);
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(QrDecodeError);
        }
        // A damaged document gives its own text or nothing: never another QR's text.
        if (decoded !== undefined && text !== undefined) expect(decoded).toBe(text);
        try {
          expect(sizeSvg(svg, 200)).toMatch(/<svg/i);
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(QrDecodeError);
        }
      }),
      fuzzParams(25),
    );
  });
});
