import { describe, expect, it } from 'vitest';
import type { Receipt } from './contract';
import { buildReceipt, escposQr, formatPaidAt, labelled } from './escpos';
import { poleInit, poleShow } from './pole-commands';
import { fitLine, toAscii } from './text';

const hex = (b: Buffer) => b.toString('hex').replace(/(..)/g, '$1 ').trim();

describe('text for serial devices', () => {
  it('keeps ASCII, drops accents, replaces the rest, cuts and pads to the width', () => {
    expect(toAscii('Café ร้าน 1,500.00 ฿')).toBe('Cafe ???? 1,500.00 ?');
    expect(fitLine('TOTAL', 8)).toBe('TOTAL   ');
    expect(fitLine('A very long line for a VFD', 20)).toBe('A very long line for');
    expect(fitLine('a\tb\nc', 6)).toBe('a b c ');
  });
});

describe('pole display commands', () => {
  it('init is ESC @ then clear', () => {
    expect(hex(poleInit('epson'))).toBe('1b 40 0c');
    expect(hex(poleInit('cd5220'))).toBe('1b 40 0c');
  });
  it('epson: cursor to column 1 of each row, then 20 characters', () => {
    const b = poleShow('epson', 'THB 1,500.00', 'Scan to pay');
    expect(hex(b.subarray(0, 4))).toBe('1f 24 01 01');
    expect(b.subarray(4, 24).toString('latin1')).toBe('THB 1,500.00        ');
    expect(hex(b.subarray(24, 28))).toBe('1f 24 01 02');
    expect(b.subarray(28).toString('latin1')).toBe('Scan to pay         ');
    expect(b.length).toBe(48);
  });
  it('cd5220: ESC Q A upper line CR, ESC Q B lower line CR', () => {
    const b = poleShow('cd5220', 'PAID', 'ขอบคุณ Thank you very much');
    expect(b).toEqual(
      Buffer.concat([
        Buffer.from([0x1b, 0x51, 0x41]),
        Buffer.from('PAID                ', 'latin1'),
        Buffer.from([0x0d, 0x1b, 0x51, 0x42]),
        Buffer.from('?????? Thank you ver', 'latin1'),
        Buffer.from([0x0d]),
      ]),
    );
  });
});

describe('ESC/POS QR', () => {
  it('is model 2, module size, error correction M, store, print, byte for byte', () => {
    expect(hex(escposQr('chrg_test_1', { moduleSize: 6 }))).toBe(
      [
        '1d 28 6b 04 00 31 41 32 00', // model 2
        '1d 28 6b 03 00 31 43 06', // module size 6
        '1d 28 6b 03 00 31 45 31', // error correction M
        '1d 28 6b 0e 00 31 50 30', // store 11 + 3 bytes
        hex(Buffer.from('chrg_test_1')),
        '1d 28 6b 03 00 31 51 30', // print
      ].join(' '),
    );
  });
  it('encodes pL pH for long data and refuses what no QR can hold', () => {
    const b = escposQr('x'.repeat(300), { errorCorrection: 'L' });
    expect(hex(b.subarray(25, 33))).toBe('1d 28 6b 2f 01 31 50 30'); // 303 = 0x012f
    expect(b[24]).toBe(0x30); // error correction L
    expect(() => escposQr('')).toThrow(RangeError);
    expect(() => escposQr('x'.repeat(3000))).toThrow(/3000 bytes/);
    expect(() => escposQr('x', { moduleSize: 17 })).toThrow(/module size 17/);
  });
});

describe('receipt', () => {
  const receipt: Receipt = {
    merchantName: 'Som Tam Corner',
    amountText: 'THB 1,500.00',
    methodName: 'PromptPay',
    paidAt: '2026-11-26T04:10:47.000Z',
    chargeId: 'chrg_test_60ab1c2d3e4f5g6h7i8',
    saleId: 'S-0042',
    terminalName: 'Counter 1',
    title: 'PAID',
  };

  it('formats the payment time in the configured zone', () => {
    expect(formatPaidAt(receipt.paidAt, 'Asia/Bangkok')).toBe('2026-11-26 11:10:47');
    expect(formatPaidAt(receipt.paidAt, 'UTC')).toBe('2026-11-26 04:10:47');
    expect(formatPaidAt('not a time')).toBe('not a time');
  });

  it('puts label and value on one line when they fit, else on two', () => {
    expect(labelled('Sale', 'S-0042', 16)).toEqual(['Sale      S-0042']);
    expect(labelled('Charge', 'chrg_test_60ab1c2d3e4f5g6h7i8', 32)).toEqual(['Charge', '   chrg_test_60ab1c2d3e4f5g6h7i8']);
  });

  it('is the exact byte sequence: init, centred bold merchant, big amount, details, native QR, cut', () => {
    const b = buildReceipt(receipt, { width: 32, qrModuleSize: 5, timeZone: 'Asia/Bangkok' });
    const LF = '\n';
    const expected = Buffer.concat([
      Buffer.from([0x1b, 0x40, 0x1b, 0x61, 0x01, 0x1b, 0x45, 0x01]),
      Buffer.from('Som Tam Corner' + LF),
      Buffer.from([0x1b, 0x45, 0x00]),
      Buffer.from('Counter 1' + LF + LF),
      Buffer.from([0x1b, 0x45, 0x01]),
      Buffer.from('PAID' + LF),
      Buffer.from([0x1d, 0x21, 0x11]),
      Buffer.from('THB 1,500.00' + LF),
      Buffer.from([0x1d, 0x21, 0x00, 0x1b, 0x45, 0x00]),
      Buffer.from(LF),
      Buffer.from([0x1b, 0x61, 0x00]),
      Buffer.from('Time         2026-11-26 11:10:47' + LF),
      Buffer.from('Paid with              PromptPay' + LF),
      Buffer.from('Sale                      S-0042' + LF),
      Buffer.from('Charge' + LF + '   chrg_test_60ab1c2d3e4f5g6h7i8' + LF),
      Buffer.from(LF),
      Buffer.from([0x1b, 0x61, 0x01]),
      escposQr(receipt.chargeId, { moduleSize: 5, errorCorrection: 'M' }),
      Buffer.from(LF + receipt.chargeId + LF),
      Buffer.from([0x1b, 0x64, 0x03, 0x1d, 0x56, 0x42, 0x00]),
    ]);
    expect(hex(b)).toBe(hex(expected));
  });

  it('names each payment method by its display name, on one line at 32 columns', () => {
    for (const [name, line] of [
      ['Alipay+', 'Paid with                Alipay+'],
      ['WeChat Pay', 'Paid with             WeChat Pay'],
      ['PayNow', 'Paid with                 PayNow'],
    ] as const) {
      const b = buildReceipt({ ...receipt, methodName: name }, { width: 32, timeZone: 'Asia/Bangkok' });
      expect(b.includes(Buffer.from('Time         2026-11-26 11:10:47\n' + line + '\nSale'))).toBe(true);
    }
  });
});
