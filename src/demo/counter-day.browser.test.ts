/**
 * A day at the counter, clicked through in a real browser (Debian's chromium driven by
 * playwright-core) on the demo page: two sales paid in the simulator dashboard, a customer who
 * pays after the cashier cancelled (a late payment, settled by the supervisor with a refund), a
 * partial refund picked from the recent sales, and the Z report that closes the day.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { DemoHandle } from './demo';
import { launchChromium, startTestDemo, until, type TestDemo } from './testing/browser';



describe('a day at the counter, in the demo page', () => {
  let demo: DemoHandle;
  let browser: Browser;
  let page: Page;
  let t: TestDemo | undefined;

  beforeAll(async () => {
    t = await startTestDemo({ merchantName: 'Day Test Shop' });
    demo = t.demo;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(demo.urls.terminal);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  const state = () => demo.terminal.status();
  const mode = () => demo.terminal.machine().mode;
  const screen = () => demo.terminal.lastScreen();
  /** Click the page's keypad buttons, one after the other. */
  const click = async (keys: string): Promise<void> => {
    for (const k of keys.split(' ')) await page.click(`button[data-key="${k}"]`);
  };
  const dashboard = () => page.frameLocator('#dashboard');
  const dashboardAction = async (chargeId: string, action: 'mark_as_paid' | 'expire'): Promise<void> => {
    const button = dashboard().locator(`form[action="/_sim/charges/${chargeId}/${action}"] button`);
    await button.waitFor({ timeout: 10_000 });
    await button.click();
  };
  const toQr = async (keys: string): Promise<{ saleId: string; chargeId: string }> => {
    await until('idle', () => state().screen === 'idle' || state().screen === 'result');
    await click(keys);
    const sale = await until('the QR', () => (state().screen === 'qr' ? state().currentSale : null));
    const charge = await until('the charge', () => demo.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId));
    return { saleId: sale.saleId, chargeId: charge.id };
  };
  const supervisor = async (): Promise<void> => {
    await click('cancel menu 1 2 3 4 enter');
    await until('the supervisor menu', () => mode().kind === 'menu');
  };

  it('sales, a late payment settled by refund, a partial refund, and the Z report', async () => {
    // 1. Two sales, paid in the dashboard beside the terminal.
    const first = await toQr('2 5 0 0 0 enter');
    await dashboardAction(first.chargeId, 'mark_as_paid');
    await until('PAID', () => state().currentSale?.status === 'successful');
    const second = await toQr('cancel 4 0 0 0 0 enter');
    await dashboardAction(second.chargeId, 'mark_as_paid');
    await until('PAID', () => state().currentSale?.saleId === second.saleId && state().currentSale?.status === 'successful');

    // 2. The cashier cancels, but the customer's wallet had already paid: Omise is slow to take
    //    the expire, and the payment lands first.
    demo.simulator.faults.update({ endpoints: { 'POST /charges/:id/expire': { latencyMs: 8000 } } });
    const late = await toQr('cancel 3 0 0 0 enter');
    await click('cancel');
    await until('cancelled', () => state().state === 'cancelled');
    await dashboardAction(late.chargeId, 'mark_as_paid');
    await until('the late payment', () => state().latePayments === 1, 20_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: terminal ${JSON.stringify(demo.terminal.journal.getSale(late.saleId))}, charge ${demo.simulator.charge(late.chargeId).status}`);
    });
    demo.simulator.faults.reset();
    await click('cancel clear');
    await until('the idle reminder', () => screen().kind === 'idle' && (screen() as { notice?: string }).notice === '1 late payment to settle: Menu → 4');

    // 3. The supervisor refunds the late payment from its list.
    await supervisor();
    await click('4');
    await until('the late payments list', () => mode().kind === 'pick');
    await click('1');
    await until('keep or refund', () => mode().kind === 'late-decide');
    await click('2');
    await until('the refund amount', () => mode().kind === 'refund-confirm');
    await click('enter');
    await until('the review', () => mode().kind === 'refund-review');
    expect(screen()).toMatchObject({ kind: 'message', lines: expect.arrayContaining(['Receipt #3 (paid ฿30.00)']) });
    await click('enter');
    await until('the refund done', () => mode().kind === 'info' && /^(Refunded|Voided)$/.test((mode() as { title: string }).title), 20_000);
    expect(state().latePayments).toBe(0);
    expect(demo.simulator.charge(late.chargeId).refunds.data).toHaveLength(1);

    // 4. A partial refund of the first sale, picked from the recent paid sales.
    await click('cancel');
    await until('menu', () => mode().kind === 'menu');
    await click('1');
    await until('recent paid sales', () => mode().kind === 'pick');
    const items = (screen() as { items: { key: string; label: string }[] }).items;
    const firstItem = items.find((i) => i.label.startsWith('#1 '));
    expect(firstItem?.label).toMatch(/^#1 ฿250\.00 Paid \d\d:\d\d$/);
    await click(firstItem!.key);
    await click('5 0 0 0 enter');
    await until('the review', () => mode().kind === 'refund-review');
    await click('enter');
    await until('refunded', () => mode().kind === 'info' && /^(Refunded|Voided)$/.test((mode() as { title: string }).title), 20_000);
    expect(demo.simulator.charge(first.chargeId).refunded_amount).toBe(5000);

    // 5. The Z report closes the day.
    await click('cancel 6');
    await until('Z confirm', () => mode().kind === 'z-confirm');
    await click('enter');
    await until('the Z report', () => mode().kind === 'info' && (mode() as { title: string }).title === 'Z report #1');
    const lines = (mode() as { lines: string[] }).lines;
    expect(lines).toContain('Alipay+ THB: paid 3  THB 680.00');
    expect(lines).toContain('Late payments 1  THB 30.00');
    expect(lines.find((l) => l.startsWith('Net '))).toBe('Net THB 600.00');
  }, 180_000);
});
