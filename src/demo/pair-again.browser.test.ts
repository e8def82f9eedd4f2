/**
 * "Pair again" in the demo is no dead end: the supervisor asks the terminal to pair again, the
 * demo page shows the request waiting at the relay with an Approve button (the demo approves it
 * through the relay's admin API; the admin token never reaches the page), the terminal comes back
 * to a working idle screen, and a sale completes. Real simulator, relay and terminal, in Debian's
 * chromium driven by playwright-core.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import type { DemoHandle } from './demo';
import { launchChromium, startTestDemo, until, type TestDemo } from './testing/browser';



describe('demo: Pair again', () => {
  let demo: DemoHandle;
  let browser: Browser;
  let page: Page;
  let t: TestDemo | undefined;

  beforeAll(async () => {
    t = await startTestDemo({ merchantName: 'Pairing Shop' });
    demo = t.demo;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  const state = () => demo.terminal.status();
  const click = async (keys: string): Promise<void> => {
    for (const k of keys.split(' ')) await page.click(`button[data-key="${k}"]`);
  };

  it('shows the pairing request on the page, approves it at the relay, and sells again', async () => {
    await page.goto(demo.urls.terminal);
    await until('idle', () => state().screen === 'idle');
    const before = state().terminalId;
    expect(before).toMatch(/^term_/);
    // Nothing waits for approval: no pairing panel.
    expect(await page.locator('#pairing').isVisible()).toBe(false);

    // Supervisor menu (demo PIN 1234) → Pair again → Enter.
    await click('menu 1 2 3 4 enter');
    const menu = await until('the supervisor menu', () => {
      const m = demo.terminal.lastScreen();
      return m.kind === 'menu' ? m : null;
    });
    const item = menu.items.find((i) => /pair again/i.test(i.label));
    expect(item, JSON.stringify(menu.items)).toBeDefined();
    await click(item!.key);
    await until('the confirmation', () => demo.terminal.machine().mode.kind === 'repair-confirm');
    await click('enter');
    const code = await until('a new pairing code on the terminal', () => (state().state === 'pairing' ? state().link.pairingCode : null));
    expect(code).toMatch(/^[A-Z0-9]{3}-[A-Z0-9]{3}$/);

    // The page lists the request the relay holds for that code, with an Approve button.
    const approve = page.locator(`#pairing button.approve[data-code="${code}"]`);
    await approve.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.locator('#pairing .code').allTextContents()).toEqual([code]);
    // The relay's admin token stays in the demo: not in the page, not in what the page fetches.
    const adminToken = crypto.createHash('sha256').update(demo.keys.secretKey).digest('hex');
    expect(await page.content()).not.toContain(adminToken);
    expect(await (await fetch(`${demo.urls.terminal}/api/pairing`)).text()).not.toContain(adminToken);
    // Still waiting: the terminal is not paired until someone approves.
    await new Promise((r) => setTimeout(r, 2500));
    expect(state().state).toBe('pairing');

    await approve.click();
    await until('paired, online and idle again', () => state().link.paired && state().link.online && state().screen === 'idle', 20_000);
    expect(state().terminalId).not.toBe(before);
    await page.locator('#pairing').waitFor({ state: 'hidden', timeout: 10_000 });
    // The old terminal id was replaced (revoked) at the relay; the new one is listed.
    const terminals = await demo.relay.listTerminals();
    expect(terminals.find((t) => t.id === state().terminalId)).toMatchObject({ revoked: false });
    expect(terminals.find((t) => t.id === before)).toMatchObject({ revoked: true });

    // A sale completes on the newly paired terminal.
    await click('2 5 0 0 0 enter');
    const sale = await until('a QR for the sale', () => (state().state === 'showing_qr' ? state().currentSale : null));
    expect(sale.amount).toBe(25000);
    const charge = await until('the charge', () => demo.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId));
    expect(charge.metadata.qrpos_terminal_id).toBe(state().terminalId);
    const paid = page.frameLocator('#dashboard').locator(`form[action="/_sim/charges/${charge.id}/mark_as_paid"] button`);
    await paid.waitFor({ timeout: 10_000 });
    await paid.click();
    await until('PAID on the terminal', () => state().currentSale?.saleId === sale.saleId && state().currentSale?.status === 'successful');
  }, 90_000);
});
