/**
 * The terminal's parts on their own: the presenter with real frames (renderer → memory display)
 * and the drivers' documented fakes for the peripherals, and the supervisor's answers from a
 * real journal file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryDisplay } from '../../drivers/display/memory';
import { RecordingIndicator } from '../../drivers/gpio/contract';
import { FakePoleDisplay, FakeReceiptPrinter } from '../../drivers/serial/fake';
import { memoryLogger } from '../shared/log';
import { answerQuery } from './answers';
import { parseTerminalConfig, type TerminalConfig } from './config';
import { FrameQueue } from './frames';
import { HOLD_SCREEN } from './hold';
import { Journal } from './journal';
import { poleLines, Presenter } from './presenter';
import type { ScreenModel } from './screens/model';
import { ScreenRenderer } from './screens/renderer';

const STATUS = { online: true, unsynced: 0, clock: '10:00' };
const QR: ScreenModel = { kind: 'qr', amountText: '฿150.00', qrText: 'https://qr.example/abc', secondsLeft: 100, totalSeconds: 120, status: STATUS };

let dir: string;
let config: TerminalConfig;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-parts-'));
  config = parseTerminalConfig({
    version: 1,
    relayUrl: 'https://relay.example.com',
    merchantName: 'Ran Noodle ร้าน',
    currency: 'THB',
    terminalName: 'till-1',
    dataDir: dir,
    secretsFile: path.join(dir, 'secrets.json'),
    drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 320, height: 240 } },
  });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('presenter', () => {
  it('the pole display shows ASCII lines for the sale screens and keeps its text otherwise', () => {
    expect(poleLines({ kind: 'idle', merchantName: 'x', currencyHint: '', status: STATUS }, config)).toEqual(['Ran Noodle', 'Welcome']);
    expect(poleLines(QR, config)).toEqual(['SCAN TO PAY', 'THB 150.00']);
    expect(poleLines({ kind: 'result', outcome: 'not_created', amountText: '฿150.00', status: STATUS }, config)).toEqual(['PAYMENT NOT CREATED', 'THB 150.00']);
    expect(poleLines({ kind: 'menu', title: 'Supervisor', items: [] }, config)).toBeNull();
  });

  it('shows the machine screen unless an overlay holds the display, drives pole display and LED, and prints', async () => {
    const display = new MemoryDisplay(320, 240);
    await display.open();
    const frames = new FrameQueue(display, new ScreenRenderer({ width: 320, height: 240 }), memoryLogger(), { kind: 'boot', message: 'Starting…' });
    const drawn: string[] = [];
    frames.onFrame((f) => drawn.push(f.model.kind === 'message' ? f.model.title : f.model.kind));
    const pole = new FakePoleDisplay();
    const printer = new FakeReceiptPrinter();
    const led = new RecordingIndicator();
    await pole.start();
    await printer.start();
    let held = false;
    const p = new Presenter(frames, { indicator: led, poleDisplay: pole, printer }, config, memoryLogger(), () => (held ? HOLD_SCREEN : null), () => Date.parse('2026-12-07T03:00:00Z'));
    p.present(QR, null, true);
    await frames.settled();
    expect(drawn).toEqual(['qr']);
    expect(led.calls.at(-1)).toBe('led:blink');
    expect(pole.lines.map((l) => l.trim())).toEqual(['SCAN TO PAY', 'THB 150.00']);
    held = true;
    p.refresh();
    await frames.settled();
    expect(drawn.at(-1)).toBe(HOLD_SCREEN.kind === 'message' ? HOLD_SCREEN.title : '');
    expect(p.model).toBe(QR); // the machine's screen is kept, and comes back
    held = false;
    p.refresh();
    await frames.settled();
    expect(drawn.at(-1)).toBe('qr');

    const journal = Journal.open(path.join(dir, 'j.sqlite'), { log: memoryLogger() }).journal;
    const sale = journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: Date.now() });
    expect(p.printsOnSuccess).toBe(true);
    const promptpay = journal.recordSale({ saleId: 'SALE_000000002', amount: 4000, currency: 'THB', method: 'promptpay', at: Date.now() });
    p.printReceipt(sale, 'COPY');
    p.printReceipt(promptpay, 'PAID');
    p.printLines('X report', ['Net THB 150.00']);
    expect(printer.printed).toEqual([
      expect.objectContaining({ title: 'COPY', amountText: 'THB 150.00', methodName: 'Alipay+', saleId: 'SALE_000000001 #1', terminalName: 'till-1' }),
      expect.objectContaining({ title: 'PAID', amountText: 'THB 40.00', methodName: 'PromptPay', saleId: 'SALE_000000002 #2' }),
    ]);
    expect(printer.printedText).toEqual([{ merchantName: 'Ran Noodle ร้าน', terminalName: 'till-1', title: 'X report', lines: ['Net THB 150.00'] }]);
    journal.close();
    await display.close();
  });
});

describe('frame queue', () => {
  it('after drop() nothing more is drawn: a failed start hands the display to the fatal screen', async () => {
    const display = new MemoryDisplay(320, 240);
    await display.open();
    const frames = new FrameQueue(display, new ScreenRenderer({ width: 320, height: 240 }), memoryLogger(), { kind: 'boot', message: 'Starting…' });
    frames.show({ kind: 'boot', message: 'Starting…' });
    await frames.settled();
    const before = display.presents;
    expect(before).toBe(1);
    frames.show({ kind: 'boot', message: 'Still starting…' });
    await frames.drop();
    // A timer of the failed start asks for one more frame: refused.
    frames.show({ kind: 'boot', message: 'Late' });
    await new Promise((r) => setImmediate(r));
    await frames.settled();
    expect(display.presents).toBe(before);
    expect(frames.busy).toBe(false);
  });
});

describe('answers', () => {
  it('the X report counts the business day; the Z report closes it once and asks to print it once', () => {
    const now = Date.parse('2026-12-07T05:00:00Z'); // 12:00 in Bangkok
    const journal = Journal.open(path.join(dir, 'j.sqlite'), { log: memoryLogger(), clock: () => now }).journal;
    journal.recordSale({ saleId: 'SALE_000000001', amount: 15000, currency: 'THB', at: now - 3_600_000 });
    journal.applySaleView(
      {
        saleId: 'SALE_000000001', terminalId: 't', amount: 15000, currency: 'THB', status: 'successful', chargeId: 'chrg_1', qr: null, failureCode: null, failureMessage: null, error: null,
        chargeExpiresAt: null, chargeCreatedAt: new Date(now - 3_600_000).toISOString(), paidAt: new Date(now - 3_500_000).toISOString(), expireRequested: false, refundedAmount: 0, canVoid: true, refunds: [],
        createdAt: new Date(now - 3_600_000).toISOString(), updatedAt: new Date(now).toISOString(),
      },
      'test',
    );
    const ctx = { journal, link: { status: () => ({ online: true, paired: true, terminalId: 't', lastEventSeq: 0, lastError: null, pairingCode: null }) as never }, config, clock: () => now, canPrint: true };
    const x = answerQuery({ kind: 'report', close: false }, ctx);
    expect(x.answer).toMatchObject({ kind: 'lines', title: 'X report', printable: true, lines: expect.arrayContaining(['Business day 2026-12-07', 'Alipay+ THB: paid 1  THB 150.00', 'Net THB 150.00']) });
    expect(x.printNow).toBeUndefined();
    const z = answerQuery({ kind: 'report', close: true }, ctx);
    expect(z).toMatchObject({ answer: { title: 'Z report #1' }, closedDay: { number: 1, businessDay: '2026-12-07' }, printNow: { title: 'Z report #1' } });
    const again = answerQuery({ kind: 'report', close: true }, ctx);
    expect(again.answer).toMatchObject({ title: 'Z report #1', lines: expect.arrayContaining([expect.stringMatching(/^Closed earlier at 12:00/)]) });
    expect(again.printNow).toBeUndefined();
    const recent = answerQuery({ kind: 'recent', purpose: 'refund' }, ctx).answer;
    expect(recent).toMatchObject({ kind: 'sales', sales: [{ ref: 1, status: 'successful', time: '11:01' }] });
    journal.close();
  });
});
