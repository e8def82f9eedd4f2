/**
 * What is printed on common membrane matrix keypads, as KeyNames. Empty string = no key.
 *
 *   4x4:  1 2 3 A      A → menu, B → backspace, C → clear, D → "."
 *         4 5 6 B      * → cancel, # → enter
 *         7 8 9 C
 *         * 0 # D
 *   4x3:  1 2 3 / 4 5 6 / 7 8 9 / * 0 #   (* → cancel, # → enter; no "." key)
 */
import type { KeyName } from './contract';
import { isKeyName } from './contract';

export const MATRIX_LAYOUTS: Readonly<Record<'4x4' | '4x3', readonly (readonly string[])[]>> = {
  '4x4': [
    ['1', '2', '3', 'menu'],
    ['4', '5', '6', 'backspace'],
    ['7', '8', '9', 'clear'],
    ['cancel', '0', 'enter', '.'],
  ],
  '4x3': [
    ['1', '2', '3'],
    ['4', '5', '6'],
    ['7', '8', '9'],
    ['cancel', '0', 'enter'],
  ],
};

/** Layout from config checked against the wiring; the error names every problem. */
export function resolveMatrixLayout(layout: '4x4' | '4x3' | string[][], rows: number, cols: number): (KeyName | null)[][] {
  const grid = typeof layout === 'string' ? MATRIX_LAYOUTS[layout] : layout;
  const errors: string[] = [];
  if (grid.length !== rows) errors.push(`layout has ${grid.length} rows but ${rows} row pins are configured`);
  grid.forEach((row, r) => {
    if (row.length !== cols) errors.push(`layout row ${r + 1} has ${row.length} keys but ${cols} column pins are configured`);
    row.forEach((k, c) => {
      if (k !== '' && !isKeyName(k)) errors.push(`layout row ${r + 1} column ${c + 1}: "${k}" is not a key name`);
    });
  });
  if (errors.length) throw new Error(`gpio-matrix keypad: ${errors.join('; ')}`);
  return grid.map((row) => row.map((k) => (k === '' ? null : (k as KeyName))));
}
