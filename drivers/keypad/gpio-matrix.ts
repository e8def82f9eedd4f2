// Placeholder until the driver lands.
import type { Keypad } from '../keypad/contract';

export const GpioMatrixKeypad = class {
  constructor(..._args: unknown[]) {
    throw new Error('GpioMatrixKeypad is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Keypad;
