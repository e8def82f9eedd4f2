// Placeholder until the driver lands.
import type { ReceiptPrinter } from '../serial/contract';

export const EscPosPrinter = class {
  constructor(..._args: unknown[]) {
    throw new Error('EscPosPrinter is not implemented yet');
  }
} as unknown as new (...args: unknown[]) => ReceiptPrinter;
