/**
 * The pin I/O the GPIO drivers need, and nothing more, so the matrix scanner and the indicator
 * run the same against onoff (sysfs) and against a fake. Calls are synchronous: sysfs value
 * reads and writes are a few microseconds, and a scan must not interleave with another.
 * Any call may throw when the GPIO goes away; callers catch.
 */
import type { GpioChip } from './chip';
import { findGpioChip, gpioNumber } from './chip';

export type Level = 0 | 1;

export interface GpioLine {
  /** BCM number (offset on the chip). */
  readonly offset: number;
  read(): Level;
  write(value: Level): void;
  /** Give the line back (unexport); never throws. */
  release(): void;
}

export interface GpioBackend {
  readonly description: string;
  output(offset: number, initial: Level): GpioLine;
  /** Input; pull-ups cannot be set through sysfs (see drivers/README.md). */
  input(offset: number): GpioLine;
  /** Releases every line still held; never throws. */
  close(): void;
}

export type GpioBackendFactory = () => GpioBackend;

/** onoff over /sys/class/gpio, numbers computed from the chip base. onoff loads on first use. */
export function onoffBackend(sysfsRoot: string, chipLabel?: string): GpioBackend {
  const { Gpio } = require('onoff') as typeof import('onoff');
  if (!Gpio.accessible) {
    throw new Error('sysfs GPIO is not accessible here (no /sys/class/gpio, or no permission: add the user to the "gpio" group)');
  }
  const chip: GpioChip = findGpioChip(sysfsRoot, chipLabel);
  const held = new Set<GpioLine>();
  const line = (offset: number, direction: 'in' | 'high' | 'low'): GpioLine => {
    const gpio = new Gpio(gpioNumber(chip, offset), direction);
    const l: GpioLine = {
      offset,
      read: () => gpio.readSync(),
      write: (v) => gpio.writeSync(v),
      release: () => {
        held.delete(l);
        try {
          gpio.unexport();
        } catch {
          // Already gone (unexported elsewhere or the chip vanished): nothing to give back.
        }
      },
    };
    held.add(l);
    return l;
  };
  return {
    description: `${chip.name} "${chip.label}" base ${chip.base}`,
    output: (offset, initial) => line(offset, initial ? 'high' : 'low'),
    input: (offset) => line(offset, 'in'),
    close: () => {
      for (const l of [...held]) l.release();
    },
  };
}
