/**
 * What the outside world sees of the terminal's state: the screen (the state machine's model, or
 * what keeps it off the screen: a start-up problem, an upgrade's hold), the customer pole
 * display, the LED and beeps, and what the receipt printer prints. Peripherals are optional and
 * never block a sale: their failures are logged.
 */
import os from 'node:os';
import type { Indicator } from '../../drivers/gpio/contract';
import type { PoleDisplay, Receipt, ReceiptPrinter } from '../../drivers/serial/contract';
import { formatMoneyCode } from '../domain/money';
import { methodName } from '../domain/methods';
import type { Logger } from '../shared/log';
import type { TerminalConfig } from './config';
import type { FrameQueue } from './frames';
import type { SaleRow } from './journal';
import type { ScreenModel } from './screens/model';
import { OUTCOME_NAME } from './screens/strings';

export interface Peripherals {
  indicator?: Indicator | null;
  poleDisplay?: PoleDisplay | null;
  printer?: ReceiptPrinter | null;
}

const ascii = (text: string) => text.replace(/[^\x20-\x7e]/g, '').trim();

/** The pole display's two lines for a screen (null: leave it as it is). ASCII only, as most VFDs. */
export function poleLines(m: ScreenModel, shop: Pick<TerminalConfig, 'merchantName' | 'currency'>): [string, string] | null {
  const cur = shop.currency;
  if (m.kind === 'idle') return [ascii(shop.merchantName), 'Welcome'];
  if (m.kind === 'entry' || m.kind === 'creating') return ['TOTAL', `${cur} ${ascii(m.amountText)}`];
  if (m.kind === 'methods') return ['HOW TO PAY?', `${cur} ${ascii(m.amountText)}`];
  if (m.kind === 'qr') return ['SCAN TO PAY', `${cur} ${ascii(m.amountText)}`];
  if (m.kind === 'result') return [m.outcome === 'paid' || m.outcome === 'late_paid' ? 'PAID - THANK YOU' : OUTCOME_NAME[m.outcome].toUpperCase(), `${cur} ${ascii(m.amountText)}`];
  return null;
}

export class Presenter {
  /** What the state machine asked for last. */
  private machineModel: ScreenModel;

  constructor(
    private readonly frames: FrameQueue,
    private readonly devices: Peripherals,
    private readonly config: Pick<TerminalConfig, 'merchantName' | 'currency' | 'terminalName' | 'drivers'>,
    private readonly log: Logger,
    /** What is shown instead of the machine's screen right now (a start-up problem, an upgrade hold), if anything. */
    private readonly overlay: () => ScreenModel | null,
    private readonly clock: () => number,
  ) {
    this.machineModel = frames.lastModel;
  }

  /** The state machine's latest screen (whatever the overlay shows). */
  get model(): ScreenModel {
    return this.machineModel;
  }

  /** A screen from the state machine: the display (unless overlaid), the pole display and the LED. */
  present(model: ScreenModel, keyAt: number | null, online: boolean): void {
    this.machineModel = model;
    this.frames.show(this.overlay() ?? model, keyAt);
    const pole = this.devices.poleDisplay;
    const lines = pole ? poleLines(model, this.config) : null;
    if (pole && lines) this.quietly('pole display', pole.show(lines[0], lines[1]));
    this.devices.indicator?.setLed(model.kind === 'qr' || model.kind === 'creating' ? 'blink' : online ? 'on' : 'off');
  }

  /** Show again what belongs on screen now (an overlay came or went). */
  refresh(): void {
    this.frames.show(this.overlay() ?? this.machineModel);
  }

  beep(kind: 'key' | 'error' | 'success' | 'failure'): void {
    const led = this.devices.indicator;
    if (!led) return;
    if (kind === 'key') led.keyBeep();
    else if (kind === 'success') led.success();
    else led.failure();
  }

  /** Whether receipts print by themselves after a paid sale. */
  get printsOnSuccess(): boolean {
    return Boolean(this.devices.printer && (this.config.drivers.printer?.printOnSuccess ?? true));
  }

  get canPrint(): boolean {
    return Boolean(this.devices.printer);
  }

  /** A paid sale's receipt, titled PAID (after the sale) or COPY (a reprint). */
  printReceipt(sale: SaleRow, title: string): void {
    const printer = this.devices.printer;
    if (!printer) {
      this.log.warn('no receipt printer configured; nothing printed', { saleId: sale.saleId });
      return;
    }
    this.quietly(`receipt printing (${title})`, printer.print(this.receiptOf(sale, title)));
  }

  /** A report (X / Z) on the receipt printer. */
  printLines(title: string, lines: string[]): void {
    const printer = this.devices.printer;
    if (!printer) {
      this.log.warn('no receipt printer configured; nothing printed', { what: title });
      return;
    }
    this.quietly(`${title} printing`, printer.printText({ merchantName: this.config.merchantName, terminalName: this.terminalName, title, lines }));
  }

  private get terminalName(): string {
    return this.config.terminalName ?? os.hostname();
  }

  private receiptOf(sale: SaleRow, title: string): Receipt {
    return {
      merchantName: this.config.merchantName,
      amountText: formatMoneyCode(sale.amount, sale.currency),
      methodName: methodName(sale.method),
      paidAt: sale.paidAt ?? new Date(this.clock()).toISOString(),
      chargeId: sale.chargeId ?? '',
      saleId: `${sale.saleId} #${sale.ref}`,
      terminalName: this.terminalName,
      title,
    };
  }

  private quietly(what: string, p: Promise<void>): void {
    p.catch((err: unknown) => this.log.warn(`${what} failed`, { error: (err as Error).message }));
  }
}
