// Placeholder until the driver lands.
import type { Display } from '../display/contract';

export const PngFileDisplay = class {
  constructor(..._args: unknown[]) {
    throw new Error('PngFileDisplay is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Display;
