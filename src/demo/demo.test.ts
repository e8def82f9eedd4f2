/**
 * The demo's first run: keys typed before pairing are not lost, the banner's hints are amounts
 * the chosen country accepts, and a sale's status record goes back to the relay at once (no
 * "1 unsynced" in amber for the outbox's 30 s after every sale). Real simulator, relay and
 * terminal; only the keypad and the screen are virtual.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { checkAmount, COUNTRIES, currencyOf } from '../domain/money';
import { silentLogger } from '../shared/log';
import { banner } from './cli';
import { exampleAmount, startDemo, type DemoHandle } from './demo';

async function until<T>(what: string, fn: () => T | null | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let demo: DemoHandle | undefined;
let dir: string | undefined;
afterEach(async () => {
  await demo?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  demo = dir = undefined;
});

async function start(keyboard: FakeKeypad | null = null): Promise<DemoHandle> {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-demo-test-'));
  demo = await startDemo({
    dataDir: dir,
    country: 'TH',
    merchantName: 'Demo Test',
    width: 320,
    height: 240,
    port: 0,
    simulatorPort: 0,
    relayPort: 0,
    host: '127.0.0.1',
    keyboard,
    qrTimeoutSeconds: 120,
    log: silentLogger,
  });
  return demo;
}

describe('demo first run', () => {
  it('hints at an amount each country accepts (1500 = ฿15.00 is under the Thai minimum)', () => {
    for (const country of COUNTRIES) {
      const currency = currencyOf(country);
      const ex = exampleAmount(currency);
      expect(() => checkAmount(Number(ex.keys.replace(/ /g, '')), currency)).not.toThrow();
      const text = banner({ urls: { terminal: 't', dashboard: 'd', simulator: 's', relay: 'r' }, screenPng: 'p', keys: { publicKey: 'pk', secretKey: 'sk', webhookSecret: 'w' } }, country);
      expect(text).toContain(`e.g. ${ex.keys} = ${ex.text}`);
    }
    expect(exampleAmount('THB')).toEqual({ keys: '2 5 0 0', text: '฿25.00' });
    expect(exampleAmount('SGD').keys).toBe('1 5 0 0');
  });

  it('holds keys typed before the terminal is paired and presses them once it is', async () => {
    const keyboard = new FakeKeypad('test keyboard');
    const d = await start(keyboard);
    // Typed while the terminal is not paired yet (the pairing screen would drop them).
    expect(d.terminal.status().link.paired).toBe(false);
    for (const k of ['2', '5', '0', '0'] as const) keyboard.press(k);
    expect(d.terminal.machine().mode.kind).not.toBe('entering');
    await d.ready;
    const mode = await until('the held amount on the terminal', () => {
      const m = d.terminal.machine().mode;
      return m.kind === 'entering' ? m : null;
    });
    expect(mode.input).toBe('2500');
  });

  it('holds keys posted to the page API before the terminal is paired, in order with the keyboard', async () => {
    const keyboard = new FakeKeypad('test keyboard');
    const d = await start(keyboard);
    expect(d.terminal.status().link.paired).toBe(false);
    keyboard.press('3');
    const r = await fetch(`${d.urls.terminal}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: ['1', '0'], client: 'early', seq: 1 }) });
    expect(r.status).toBe(200);
    keyboard.press('5');
    await d.ready;
    const mode = await until('the held amount on the terminal', () => {
      const m = d.terminal.machine().mode;
      return m.kind === 'entering' && m.input.length === 4 ? m : null;
    });
    expect(mode.input).toBe('3105');
  });

  it('sends the PAID record back at once: no "1 unsynced" for the outbox timer after a sale', async () => {
    const d = await start();
    await d.ready;
    for (const k of ['2', '5', '0', '0', 'enter'] as const) d.keypad.press(k);
    const sale = await until('the QR', () => (d.terminal.status().state === 'showing_qr' ? d.terminal.status().currentSale : null)).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(d.terminal.status())}`);
    });
    const charge = await until('the charge', () => d.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId));
    d.simulator.markAsPaid(charge.id);
    await until('PAID', () => d.terminal.status().state === 'paid');
    // The outbox timer is 30 s; the record must be at the relay well before (5 s is slack for a slow host).
    await until('the sale records synced', () => d.terminal.status().unsynced === 0, 5000);
  });
});
