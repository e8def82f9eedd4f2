/**
 * Revoking a terminal while its QR is on screen, end to end: the real daemon (FakeKeypad,
 * MemoryDisplay), the real relay and the Omise simulator on loopback.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { TerminalAdmin } from '../relay/admin';
import { Pairing } from '../relay/pairing';
import { openSqliteStore } from '../relay/sqlite-store';
import type { ScreenModel } from './screens/model';
import { startRig, startTestTerminal, waitFor, type Rig } from './testing/rig';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
});

describe('terminal: revoked with a QR on screen', () => {
  it('says it was revoked, its charge is expired at Omise, and after pairing again it learns the sale’s outcome', async () => {
    const first = await rig.pair('till-revoke');
    const t = await startTestTerminal(rig, { credential: first, name: 'till-revoke' });
    const frames: ScreenModel[] = [];
    t.handle.onFrame((f) => frames.push(f.model));
    try {
      await waitFor(() => t.handle.status().link.online, 'link online');
      for (const k of '1 5 0 0 0 enter'.split(' ')) t.keypad.press(k as KeyName);
      await waitFor(() => (t.handle.status().state === 'showing_qr' ? t.screenQr() : null), 'QR on screen', 8000, 20);
      const saleId = t.handle.status().currentSale!.saleId;
      const chargeId = t.handle.journal.getSale(saleId)!.chargeId!;

      (await rig.relay.revokeTerminal(first.terminalId));

      // The screen says so (and the QR is gone from it); the charge cannot be paid any more.
      const code = await waitFor(() => t.handle.status().link.pairingCode, 'a new pairing code after the revocation');
      await t.handle.idle();
      const shown = frames.filter((m): m is Extract<ScreenModel, { kind: 'pairing' }> => m.kind === 'pairing').at(-1);
      expect(shown?.message).toMatch(/revoked/i);
      expect(t.screenQr()).toBeNull();
      await waitFor(() => rig.sim.charge(chargeId).status === 'expired', 'the charge expired at Omise', 8000);

      // The operator approves the new code: the device proved its old credential, so the new
      // terminal replaces the old one and the journal gets the outcome of the sale in flight.
      const approved = (await rig.relay.approvePairing(code));
      expect(approved.replaces).toBe(first.terminalId);
      await waitFor(() => t.handle.journal.getSale(saleId)?.status === 'expired', 'the sale’s outcome in the journal', 8000);
      const stored = JSON.parse(fs.readFileSync(t.config.secretsFile, 'utf8')) as { terminalId?: string; credential?: string };
      expect(stored.terminalId).toBe(approved.id);
      expect(t.log.lines.join('\n')).not.toContain(first.credential);
      expect(t.log.lines.join('\n')).not.toContain(stored.credential!);
    } finally {
      await t.handle.stop();
    }
  });

  it('expires a sale whose create was still queued at the revocation, right after the new pairing sends it', async () => {
    const first = await rig.pair('till-queued');
    const t = await startTestTerminal(rig, { credential: first, name: 'till-queued' });
    try {
      await waitFor(() => t.handle.status().link.online, 'link online');
      // Keyed in the same turn as the relay starts going down: the terminal has not seen its link
      // close yet, so the sale starts, and its create finds no relay and is queued. (Keyed after
      // the stop, the link could already be down on a loaded host: Enter then starts no sale.)
      const stopping = rig.stopRelay();
      for (const k of '2 5 0 0 enter'.split(' ')) t.keypad.press(k as KeyName);
      await stopping;
      const saleId = await waitFor(() => t.handle.status().currentSale?.saleId, 'the sale keyed while the relay is down');
      // The operator revokes while the relay is down, as the CLI does: on the same database.
      const store = openSqliteStore(path.join(rig.dir, 'relay'));
      const clock = () => new Date();
      await new TerminalAdmin({ store, pairing: new Pairing(store, clock, { codeTtlMs: 600_000, maxPending: 10 }), clock, heartbeatMs: 1000, methodsOf: () => ['alipayplus_mpm'] }).revoke(first.terminalId);
      store.close();
      await rig.startRelay();

      const code = await waitFor(() => t.handle.status().link.pairingCode, 'a pairing code after the revocation', 8000);
      expect(t.handle.machine().mode).toMatchObject({ kind: 'pairing', message: expect.stringMatching(/revoked/i) });
      (await rig.relay.approvePairing(code));
      await waitFor(() => t.handle.journal.getSale(saleId)?.status === 'expired', 'the queued sale ends expired', 10_000);
      const charges = rig.sim.charges().filter((c) => c.metadata.qrpos_sale_id === saleId);
      expect(charges.filter((c) => c.status === 'pending' || c.status === 'successful')).toEqual([]);
    } finally {
      await t.handle.stop();
    }
  });

  it("keeps the proof of a supervisor's 'Pair again' across a restart before the approval", async () => {
    const first = await rig.pair('till-repair');
    const opts = { credential: first, name: 'till-repair', supervisorPin: '2468' };
    const t = await startTestTerminal(rig, opts);
    let stopped = false;
    try {
      await waitFor(() => t.handle.status().link.online, 'link online');
      // A sale in flight, then the supervisor pairs the device again (Menu, PIN, 6, Enter).
      for (const k of '3 0 0 0 enter'.split(' ')) t.keypad.press(k as KeyName);
      await waitFor(() => (t.handle.status().state === 'showing_qr' ? t.screenQr() : null), 'QR on screen', 8000, 20);
      const saleId = t.handle.status().currentSale!.saleId;
      t.keypad.press('cancel');
      await waitFor(() => t.handle.journal.getSale(saleId)?.status === 'expired', 'the cancelled sale expired', 8000);
      // The result screen gives way to the idle screen on its own.
      await waitFor(() => t.handle.machine().mode.kind === 'idle', 'idle after the result', 20_000);
      for (const k of 'menu 2 4 6 8 enter'.split(' ')) t.keypad.press(k as KeyName);
      await waitFor(() => t.handle.machine().mode.kind === 'menu', 'menu');
      t.keypad.press('8'); // Pair again
      await waitFor(() => t.handle.machine().mode.kind === 'repair-confirm', 'pair again?');
      t.keypad.press('enter');
      await waitFor(() => t.handle.status().link.pairingCode, 'a pairing code');
      const stored = JSON.parse(fs.readFileSync(t.config.secretsFile, 'utf8')) as Record<string, string>;
      expect(stored).not.toHaveProperty('credential');
      expect(stored.previousCredential).toBe(first.credential);

      // The daemon restarts before the operator approves: the new pairing still proves the old credential.
      await t.handle.stop();
      stopped = true;
      const again = await startTestTerminal(rig, { ...opts, dir: t.dir });
      try {
        const code = await waitFor(() => again.handle.status().link.pairingCode, 'a pairing code after the restart');
        const approved = (await rig.relay.approvePairing(code));
        expect(approved.replaces).toBe(first.terminalId);
        await waitFor(() => again.handle.status().link.online, 'online as the new terminal', 8000);
        const after = JSON.parse(fs.readFileSync(t.config.secretsFile, 'utf8')) as Record<string, string>;
        expect(after).toMatchObject({ terminalId: approved.id, supervisorPin: '2468' });
        expect(after).not.toHaveProperty('previousCredential');
        // The old terminal's sale is still readable by the device (it follows the new terminal).
        expect(again.handle.journal.getSale(saleId)?.status).toBe('expired');
      } finally {
        await again.handle.stop();
      }
    } finally {
      if (!stopped) await t.handle.stop();
    }
  });
});
