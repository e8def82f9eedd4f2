/**
 * The newcomer's path through the demo, in a real browser (Debian's chromium driven by
 * playwright-core): key an amount on the virtual keypad, see the QR, mark the charge paid in the
 * simulator dashboard beside it, see PAID.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadImage, createCanvas } from 'canvas';
import jsQR from 'jsqr';
import type { DemoHandle } from './demo';
import { launchChromium, startTestDemo, until, type TestDemo } from './testing/browser';


async function decodePng(png: Buffer): Promise<string | null> {
  const img = await loadImage(png);
  const c = createCanvas(img.width, img.height);
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, img.width, img.height);
  return jsQR(data.data, img.width, img.height)?.data ?? null;
}


describe('demo in a browser', () => {
  let demo: DemoHandle;
  let browser: Browser;
  let page: Page;
  let t: TestDemo | undefined;

  beforeAll(async () => {
    t = await startTestDemo({ merchantName: 'Browser Test Shop' });
    demo = t.demo;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  const state = () => demo.terminal.status();

  it('goes from a keyed amount to PAID', async () => {
    await page.goto(demo.urls.terminal);
    await until('idle screen', () => state().screen === 'idle');

    // Clicks on the keypad, then the computer's keyboard: 1 5 0 + 0 0 → ฿150.00 in cash-register entry.
    for (const k of ['1', '5', '0']) await page.click(`button[data-key="${k}"]`);
    await page.keyboard.press('0');
    await page.keyboard.press('0');
    await until('the amount on screen', () => state().screen === 'entry');
    await page.click('button[data-key="enter"]');

    const sale = await until('a QR for the sale', () => (state().screen === 'qr' ? state().currentSale : null));
    expect(sale.amount).toBe(15000);
    const charge = await until('the charge at the simulator', () => demo.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId));
    expect(charge.amount).toBe(15000);

    // The screen in the page (the <img>, refreshed by server-sent events) shows a QR that decodes to the charge's payload.
    const text = await until('a decodable QR in the page', async () => decodePng(await page.locator('#screen').screenshot()), 10_000);
    expect(text).toBe(demo.simulator.qrTextOf(charge.id));

    // Mark it paid in the simulator dashboard, shown beside the terminal in the same page.
    const dashboard = page.frameLocator('#dashboard');
    const row = dashboard.locator(`form[action="/_sim/charges/${charge.id}/mark_as_paid"] button`);
    await row.waitFor({ timeout: 10_000 });
    await row.click();

    await until('PAID on the terminal', () => state().screen === 'result' && state().currentSale?.status === 'successful');
    expect(demo.simulator.charges().find((c) => c.id === charge.id)?.status).toBe('successful');
    // The page's screen image follows: it is no longer the QR.
    await until('the page to leave the QR', async () => (await decodePng(await page.locator('#screen').screenshot())) === null, 10_000);
  }, 60_000);
});
