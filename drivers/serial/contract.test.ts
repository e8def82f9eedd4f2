/**
 * The serial device contract (contract.ts), one suite per kind run against the fake and the real
 * driver. The real drivers talk to real PTYs made by socat (serialport, termios and all), and
 * what reaches the far end is checked byte for byte, across unplug (socat killed) and replug.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import type { DeviceStatus } from '../keypad/contract';
import type { PoleDisplay, PrintedText, Receipt, ReceiptPrinter } from './contract';
import { SerialDeviceError } from './contract';
import { buildReceipt, buildText, escpos } from './escpos';
import { EscPosPrinter } from './escpos-printer';
import { FakePoleDisplay, FakeReceiptPrinter } from './fake';
import { poleInit, poleShow } from './pole-commands';
import type { PoleCommandSet } from './pole-commands';
import { SerialPoleDisplay } from './pole-display';
import { SocatPty, waitUntil } from './socat-pty';

const RETRY = { minMs: 30, maxMs: 200 };

interface Harness<D> {
  device: D;
  unplug(): Promise<void>;
  replug(): Promise<void>;
  /** Real drivers: the bytes that reached the far end. */
  received?(): Buffer;
  cleanup(): Promise<void>;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'qrpos-serial-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function watch(d: { on(e: 'status', l: (s: DeviceStatus) => void): unknown }): DeviceStatus[] {
  const statuses: DeviceStatus[] = [];
  d.on('status', (s) => statuses.push(s));
  return statuses;
}

async function ptyHarness<D extends { stop(): Promise<void> }>(plugged: boolean, make: (path: string) => D): Promise<Harness<D>> {
  const pty = new SocatPty(dir);
  if (plugged) await pty.start();
  const device = make(pty.path);
  return {
    device,
    unplug: () => pty.kill(),
    replug: () => pty.start(),
    received: () => pty.received,
    cleanup: async () => {
      await device.stop();
      await pty.close();
    },
  };
}

