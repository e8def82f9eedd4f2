/**
 * Every screen size fits its window: for each --size, in a window as large as the screen itself
 * and in common desktop and phone windows, the demo page has no horizontal scrolling, the screen
 * image keeps its aspect, the keypad buttons are whole and usable, and the simulator dashboard's
 * actions for a pending charge are in view (at most a vertical scroll away). Real demo (simulator,
 * relay, terminal) in Debian's chromium driven by playwright-core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { startDemo, type DemoHandle } from './demo';
import { demoOptions, launchChromium } from './testing/browser';


interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

const SIZES: { width: number; height: number; windows: [number, number][] }[] = [
  { width: 320, height: 240, windows: [[1920, 1080], [1280, 800], [320, 240]] },
  { width: 480, height: 320, windows: [[1920, 1080], [1280, 800], [480, 320], [390, 844]] },
  { width: 800, height: 480, windows: [[1920, 1080], [1280, 800], [800, 480], [1366, 768]] },
  { width: 1920, height: 1080, windows: [[1920, 1080], [1280, 800], [390, 844]] },
];

async function until<T>(what: string, fn: () => T | null | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The box of an element, in the page's viewport; the dashboard reloads itself every 3 s, so a
 * vanished node is looked up again. The waits are generous: on a busy CI host a page of this
 * size took over 2 s to answer one layout query.
 */
async function boxOf(l: Locator): Promise<Box> {
  for (let i = 0; ; i++) {
    try {
      await l.waitFor({ state: 'visible', timeout: 15_000 });
      const b = await l.boundingBox({ timeout: 10_000 });
      if (b) return b;
    } catch (err) {
      if (i >= 3) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('demo page layout: every screen size fits its window', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  for (const size of SIZES) {
    it(`--size ${size.width}x${size.height} in windows ${size.windows.map((w) => w.join('x')).join(', ')}`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-demo-layout-'));
      let demo: DemoHandle | undefined;
      try {
        demo = await startDemo(demoOptions({ dataDir: dir, merchantName: 'Layout Shop', width: size.width, height: size.height, qrTimeoutSeconds: 300 }));
        await demo.ready;
        // A pending charge, so the dashboard shows its action buttons.
        const d = demo;
        d.press('2', '5', '0', '0', 'enter');
        const sale = await until('the QR', () => (d.terminal.status().state === 'showing_qr' ? d.terminal.status().currentSale : null));
        const charge = await until('the charge', () => d.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId));

        for (const [w, h] of size.windows) {
          const page = await browser.newPage({ viewport: { width: w, height: h } });
          try {
            await page.goto(d.urls.terminal);
            await checkLayout(page, { w, h }, size, charge.id);
          } finally {
            await page.close();
          }
        }
      } finally {
        await demo?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 240_000);
  }
});

async function checkLayout(page: Page, win: { w: number; h: number }, size: { width: number; height: number }, chargeId: string): Promise<void> {
  const where = `size ${size.width}x${size.height} in a ${win.w}x${win.h} window`;
  // The screen image has loaded and the page has settled.
  await page.waitForFunction(() => {
    const img = (globalThis as unknown as { document: { getElementById(id: string): { complete: boolean; naturalWidth: number } | null } }).document.getElementById('screen');
    return !!img && img.complete && img.naturalWidth > 0;
  });
  const doc = await page.evaluate(() => {
    const g = globalThis as unknown as { innerWidth: number; document: { documentElement: { scrollWidth: number; clientWidth: number } } };
    return { scrollWidth: g.document.documentElement.scrollWidth, clientWidth: g.document.documentElement.clientWidth, innerWidth: g.innerWidth };
  });
  expect(doc.scrollWidth, `${where}: no horizontal scrolling`).toBeLessThanOrEqual(doc.clientWidth);
  const inWidth = (b: Box, what: string) => {
    expect(b.x, `${where}: ${what} starts inside the window`).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width, `${where}: ${what} ends inside the window`).toBeLessThanOrEqual(doc.clientWidth + 0.5);
  };
  // Desktop windows: no scrolling at all for the screen and the keypad.
  const wholeView = win.w >= 1280 && win.h >= 768;
  const inView = (b: Box, what: string) => {
    inWidth(b, what);
    if (!wholeView) return;
    expect(b.y, `${where}: ${what} starts inside the window`).toBeGreaterThanOrEqual(0);
    expect(b.y + b.height, `${where}: ${what} ends inside the window`).toBeLessThanOrEqual(win.h + 0.5);
  };

  const screen = await boxOf(page.locator('#screen'));
  inView(screen, 'the screen image');
  // Aspect kept (the 4 px border on each side aside), and not shrunk to a stamp.
  const ratio = (screen.width - 8) / (screen.height - 8);
  expect(Math.abs(ratio - size.width / size.height) / (size.width / size.height), `${where}: screen aspect`).toBeLessThan(0.02);
  expect(screen.width, `${where}: screen image width`).toBeGreaterThanOrEqual(Math.min(size.width, 200));
  if (wholeView && size.width <= 320) {
    // A small panel is shown larger than 1:1 on a desktop, with crisp pixels.
    expect(screen.width - 8, `${where}: small screen upscaled`).toBeGreaterThan(size.width);
  }
  const rendering = await page.locator('#screen').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { imageRendering: string } }).getComputedStyle(el).imageRendering);
  expect(rendering, where).toBe(size.width <= 320 ? 'pixelated' : 'auto');

  const keys = page.locator('button[data-key]');
  const count = await keys.count();
  expect(count).toBe(17);
  for (let i = 0; i < count; i++) {
    const k = keys.nth(i);
    const b = await boxOf(k);
    const name = `key ${await k.getAttribute('data-key')}`;
    inView(b, name);
    expect(b.width, `${where}: ${name} wide enough to hit`).toBeGreaterThanOrEqual(40);
    expect(b.height, `${where}: ${name} tall enough to hit`).toBeGreaterThanOrEqual(36);
  }

  // The dashboard: in the window's width, its own page without horizontal scrolling, and the
  // pending charge's actions inside it.
  const frameBox = await boxOf(page.locator('#dashboard'));
  inWidth(frameBox, 'the dashboard');
  expect(frameBox.width, `${where}: dashboard width`).toBeGreaterThanOrEqual(Math.min(300, win.w - 40));
  const frame = page.frameLocator('#dashboard');
  for (const action of ['mark_as_paid', 'mark_as_failed', 'expire']) {
    for (const control of action === 'mark_as_failed' ? ['select', 'button'] : ['button']) {
      const b = await boxOf(frame.locator(`form[action="/_sim/charges/${chargeId}/${action}"] ${control}`));
      const what = `dashboard ${action} ${control}`;
      inWidth(b, what);
      expect(b.x, `${where}: ${what} inside the dashboard`).toBeGreaterThanOrEqual(frameBox.x);
      expect(b.x + b.width, `${where}: ${what} inside the dashboard`).toBeLessThanOrEqual(frameBox.x + frameBox.width);
    }
  }
  const inner = await frame.locator('body').evaluate(() => {
    const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
    return { scrollWidth: d.scrollWidth, clientWidth: d.clientWidth };
  });
  expect(inner.scrollWidth, `${where}: no horizontal scrolling in the dashboard`).toBeLessThanOrEqual(inner.clientWidth);
}
