// Placeholder until the driver lands.
import type { Indicator } from '../gpio/contract';

export const GpioIndicator = class {
  constructor(..._args: unknown[]) {
    throw new Error('GpioIndicator is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => Indicator;
