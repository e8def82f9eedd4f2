/**
 * Holding new sales for an upgrade, on a real running terminal (the daemon with a fake keypad and
 * a memory display, the real relay and Omise simulator over loopback): the upgrade's own client
 * (holdSales) holds through the status endpoint; the sale on screen finishes; a new one cannot
 * start; the screen says "Updating — one moment"; released (or run out), the terminal sells again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScreenModel } from '../terminal/screens/model';
import { startRig, startTestTerminal, press, waitFor, type Rig, type TestTerminal } from '../terminal/testing/rig';
import { statusClient } from './status-client';
import { holdSales } from './upgrade';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig();
});
afterAll(async () => {
  await rig?.close();
});


const listenOf = (t: TestTerminal) => t.handle.statusAddress!.replace(/^http:\/\//, '');
/** What is on the display now (the last frame drawn), not what the state machine asked for. */
const drawn = new WeakMap<TestTerminal, ScreenModel>();
const onScreen = (t: TestTerminal): ScreenModel => drawn.get(t) ?? t.handle.lastScreen();
const screenTitle = (t: TestTerminal) => {
  const m = onScreen(t);
  return 'title' in m ? m.title : m.kind;
};

async function terminal(name: string): Promise<TestTerminal> {
  const t = await startTestTerminal(rig, { credential: await rig.pair(name), name, config: { sale: { entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 1 } } });
  t.handle.onFrame((f) => drawn.set(t, f.model));
  await waitFor(() => t.handle.status().link.online, 'link online');
  return t;
}

describe('holding new sales for an upgrade (a real terminal)', () => {
  it('the sale on screen finishes; meanwhile and after, no new sale starts; released, the terminal sells again', async () => {
    const t = await terminal('hold');
    const lines: string[] = [];
    try {
      const client = statusClient(listenOf(t));
      press(t, '1 5 0 0 0 enter');
      await waitFor(() => t.handle.status().state === 'showing_qr', 'QR on screen', 8000);
      const sale = t.handle.status().currentSale!;

      // The upgrade holds and waits: it must not come back while the QR is up.
      let waited = false;
      const holding = holdSales(client, { reason: 'upgrade to test', waitMs: 20_000, say: (l) => lines.push(l) }).then((release) => {
        waited = true;
        return release;
      });
      await waitFor(() => t.handle.status().hold, 'hold on the status endpoint');
      expect(t.handle.status().hold?.reason).toBe('upgrade to test');
      // The customer still sees the QR, and the cashier can still act on it.
      expect(t.handle.status().state).toBe('showing_qr');
      expect(onScreen(t).kind).toBe('qr');
      const ready = await client.get('/ready');
      expect(ready.status).toBe(503);
      expect(String(ready.body?.reason)).toMatch(/new sales held until .*: upgrade to test/);
      await new Promise((r) => setTimeout(r, 600));
      expect(waited).toBe(false);

      // The customer pays: PAID shows, then (resultSeconds 1) the held screen.
      rig.sim.markAsPaid(t.handle.journal.getSale(sale.saleId)!.chargeId!);
      await waitFor(() => t.handle.status().state === 'paid', 'PAID on screen', 8000);
      const release = await waitFor(() => (waited ? holding : null), 'holdSales to see no sale on screen', 8000);
      expect(t.handle.journal.getSale(sale.saleId)!.status).toBe('successful');
      await waitFor(() => screenTitle(t) === 'Updating — one moment' || null, 'the hold screen', 3000);
      expect(lines.join('\n')).toMatch(/waiting: sale #\d+ \(\w+\) on screen[\s\S]*no sale on screen \(waited/);

      // Keys that would start a sale do nothing while held.
      const before = t.handle.journal.recentSales(50).length;
      press(t, '2 0 0 0 enter');
      await t.handle.idle();
      await new Promise((r) => setTimeout(r, 300));
      expect(t.handle.journal.recentSales(50).length).toBe(before);
      expect(t.handle.status().currentSale).toBeNull();
      expect(screenTitle(t)).toBe('Updating — one moment');

      // Released (the upgrade did not switch): the idle screen, and a sale goes through again.
      await release();
      expect(t.handle.status().hold).toBeNull();
      await waitFor(() => onScreen(t).kind === 'idle' || null, 'idle again', 3000);
      expect((await client.get('/ready')).status).toBe(200);
      press(t, '2 0 0 0 enter');
      await waitFor(() => t.handle.status().state === 'showing_qr', 'a new QR', 8000);
      expect(t.handle.journal.recentSales(50).length).toBe(before + 1);
    } finally {
      await t.handle.stop();
    }
  });

  it('a hold runs out by itself (its time to live), and a wait that takes too long releases it and refuses', async () => {
    const t = await terminal('hold-ttl');
    try {
      const client = statusClient(listenOf(t));
      const r = await client.hold(1, 'short');
      expect(r.status).toBe(200);
      await waitFor(() => screenTitle(t) === 'Updating — one moment' || null, 'the hold screen', 3000);
      await waitFor(() => onScreen(t).kind === 'idle' || null, 'idle after the hold ran out', 4000);
      expect(t.handle.status().hold).toBeNull();

      press(t, '2 5 0 0 enter');
      await waitFor(() => t.handle.status().state === 'showing_qr', 'QR on screen', 8000);
      await expect(holdSales(client, { reason: 'upgrade', waitMs: 800, say: () => undefined })).rejects.toThrow(/a sale stayed on screen for 0\.8 s .*not switched; new sales are no longer held/);
      expect(t.handle.status().hold).toBeNull();
      expect(t.handle.status().state).toBe('showing_qr');
    } finally {
      await t.handle.stop();
    }
  });

  it('POST /hold only as the upgrade sends it: JSON, no Origin header (a web page cannot), bounded', async () => {
    const t = await terminal('hold-http');
    try {
      const url = `${t.handle.statusAddress!}/hold`;
      const asPage = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{"seconds":60}' });
      expect(asPage.status).toBe(403);
      const form = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"seconds":60}' });
      expect(form.status).toBe(415);
      const tooLong = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seconds":3600}' });
      expect(tooLong.status).toBe(400);
      expect(((await tooLong.json()) as { error: { message: string } }).error.message).toMatch(/0 \(release\) to 600/);
      expect(t.handle.status().hold).toBeNull();
      const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"seconds":30,"reason":"test"}' });
      expect(ok.status).toBe(200);
      expect(t.handle.status().hold?.reason).toBe('test');
      const del = await fetch(url, { method: 'DELETE' });
      expect(del.status).toBe(200);
      expect(t.handle.status().hold).toBeNull();
    } finally {
      await t.handle.stop();
    }
  });
});
