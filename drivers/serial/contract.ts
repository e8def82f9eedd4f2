/**
 * Serial peripherals: a customer pole display (20×2 VFD) and an ESC/POS receipt printer.
 * Both are optional and must never block a sale: methods resolve once the bytes are written,
 * reject with a SerialDeviceError when the port is gone (the driver reopens it with backoff
 * and emits `status`), and `stop()` is idempotent.
 */
import type { EventEmitter } from 'node:events';
import type { DeviceStatus } from '../keypad/contract';

export interface SerialDeviceEvents {
  status: [DeviceStatus];
}

export interface PoleDisplay extends EventEmitter<SerialDeviceEvents> {
  readonly description: string;
  start(): Promise<void>;
  /** Two lines, each cut or padded to the display width (20). ASCII only on most VFDs. */
  show(line1: string, line2: string): Promise<void>;
  stop(): Promise<void>;
}

export interface Receipt {
  merchantName: string;
  /** Already formatted, e.g. "THB 1,500.00". */
  amountText: string;
  /** The payment method's display name, e.g. "PromptPay", "Alipay+" (methodName in src/domain/methods.ts). */
  methodName: string;
  /** ISO time of payment. */
  paidAt: string;
  chargeId: string;
  saleId: string;
  terminalName: string;
  /** e.g. "PAID", "REFUND", "VOID". */
  title: string;
}

/** A text document on the receipt printer: an X or Z report, a list. */
export interface PrintedText {
  merchantName: string;
  terminalName: string;
  title: string;
  lines: string[];
}

export interface ReceiptPrinter extends EventEmitter<SerialDeviceEvents> {
  readonly description: string;
  start(): Promise<void>;
  print(receipt: Receipt): Promise<void>;
  /** Lines of text under a heading (reports). Long lines wrap at the paper width. */
  printText(doc: PrintedText): Promise<void>;
  stop(): Promise<void>;
}

export class SerialDeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SerialDeviceError';
  }
}
