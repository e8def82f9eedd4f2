/**
 * Keys typed fast on the demo page arrive in order: 100 different amounts, each keyed at full
 * speed (the computer's keyboard and clicks on the keypad, mixed, no waits between keys) and
 * followed by Enter; every sale must charge exactly the amount keyed. Real simulator, relay and
 * terminal; Debian's chromium driven by playwright-core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startDemo, type DemoHandle } from './demo';
import { demoOptions, launchChromium } from './testing/browser';

const AMOUNTS = 100;
/** The computer's key for a keypad key, as the page maps them. */
const PAGE_KEYS: Record<string, string> = { cancel: 'Escape', enter: 'Enter', backspace: 'Backspace', clear: 'Delete', menu: 'm' };

/** The little of the DOM the in-page bursts use. */
interface BrowserGlobals {
  document: { querySelector(sel: string): { click(): void }; dispatchEvent(e: unknown): boolean };
  KeyboardEvent: new (type: string, init: { key: string; bubbles: boolean; cancelable: boolean }) => unknown;
}

/** A small seeded generator: the same amounts and the same key/click mix on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Distinct amounts (satang) the Thai limits accept, 4 to 7 digits long. */
function amounts(n: number, rnd: () => number): number[] {
  const out = new Set<number>();
  while (out.size < n) {
    const digits = 4 + Math.floor(rnd() * 4);
    const a = Math.floor(10 ** (digits - 1) + rnd() * 9 * 10 ** (digits - 1));
    if (a >= 2000) out.add(a);
  }
  return [...out];
}

async function until<T>(what: string, fn: () => T | null | undefined | false, timeoutMs: number): Promise<T | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) return null;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('demo page key order', () => {
  let demo: DemoHandle;
  let browser: Browser;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-demo-keys-'));
    demo = await startDemo(demoOptions({ dataDir: dir, merchantName: 'Key Order Shop', width: 320, height: 240 }));
    await demo.ready;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('charges exactly the amount keyed, for 100 amounts typed and clicked at full speed', async () => {
    await page.goto(demo.urls.terminal);
    const rnd = prng(20240611);
    const wanted = amounts(AMOUNTS, rnd);
    const wrong: string[] = [];
    let previous: string | null = null;
    const status = () => demo.terminal.status();

    for (const [i, amount] of wanted.entries()) {
      // Cancel the previous sale's QR, then the next amount and Enter: one burst, no waits.
      const burst: string[] = [...(i > 0 ? ['cancel'] : []), ...String(amount).split(''), 'enter'];
      if (i % 4 === 3) {
        // Real input through the browser: key presses and mouse clicks, one after the other.
        for (const key of burst) {
          if (rnd() < 0.5) await page.click(`button[data-key="${key}"]`);
          else await page.keyboard.press(PAGE_KEYS[key] ?? key);
        }
      } else {
        // The whole burst in one go inside the page, faster than any typist: keydown events and
        // button clicks, mixed, all dispatched before the first request can come back.
        const how = burst.map((key) => ({ key, click: rnd() < 0.5, code: PAGE_KEYS[key] ?? key }));
        await page.evaluate((steps) => {
          // (In the page: the DOM is not in this project's TypeScript lib.)
          const g = globalThis as unknown as BrowserGlobals;
          for (const s of steps) {
            if (s.click) g.document.querySelector(`button[data-key="${s.key}"]`).click();
            else g.document.dispatchEvent(new g.KeyboardEvent('keydown', { key: s.code, bubbles: true, cancelable: true }));
          }
        }, how);
      }
      const sale = await until('the QR of the next sale', () => {
        const st = status();
        return st.state === 'showing_qr' && st.currentSale && st.currentSale.saleId !== previous ? st.currentSale : null;
      }, 5000);
      if (!sale) {
        wrong.push(`#${i} ${amount}: no QR (terminal ${status().state}, screen ${status().screen})`);
        // Back to a known state for the next amount: whatever was half-keyed is cleared.
        demo.keypad.press('cancel', 'cancel');
        await until('idle', () => status().state === 'idle', 5000);
        continue;
      }
      previous = sale.saleId;
      const charge = await until('the charge', () => demo.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId), 10_000);
      if (sale.amount !== amount || charge?.amount !== amount) wrong.push(`#${i} ${amount}: sale ${sale.amount}, charge ${charge?.amount ?? 'none'}`);
    }
    expect(wrong, `${wrong.length} of ${AMOUNTS} amounts went wrong`).toEqual([]);
    // Every sale reached the simulator with its amount, in the order keyed.
    const charged = demo.simulator
      .charges()
      .filter((c) => c.metadata.qrpos_sale_id)
      .sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at))
      .map((c) => c.amount);
    expect(charged).toEqual(wanted);
  }, 170_000);
});
