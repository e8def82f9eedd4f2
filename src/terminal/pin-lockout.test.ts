/** The supervisor PIN lockout across restarts of the real daemon (FakeKeypad, the real relay). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { startRig, startTestTerminal, waitFor, type Rig } from './testing/rig';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
});

describe('terminal: the supervisor PIN lockout', () => {
  it('survives a restart: neither the wrong-entry count nor a lockout is reset by restarting the daemon', async () => {
    const cred = await rig.pair('till-pin');
    const opts = { credential: cred, name: 'till-pin', supervisorPin: '2468' };
    /** A wrong PIN; the PIN screen stays up after one, so only the first needs the Menu key. */
    const wrong = (t: Awaited<ReturnType<typeof startTestTerminal>>) => {
      if (t.handle.machine().mode.kind !== 'pin') t.keypad.press('menu');
      for (const k of '1 1 1 1 enter'.split(' ')) t.keypad.press(k as KeyName);
    };
    const t1 = await startTestTerminal(rig, opts);
    await waitFor(() => t1.handle.machine().mode.kind === 'idle', 'idle');
    wrong(t1);
    await waitFor(() => t1.handle.machine().pinFailures === 1, 'one wrong entry');
    wrong(t1);
    await waitFor(() => t1.handle.machine().pinFailures === 2, 'two wrong entries');
    await t1.handle.stop();

    // Restarted: the third wrong entry locks (the count was kept), and the lockout outlives another restart.
    const t2 = await startTestTerminal(rig, { ...opts, dir: t1.dir });
    await waitFor(() => t2.handle.machine().mode.kind === 'idle', 'idle');
    expect(t2.handle.machine().pinFailures).toBe(2);
    wrong(t2);
    await waitFor(() => t2.handle.machine().pinLockedUntil > 0, 'locked');
    await t2.handle.stop();

    const t3 = await startTestTerminal(rig, { ...opts, dir: t1.dir });
    try {
      await waitFor(() => t3.handle.machine().mode.kind === 'idle', 'idle');
      for (const k of 'menu 2 4 6 8 enter'.split(' ')) t3.keypad.press(k as KeyName);
      const m = await waitFor(() => {
        const mode = t3.handle.machine().mode;
        return mode.kind === 'pin' && mode.error ? mode : null;
      }, 'the right PIN refused while locked');
      expect(m.error).toMatch(/Locked/);
      expect(t3.handle.machine().mode.kind).not.toBe('menu');
    } finally {
      await t3.handle.stop();
    }
  });
});
