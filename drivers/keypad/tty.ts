// Placeholder until the driver lands.
import type { Keypad } from '../keypad/contract';

export const TtyKeypad = class {
  constructor(..._args: unknown[]) {
    throw new Error('TtyKeypad is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Keypad;
