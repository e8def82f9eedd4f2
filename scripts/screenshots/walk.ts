/**
 * The screens of a day at the counter, as a list of named steps run against the real demo
 * (simulator, relay, terminal in one process; only the keypad and the screen are virtual).
 *
 * A step presses keys and/or acts on the simulator or the relay, then waits until the terminal
 * shows what it is after; a step with a `file` name then saves that screen. To add a screen,
 * append steps (run.ts numbers the files in order and writes the index).
 */
import type { KeyName } from '../../drivers/keypad/contract';
import type { PaymentMethod } from '../../src/domain/methods';
import type { ScreenModel } from '../../src/terminal/screens/model';
import type { TerminalStatus } from '../../src/terminal/status-server';
import type { DemoHandle } from '../../src/demo/demo';

export interface WalkContext {
  demo: DemoHandle;
  /** What the terminal is drawing now (its last rendered screen model). */
  screen(): ScreenModel;
  state(): TerminalStatus;
  /** The sale on screen when the last QR appeared, and its charge at the simulator. */
  sale: { saleId: string; chargeId: string } | null;
}

export interface Step {
  /** What happens, for logs and errors. */
  does: string;
  /** Save the screen once `until` holds: docs/screenshots/<size>/<nn>-<file>.png. */
  file?: string;
  /** The caption in docs/screenshots/README.md. */
  title?: string;
  /** Before the keys: simulator faults, payments, relay down/up, approvals. */
  act?: (c: WalkContext) => void | Promise<void>;
  /** Keys pressed in order, space separated ("2 5 0 0 0 enter"); a function when they depend on the screen (menu item keys). */
  keys?: string | ((c: WalkContext) => string);
  /** The terminal shows what the step is after. */
  until: (c: WalkContext) => boolean;
  timeoutMs?: number;
}

const kind = (c: WalkContext) => c.screen().kind;
const outcome = (c: WalkContext) => {
  const m = c.screen();
  return m.kind === 'result' ? m.outcome : null;
};
/** The rendered screen is the one asked for (the status endpoint's screen is what was drawn last). */
const drawn = (c: WalkContext, k: ScreenModel['kind']) => c.screen().kind === k && c.state().screen === k;

/** The state machine's mode (several supervisor screens share a screen kind). */
function mode(c: WalkContext): string {
  return c.demo.terminal.machine().mode.kind;
}

/** The key of the supervisor menu item whose label matches (the menu's numbering may change). */
export function menuKey(c: WalkContext, label: RegExp): string {
  const m = c.screen();
  if (m.kind !== 'menu') throw new Error(`expected the supervisor menu on screen, found ${m.kind}`);
  const item = m.items.find((i) => label.test(i.label));
  if (!item) throw new Error(`no menu item like ${String(label)} in: ${m.items.map((i) => `${i.key} ${i.label}`).join(', ')}`);
  return item.key;
}

/** The key of the method picker's choice with this label. */
export function methodKeyOf(c: WalkContext, label: string): string {
  const m = c.screen();
  if (m.kind !== 'methods') throw new Error(`expected the method picker on screen, found ${m.kind}`);
  const choice = m.choices.find((ch) => ch.label === label);
  if (!choice) throw new Error(`no method "${label}" in: ${m.choices.map((ch) => `${ch.key} ${ch.label}`).join(', ')}`);
  return choice.key;
}

/** Keys an amount, Enter, Enter again on the method picker (the remembered method), and waits for its QR, remembering the sale and its charge. */
function saleToQr(keys: string): Step[] {
  return [
    { does: `key ${keys}`, keys, until: (c) => drawn(c, 'methods') },
    {
      does: 'Enter: the remembered method, and wait for the QR',
      keys: 'enter',
      until: (c) => {
        const st = c.state();
        if (!(drawn(c, 'qr') && st.currentSale && st.currentSale.saleId !== c.sale?.saleId)) return false;
        const charge = c.demo.simulator.charges().find((ch) => ch.metadata.qrpos_sale_id === st.currentSale!.saleId);
        if (!charge) return false;
        c.sale = { saleId: st.currentSale.saleId, chargeId: charge.id };
        return true;
      },
    },
  ];
}

const SLOW_CREATE = { latencyMs: 3000 };

/** The methods the demo's relay enables for the walk (a Thai shop), so that the method picker shows. */
export const WALK_METHODS: PaymentMethod[] = ['alipayplus_mpm', 'promptpay', 'wechat_pay_mpm'];

