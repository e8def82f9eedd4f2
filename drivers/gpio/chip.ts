/**
 * sysfs GPIO numbers on a Raspberry Pi. Since Linux 6.6 the GPIO controllers get dynamic bases
 * (Pi 4: 512, Pi 5: 571), so `new Gpio(17)` no longer means BCM 17. The number is the pinctrl
 * chip's base plus the BCM offset, read from /sys/class/gpio/gpiochipN/{base,label,ngpio}.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** pinctrl labels of the SoC GPIO controller per board family. */
export const PI_PINCTRL_LABELS: Readonly<Record<string, string>> = {
  'pinctrl-bcm2835': 'Raspberry Pi 0–3',
  'pinctrl-bcm2711': 'Raspberry Pi 4',
  'pinctrl-rp1': 'Raspberry Pi 5',
};

export interface GpioChip {
  /** e.g. gpiochip512 */
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

export function listGpioChips(sysfsRoot: string): GpioChip[] {
  let entries: string[];
  try {
    entries = readdirSync(sysfsRoot);
  } catch (e) {
    throw new Error(`no sysfs GPIO at ${sysfsRoot} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): this kernel has no GPIO sysfs interface or it is not mounted`, { cause: e });
  }
  const chips: GpioChip[] = [];
  for (const name of entries.filter((e) => /^gpiochip\d+$/.test(e)).sort()) {
    const dir = path.join(sysfsRoot, name);
    try {
      const read = (f: string) => readFileSync(path.join(dir, f), 'utf8').trim();
      const base = Number(read('base'));
      const ngpio = Number(read('ngpio'));
      if (Number.isInteger(base) && Number.isInteger(ngpio)) chips.push({ name, label: read('label'), base, ngpio });
    } catch {
      // A chip directory we cannot read is not one we can use; the error below lists what we saw.
    }
  }
  return chips;
}

/** The chip with the given label, else the Pi's pinctrl chip; the error lists the chips found. */
export function findGpioChip(sysfsRoot: string, label?: string): GpioChip {
  const chips = listGpioChips(sysfsRoot);
  const chip = label !== undefined ? chips.find((c) => c.label === label) : chips.find((c) => c.label in PI_PINCTRL_LABELS);
  if (!chip) {
    const wanted = label !== undefined ? `chip labelled "${label}"` : `Raspberry Pi GPIO controller (${Object.keys(PI_PINCTRL_LABELS).join(', ')})`;
    const seen = chips.length ? chips.map((c) => `${c.name} "${c.label}" base ${c.base} ngpio ${c.ngpio}`).join('; ') : 'none';
    throw new Error(`no ${wanted} in ${sysfsRoot} (chips found: ${seen}); set chipLabel in the config for other boards`);
  }
  return chip;
}

/** sysfs number of a BCM / chip-offset pin. */
export function gpioNumber(chip: GpioChip, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= chip.ngpio) {
    throw new Error(`GPIO ${offset} is outside ${chip.name} "${chip.label}" (lines 0–${chip.ngpio - 1})`);
  }
  return chip.base + offset;
}
