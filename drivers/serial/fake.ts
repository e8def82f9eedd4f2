/**
 * Serial peripherals in memory, for tests, the demo and machines without the hardware. They
 * behave like the real drivers at the contract: calls reject with SerialDeviceError while
 * "unplugged" (setConnected(false)), and nothing is recorded or emitted after stop().
 */
import { EventEmitter } from 'node:events';
import type { PoleDisplay, PrintedText, Receipt, ReceiptPrinter, SerialDeviceEvents } from './contract';
import { SerialDeviceError } from './contract';
import { POLE_WIDTH } from './pole-commands';
import { fitLine } from './text';

abstract class FakeSerialDevice extends EventEmitter<SerialDeviceEvents> {
  protected running = false;
  protected plugged = true;

  start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.emit('status', this.plugged ? { connected: true } : { connected: false, reason: 'unplugged' });
    }
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.running = false;
    return Promise.resolve();
  }

  /** Simulate unplug / replug. */
  setConnected(connected: boolean): void {
    if (this.plugged === connected) return;
    this.plugged = connected;
    if (this.running) this.emit('status', connected ? { connected: true } : { connected: false, reason: 'unplugged' });
  }

  protected notConnected(kind: string): SerialDeviceError | null {
    return !this.running || !this.plugged ? new SerialDeviceError(`${kind} not connected (fake)`) : null;
  }
}

export class FakePoleDisplay extends FakeSerialDevice implements PoleDisplay {
  readonly description = 'pole display (fake)';
  /** What the display shows now, as the real one would: 20 ASCII characters per line. */
  lines: [string, string] = [' '.repeat(POLE_WIDTH), ' '.repeat(POLE_WIDTH)];
  readonly history: [string, string][] = [];

  show(line1: string, line2: string): Promise<void> {
    const err = this.notConnected('pole display');
    if (err) return Promise.reject(err);
    this.lines = [fitLine(line1, POLE_WIDTH), fitLine(line2, POLE_WIDTH)];
    this.history.push(this.lines);
    return Promise.resolve();
  }
}

export class FakeReceiptPrinter extends FakeSerialDevice implements ReceiptPrinter {
  readonly description = 'receipt printer (fake)';
  readonly printed: Receipt[] = [];
  readonly printedText: PrintedText[] = [];

  print(receipt: Receipt): Promise<void> {
    const err = this.notConnected('receipt printer');
    if (err) return Promise.reject(err);
    this.printed.push({ ...receipt });
    return Promise.resolve();
  }

  printText(doc: PrintedText): Promise<void> {
    const err = this.notConnected('receipt printer');
    if (err) return Promise.reject(err);
    this.printedText.push({ ...doc, lines: [...doc.lines] });
    return Promise.resolve();
  }
}
