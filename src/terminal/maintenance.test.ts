/**
 * Issue 12 item 7 end to end: a terminal whose journal is destroyed after three sales waits on
 * the maintenance screen (status not ready, nothing sold) until `qrpos terminal journal recover`,
 * then sells again with receipt references above the three the relay saw, never from 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { MemoryDisplay } from '../../drivers/display/memory';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { memoryLogger } from '../shared/log';
import { journalPath } from './config';
import { startTerminal, type TerminalHandle } from './daemon';
import { runJournalCommand } from './journal-cli';
import { startWhenJournalReady, type Maintenance } from './maintenance';
import { startRig, startTestTerminal, waitFor, type Rig } from './testing/rig';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
});

describe('journal maintenance', () => {
  it('waits on the maintenance screen until the operator recovers, then continues receipt references above the relay’s', async () => {
    const cred = await rig.pair('maint');
    const t1 = await startTestTerminal(rig, { credential: cred, name: 'maint' });
    const press = (kp: FakeKeypad, keys: string) => keys.split(' ').forEach((k) => kp.press(k as KeyName));
    // A busy machine can miss a heartbeat: a sale keyed in that moment lands on the offline
    // screen, where Enter tries again once the link is back.
    const sell = async (kp: FakeKeypad, h: TerminalHandle, keys: string) => {
      await waitFor(() => h.status().link.online, 'online');
      press(kp, keys);
      await waitFor(
        () => {
          const st = h.status();
          if (st.state === 'offline' && st.link.online) kp.press('enter');
          return st.state === 'showing_qr';
        },
        'QR on screen',
        15_000,
        50,
      );
    };
    for (let i = 0; i < 3; i++) {
      await sell(t1.keypad, t1.handle, '2 5 0 0 enter');
      press(t1.keypad, 'cancel');
      await waitFor(() => t1.handle.status().state === 'cancelled', 'cancelled');
      press(t1.keypad, 'clear');
      await waitFor(() => t1.handle.status().state === 'idle', 'idle');
    }
    const terminalId = t1.handle.status().terminalId!;
    await waitFor(async () => (await rig.relay.store.highestRecordRef(terminalId)) === 3, 'records of refs 1..3 at the relay', 8000);
    await t1.handle.stop();

    // Everything lost: the journal is not a database any more.
    const file = journalPath(t1.config);
    fs.writeFileSync(file, Buffer.alloc(32 * 1024, 0x42));
    for (const s of ['-wal', '-shm']) fs.rmSync(file + s, { force: true });
    const configFile = path.join(t1.dir, 'terminal.json');
    fs.writeFileSync(configFile, JSON.stringify(t1.config));

    const keypad = new FakeKeypad();
    const display = new MemoryDisplay(480, 320);
    const log = memoryLogger('debug');
    let maintenance: Maintenance | null = null;
    let stopSignal!: () => void;
    const stop = new Promise<void>((resolve) => (stopSignal = resolve));
    const started = startWhenJournalReady(
      () => startTerminal({ config: t1.config, drivers: { keypad, display }, log, linkTuning: { pollMs: 150, pairPollMs: 100, backoff: { baseMs: 50, maxMs: 400 } }, tickMs: 100 }),
      { display, journalFile: file, log, version: 'test', merchantName: t1.config.merchantName, statusListen: '127.0.0.1:0', pollMs: 50, onWaiting: (_s, m) => (maintenance = m) },
      stop,
    );
    let handle: TerminalHandle | null = null;
    try {
      const m = await waitFor(() => maintenance, 'maintenance');
      expect(m.screen).toMatchObject({ kind: 'error', title: 'Maintenance: sales paused' });
      const res = await fetch(`${m.statusAddress}/ready`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { reason: string }).reason).toMatch(/^journal maintenance: .*run 'qrpos terminal journal recover'/);
      expect(fs.existsSync(file)).toBe(false);

      const out: string[] = [];
      const err: string[] = [];
      expect(await runJournalCommand(['check', '--config', configFile], (l) => out.push(l), (l) => err.push(l))).toBe(1);
      expect(out.join('\n')).toMatch(/set aside as damaged since .*waiting for recovery/);
      out.length = 0;
      expect(await runJournalCommand(['recover', '--config', configFile], (l) => out.push(l), (l) => err.push(l))).toBe(0);
      expect(out.join('\n')).toMatch(/relay's highest #3; the next sale is #4 or above/);
      expect(err).toEqual([]);

      handle = await started;
      expect(handle).not.toBeNull();
      const h = handle!;
      await waitFor(() => h.status().link.online, 'online after recovery');
      expect(h.status()).toMatchObject({ ready: true, journal: { resetFrom: expect.stringMatching(/journal\.sqlite\.damaged-/) as string } });
      await sell(keypad, h, '3 0 0 0 enter');
      // #1–#3 are never issued again: the new sale is above them, and so is every sale the
      // reconciliation adopts back from the relay (it may run before or after the keys).
      expect(h.status().currentSale!.ref).toBeGreaterThan(3);
      expect(h.journal.allSales().filter((s) => s.ref <= 3)).toEqual([]);
      expect(await runJournalCommand(['check', '--config', configFile], () => undefined, () => undefined)).toBe(0);
    } finally {
      stopSignal();
      await (handle ?? (await started.catch(() => null)))?.stop();
    }
  });
});
