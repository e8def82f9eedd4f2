/**
 * Byte strings for 20×2 customer pole displays (VFD), two command sets:
 *   epson   ESC @ init, FF clear, US $ x y cursor (1-based column, row)
 *   cd5220  ESC @ init, FF clear, ESC Q A <text> CR upper line, ESC Q B <text> CR lower line
 * Lines are always written whole (cut / padded to 20), so nothing of the last text survives.
 */
import { fitLine } from './text';

export type PoleCommandSet = 'epson' | 'cd5220';
export const POLE_WIDTH = 20;

const ESC = 0x1b;
const FF = 0x0c;
const US = 0x1f;
const CR = 0x0d;

export function poleInit(_set: PoleCommandSet): Buffer {
  return Buffer.from([ESC, 0x40, FF]);
}

export function poleShow(set: PoleCommandSet, line1: string, line2: string): Buffer {
  const l1 = Buffer.from(fitLine(line1, POLE_WIDTH), 'latin1');
  const l2 = Buffer.from(fitLine(line2, POLE_WIDTH), 'latin1');
  if (set === 'epson') {
    return Buffer.concat([Buffer.from([US, 0x24, 1, 1]), l1, Buffer.from([US, 0x24, 1, 2]), l2]);
  }
  return Buffer.concat([Buffer.from([ESC, 0x51, 0x41]), l1, Buffer.from([CR, ESC, 0x51, 0x42]), l2, Buffer.from([CR])]);
}
