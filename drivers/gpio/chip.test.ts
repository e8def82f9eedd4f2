import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findGpioChip, gpioNumber, listGpioChips } from './chip';

type Chip = [name: string, label: string, base: number, ngpio: number];

/** Trees as the kernels on each board show them (other controllers included on purpose). */
const BOARDS: Record<string, Chip[]> = {
  'Pi 3 (kernel 6.1)': [
    ['gpiochip0', 'pinctrl-bcm2835', 0, 54],
    ['gpiochip504', 'raspberrypi-exp-gpio', 504, 8],
  ],
  'Pi 4 (kernel 6.6)': [
    ['gpiochip512', 'pinctrl-bcm2711', 512, 58],
    ['gpiochip570', 'raspberrypi-exp-gpio', 570, 8],
  ],
  'Pi 5 (kernel 6.6)': [
    ['gpiochip512', 'gpio-brcmstb@107d508500', 512, 32],
    ['gpiochip544', 'gpio-brcmstb@107d508520', 544, 4],
    ['gpiochip548', 'gpio-brcmstb@107d517c00', 548, 17],
    ['gpiochip565', 'gpio-brcmstb@107d517c20', 565, 6],
    ['gpiochip571', 'pinctrl-rp1', 571, 54],
  ],
};

describe('GPIO chip discovery', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'qrpos-gpio-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  function tree(chips: Chip[]): string {
    const dir = path.join(root, 'class/gpio');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'export'), '');
    writeFileSync(path.join(dir, 'unexport'), '');
    for (const [name, label, base, ngpio] of chips) {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, 'label'), `${label}\n`);
      writeFileSync(path.join(dir, name, 'base'), `${base}\n`);
      writeFileSync(path.join(dir, name, 'ngpio'), `${ngpio}\n`);
    }
    return dir;
  }

  const expected: Record<string, [label: string, gpio17: number]> = {
    'Pi 3 (kernel 6.1)': ['pinctrl-bcm2835', 17],
    'Pi 4 (kernel 6.6)': ['pinctrl-bcm2711', 529],
    'Pi 5 (kernel 6.6)': ['pinctrl-rp1', 588],
  };
  for (const [board, chips] of Object.entries(BOARDS)) {
    it(`${board}: BCM 17 is sysfs GPIO ${expected[board][1]}`, () => {
      const chip = findGpioChip(tree(chips));
      expect(chip.label).toBe(expected[board][0]);
      expect(gpioNumber(chip, 17)).toBe(expected[board][1]);
    });
  }

  it('takes a chip by label when configured (gpio-sim under QEMU)', () => {
    const dir = tree([...BOARDS['Pi 4 (kernel 6.6)'], ['gpiochip1008', 'pos-sim', 1008, 8]]);
    const chip = findGpioChip(dir, 'pos-sim');
    expect(gpioNumber(chip, 3)).toBe(1011);
    expect(() => gpioNumber(chip, 8)).toThrow('GPIO 8 is outside gpiochip1008 "pos-sim" (lines 0–7)');
  });

  it('names what it found when there is no Pi controller', () => {
    const dir = tree([['gpiochip504', '9030000.pl061', 504, 8]]);
    expect(() => findGpioChip(dir)).toThrow(
      /no Raspberry Pi GPIO controller \(pinctrl-bcm2835, pinctrl-bcm2711, pinctrl-rp1\) in .* \(chips found: gpiochip504 "9030000.pl061" base 504 ngpio 8\); set chipLabel/,
    );
  });

  it('says when there is no sysfs GPIO at all', () => {
    expect(() => listGpioChips(path.join(root, 'missing'))).toThrow(/no sysfs GPIO at .*missing \(ENOENT\)/);
  });
});
