import { describe, expect, it } from 'vitest';
import { HidReportParser, bytesToHex, hexToBytes, parseCapture } from './hid-report';

const boot = (...usages: number[]) => Uint8Array.from([0, 0, ...usages, ...Array(6 - usages.length).fill(0)]);

describe('HidReportParser', () => {
  it('derives key down and up by diffing consecutive boot reports', () => {
    const p = new HidReportParser();
    expect(p.parse(boot(0x59))).toEqual({ kind: 'keys', down: [0x59], up: [] });
    expect(p.parse(boot(0x59, 0x5a))).toEqual({ kind: 'keys', down: [0x5a], up: [] });
    expect(p.parse(boot(0x5a))).toEqual({ kind: 'keys', down: [], up: [0x59] });
    expect(p.parse(boot())).toEqual({ kind: 'keys', down: [], up: [0x5a] });
  });

  it('treats a usage that stays down as one press, whatever reports repeat around it', () => {
    const p = new HidReportParser();
    p.parse(boot(0x62));
    expect(p.parse(boot(0x62))).toEqual({ kind: 'keys', down: [], up: [] });
    // Another key comes and goes while 0x62 stays held: 0x62 is not pressed again.
    expect(p.parse(boot(0x62, 0x59)).kind === 'keys' && p.pressed).toEqual([0x62, 0x59]);
    expect(p.parse(boot(0x62))).toEqual({ kind: 'keys', down: [], up: [0x59] });
    // Held usages moving to another slot are not new presses either.
    expect(p.parse(Uint8Array.from([0, 0, 0, 0x62, 0, 0, 0, 0]))).toEqual({ kind: 'keys', down: [], up: [] });
  });

  it('ignores the modifier byte (Shift + 1 is still the 1 key)', () => {
    const p = new HidReportParser();
    expect(p.parse(Uint8Array.from([0x02, 0, 0x1e, 0, 0, 0, 0, 0]))).toEqual({ kind: 'keys', down: [0x1e], up: [] });
  });

  it('keeps the state across an ErrorRollOver report', () => {
    const p = new HidReportParser();
    p.parse(boot(0x59));
    expect(p.parse(boot(1, 1, 1, 1, 1, 1))).toEqual({ kind: 'rollover' });
    expect(p.pressed).toEqual([0x59]);
    expect(p.parse(boot(0x59))).toEqual({ kind: 'keys', down: [], up: [] });
  });

  it('reads 9-byte reports as report-id-prefixed', () => {
    const p = new HidReportParser();
    expect(p.parse(Uint8Array.from([1, 0, 0, 0xb0, 0, 0, 0, 0, 0]))).toEqual({ kind: 'keys', down: [0xb0], up: [] });
  });

  it('with a configured report id, passes over reports for other collections and checks lengths', () => {
    const p = new HidReportParser({ reportId: 1 });
    expect(p.parse(Uint8Array.from([3, 0x92, 1]))).toEqual({ kind: 'other', reportId: 3 });
    expect(p.parse(Uint8Array.from([1, 0, 0, 0x5f, 0, 0, 0, 0, 0]))).toEqual({ kind: 'keys', down: [0x5f], up: [] });
    expect(p.parse(Uint8Array.from([1, 0, 0x5f]))).toMatchObject({ kind: 'malformed' });
    expect(p.parse(new Uint8Array(0))).toMatchObject({ kind: 'malformed', reason: 'empty report' });
  });

  it('reports wrong lengths as malformed without changing the state', () => {
    const p = new HidReportParser();
    p.parse(boot(0x59));
    for (const len of [0, 1, 3, 7, 10, 64]) {
      expect(p.parse(new Uint8Array(len))).toEqual({ kind: 'malformed', reason: `length ${len}, expected 8 or 9` });
    }
    expect(p.pressed).toEqual([0x59]);
  });

  it('reset() forgets held keys so the next report presses them again', () => {
    const p = new HidReportParser();
    p.parse(boot(0x59));
    p.reset();
    expect(p.parse(boot(0x59))).toEqual({ kind: 'keys', down: [0x59], up: [] });
  });
});

describe('capture format', () => {
  it('round-trips hex and parses lines with comments', () => {
    expect(bytesToHex(hexToBytes('00 00 59 00'))).toBe('00 00 59 00');
    expect(parseCapture('# c\n0 00 00 59 00 00 00 00 00\n\n12 00 00 00 00 00 00 00 00 # release\n')).toEqual([
      { atMs: 0, bytes: Uint8Array.from([0, 0, 0x59, 0, 0, 0, 0, 0]) },
      { atMs: 12, bytes: new Uint8Array(8) },
    ]);
  });

  it('names the line of a damaged capture', () => {
    expect(() => parseCapture('0 00 00\n5 00 0g')).toThrow(/capture line 2/);
    expect(() => parseCapture('x 00')).toThrow(/capture line 1/);
  });
});
