/**
 * Key maps: HID usage id (keyboard page 0x07) → KeyName, one per keypad model.
 *
 * hidraw reports usages, not characters, so the maps do not depend on NumLock: KP 1 is 0x59
 * whether NumLock is on or off. Usages missing from a map are ignored (logged at debug).
 */
import type { KeyName } from './contract';
import { isKeyName } from './contract';

export type KeyMap = ReadonlyMap<number, KeyName>;

/** Usage ids (HID Usage Tables, keyboard/keypad page). */
export const USAGE = {
  enter: 0x28,
  escape: 0x29,
  backspace: 0x2a,
  tab: 0x2b,
  delete: 0x4c,
  numLock: 0x53,
  kpSlash: 0x54,
  kpStar: 0x55,
  kpMinus: 0x56,
  kpPlus: 0x57,
  kpEnter: 0x58,
  kp1: 0x59,
  kp0: 0x62,
  kpDot: 0x63,
  kpComma: 0x85,
  kp00: 0xb0,
  kp000: 0xb1,
  kpBackspace: 0xbb,
  kpClear: 0xd8,
  top1: 0x1e,
  top0: 0x27,
  f1: 0x3a,
} as const;

function digits(): [number, KeyName][] {
  const out: [number, KeyName][] = [];
  for (let d = 1; d <= 9; d++) {
    out.push([USAGE.kp1 + d - 1, String(d) as KeyName]);
    out.push([USAGE.top1 + d - 1, String(d) as KeyName]);
  }
  out.push([USAGE.kp0, '0'], [USAGE.top0, '0']);
  return out;
}

/** Keys every map shares: digits, 00, ".", Enter, Esc, Backspace, F1–F4. */
const COMMON: [number, KeyName][] = [
  ...digits(),
  [USAGE.kp00, '00'],
  [USAGE.kpDot, '.'],
  [USAGE.kpComma, '.'],
  [USAGE.enter, 'enter'],
  [USAGE.kpEnter, 'enter'],
  [USAGE.escape, 'cancel'],
  [USAGE.backspace, 'backspace'],
  [USAGE.kpBackspace, 'backspace'],
  [USAGE.kpClear, 'clear'],
  [USAGE.f1, 'f1'],
  [USAGE.f1 + 1, 'f2'],
  [USAGE.f1 + 2, 'f3'],
  [USAGE.f1 + 3, 'f4'],
];

/**
 * Keypads that keep their own NumLock state (many wireless ones) send the navigation usages
 * when it is off: End for 1, Down for 2, …, Insert for 0, Delete for ".". Mapping those too
 * makes such a keypad work whatever its NumLock LED says.
 */
const NAVIGATION_AS_DIGITS: [number, KeyName][] = [
  [0x4d, '1'], // End
  [0x51, '2'], // Down
  [0x4e, '3'], // Page Down
  [0x50, '4'], // Left
  [0x4f, '6'], // Right
  [0x4a, '7'], // Home
  [0x52, '8'], // Up
  [0x4b, '9'], // Page Up
  [0x49, '0'], // Insert
  [USAGE.delete, '.'],
];

/**
 * A standard USB numeric keypad (17 to 22 keys). The four operator keys stand in for the keys
 * a plain keypad lacks, chosen so the big keys are safe:
 *   `/` → menu, `*` → clear (whole amount), `-` → backspace, `+` → cancel.
 * Keypads that have Esc / Backspace keys get those too; 00 (0xB0) is a key of its own. 000
 * (0xB1) is left unmapped: the contract has no "000" key and a wrong amount is worse than a
 * dead key. NumLock itself is ignored.
 */
const STANDARD_NUMPAD: [number, KeyName][] = [
  ...COMMON,
  ...NAVIGATION_AS_DIGITS,
  [USAGE.kpSlash, 'menu'],
  [USAGE.kpStar, 'clear'],
  [USAGE.kpMinus, 'backspace'],
  [USAGE.kpPlus, 'cancel'],
];

/**
 * A full keyboard used as a keypad (development, and QEMU's usb-kbd in the device test): the
 * numpad's keys, Delete as backspace (arrows stay arrows, i.e. ignored), and letters for the
 * keys a keyboard user looks for.
 */
const KEYBOARD: [number, KeyName][] = [
  ...COMMON,
  [USAGE.kpSlash, 'menu'],
  [USAGE.kpStar, 'clear'],
  [USAGE.kpMinus, 'backspace'],
  [USAGE.kpPlus, 'cancel'],
  [USAGE.delete, 'backspace'],
  [0x06, 'clear'], // c
  [0x10, 'menu'], // m
  [0x1d, '00'], // z
];

export const KEYMAPS: Readonly<Record<string, KeyMap>> = {
  'standard-numpad': new Map(STANDARD_NUMPAD),
  keyboard: new Map(KEYBOARD),
};

/**
 * A named map, or an inline map from config: keys are usage ids ("0x62", "98"), values KeyNames.
 * An inline map is complete on its own (nothing inherited), so what the config says is what the
 * keypad does. Errors name every bad entry.
 */
export function resolveKeymap(spec: string | Record<string, string>): KeyMap {
  if (typeof spec === 'string') {
    // Own names only: "toString" or "constructor" are not keymaps.
    const named = Object.hasOwn(KEYMAPS, spec) ? KEYMAPS[spec] : undefined;
    if (!named) throw new Error(`unknown keypad keymap "${spec}" (known: ${Object.keys(KEYMAPS).join(', ')})`);
    return named;
  }
  const out = new Map<number, KeyName>();
  const errors: string[] = [];
  for (const [k, v] of Object.entries(spec)) {
    const usage = /^0x[0-9a-f]{1,2}$/i.test(k) ? parseInt(k.slice(2), 16) : /^\d{1,3}$/.test(k) ? Number(k) : NaN;
    if (!Number.isInteger(usage) || usage < 0 || usage > 0xff) errors.push(`"${k}" is not a usage id (0x00–0xff or 0–255)`);
    else if (!isKeyName(v)) errors.push(`"${k}": "${v}" is not a key name`);
    else out.set(usage, v);
  }
  if (errors.length) throw new Error(`keypad keymap: ${errors.join('; ')}`);
  if (out.size === 0) throw new Error('keypad keymap: the inline map is empty');
  return out;
}
