/**
 * ESC/POS receipt printer on a serial port (USB printers with a CDC/FTDI serial interface show
 * up as /dev/ttyUSB* or /dev/ttyACM*; use the /dev/serial/by-id/… path). Receipts are not
 * queued while the printer is away: print() rejects and the caller decides (a late receipt for
 * a sale long gone confuses more than it helps).
 */
import { EventEmitter } from 'node:events';
import type { PrinterConfig } from '../config';
import type { Logger } from '../../src/shared/log';
import type { PrintedText, Receipt, ReceiptPrinter, SerialDeviceEvents } from './contract';
import { SerialConnection } from './connection';
import type { SerialConnectionDeps } from './connection';
import { buildReceipt, buildText, escpos } from './escpos';

export interface EscPosPrinterDeps extends SerialConnectionDeps {
  /** Time zone for the printed payment time when the config has none; default the process's (TZ). */
  timeZone?: string;
}

export class EscPosPrinter extends EventEmitter<SerialDeviceEvents> implements ReceiptPrinter {
  readonly description: string;
  private readonly conn: SerialConnection;

  constructor(
    private readonly cfg: PrinterConfig,
    private readonly log: Logger,
    private readonly deps: EscPosPrinterDeps = {},
  ) {
    super();
    this.description = `escpos printer ${cfg.path}`;
    this.conn = new SerialConnection({ kind: 'receipt printer', path: cfg.path, baudRate: cfg.baudRate, onOpen: () => escpos.init() }, log, deps);
    this.conn.on('status', (s) => this.emit('status', s));
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  start(): Promise<void> {
    return this.conn.start();
  }

  async print(receipt: Receipt): Promise<void> {
    const bytes = buildReceipt(receipt, { width: this.cfg.width, qrModuleSize: this.cfg.qrModuleSize, timeZone: this.cfg.timeZone ?? this.deps.timeZone });
    await this.conn.write(bytes);
    this.log.info('receipt printed', { saleId: receipt.saleId, bytes: bytes.length });
  }

  async printText(doc: PrintedText): Promise<void> {
    const bytes = buildText(doc, { width: this.cfg.width });
    await this.conn.write(bytes);
    this.log.info('text printed', { title: doc.title, bytes: bytes.length });
  }

  stop(): Promise<void> {
    return this.conn.stop();
  }
}
