import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../../src/shared/testing/fuzz';
import { KEY_NAMES, type KeyName } from './contract';
import { resolveKeymap } from './keymaps';

describe('inline keymaps from config (fuzz)', () => {
  it('a map written with hex or decimal usage ids resolves to the same map', () => {
    const entries = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...KEY_NAMES), fc.constantFrom('hex', 'HEX', 'dec')), {
      minLength: 1,
      maxLength: 30,
      selector: ([u]) => u,
    });
    fc.assert(
      fc.property(entries, (list) => {
        const spec = Object.fromEntries(
          list.map(([u, k, form]) => [form === 'dec' ? String(u) : `0x${form === 'HEX' ? u.toString(16).toUpperCase() : u.toString(16)}`, k]),
        );
        expect(resolveKeymap(spec)).toEqual(new Map<number, KeyName>(list.map(([u, k]) => [u, k])));
      }),
      fuzzParams(300),
    );
  });

  it('any object or name: a keymap of usage ids 0–255 to key names, or an Error', () => {
    const key = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -5, max: 1000 }).map(String), fc.constantFrom('0x', '0x1ff', '__proto__', '0X62', ' 98'));
    const value = fc.oneof(fc.constantFrom(...KEY_NAMES), fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.dictionary(key, value, { maxKeys: 8 })), (spec) => {
        let map: ReadonlyMap<number, KeyName>;
        try {
          map = resolveKeymap(spec);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
          expect((e as Error).message).toMatch(/keymap/);
          return;
        }
        for (const [u, k] of map) {
          expect(Number.isInteger(u) && u >= 0 && u <= 255).toBe(true);
          expect(KEY_NAMES).toContain(k);
        }
      }),
      fuzzParams(500),
    );
  });

  it('what the fuzz test found: an inherited name such as "toString" is not a keymap', () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) expect(() => resolveKeymap(name)).toThrow(/unknown keypad keymap/);
  });
});
