// Placeholder until the driver lands.
import type { Keypad } from '../keypad/contract';

export const HidKeypad = class {
  constructor(..._args: unknown[]) {
    throw new Error('HidKeypad is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Keypad;
