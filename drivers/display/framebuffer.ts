// Placeholder until the driver lands.
import type { Display } from '../display/contract';

export const FramebufferDisplay = class {
  constructor(..._args: unknown[]) {
    throw new Error('FramebufferDisplay is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Display;
