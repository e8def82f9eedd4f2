import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../../src/shared/testing/fuzz';
import { buildReceipt, escposQr, formatPaidAt, labelled, QR_MAX_BYTES } from './escpos';
import { poleShow, POLE_WIDTH } from './pole-commands';
import { fitLine, toAscii } from './text';

/** Text from the relay and the config: any Unicode, control characters and escapes included. */
const anyText = fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.string({ maxLength: 40, unit: 'grapheme' }), fc.constantFrom('\x1b@', '\x1d(k', 'a\r\nb', '\x0c', 'é€ñ'));
const PRINTABLE = /^[\x20-\x7e]*$/;

describe('serial text and command encoders (fuzz)', () => {
  it('toAscii leaves only printable ASCII, and keeps printable ASCII as it is', () => {
    fc.assert(
      fc.property(anyText, fc.string({ maxLength: 40 }), (text, asciiText) => {
        expect(toAscii(text)).toMatch(PRINTABLE);
        const plain = asciiText.replace(/[^\x20-\x7e]/g, '');
        expect(toAscii(plain)).toBe(plain);
      }),
      fuzzParams(1000),
    );
  });

  it('pole display commands: exactly two 20-character lines, no text byte can be a command', () => {
    fc.assert(
      fc.property(fc.constantFrom('epson' as const, 'cd5220' as const), anyText, anyText, (set, l1, l2) => {
        const out = poleShow(set, l1, l2);
        const a = Buffer.from(fitLine(l1, POLE_WIDTH), 'latin1');
        const b = Buffer.from(fitLine(l2, POLE_WIDTH), 'latin1');
        expect(a.toString('latin1')).toMatch(PRINTABLE);
        expect(a.length).toBe(POLE_WIDTH);
        const expected =
          set === 'epson'
            ? Buffer.concat([Buffer.from([0x1f, 0x24, 1, 1]), a, Buffer.from([0x1f, 0x24, 1, 2]), b])
            : Buffer.concat([Buffer.from([0x1b, 0x51, 0x41]), a, Buffer.from([0x0d, 0x1b, 0x51, 0x42]), b, Buffer.from([0x0d])]);
        expect(out).toEqual(expected);
      }),
      fuzzParams(500),
    );
  });

  it('ESC/POS QR: the stored data and its length field round-trip; bad sizes are RangeErrors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3200, unit: 'binary' }), fc.integer({ min: -2, max: 20 }), (data, moduleSize) => {
        const bytes = Buffer.from(data, 'utf8');
        let out: Buffer;
        try {
          out = escposQr(data, { moduleSize });
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          expect(bytes.length === 0 || bytes.length > QR_MAX_BYTES || moduleSize < 1 || moduleSize > 16).toBe(true);
          return;
        }
        // GS ( k pL pH 31 50 30 <data>: find the store command and read the data back by its length.
        const store = out.indexOf(Buffer.from([0x31, 0x50, 0x30])) - 5;
        expect(out.subarray(store, store + 3)).toEqual(Buffer.from([0x1d, 0x28, 0x6b]));
        const len = out[store + 3] + out[store + 4] * 256 - 3;
        expect(out.subarray(store + 8, store + 8 + len)).toEqual(bytes);
        expect(out.subarray(store + 8 + len)).toEqual(Buffer.from([0x1d, 0x28, 0x6b, 3, 0, 0x31, 0x51, 0x30]));
      }),
      fuzzParams(300),
    );
  });

  it('receipts: any text prints as printable ASCII between the commands, or a RangeError for an unprintable QR', () => {
    const receipt = fc.record({
      merchantName: anyText,
      amountText: anyText,
      methodName: anyText,
      paidAt: fc.oneof(anyText, fc.date({ noInvalidDate: true }).map((d) => d.toISOString())),
      chargeId: anyText,
      saleId: anyText,
      terminalName: anyText,
      title: anyText,
    });
    fc.assert(
      fc.property(receipt, fc.constantFrom(32, 48), (r, width) => {
        let out: Buffer;
        try {
          out = buildReceipt(r, { width, timeZone: 'Asia/Bangkok' });
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          expect(Buffer.byteLength(r.chargeId)).toBe(0);
          return;
        }
        for (const line of labelled('Paid with', r.methodName, width)) expect(out.includes(Buffer.from(line + '\n', 'latin1'))).toBe(true);
        for (const line of labelled('Sale', r.saleId, width)) expect(out.includes(Buffer.from(line + '\n', 'latin1'))).toBe(true);
        expect(out.includes(Buffer.from(toAscii(r.merchantName) + '\n', 'latin1'))).toBe(true);
        expect(formatPaidAt(r.paidAt, 'Asia/Bangkok')).toEqual(expect.any(String));
      }),
      fuzzParams(300),
    );
  });
});
