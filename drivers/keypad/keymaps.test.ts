import { describe, expect, it } from 'vitest';
import { KEYMAPS, resolveKeymap, USAGE } from './keymaps';

describe('keymaps', () => {
  const std = KEYMAPS['standard-numpad'];

  it('maps keypad and top-row digits alike', () => {
    for (let d = 1; d <= 9; d++) {
      expect(std.get(USAGE.kp1 + d - 1)).toBe(String(d));
      expect(std.get(USAGE.top1 + d - 1)).toBe(String(d));
    }
    expect(std.get(USAGE.kp0)).toBe('0');
    expect(std.get(USAGE.top0)).toBe('0');
  });

  it('has the documented operator keys and leaves NumLock and 000 unmapped', () => {
    expect([USAGE.kpSlash, USAGE.kpStar, USAGE.kpMinus, USAGE.kpPlus].map((u) => std.get(u))).toEqual(['menu', 'clear', 'backspace', 'cancel']);
    expect([USAGE.kp00, USAGE.kpDot, USAGE.kpEnter, USAGE.enter, USAGE.escape, USAGE.backspace].map((u) => std.get(u))).toEqual([
      '00',
      '.',
      'enter',
      'enter',
      'cancel',
      'backspace',
    ]);
    expect(std.get(USAGE.numLock)).toBeUndefined();
    expect(std.get(USAGE.kp000)).toBeUndefined();
  });

  it('resolves names and inline maps (hex or decimal usage ids)', () => {
    expect(resolveKeymap('standard-numpad')).toBe(std);
    const m = resolveKeymap({ '0x59': '1', '98': '0', '0x2A': 'backspace' });
    expect(new Map(m)).toEqual(
      new Map([
        [0x59, '1'],
        [98, '0'],
        [0x2a, 'backspace'],
      ]),
    );
  });

  it('names every bad entry of an inline map', () => {
    expect(() => resolveKeymap('nope')).toThrow(/unknown keypad keymap "nope".*standard-numpad/);
    const bad = () => resolveKeymap({ '0x59': 'one', zz: '1', '300': '2' });
    expect(bad).toThrow(/"0x59": "one" is not a key name/);
    expect(bad).toThrow(/"zz" is not a usage id/);
    expect(bad).toThrow(/"300" is not a usage id/);
    expect(() => resolveKeymap({})).toThrow(/empty/);
  });
});

describe('keypads with their own NumLock', () => {
  it('standard-numpad reads the navigation usages of a NumLock-off keypad as digits and "."', () => {
    const std = KEYMAPS['standard-numpad'];
    expect([0x49, 0x4d, 0x51, 0x4e, 0x50, 0x4f, 0x4a, 0x52, 0x4b, 0x4c].map((u) => std.get(u))).toEqual(['0', '1', '2', '3', '4', '6', '7', '8', '9', '.']);
    expect(std.get(0x5d)).toBe('5');
  });
  it('the keyboard map keeps arrows unmapped and Delete as backspace', () => {
    const kb = KEYMAPS.keyboard;
    expect(kb.get(0x52)).toBeUndefined();
    expect(kb.get(USAGE.delete)).toBe('backspace');
    expect([0x06, 0x10, 0x1d].map((u) => kb.get(u))).toEqual(['clear', 'menu', '00']);
  });
});
