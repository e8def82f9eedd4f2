/**
 * The terminal end to end: the real daemon with a FakeKeypad and a MemoryDisplay, the real relay
 * and the Omise simulator, over real HTTP and WebSocket on loopback.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { MemoryDisplay } from '../../drivers/display/memory';
import { FakeKeypad } from '../../drivers/keypad/fake';
import type { SerialDeviceEvents } from '../../drivers/serial/contract';
import { FakeReceiptPrinter } from '../../drivers/serial/fake';
import { memoryLogger } from '../shared/log';
import { startTerminal } from './daemon';
import { JournalDamagedError } from './journal';
import { writeSecrets } from './secrets';
import { startRig, startTestTerminal, terminalConfig, press, waitFor, type Rig, type TestTerminal } from './testing/rig';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
});


async function toQr(t: TestTerminal, keys = '1 5 0 0 0 enter'): Promise<{ saleId: string; chargeId: string; qr: string }> {
  await waitFor(() => t.handle.status().link.online, 'link online');
  press(t, keys);
  const qr = await waitFor(() => (t.handle.status().state === 'showing_qr' ? t.screenQr() : null), 'QR on screen', 8000, 20);
  const saleId = t.handle.status().currentSale!.saleId;
  const chargeId = t.handle.journal.getSale(saleId)!.chargeId!;
  return { saleId, chargeId, qr };
}

async function withTerminal(name: string, fn: (t: TestTerminal) => Promise<void>, opts: Parameters<typeof startTestTerminal>[1] = {}): Promise<void> {
  const t = await startTestTerminal(rig, { credential: await rig.pair(name), name, ...opts });
  try {
    await fn(t);
  } finally {
    await t.handle.stop();
  }
}

describe('terminal end to end', () => {
  it('pairs: shows the code, the operator approves, the credential is stored 0600', async () => {
    const t = await startTestTerminal(rig, { name: 'pairing' });
    try {
      const code = await waitFor(() => t.handle.status().link.pairingCode, 'pairing code');
      expect(t.handle.status().state).toBe('pairing');
      await rig.relay.approvePairing(code);
      await waitFor(() => t.handle.status().link.online, 'online after pairing', 5000);
      expect(t.handle.status().state).toBe('idle');
      const st = fs.statSync(t.config.secretsFile);
      expect(st.mode & 0o777).toBe(0o600);
      const stored = JSON.parse(fs.readFileSync(t.config.secretsFile, 'utf8')) as { credential?: string; terminalId?: string };
      expect(stored.credential).toBeTruthy();
      expect(t.handle.status().terminalId).toBe(stored.terminalId);
      // The credential never reaches the log.
      expect(t.log.lines.join('\n')).not.toContain(stored.credential!);
    } finally {
      await t.handle.stop();
    }
  });

  it('keyed amount → QR on screen that decodes to the simulator’s QR text → paid shown and journaled', async () => {
    await withTerminal('paid', async (t) => {
      const { saleId, chargeId, qr } = await toQr(t);
      expect(qr).toBe(rig.sim.qrTextOf(chargeId));
      expect(rig.sim.charge(chargeId)).toMatchObject({ amount: 15000, currency: 'THB' });
      // The sale was journaled before anything was sent.
      const events = t.handle.journal.saleEvents(saleId).map((e) => e.kind);
      expect(events[0]).toBe('sale.recorded');
      rig.sim.markAsPaid(chargeId);
      await waitFor(() => t.handle.status().state === 'paid', 'PAID on screen', 8000);
      expect(t.handle.journal.getSale(saleId)).toMatchObject({ status: 'successful', chargeId });
      expect(t.indicator.calls).toContain('success');
      // The status endpoint says the same over HTTP.
      const st = (await (await fetch(`${t.handle.statusAddress}/status`)).json()) as { state: string; currentSale: { saleId: string; status: string }; link: { online: boolean } };
      expect(st).toMatchObject({ state: 'paid', currentSale: { saleId, status: 'successful' }, link: { online: true } });
    });
  });

  it('cancel → the charge ends expired at the simulator', async () => {
    await withTerminal('cancel', async (t) => {
      const { saleId, chargeId } = await toQr(t, '2 5 0 0 0 enter');
      press(t, 'cancel');
      await waitFor(() => t.handle.status().state === 'cancelled', 'CANCELLED on screen');
      await waitFor(() => rig.sim.charge(chargeId).status === 'expired', 'charge expired at the simulator', 8000);
      await waitFor(() => t.handle.journal.getSale(saleId)?.status === 'expired', 'expired in the journal');
      expect(t.handle.journal.pendingOutbox()).toBe(0);
    });
  });

  it('failed payment shows the reason', async () => {
    await withTerminal('failed', async (t) => {
      const { saleId, chargeId } = await toQr(t, '3 0 0 0 enter');
      rig.sim.markAsFailed(chargeId, 'insufficient_fund');
      await waitFor(() => t.handle.status().state === 'failed', 'FAILED on screen', 8000);
      expect(t.handle.journal.getSale(saleId)).toMatchObject({ status: 'failed', failureCode: 'insufficient_fund' });
    });
  });

  it('link down during a payment → the result is shown after the relay comes back', async () => {
    await withTerminal('linkdown', async (t) => {
      const { saleId, chargeId } = await toQr(t, '4 0 0 0 0 enter');
      await rig.stopRelay();
      try {
        await waitFor(() => !t.handle.status().link.online, 'offline', 5000);
        rig.sim.markAsPaid(chargeId);
        // Still on the QR: nothing tells the terminal yet.
        expect(t.handle.status().state).toBe('showing_qr');
      } finally {
        await rig.startRelay();
      }
      await waitFor(() => t.handle.status().state === 'paid', 'PAID after reconnect', 10_000);
      expect(t.handle.journal.getSale(saleId)?.status).toBe('successful');
      await waitFor(() => t.handle.status().link.online, 'online again', 5000);
    });
  });

  it('offline: a new sale is refused with the offline screen and nothing is sent', async () => {
    await withTerminal('offline', async (t) => {
      await waitFor(() => t.handle.status().link.online, 'online');
      const before = rig.sim.charges().length;
      await rig.stopRelay();
      try {
        await waitFor(() => !t.handle.status().link.online, 'offline', 5000);
        press(t, '5 0 0 0 enter');
        await waitFor(() => t.handle.status().state === 'offline', 'offline screen');
        expect(t.handle.journal.allSales()).toEqual([]);
      } finally {
        await rig.startRelay();
      }
      // Back online, the kept amount comes back for a retry.
      await waitFor(() => t.handle.status().state === 'entering', 'entry again', 8000);
      expect(rig.sim.charges().length).toBe(before);
    });
  });

  it('cancel while the relay is down, the customer pays anyway → late payment, listed for refund', async () => {
    await withTerminal('late', async (t) => {
      const { saleId, chargeId } = await toQr(t, '6 0 0 0 enter');
      await rig.stopRelay();
      try {
        await waitFor(() => !t.handle.status().link.online, 'offline', 5000);
        press(t, 'cancel');
        await waitFor(() => t.handle.status().state === 'cancelled', 'cancelled');
        rig.sim.markAsPaid(chargeId);
      } finally {
        await rig.startRelay();
      }
      await waitFor(() => t.handle.journal.getSale(saleId)?.late, 'late payment journaled', 10_000);
      expect(t.handle.journal.latePayments().map((s) => s.saleId)).toEqual([saleId]);
      expect(t.handle.machine().notice).toMatch(/Late payment/);
      expect(t.handle.machine().notice).not.toMatch(/will be refunded/);
      expect(t.handle.status().latePayments).toBe(1);
      // The reminder outlives the notice and the next sale, and a restart.
      press(t, 'cancel clear');
      await waitFor(() => t.handle.machine().mode.kind === 'idle' && !t.handle.machine().notice, 'notice dismissed');
      expect(t.handle.lastScreen()).toMatchObject({ kind: 'idle', notice: '1 late payment to settle: Menu → 4' });
      // Settled at the counter: the supervisor keeps it as a sale.
      press(t, 'menu 2 4 6 8 enter');
      await waitFor(() => t.handle.machine().mode.kind === 'menu', 'menu');
      press(t, '4');
      await waitFor(() => t.handle.machine().mode.kind === 'pick', 'late list');
      press(t, '1');
      await waitFor(() => t.handle.machine().mode.kind === 'late-decide', 'decide');
      press(t, '1');
      await waitFor(() => t.handle.status().latePayments === 0, 'settled');
      expect(t.handle.journal.getSale(saleId)?.lateResolution).toBe('kept');
      expect(t.handle.journal.saleEvents(saleId).map((e) => e.kind)).toContain('late.resolved');
      press(t, 'cancel cancel');
      await waitFor(() => t.handle.machine().mode.kind === 'idle', 'idle');
      expect(t.handle.lastScreen()).not.toMatchObject({ notice: expect.stringMatching(/to settle/) });
    }, { supervisorPin: '2468' });
  });

  it('a corrupt journal is never replaced by a fresh one: the start stops with JournalDamagedError and the file is kept aside untouched', async () => {
    const cred = await rig.pair('corrupt');
    const dir = fs.mkdtempSync(path.join(rig.dir, 'corrupt-'));
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    const bytes = Buffer.from('this is not a database'.repeat(500));
    fs.writeFileSync(path.join(dir, 'data', 'journal.sqlite'), bytes);
    const started = startTestTerminal(rig, { credential: cred, dir });
    await expect(started).rejects.toBeInstanceOf(JournalDamagedError);
    const err = (await started.catch((e: unknown) => e)) as JournalDamagedError;
    expect(fs.readFileSync(err.damage.damagedFile)).toEqual(bytes);
    expect(fs.existsSync(path.join(dir, 'data', 'journal.sqlite'))).toBe(false);
  });

  it('prints a receipt on PAID, and a failing pole display never blocks the sale', async () => {
    const printer = new FakeReceiptPrinter();
    const printed = printer.printed;
    let poleCalls = 0;
    const poleDisplay = Object.assign(new EventEmitter<SerialDeviceEvents>(), {
      description: 'unplugged pole display',
      start: () => Promise.reject(new Error('no such port')),
      stop: () => Promise.resolve(),
      show: () => {
        poleCalls++;
        return Promise.reject(new Error('port gone'));
      },
    });
    const keypad = new FakeKeypad();
    const display = new MemoryDisplay(320, 240);
    const dir = fs.mkdtempSync(path.join(rig.dir, 'periph-'));
    const config = terminalConfig(dir, rig.relayUrl, {
      drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 320, height: 240 }, printer: { path: '/dev/null', baudRate: 19200, printOnSuccess: true, width: 32 } },
    });
    writeSecrets(config.secretsFile, await rig.pair('periph'));
    const handle = await startTerminal({ config, drivers: { keypad, display, printer, poleDisplay }, log: memoryLogger(), statusListen: null, linkTuning: { pollMs: 150, backoff: { baseMs: 50, maxMs: 400 } } });
    try {
      await waitFor(() => handle.status().link.online, 'online');
      for (const k of ['9', '0', '0', '0', 'enter'] as const) keypad.press(k);
      await waitFor(() => handle.status().state === 'showing_qr', 'QR', 8000);
      const saleId = handle.status().currentSale!.saleId;
      rig.sim.markAsPaid(handle.journal.getSale(saleId)!.chargeId!);
      await waitFor(() => printed.length === 1, 'receipt printed', 8000);
      expect(printed[0]).toMatchObject({ title: 'PAID', amountText: 'THB 90.00', methodName: 'Alipay+', merchantName: 'Test Noodles' });
      expect(handle.status().state).toBe('paid');
      expect(poleCalls).toBeGreaterThan(2);
    } finally {
      await handle.stop();
    }
  });

  const paidSale = async (t: TestTerminal, keys: string): Promise<{ saleId: string; chargeId: string }> => {
    const { saleId, chargeId } = await toQr(t, keys);
    rig.sim.markAsPaid(chargeId);
    await waitFor(() => t.handle.status().state === 'paid', 'paid', 8000);
    return { saleId, chargeId };
  };
  const openMenu = async (t: TestTerminal, pin: string): Promise<void> => {
    press(t, `cancel menu ${pin.split('').join(' ')} enter`);
    await waitFor(() => t.handle.machine().mode.kind === 'menu', 'menu');
  };
  const mode = (t: TestTerminal) => t.handle.machine().mode;

  it('supervisor refund: pick the sale from the recent list, review amount and receipt, wait while Omise works, then done', async () => {
    await withTerminal(
      'refund',
      async (t) => {
        const { saleId, chargeId } = await paidSale(t, '7 0 0 0 enter');
        await openMenu(t, '1357');
        press(t, '1');
        await waitFor(() => mode(t).kind === 'pick', 'recent paid sales');
        press(t, '1');
        await waitFor(() => mode(t).kind === 'refund-confirm', 'amount');
        press(t, 'enter');
        await waitFor(() => mode(t).kind === 'refund-review', 'review');
        expect(rig.sim.charges().find((c) => c.id === chargeId)?.refunds.data ?? []).toHaveLength(0);
        press(t, 'enter');
        await waitFor(() => mode(t).kind === 'info', 'refund answered', 8000);
        expect(mode(t)).toMatchObject({ kind: 'info', tone: 'ok', title: expect.stringMatching(/^(Voided|Refunded)$/) });
        const sale = t.handle.journal.getSale(saleId)!;
        expect(sale.refundedAmount === 7000 || sale.status === 'reversed').toBe(true);
        expect(t.handle.journal.saleEvents(saleId).map((e) => e.kind)).toContain('supervisor.refund');
      },
      { supervisorPin: '1357' },
    );
  });

  it('a refund asked again while the first is still with Omise reads as done ("already refunded"), not failed, and Omise refunds once', async () => {
    await withTerminal(
      'refund-twice',
      async (t) => {
        const { saleId, chargeId } = await paidSale(t, '8 0 0 0 enter');
        // Omise is slow to answer refunds: the supervisor gives up waiting and asks again.
        rig.sim.faults.update({ endpoints: { 'POST /charges/:id/refunds': { latencyMs: 1200 } } });
        try {
          await openMenu(t, '1357');
          press(t, '1');
          await waitFor(() => mode(t).kind === 'pick', 'list');
          press(t, '1 enter enter');
          await waitFor(() => mode(t).kind === 'refund-pending', 'pending');
          press(t, 'cancel');
          await waitFor(() => mode(t).kind === 'menu', 'menu again');
          press(t, '1');
          await waitFor(() => mode(t).kind === 'pick', 'list again');
          press(t, '1 enter enter');
          await waitFor(() => mode(t).kind === 'refund-pending', 'second request pending');
          await waitFor(() => mode(t).kind === 'info', 'second request answered', 10_000);
        } finally {
          rig.sim.faults.reset();
        }
        expect(mode(t)).toMatchObject({ kind: 'info', title: 'Already refunded', tone: 'ok' });
        expect(JSON.stringify(t.handle.machine())).not.toMatch(/failed/i);
        const charge = rig.sim.charges().find((c) => c.id === chargeId)!;
        expect(charge.refunds.data).toHaveLength(1);
        await waitFor(() => t.handle.journal.getSale(saleId)!.refundedAmount === 8000 || t.handle.journal.getSale(saleId)!.status === 'reversed', 'refund journaled');
        const report = t.handle.journal.dayReport('2000-01-01', '9999');
        expect(report[0].refunded.count + report[0].voided.count).toBe(1);
      },
      { supervisorPin: '1357' },
    );
  });

  it("times on screen are the shop's (config timeZone), not UTC", async () => {
    await withTerminal(
      'shop-time',
      async (t) => {
        const hhmm = (zone: string) => new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date());
        await waitFor(() => t.handle.machine().clock === hhmm('Asia/Bangkok'), 'Bangkok time in the status bar');
        expect(hhmm('Asia/Bangkok')).not.toBe(hhmm('UTC'));
      },
      { config: { timeZone: 'Asia/Bangkok' } },
    );
  });

  it('X and Z reports: shown, printed on the receipt printer, and the Z report closes the day once', async () => {
    const printer = new FakeReceiptPrinter();
    await withTerminal(
      'report',
      async (t) => {
        await paidSale(t, '3 0 0 0 enter');
        await paidSale(t, '4 5 0 0 enter');
        await openMenu(t, '1357');
        press(t, '5');
        await waitFor(() => mode(t).kind === 'info', 'X report');
        const x = mode(t) as { lines: string[] };
        expect(x.lines).toContain('Alipay+ THB: paid 2  THB 75.00');
        expect(x.lines).toContain('Net THB 75.00');
        press(t, 'enter');
        await waitFor(() => printer.printedText.length === 1, 'X report printed');
        expect(printer.printedText[0]).toMatchObject({ title: 'X report', merchantName: 'Test Noodles' });
        press(t, '6');
        await waitFor(() => mode(t).kind === 'z-confirm', 'Z confirm');
        press(t, 'enter');
        await waitFor(() => mode(t).kind === 'info', 'Z report');
        expect(mode(t)).toMatchObject({ title: 'Z report #1' });
        await waitFor(() => printer.printedText.length === 2, 'Z report printed');
        // Closing again shows the same close, printed nothing new by itself.
        press(t, 'cancel 6 enter');
        await waitFor(() => mode(t).kind === 'info' && (mode(t) as { lines: string[] }).lines.some((l) => l.startsWith('Closed earlier')), 'Z report again');
        expect(mode(t)).toMatchObject({ title: 'Z report #1' });
        expect(printer.printedText).toHaveLength(2);
      },
      { supervisorPin: '1357', printer },
    );
  });

});
