import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../../src/shared/testing/fuzz';
import { bytesToHex, hexToBytes, HidReportParser, parseCapture } from './hid-report';

/** Key usages a keypad reports (0 = no key, 1–3 = error codes are not keys). */
const usage = fc.integer({ min: 4, max: 0xff });
const heldSet = fc.uniqueArray(usage, { maxLength: 6 });

function bootReport(held: number[], modifiers = 0): Uint8Array {
  const r = new Uint8Array(8);
  r[0] = modifiers;
  held.forEach((u, i) => (r[2 + i] = u));
  return r;
}

describe('HID report parser (fuzz)', () => {
  it('any bytes: a result of a known kind, and the held keys stay a consistent set', () => {
    const reportId = fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined });
    fc.assert(
      fc.property(reportId, fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 20 }), (id, reports) => {
        const p = new HidReportParser({ reportId: id });
        for (const r of reports) {
          const before = [...p.pressed];
          const out = p.parse(r);
          const after = [...p.pressed];
          if (out.kind === 'keys') {
            expect(out.down.filter((u) => out.up.includes(u))).toEqual([]);
            expect(new Set(after).size).toBe(after.length);
            expect(after.every((u) => u > 3)).toBe(true);
            expect(new Set(after)).toEqual(new Set([...before.filter((u) => !out.up.includes(u)), ...out.down]));
          } else {
            expect(['rollover', 'other', 'malformed']).toContain(out.kind);
            expect(after).toEqual(before);
            if (out.kind === 'malformed') expect(out.reason.length).toBeLessThan(100);
          }
        }
      }),
      fuzzParams(1000),
    );
  });

  it('boot reports of key sets give exactly the presses and releases between them', () => {
    fc.assert(
      fc.property(fc.array(heldSet, { maxLength: 15 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (states, modifiers, withId) => {
        const p = new HidReportParser(withId ? { reportId: 7 } : {});
        let prev: number[] = [];
        for (const held of states) {
          const report = withId ? Uint8Array.from([7, ...bootReport(held, modifiers)]) : bootReport(held, modifiers);
          const out = p.parse(report);
          expect(out).toEqual({ kind: 'keys', down: held.filter((u) => !prev.includes(u)), up: prev.filter((u) => !held.includes(u)) });
          expect(p.pressed).toEqual(held);
          prev = held;
        }
      }),
      fuzzParams(500),
    );
  });

  it('hex text round-trips; anything else is an Error naming it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
        expect(hexToBytes(bytesToHex(bytes))).toEqual(bytes);
      }),
      fuzzParams(300),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        try {
          const bytes = hexToBytes(text);
          expect(bytesToHex(bytes).replace(/ /g, '')).toBe(text.replace(/[\s:]/g, '').toLowerCase());
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^not hex bytes/);
        }
      }),
      fuzzParams(500),
    );
  });

  it('capture files round-trip; a damaged line is an Error naming the line', () => {
    const report = fc.record({ atMs: fc.nat({ max: 10_000_000 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) });
    fc.assert(
      fc.property(fc.array(report, { maxLength: 10 }), (reports) => {
        const text = ['# capture', ...reports.map((r) => `${r.atMs} ${bytesToHex(r.bytes)}`), ''].join('\n');
        expect(parseCapture(text)).toEqual(reports);
      }),
      fuzzParams(200),
    );
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 30 }), { maxLength: 6 }), (lines) => {
        try {
          parseCapture(lines.join('\n'));
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/^capture line \d+: /);
        }
      }),
      fuzzParams(500),
    );
  });
});