function fakeHarness<D extends FakePoleDisplay | FakeReceiptPrinter>(plugged: boolean, device: D): Harness<D> {
  if (!plugged) device.setConnected(false);
  return {
    device,
    unplug: async () => device.setConnected(false),
    replug: async () => device.setConnected(true),
    cleanup: () => device.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
const poleImpls: [string, PoleCommandSet | null, (plugged: boolean) => Promise<Harness<PoleDisplay>>][] = [
  ['FakePoleDisplay', null, async (plugged) => fakeHarness(plugged, new FakePoleDisplay())],
  ...(['epson', 'cd5220'] as const).map(
    (set) =>
      [
        `SerialPoleDisplay ${set} on a PTY`,
        set,
        (plugged: boolean) =>
          ptyHarness<PoleDisplay>(plugged, (p) => new SerialPoleDisplay({ path: p, baudRate: 9600, commandSet: set }, memoryLogger(), { retry: RETRY })),
      ] as [string, PoleCommandSet, (plugged: boolean) => Promise<Harness<PoleDisplay>>],
  ),
];

describe.each(poleImpls)('PoleDisplay contract: %s', (_name, set, make) => {
  it('start → connected; show() resolves once written; exact bytes on the wire', async () => {
    const h = await make(true);
    const statuses = watch(h.device);
    await h.device.start();
    expect(statuses).toEqual([{ connected: true }]);
    await h.device.show('THB 1,500.00', 'Scan to pay');
    await h.device.show('PAID', 'Thank you');
    if (h.received && set) {
      const want = Buffer.concat([poleInit(set), poleShow(set, 'THB 1,500.00', 'Scan to pay'), poleShow(set, 'PAID', 'Thank you')]);
      await waitUntil(() => h.received!().length >= want.length, 'bytes at the far end');
      expect(h.received().toString('hex')).toBe(want.toString('hex'));
    }
    await h.cleanup();
  });

  it('unplug: status false and show() rejects with SerialDeviceError; replug: reconnects and shows the last text again', async () => {
    const h = await make(true);
    const statuses = watch(h.device);
    await h.device.start();
    await h.device.show('THB 20.00', 'Scan to pay');
    if (h.received && set) {
      // Bytes still in the PTY when socat dies are lost, as on a real unplug; wait for them first.
      const first = Buffer.concat([poleInit(set), poleShow(set, 'THB 20.00', 'Scan to pay')]);
      await waitUntil(() => h.received!().length >= first.length, 'bytes at the far end before the unplug');
    }
    await h.unplug();
    await waitUntil(() => statuses.at(-1)?.connected === false, 'status {connected:false}');
    expect(typeof statuses.at(-1)?.reason).toBe('string');
    await expect(h.device.show('THB 21.00', 'Scan to pay')).rejects.toBeInstanceOf(SerialDeviceError);
    await h.replug();
    await waitUntil(() => statuses.at(-1)?.connected === true, 'status {connected:true} after replug');
    await h.device.show('PAID', '');
    if (h.received && set) {
      const want = Buffer.concat([
        poleInit(set),
        poleShow(set, 'THB 20.00', 'Scan to pay'),
        // after the replug: init, then the last text it was asked to show, then the new text
        poleInit(set),
        poleShow(set, 'THB 21.00', 'Scan to pay'),
        poleShow(set, 'PAID', ''),
      ]);
      await waitUntil(() => h.received!().length >= want.length, 'bytes at the far end');
      expect(h.received().toString('hex')).toBe(want.toString('hex'));
    }
    await h.cleanup();
  });

  it('missing at start: start resolves, status false, show rejects; connects when the device appears', async () => {
    const h = await make(false);
    const statuses = watch(h.device);
    await h.device.start();
    expect(statuses).toHaveLength(1);
    expect(statuses[0].connected).toBe(false);
    await expect(h.device.show('a', 'b')).rejects.toBeInstanceOf(SerialDeviceError);
    await h.replug();
    await waitUntil(() => statuses.at(-1)?.connected === true, 'status {connected:true}');
    await h.device.show('c', 'd');
    await h.cleanup();
  });

  it('stop() is idempotent; afterwards show rejects and no status is emitted', async () => {
    const h = await make(true);
    const statuses = watch(h.device);
    await h.device.start();
    await h.device.stop();
    await h.device.stop();
    const n = statuses.length;
    await expect(h.device.show('a', 'b')).rejects.toBeInstanceOf(SerialDeviceError);
    await h.unplug();
    await h.replug();
    await new Promise((r) => setTimeout(r, RETRY.maxMs));
    expect(statuses).toHaveLength(n);
    await h.cleanup();
  });
});

// ---------------------------------------------------------------------------------------------
const RECEIPT: Receipt = {
  merchantName: 'Som Tam Corner',
  amountText: 'THB 1,500.00',
  methodName: 'WeChat Pay',
  paidAt: '2026-11-26T04:10:47.000Z',
  chargeId: 'chrg_test_60ab1c2d3e4f5g6h7i8',
  saleId: 'S-0042',
  terminalName: 'Counter 1',
  title: 'PAID',
};

const printerImpls: [string, boolean, (plugged: boolean) => Promise<Harness<ReceiptPrinter>>][] = [
  ['FakeReceiptPrinter', false, async (plugged) => fakeHarness(plugged, new FakeReceiptPrinter())],
  [
    'EscPosPrinter on a PTY',
    true,
    (plugged) =>
      ptyHarness<ReceiptPrinter>(
        plugged,
        (p) => new EscPosPrinter({ path: p, baudRate: 19200, printOnSuccess: true, width: 32, timeZone: 'Asia/Bangkok' }, memoryLogger(), { retry: RETRY }),
      ),
  ],
];

describe.each(printerImpls)('ReceiptPrinter contract: %s', (_name, real, make) => {
  const receiptBytes = buildReceipt(RECEIPT, { width: 32, timeZone: 'Asia/Bangkok' });

  it('prints a receipt: exact bytes on the wire', async () => {
    const h = await make(true);
    const statuses = watch(h.device);
    await h.device.start();
    expect(statuses).toEqual([{ connected: true }]);
    await h.device.print(RECEIPT);
    if (real) {
      const want = Buffer.concat([escpos.init(), receiptBytes]);
      await waitUntil(() => h.received!().length >= want.length, 'receipt bytes');
      expect(h.received!().toString('hex')).toBe(want.toString('hex'));
      expect(h.received!().includes(Buffer.from('Paid with             WeChat Pay\n'))).toBe(true);
    } else {
      expect((h.device as FakeReceiptPrinter).printed).toEqual([RECEIPT]);
    }
    await h.cleanup();
  });

  it('unplug: print rejects with SerialDeviceError, nothing queued; replug: reconnects and prints', async () => {
    const h = await make(true);
    const statuses = watch(h.device);
    await h.device.start();
    if (real) await waitUntil(() => h.received!().length >= escpos.init().length, 'init bytes before the unplug');
    await h.unplug();
    await waitUntil(() => statuses.at(-1)?.connected === false, 'status {connected:false}');
    await expect(h.device.print(RECEIPT)).rejects.toBeInstanceOf(SerialDeviceError);
    await h.replug();
    await waitUntil(() => statuses.at(-1)?.connected === true, 'status {connected:true}');
    await h.device.print({ ...RECEIPT, title: 'PAID (2)' });
    if (real) {
      const second = buildReceipt({ ...RECEIPT, title: 'PAID (2)' }, { width: 32, timeZone: 'Asia/Bangkok' });
      const want = Buffer.concat([escpos.init(), escpos.init(), second]);
      await waitUntil(() => h.received!().length >= want.length, 'receipt bytes');
      expect(h.received!().toString('hex')).toBe(want.toString('hex'));
    } else {
      expect((h.device as FakeReceiptPrinter).printed.map((r) => r.title)).toEqual(['PAID (2)']);
    }
    await h.cleanup();
  });

  it('prints a report: heading, then each line wrapped at the paper width, exact bytes on the wire', async () => {
    const doc: PrintedText = {
      merchantName: 'Som Tam Corner',
      terminalName: 'Counter 1',
      title: 'Z report #4',
      lines: ['Business day 2026-11-26', 'Refunds 1  -THB 50.00; voids 1  -THB 150.00', 'Net THB 1,300.00'],
    };
    const h = await make(true);
    await h.device.start();
    await h.device.printText(doc);
    const bytes = buildText(doc, { width: 32 });
    // Every line fits the 32-column paper, split at a space, and nothing is lost.
    const text = bytes.toString('latin1');
    for (const line of ['Business day 2026-11-26', 'Refunds 1  -THB 50.00; voids 1', '-THB 150.00', 'Net THB 1,300.00']) expect(text).toContain(`${line}\n`);
    if (real) {
      const want = Buffer.concat([escpos.init(), bytes]);
      await waitUntil(() => h.received!().length >= want.length, 'report bytes');
      expect(h.received!().toString('hex')).toBe(want.toString('hex'));
    } else {
      expect((h.device as FakeReceiptPrinter).printedText).toEqual([doc]);
    }
    await h.device.stop();
    await expect(h.device.printText(doc)).rejects.toBeInstanceOf(SerialDeviceError);
    await h.cleanup();
  });

  it('stop() is idempotent; print afterwards rejects', async () => {
    const h = await make(true);
    await h.device.start();
    await h.device.stop();
    await h.device.stop();
    await expect(h.device.print(RECEIPT)).rejects.toBeInstanceOf(SerialDeviceError);
    await h.cleanup();
  });
});
