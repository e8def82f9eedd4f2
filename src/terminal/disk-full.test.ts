/**
 * Issue 12 item 6, terminal side, on a real size-limited filesystem (tmpfs) filled while a QR is
 * on screen: no new sale starts (screen and status endpoint say why), the sale in flight is paid
 * on screen from memory and written once space returns, a restart on the full disk comes up
 * paused instead of crash-looping, and everything carries on when the filler is removed.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountSmallFs, type SmallFs } from '../shared/testing/small-fs';
import type { ScreenModel } from './screens/model';
import { MemoryDisplay } from '../../drivers/display/memory';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { memoryLogger } from '../shared/log';
import { writeSecrets } from './secrets';
import { journalPath } from './config';
import { startTerminal, type TerminalHandle } from './daemon';
import { startWhenJournalReady, type Maintenance } from './maintenance';
import { startRig, startTestTerminal, terminalConfig, press, waitFor, type Rig, type TestTerminal } from './testing/rig';

let rig: Rig;
let small: SmallFs;
beforeAll(async () => {
  small = mountSmallFs(4096);
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
  await small?.close();
});


function lastFrame(t: TestTerminal): () => ScreenModel | null {
  let last: ScreenModel | null = null;
  t.handle.onFrame((f) => (last = f.model));
  return () => last;
}

/** Key a sale and wait for its QR; a sale keyed during a missed heartbeat (offline screen) is entered again. */
async function sell(t: TestTerminal, keys: string): Promise<void> {
  await waitFor(() => t.handle.status().link.online, 'link online');
  press(t, keys);
  await waitFor(
    () => {
      const st = t.handle.status();
      if (st.state === 'offline' && st.link.online) t.keypad.press('enter');
      return st.state === 'showing_qr';
    },
    'QR on screen',
    15_000,
    50,
  );
}

async function ready(t: TestTerminal): Promise<{ status: number; body: { ready: boolean; reason?: string } }> {
  const res = await fetch(`${t.handle.statusAddress}/ready`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
}

describe('terminal on a full disk', () => {
  it('pauses new sales, finishes the sale on screen from memory, never crash-loops, and writes it all when space returns', async () => {
    const cred = await rig.pair('disk-full');
    const dataDir = path.join(small.dir, 'data');
    let t = await startTestTerminal(rig, { credential: cred, name: 'disk-full', config: { dataDir } });
    try {
      let frame = lastFrame(t);
      await waitFor(() => t.handle.status().link.online, 'link online');
      expect(await ready(t)).toEqual({ status: 200, body: { ready: true } });
      await sell(t, '1 5 0 0 0 enter');
      const saleId = t.handle.status().currentSale!.saleId;
      const chargeId = t.handle.journal.getSale(saleId)!.chargeId!;
      const salesAtRelay = (await rig.relay.store.salesSince(null, '1970-01-01T00:00:00.000Z', 500)).length;

      small.fill();
      await waitFor(() => !t.handle.status().ready, 'not ready');
      const notReady = await ready(t);
      expect(notReady.status).toBe(503);
      expect(notReady.body.reason).toMatch(/^storage full, sales paused: (disk nearly full|cannot write the journal)/);
      expect(t.handle.status().reason).toMatch(/^storage full, sales paused: /);

      // The customer pays the QR on screen: the journal cannot write it, the screen shows it anyway.
      rig.sim.markAsPaid(chargeId);
      await waitFor(() => t.handle.status().state === 'paid', 'PAID on screen', 8000);
      expect(t.handle.journal.getSale(saleId)!.status).toBe('pending');
      expect(t.handle.journal.storage()).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot write the journal \(SQLITE_FULL/) as string });

      // Back to idle: the paused screen; a keyed sale is refused and nothing reaches the relay.
      press(t, 'cancel');
      await waitFor(() => frame()?.kind === 'message' && (frame() as { title: string }).title === 'Storage full: sales paused', 'paused screen');
      press(t, '2 5 0 0 enter');
      await waitFor(() => t.handle.machine().mode.kind === 'info', 'refused');
      expect(t.handle.machine().mode).toMatchObject({ kind: 'info', title: 'Storage full: sales paused' });
      expect((await rig.relay.store.salesSince(null, '1970-01-01T00:00:00.000Z', 500)).length).toBe(salesAtRelay);

      // A restart on the full disk comes up paused, not in a crash loop.
      await t.handle.stop();
      t = await startTestTerminal(rig, { credential: cred, name: 'disk-full', dir: t.dir, config: { dataDir } });
      frame = lastFrame(t);
      await waitFor(() => t.handle.status().link.online, 'link online after restart');
      expect(t.handle.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/storage full/) as string });
      await waitFor(() => frame()?.kind === 'message', 'paused screen after restart');

      small.free();
      await waitFor(() => t.handle.status().ready, 'ready again', 8000);
      expect(await ready(t)).toEqual({ status: 200, body: { ready: true } });
      await waitFor(() => t.handle.journal.getSale(saleId)?.status === 'successful', 'the paid sale written', 8000);
      await waitFor(() => frame()?.kind === 'idle', 'idle screen');
      await sell(t, '3 0 0 0 enter');
      const next = t.handle.journal.getSale(t.handle.status().currentSale!.saleId)!;
      expect(next.ref).toBeGreaterThan(t.handle.journal.getSale(saleId)!.ref);
      expect(t.log.records().some((r) => /request crashed|uncaught/i.test(String(r.msg)))).toBe(false);
    } finally {
      await t.handle.stop();
      small.free();
    }
  });

  it('a first start on a full disk (no journal can be created) waits on the storage-full screen, then starts by itself', async () => {
    const cred = await rig.pair('disk-full-first');
    const config = terminalConfig(path.join(rig.dir, 'first'), rig.relayUrl, { dataDir: path.join(small.dir, 'first-data') });
    writeSecrets(config.secretsFile, cred);
    const display = new MemoryDisplay(480, 320);
    const log = memoryLogger('debug');
    let waiting: Maintenance | null = null;
    let stopSignal!: () => void;
    const stop = new Promise<void>((resolve) => (stopSignal = resolve));
    small.fill();
    let handle: TerminalHandle | null = null;
    const started = startWhenJournalReady(
      () => startTerminal({ config, drivers: { keypad: new FakeKeypad(), display }, log, linkTuning: { backoff: { baseMs: 50, maxMs: 400 } }, tickMs: 100 }),
      { display, journalFile: journalPath(config), log, version: 'test', merchantName: config.merchantName, statusListen: '127.0.0.1:0', pollMs: 50, onWaiting: (_s, m) => (waiting = m) },
      stop,
    );
    try {
      const w = await waitFor(() => waiting, 'waiting for space');
      expect(w.status()).toMatchObject({ state: 'storage_full', ready: false, reason: expect.stringMatching(/^storage full, sales paused: cannot open the journal/) as string });
      expect(w.screen).toMatchObject({ kind: 'error', title: 'Storage full: sales paused' });
      expect((await fetch(`${w.statusAddress}/ready`)).status).toBe(503);
      small.free();
      handle = await started;
      const h = handle!;
      await waitFor(() => h.status().link.online, 'online once there is room', 8000);
      expect(h.status().ready).toBe(true);
    } finally {
      small.free();
      stopSignal();
      await (handle ?? (await started.catch(() => null)))?.stop();
    }
  });
});
