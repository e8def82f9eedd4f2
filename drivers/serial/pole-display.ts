// Placeholder until the driver lands.
import type { PoleDisplay } from '../serial/contract';

export const SerialPoleDisplay = class {
  constructor(..._args: unknown[]) {
    throw new Error('SerialPoleDisplay is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => PoleDisplay;
