import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../../src/shared/testing/fuzz';
import { KEY_NAMES, type KeyName } from './contract';
import { tokenizeTtyInput } from './tty';

/** Every way a terminal sends each key (as documented in tty.ts). */
const SPELLINGS: Record<KeyName, string[]> = {
  '0': ['0', '\x1bOp'],
  '1': ['1', '\x1bOq'],
  '2': ['2', '\x1bOr'],
  '3': ['3', '\x1bOs'],
  '4': ['4', '\x1bOt'],
  '5': ['5', '\x1bOu'],
  '6': ['6', '\x1bOv'],
  '7': ['7', '\x1bOw'],
  '8': ['8', '\x1bOx'],
  '9': ['9', '\x1bOy'],
  '00': ['z', 'Z'],
  '.': ['.', ',', '\x1bOn'],
  enter: ['\r', '\n', '\x1bOM'],
  cancel: ['x', 'X', '+', '\x1b'],
  backspace: ['\x7f', '\b', '-'],
  clear: ['c', 'C', '*'],
  menu: ['m', 'M', '/'],
  f1: ['\x1bOP', '\x1b[11~'],
  f2: ['\x1bOQ', '\x1b[12~'],
  f3: ['\x1bOR', '\x1b[13~'],
  f4: ['\x1bOS', '\x1b[14~'],
};

describe('tty key decoder (fuzz)', () => {
  it('keys typed in any of their spellings come back as the same keys', () => {
    const typed = fc.array(fc.constantFrom(...KEY_NAMES).chain((k) => fc.constantFrom(...SPELLINGS[k]).map((s) => [k, s] as const)), { maxLength: 30 });
    fc.assert(
      fc.property(typed, (list) => {
        // A lone ESC (cancel) right before "O" or "[" would start an escape sequence, and CR LF is one Enter.
        const text = list.map(([, s]) => s).join('');
        fc.pre(!list.some(([, s], i) => i > 0 && s === '\n' && list[i - 1][1] === '\r'));
        expect(tokenizeTtyInput(text)).toEqual(list.map(([k]) => ({ key: k })));
      }),
      fuzzParams(500),
    );
  });

  it('any input: only keys, interrupts and ignored input; never an exception', () => {
    const noisy = fc.array(fc.oneof(fc.string({ maxLength: 4, unit: 'binary' }), fc.constantFrom('\x1b', '\x1b[', '\x1bO', '\x03', '\r\n', '[', 'O', '~')), { maxLength: 30 });
    fc.assert(
      fc.property(noisy, (parts) => {
        const text = parts.join('');
        const tokens = tokenizeTtyInput(text);
        expect(tokens.length).toBeLessThanOrEqual(text.length);
        for (const t of tokens) {
          if ('key' in t) expect(KEY_NAMES).toContain(t.key);
          else if ('interrupt' in t) expect(t.interrupt).toBe(true);
          else expect(typeof t.ignored).toBe('string');
        }
        // Ctrl-C always quits, also in the middle of a broken escape sequence.
        expect(tokens.filter((t) => 'interrupt' in t).length).toBe([...text].filter((c) => c === '\x03').length);
      }),
      fuzzParams(1000),
    );
  });

  it('what the fuzz test found: Ctrl-C inside a broken escape sequence still quits', () => {
    expect(tokenizeTtyInput('\x1b[\x03')).toEqual([{ ignored: 'ESC [' }, { interrupt: true }]);
    expect(tokenizeTtyInput('\x1bO\x031')).toEqual([{ ignored: 'ESC O' }, { interrupt: true }, { key: '1' }]);
  });
});