export const WALK: Step[] = [
  { does: 'wait for the idle screen', file: 'idle', title: 'Idle: waiting for an amount', until: (c) => drawn(c, 'idle') },
  { does: 'key 250.00', file: 'amount-entry', title: 'Amount entry (฿250.00 keyed as 2 5 0 0 0)', keys: '2 5 0 0 0', until: (c) => drawn(c, 'entry') },
  {
    does: 'Enter: how to pay',
    file: 'method-picker',
    title: 'How to pay: one key per method (on a large screen the customer picks)',
    keys: 'enter',
    until: (c) => drawn(c, 'methods'),
  },
  {
    does: 'key 1 (Alipay+, remembered as the default) while Omise is slow to answer',
    file: 'creating',
    title: 'Creating the charge',
    act: (c) => c.demo.simulator.faults.set({ endpoints: { 'POST /sources': SLOW_CREATE, 'POST /charges': SLOW_CREATE } }),
    keys: (c) => methodKeyOf(c, 'Alipay+'),
    until: (c) => drawn(c, 'creating'),
  },
  {
    does: 'wait for the QR',
    file: 'qr',
    title: 'QR with the countdown',
    act: (c) => c.demo.simulator.faults.reset(),
    until: (c) => {
      if (!drawn(c, 'qr')) return false;
      const sale = c.state().currentSale;
      const charge = sale && c.demo.simulator.charges().find((ch) => ch.metadata.qrpos_sale_id === sale.saleId);
      if (!sale || !charge) return false;
      c.sale = { saleId: sale.saleId, chargeId: charge.id };
      return true;
    },
    timeoutMs: 15_000,
  },
  { does: 'mark the charge paid', file: 'paid', title: 'Paid (dashboard: Mark as successful)', act: (c) => void c.demo.simulator.markAsPaid(c.sale!.chargeId), until: (c) => outcome(c) === 'paid' && drawn(c, 'result') },

  ...saleToQr('3 5 0 0 enter'),
  {
    does: 'mark the charge failed: insufficient_fund',
    file: 'failed',
    title: 'Failed, with the failure code’s message (insufficient_fund)',
    act: (c) => void c.demo.simulator.markAsFailed(c.sale!.chargeId, 'insufficient_fund'),
    until: (c) => outcome(c) === 'failed' && drawn(c, 'result'),
  },

  ...saleToQr('4 5 0 0 enter'),
  { does: 'expire the charge at the simulator', file: 'expired', title: 'Expired (dashboard: Expire)', act: (c) => void c.demo.simulator.expire(c.sale!.chargeId), until: (c) => outcome(c) === 'expired' && drawn(c, 'result') },

  ...saleToQr('5 5 0 0 enter'),
  { does: 'cancel the QR', file: 'cancelled', title: 'Cancelled by the cashier', keys: 'cancel', until: (c) => outcome(c) === 'cancelled' && drawn(c, 'result') },

  // A late payment: the cashier cancels, Omise is slow to take the expire, the customer's payment lands first.
  {
    does: 'slow down expiring at the simulator',
    act: (c) => c.demo.simulator.faults.set({ endpoints: { 'POST /charges/:id/expire': { latencyMs: 2500 } } }),
    until: () => true,
  },
  ...saleToQr('6 5 0 0 enter'),
  { does: 'cancel the QR', keys: 'cancel', until: (c) => outcome(c) === 'cancelled' },
  {
    does: 'the customer pays anyway',
    file: 'late-payment',
    title: 'Late payment: paid after the cashier cancelled',
    act: (c) => void c.demo.simulator.markAsPaid(c.sale!.chargeId),
    until: (c) => outcome(c) === 'late_paid' && drawn(c, 'result'),
    timeoutMs: 15_000,
  },
  {
    does: 'back to idle: the late payment waits for a supervisor',
    file: 'idle-late-payment',
    title: 'Idle with a late payment to settle',
    act: (c) => c.demo.simulator.faults.reset(),
    keys: 'cancel',
    until: (c) => drawn(c, 'idle') && /to settle/.test((c.screen() as { notice?: string }).notice ?? ''),
  },

  // Offline: the relay stops, the link drops; an amount keyed then cannot become a QR.
  { does: 'stop the relay', act: (c) => c.demo.relayDown(), until: (c) => !c.state().link.online, timeoutMs: 20_000 },
  { does: 'key an amount and Enter while offline', file: 'offline', title: 'Offline: the relay cannot be reached', keys: '2 5 0 0 enter', until: (c) => drawn(c, 'offline') },
  { does: 'start the relay again', act: (c) => c.demo.relayUp(), until: (c) => c.state().link.online && kind(c) === 'entry', timeoutMs: 30_000 },
  { does: 'clear the amount', keys: 'cancel', until: (c) => drawn(c, 'idle') },

  // The supervisor.
  { does: 'Menu and two PIN digits', file: 'supervisor-pin', title: 'Supervisor PIN (demo PIN 1234)', keys: 'menu 1 2', until: (c) => drawn(c, 'pin') && (c.screen() as { entered: number }).entered === 2 },
  { does: 'the rest of the PIN', file: 'supervisor-menu', title: 'Supervisor menu', keys: '3 4 enter', until: (c) => drawn(c, 'menu') },
  {
    does: 'the late payments to settle',
    file: 'late-payments',
    title: 'Late payments: the list',
    keys: (c) => menuKey(c, /late payments/i),
    until: (c) => mode(c) === 'pick' && drawn(c, 'menu'),
    timeoutMs: 15_000,
  },
  { does: 'pick the late payment', file: 'late-payment-decide', title: 'Late payment: keep as a sale or refund', keys: '1', until: (c) => mode(c) === 'late-decide' && drawn(c, 'message') },
  { does: 'refund it: the whole amount', keys: '2', until: (c) => mode(c) === 'refund-confirm' },
  { does: 'the review before money moves', file: 'refund-review', title: 'Refund / void: review amount and receipt', keys: 'enter', until: (c) => mode(c) === 'refund-review' && drawn(c, 'message') },
  {
    does: 'send it and wait for Omise',
    file: 'refund-done',
    title: 'Refund / void done',
    keys: 'enter',
    until: (c) => mode(c) === 'info' && drawn(c, 'message'),
    timeoutMs: 15_000,
  },
  { does: 'back to the menu', keys: 'cancel', until: (c) => drawn(c, 'menu') && mode(c) === 'menu' },
  {
    does: 'the X report',
    file: 'x-report',
    title: 'X report: the business day so far',
    keys: (c) => menuKey(c, /X report/i),
    until: (c) => drawn(c, 'message') && mode(c) === 'info',
    timeoutMs: 15_000,
  },
  { does: 'back to the menu', keys: 'cancel', until: (c) => drawn(c, 'menu') },
  {
    does: 'recent sales',
    file: 'recent-sales',
    title: 'Recent sales (reprint)',
    keys: (c) => menuKey(c, /recent sales/i),
    until: (c) => mode(c) === 'pick' && drawn(c, 'menu'),
    timeoutMs: 15_000,
  },
  { does: 'one sale', file: 'sale-view', title: 'A sale: Enter prints a copy', keys: '1', until: (c) => mode(c) === 'sale-view' && drawn(c, 'message') },
  { does: 'back to the menu', keys: 'cancel', until: (c) => drawn(c, 'menu') && mode(c) === 'menu' },
  {
    does: 'refund a sale: the list of paid sales',
    keys: (c) => menuKey(c, /refund \/ void|refund.*sale/i),
    until: (c) => c.demo.terminal.machine().mode.kind === 'pick' && drawn(c, 'menu'),
    timeoutMs: 15_000,
  },
  {
    does: 'pick the paid sale',
    file: 'refund-confirm',
    title: 'Refund: confirm the amount',
    keys: (c) => {
      const m = c.screen();
      if (m.kind !== 'menu' || !m.items[0]) throw new Error('no paid sale listed to refund');
      // The day's first sale (receipt #1, paid at the counter) rather than the late payment.
      return (m.items.find((i) => /^#1 /.test(i.label)) ?? m.items[0]).key;
    },
    until: (c) => c.demo.terminal.machine().mode.kind === 'refund-confirm' && drawn(c, 'message'),
  },
  { does: 'back to the menu', keys: 'cancel', until: (c) => drawn(c, 'menu') && c.demo.terminal.machine().mode.kind === 'menu' },
  { does: 'the Z report', file: 'z-confirm', title: 'Z report: close the day?', keys: (c) => menuKey(c, /Z report/i), until: (c) => mode(c) === 'z-confirm' && drawn(c, 'message') },
  { does: 'close the day', file: 'z-report', title: 'Z report #1', keys: 'enter', until: (c) => mode(c) === 'info' && drawn(c, 'message'), timeoutMs: 15_000 },
  { does: 'back to the menu', keys: 'cancel', until: (c) => drawn(c, 'menu') && mode(c) === 'menu' },
  { does: 'Pair again', keys: (c) => menuKey(c, /pair again/i), until: (c) => c.demo.terminal.machine().mode.kind === 'repair-confirm' },
  { does: 'confirm: a new pairing code', file: 'pairing', title: 'Pairing: the code to approve at the relay', keys: 'enter', until: (c) => drawn(c, 'pairing') && /^[A-Z0-9]{3}-[A-Z0-9]{3}$/.test(c.state().link.pairingCode ?? '') },
  {
    does: 'approve the pairing at the relay, back to idle',
    act: async (c) => void (await c.demo.pairing.approve(c.state().link.pairingCode!)),
    until: (c) => c.state().link.paired && c.state().link.online && drawn(c, 'idle'),
    timeoutMs: 20_000,
  },
];

/** The keys of a step, as key names. */
export function keysOf(step: Step, c: WalkContext): KeyName[] {
  const text = typeof step.keys === 'function' ? step.keys(c) : (step.keys ?? '');
  return text.split(' ').filter(Boolean) as KeyName[];
}
