/**
 * The sale state machine. Pure: no I/O, no timers, no randomness. Time and fresh ids come in
 * with the events; the result is the next state plus effects the daemon performs in order
 * (journal writes first, then relay commands, screens, beeps). Keeping it pure is what lets
 * the tests drive every state with every key and check the money invariants on random runs.
 */
import type { KeyName } from '../../drivers/keypad/contract';
import { currencyInfo, formatMoney, formatNumber, limitsOf, type Country, type Currency } from '../domain/money';
import { failureMessages, type Messages } from '../domain/failure';
import type { LocalSaleStatus } from '../domain/status';
import type { ScreenModel, StatusBar } from './screens/model';
import { OUTCOME_NAME, RETRY_HINT } from './screens/strings';
import { countryFor } from '../domain/locale';
import { appsFor, DEFAULT_METHOD, methodInfo, methodLimits, methodName, refundRefusal, widestLimits, type PaymentMethod } from '../domain/methods';

/**
 * How keyed digits become an amount: `implied-decimals` is a cash register's (1-5-0-0 is 15.00),
 * `decimal-point` takes a typed point (15.5), `whole-units` takes whole baht/dollars/ringgit only
 * (1-5-0 is 150.00).
 */
export type EntryMode = 'implied-decimals' | 'decimal-point' | 'whole-units';

export interface MachineConfig {
  currency: Currency;
  /** The shop's country: the customer screens' languages and wallet list (default: the currency's). */
  country?: Country;
  merchantName: string;
  entryMode: EntryMode;
  qrTimeoutSeconds: number;
  resultSeconds: number;
  /** Digits; when absent the supervisor menu stays closed. */
  supervisorPin?: string;
  /** How long "creating" may take before the sale is given up (and its charge expired). */
  createTimeoutSeconds?: number;
  /** Idle time after which the supervisor menu closes itself. */
  supervisorIdleSeconds?: number;
}

export interface SaleRef {
  saleId: string;
  amount: number;
  currency: Currency;
  /** How the customer pays (absent: Alipay+, as before there were several). */
  method?: PaymentMethod;
  /** Short local number (receipts, refund by reference); known once journaled. */
  ref?: number;
}

export type Outcome = 'paid' | 'failed' | 'expired' | 'cancelled' | 'late_paid' | 'not_created';

/** What the supervisor needs to decide on a void / refund. */
export interface SaleInfo {
  saleId: string;
  ref: number;
  /** How it was paid (absent: Alipay+). */
  method?: PaymentMethod;
  amount: number;
  currency: Currency;
  status: LocalSaleStatus;
  refundedAmount: number;
  canVoid: boolean;
  /** Paid after the terminal had given the sale up (cancel, timeout). */
  late?: boolean;
  /** A late payment's fate, once a supervisor chose it. */
  lateResolution?: 'kept' | 'refunded' | null;
  /** Shop-local time of the sale, e.g. "14:05". */
  time?: string;
}

/** What a list of sales is for: refund one, look at one (reprint), or settle a late payment. */
export type PickPurpose = 'refund' | 'view' | 'late';

/** Sales per page of a pick list (digit keys 1–9 choose). */
export const PICK_PAGE = 5;

export type Mode =
  | { kind: 'idle' }
  | { kind: 'entering'; input: string; error?: string }
  | { kind: 'offline'; input: string }
  /** The amount is keyed; the cashier (or the customer, on a large screen) picks how to pay. */
  | { kind: 'method'; input: string; choices: PaymentMethod[]; error?: string }
  | { kind: 'creating'; sale: SaleRef; startedAt: number }
  | { kind: 'qr'; sale: SaleRef; qrText: string; deadline: number }
  | { kind: 'result'; outcome: Outcome; sale: SaleRef; until: number; reason?: Messages }
  | { kind: 'pin'; entered: string; error?: string }
  | { kind: 'menu' }
  | { kind: 'waiting'; title: string }
  | { kind: 'ref-entry'; input: string; error?: string }
  | { kind: 'refund-confirm'; sale: SaleInfo; input: string; error?: string; late?: boolean }
  /** The last look before money moves: amount and receipt reference, Enter to send. */
  | { kind: 'refund-review'; sale: SaleInfo; amount: number; late?: boolean }
  /** Sent; Omise is working. The answer (done or failed) replaces this screen. */
  | { kind: 'refund-pending'; sale: SaleInfo; refundId: string; amount: number }
  | { kind: 'pick'; purpose: PickPurpose; title: string; sales: SaleInfo[]; page: number }
  | { kind: 'sale-view'; sale: SaleInfo }
  | { kind: 'late-decide'; sale: SaleInfo }
  | { kind: 'z-confirm' }
  | {
      kind: 'info';
      title: string;
      lines: string[];
      tone: 'info' | 'ok' | 'warn' | 'error';
      back: 'menu' | 'idle';
      /** Enter prints these lines (a report) when a printer is there. */
      print?: { title: string; lines: string[] };
    }
  | { kind: 'repair-confirm' }
  | { kind: 'pairing'; code: string; relayUrl: string; message?: string }
  | { kind: 'fatal'; title: string; lines: string[] };

export type ModeKind = Mode['kind'];

export interface MachineState {
  mode: Mode;
  online: boolean;
  unsynced: number;
  clock: string;
  /** Shown on the idle screen until the next sale (late payments, journal reset, refunds). */
  notice?: string;
  /** The journal cannot take new sales (disk full): why. New sales are paused while set. */
  storageProblem?: string;
  /** Late payments waiting for a supervisor's decision (keep or refund): shown until settled. */
  lateCount?: number;
  pinFailures: number;
  pinLockedUntil: number;
  /** Last key time, for closing an abandoned supervisor menu. */
  lastKeyAt: number;
  /** The last screen model emitted (JSON), so only changes produce a screen effect. */
  shown: string;
  /** The payment methods the relay enabled for this terminal, in key order (absent: Alipay+ only). */
  methods?: PaymentMethod[];
  /** The method picked last: Enter on the picker takes it again. */
  defaultMethod?: PaymentMethod;
}

/** A sale's state as the journal now holds it (after an idempotent apply). */
export interface SaleUpdate {
  saleId: string;
  amount: number;
  currency: Currency;
  ref?: number;
  status: LocalSaleStatus;
  qrText?: string | null;
  failureCode?: string | null;
  /** create_failed: why the relay or Omise refused. */
  error?: { code: string; message: string } | null;
  /** The terminal had asked for this charge to be expired and it was paid anyway. */
  late?: boolean;
}

export type Query =
  | { kind: 'sale-by-ref'; ref: number }
  | { kind: 'recent'; purpose: PickPurpose }
  /** X report (`close: false`) or Z report (closes the business day). */
  | { kind: 'report'; close: boolean }
  | { kind: 'network' };

export type Answer =
  | { kind: 'sale-info'; sale: SaleInfo | null }
  | { kind: 'sales'; purpose: PickPurpose; sales: SaleInfo[] }
  | { kind: 'lines'; title: string; lines: string[]; printable?: boolean };

export type MachineEvent =
  | { type: 'key'; key: KeyName; now: number; newId: string }
  | { type: 'tick'; now: number; clock: string }
  | { type: 'link'; online: boolean; now: number }
  | { type: 'unsynced'; count: number; now: number }
  | { type: 'sale'; sale: SaleUpdate; now: number }
  | {
      type: 'refund';
      saleId: string;
      /** Which request this answers (matches the pending screen's). */
      refundId?: string;
      ref?: number;
      amount: number;
      currency: Currency;
      status: 'pending' | 'done' | 'failed';
      voided: boolean;
      /** The relay had already refunded the sale in full (an earlier request): nothing more to do. */
      already?: boolean;
      error?: string | null;
      now: number;
    }
  | { type: 'late-count'; count: number; now: number }
  | { type: 'answer'; answer: Answer; now: number }
  | { type: 'pairing'; code: string; relayUrl: string; message?: string; now: number }
  | { type: 'paired'; now: number }
  | { type: 'notice'; text: string | null; now: number }
  /** The journal's storage: a problem (disk full) pauses new sales; null when writes go through again. */
  | { type: 'storage'; problem: string | null; now: number }
  /** Which methods the terminal offers (from the relay), and the remembered default. */
  | { type: 'methods'; methods: PaymentMethod[]; defaultMethod?: PaymentMethod | null; now: number }
  | { type: 'fatal'; title: string; lines: string[]; now: number };

export type Effect =
  /** Commit the sale (and its queued create command) to the journal. Always before any network effect for it. */
  | { type: 'record-sale'; sale: SaleRef; at: number }
  /** Durably queue an expire of the sale's charge, then send it. */
  | { type: 'expire'; saleId: string; reason: 'cancel' | 'timeout' | 'create-timeout' }
  | { type: 'refund'; saleId: string; refundId: string; amount: number; currency: Currency }
  | { type: 'screen'; model: ScreenModel }
  | { type: 'beep'; kind: 'key' | 'error' | 'success' | 'failure' }
  | { type: 'audit'; kind: string; saleId: string | null; data: Record<string, unknown> }
  | { type: 'query'; query: Query }
  | { type: 'repair' }
  /** A supervisor kept a late payment as a sale (or chose to refund it). */
  | { type: 'resolve-late'; saleId: string; resolution: 'kept' | 'refunded' }
  /** Print a copy of a paid sale's receipt. */
  | { type: 'reprint'; saleId: string }
  /** Print a report (X / Z) on the receipt printer. */
  | { type: 'print'; title: string; lines: string[] }
  /** A sale was paid while on screen: receipt printer, pole display, LED. */
  | { type: 'paid'; sale: SaleRef }
  /** The cashier picked a method: it is the picker's default from now on (kept in the journal). */
  | { type: 'remember-method'; method: PaymentMethod };

export interface StepResult {
  state: MachineState;
  effects: Effect[];
}

const DIGITS = new Set<KeyName>(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '00']);
const MAX_PIN = 8;
const PIN_ATTEMPTS = 3;
const PIN_LOCK_MS = 60_000;

export function initialState(now = 0, clock = ''): MachineState {
  return { mode: { kind: 'idle' }, online: false, unsynced: 0, clock, pinFailures: 0, pinLockedUntil: 0, lastKeyAt: now, shown: '' };
}

export function isDigitKey(key: KeyName): boolean {
  return DIGITS.has(key);
}

// ---------------------------------------------------------------------------------------------
// Amount entry

/** The keyed text → amount in the smallest unit (NaN when not an amount yet). */
export function amountOf(input: string, cfg: Pick<MachineConfig, 'entryMode' | 'currency'>): number {
  if (input === '') return 0;
  if (cfg.entryMode === 'implied-decimals') return Number(input);
  const exp = currencyInfo(cfg.currency).exponent;
  if (cfg.entryMode === 'whole-units') return Number(input) * 10 ** exp;
  const [whole, frac = ''] = input.split('.');
  return Number(whole || '0') * 10 ** exp + Number(frac.padEnd(exp, '0') || '0');
}

export function amountText(input: string, cfg: Pick<MachineConfig, 'entryMode' | 'currency'>): string {
  if (cfg.entryMode !== 'decimal-point') return formatMoney(amountOf(input, cfg), cfg.currency);
  const symbol = currencyInfo(cfg.currency).symbol;
  if (input === '') return formatMoney(0, cfg.currency);
  const [whole, frac] = input.split('.');
  const wholeText = formatNumber(Number(whole || '0') * 10 ** currencyInfo(cfg.currency).exponent, cfg.currency).split('.')[0];
  return `${symbol}${wholeText}${frac !== undefined ? `.${frac}` : ''}`;
}

/** Apply one entry key; returns the new input or an error message (input unchanged). */
export function typeAmountKey(
  input: string,
  key: KeyName,
  cfg: Pick<MachineConfig, 'entryMode' | 'currency'>,
  methods?: readonly PaymentMethod[],
): { input: string } | { error: string } {
  const { max } = methods ? widestLimits(methods, cfg.currency) : limitsOf(cfg.currency);
  const exp = currencyInfo(cfg.currency).exponent;
  const maxText = `Maximum is ${formatMoney(max, cfg.currency)}`;
  if (key === 'backspace') return { input: input.slice(0, -1) };
  if (key === 'clear') return { input: '' };
  if (key === '.') {
    if (cfg.entryMode === 'implied-decimals') return { error: 'Decimals are implied: key 1500 for 15.00' };
    if (cfg.entryMode === 'whole-units') return { error: `Whole amounts only: key 150 for ${formatMoney(150 * 10 ** exp, cfg.currency)}` };
    if (input.includes('.')) return { error: 'Only one decimal point' };
    return { input: (input === '' ? '0' : input) + '.' };
  }
  if (!isDigitKey(key)) return { input };
  let next = input;
  for (const ch of key) {
    if (next === '' && ch === '0') continue; // leading zeros carry no value
    if (next === '0' && ch === '0') continue;
    if (cfg.entryMode === 'decimal-point' && next.includes('.') && next.split('.')[1].length >= exp) {
      return { error: `At most ${exp} decimals` };
    }
    const candidate = next === '0' ? ch : next + ch;
    if (amountOf(candidate, cfg) > max) return { error: maxText };
    next = candidate;
  }
  return { input: next };
}

// ---------------------------------------------------------------------------------------------
// Screens

function statusBar(s: MachineState): StatusBar {
  return { online: s.online, unsynced: s.unsynced, clock: s.clock };
}

function saleAmountText(sale: SaleRef): string {
  return formatMoney(sale.amount, sale.currency);
}

export function screenOf(s: MachineState, cfg: MachineConfig, now: number): ScreenModel {
  const m = s.mode;
  const status = statusBar(s);
  const country = countryFor(cfg.currency, cfg.country);
  switch (m.kind) {
    case 'idle': {
      if (s.storageProblem) return storagePausedScreen(s.storageProblem);
      const notice = [lateMarker(s.lateCount ?? 0), s.notice].filter(Boolean).join(' · ');
      return {
        kind: 'idle',
        merchantName: cfg.merchantName,
        currencyHint: `Key the amount in ${cfg.currency}`,
        status,
        ...(notice ? { notice } : {}),
      };
    }
    case 'entering':
      return { kind: 'entry', amountText: amountText(m.input, cfg), currency: cfg.currency, country, status, ...(m.error ? { error: m.error } : {}) };
    case 'offline':
      return {
        kind: 'offline',
        message: `No connection to the payment service: QR payments are unavailable right now (${amountText(m.input, cfg)} kept). Enter to retry, Cancel to clear.`,
        country,
        status,
      };
    case 'method':
      return {
        kind: 'methods',
        amountText: amountText(m.input, cfg),
        choices: m.choices.map((method, i) => ({ key: String(i + 1), label: methodName(method), ...(method === s.defaultMethod ? { isDefault: true } : {}) })),
        ...(m.error ? { error: m.error } : {}),
        country,
        status,
      };
    case 'creating':
      return { kind: 'creating', amountText: saleAmountText(m.sale), country, status };
    case 'qr': {
      const total = cfg.qrTimeoutSeconds;
      const left = Math.max(0, Math.min(total, Math.ceil((m.deadline - now) / 1000)));
      const method = m.sale.method ?? DEFAULT_METHOD;
      return {
        kind: 'qr',
        amountText: saleAmountText(m.sale),
        qrText: m.qrText,
        secondsLeft: left,
        totalSeconds: total,
        merchantName: cfg.merchantName,
        country,
        status,
        // The Alipay+ screen lists its partner wallets (its own default); another method names itself.
        ...(method !== DEFAULT_METHOD ? { method, wallets: appsFor(method, country) } : {}),
      };
    }
    case 'result':
      return {
        kind: 'result',
        country,
        outcome: m.outcome,
        amountText: saleAmountText(m.sale),
        ...(m.reason ? { reason: m.reason } : {}),
        ...(m.sale.ref !== undefined ? { reference: `#${m.sale.ref}` } : {}),
        status,
      };
    case 'pin':
      return { kind: 'pin', title: 'Supervisor PIN', entered: m.entered.length, ...(m.error ? { error: m.error } : {}) };
    case 'menu':
      return { kind: 'menu', title: 'Supervisor', items: menuItems(s.lateCount ?? 0), footer: 'Cancel: back to sales' };
    case 'pick': {
      const first = m.page * PICK_PAGE;
      const shown = m.sales.slice(first, first + PICK_PAGE);
      const more = m.sales.length > first + PICK_PAGE;
      return {
        kind: 'menu',
        title: `${m.title}${m.sales.length > PICK_PAGE ? ` (${m.page + 1}/${Math.ceil(m.sales.length / PICK_PAGE)})` : ''}`,
        items: shown.map((sale, i) => ({ key: String(i + 1), label: saleLine(sale) })),
        footer: `${more || m.page > 0 ? 'Enter: more   ' : ''}Cancel: back`,
      };
    }
    case 'sale-view': {
      const sale = m.sale;
      return {
        kind: 'message',
        title: `Sale #${sale.ref}`,
        lines: [
          `${formatMoney(sale.amount, sale.currency)}  ${statusWord(sale)}${sale.time ? `  ${sale.time}` : ''}`,
          ...(sale.refundedAmount > 0 ? [`Refunded ${formatMoney(sale.refundedAmount, sale.currency)}`] : []),
          sale.status === 'successful' || sale.status === 'reversed' ? 'Enter: print a copy   Cancel: back' : 'Cancel: back',
        ],
        tone: 'info',
      };
    }
    case 'late-decide': {
      const sale = m.sale;
      return {
        kind: 'message',
        title: `Late payment #${sale.ref}`,
        lines: [
          `${formatMoney(sale.amount, sale.currency)} paid${sale.time ? ` at ${sale.time}` : ''} after the sale was cancelled or timed out.`,
          'Customer still here and buying? Keep it.',
          '1: keep as sale   2: refund now   Cancel: later',
        ],
        tone: 'warn',
      };
    }
    case 'refund-review': {
      const sale = m.sale;
      const isVoid = sale.canVoid && m.amount === sale.amount - sale.refundedAmount && sale.refundedAmount === 0;
      return {
        kind: 'message',
        title: `Confirm ${isVoid ? 'void' : 'refund'}`,
        lines: [
          `${isVoid ? 'Void' : 'Refund'} ${formatMoney(m.amount, sale.currency)}`,
          `Receipt #${sale.ref} (paid ${formatMoney(sale.amount, sale.currency)})`,
          'Enter: confirm   Cancel: back',
        ],
        tone: 'warn',
      };
    }
    case 'refund-pending':
      return {
        kind: 'message',
        title: 'Refunding…',
        lines: [`${formatMoney(m.amount, m.sale.currency)} for receipt #${m.sale.ref}`, 'Waiting for Omise. This screen changes when it is done.'],
        tone: 'info',
      };
    case 'z-confirm':
      return {
        kind: 'message',
        title: 'Close the day? (Z report)',
        lines: ["Prints today's totals and closes the business day. Sales go on as normal.", 'Enter: close the day   Cancel: back'],
        tone: 'warn',
      };
    case 'waiting':
      return { kind: 'message', title: m.title, lines: ['Please wait…'], tone: 'info' };
    case 'ref-entry':
      return {
        kind: 'message',
        title: 'Refund by reference',
        lines: [`Reference: #${m.input || '_'}`, 'Enter: look up   Cancel: back', ...(m.error ? [m.error] : [])],
        tone: m.error ? 'warn' : 'info',
      };
    case 'refund-confirm': {
      const sale = m.sale;
      const remaining = sale.amount - sale.refundedAmount;
      const amount = m.input ? amountOf(m.input, cfg) : remaining;
      return {
        kind: 'message',
        title: `${sale.canVoid ? 'Void / refund' : 'Refund'} sale #${sale.ref}`,
        lines: [
          `Paid ${formatMoney(sale.amount, sale.currency)}, refunded ${formatMoney(sale.refundedAmount, sale.currency)}`,
          `Refund ${m.input ? amountText(m.input, { ...cfg, currency: sale.currency }) : formatMoney(amount, sale.currency)}${sale.canVoid && amount === sale.amount ? ' (void)' : ''}`,
          'Digits: other amount   Enter: confirm   Cancel: back',
          ...(m.error ? [m.error] : []),
        ],
        tone: m.error ? 'warn' : 'info',
      };
    }
    case 'info':
      return { kind: 'message', title: m.title, lines: m.lines, tone: m.tone };
    case 'repair-confirm':
      return {
        kind: 'message',
        title: 'Pair again?',
        lines: ['This terminal will forget its relay credential and show a new pairing code.', 'Enter: pair again   Cancel: back'],
        tone: 'warn',
      };
    case 'pairing':
      return { kind: 'pairing', code: m.code, relayUrl: m.relayUrl, ...(m.message ? { message: m.message } : {}) };
    case 'fatal':
      return { kind: 'error', title: m.title, lines: m.lines };
  }
}

/** Sales paused: the journal cannot write (a sale in progress still finishes). */
function storagePausedScreen(problem: string): ScreenModel {
  return {
    kind: 'message',
    title: 'Storage full: sales paused',
    lines: ['This terminal cannot save new sales now.', 'Sales start again by themselves when space is freed.', problem.slice(0, 100)],
    tone: 'error',
  };
}

function menuItems(late: number): { key: string; label: string }[] {
  return [
    { key: '1', label: 'Refund / void a sale' },
    { key: '2', label: 'Refund by receipt number' },
    { key: '3', label: 'Recent sales, reprint' },
    { key: '4', label: late ? `Late payments (${late} to settle)` : 'Late payments' },
    { key: '5', label: 'X report (today so far)' },
    { key: '6', label: 'Z report (close the day)' },
    { key: '7', label: 'Network info' },
    { key: '8', label: 'Pair again' },
  ];
}

/** The idle screen's reminder while late payments wait for a supervisor. */
function lateMarker(count: number): string {
  if (count <= 0) return '';
  return `${count} late payment${count === 1 ? '' : 's'} to settle: Menu → 4`;
}

/** One word per sale status, the same on every supervisor screen. */
function statusWord(sale: SaleInfo): string {
  if (sale.status === 'successful') {
    if (sale.refundedAmount >= sale.amount) return 'Refunded';
    if (sale.refundedAmount > 0) return 'Part refunded';
    return sale.late ? OUTCOME_NAME.late_paid : OUTCOME_NAME.paid;
  }
  switch (sale.status) {
    case 'reversed':
      // Only a paid sale is reversed (voided); a sale cancelled on the QR screen ends expired.
      return 'Voided';
    case 'create_failed':
      return OUTCOME_NAME.not_created;
    case 'expired':
      return OUTCOME_NAME.expired;
    case 'failed':
      return OUTCOME_NAME.failed;
    default:
      return 'In progress';
  }
}

function saleLine(sale: SaleInfo): string {
  const how = sale.method && sale.method !== DEFAULT_METHOD ? ` ${methodInfo(sale.method).short}` : '';
  return `#${sale.ref} ${formatMoney(sale.amount, sale.currency)}${how} ${statusWord(sale)}${sale.time ? ` ${sale.time}` : ''}`;
}

function refundable(sale: SaleInfo): boolean {
  return sale.status === 'successful' && sale.refundedAmount < sale.amount;
}

// ---------------------------------------------------------------------------------------------
// Transitions

type Ctx = { cfg: MachineConfig; now: number; effects: Effect[] };

function toResult(s: MachineState, c: Ctx, sale: SaleRef, outcome: Outcome, reason?: Messages): MachineState {
  return { ...s, mode: { kind: 'result', outcome, sale, until: c.now + c.cfg.resultSeconds * 1000, ...(reason ? { reason } : {}) } };
}

function withRef(sale: SaleRef, u: SaleUpdate): SaleRef {
  return u.ref !== undefined ? { ...sale, ref: u.ref } : sale;
}

/** Start a refund of `sale` (amount entry), or say why it cannot be refunded. */
function toRefund(s: MachineState, sale: SaleInfo, late: boolean): MachineState {
  const refusal = sale.status === 'successful' ? refundRefusal(sale.method ?? DEFAULT_METHOD) : null;
  if (refusal) {
    // Said here instead of tried: Omise would refuse it, and the customer needs another way.
    return {
      ...s,
      mode: { kind: 'info', title: `Sale #${sale.ref}: no refund`, lines: [formatMoney(sale.amount, sale.currency), `${refusal}.`], tone: 'warn', back: 'menu' },
    };
  }
  if (!refundable(sale)) {
    const why = sale.status !== 'successful' ? `${statusWord(sale)}: nothing to refund.` : 'Already fully refunded.';
    return { ...s, mode: { kind: 'info', title: `Sale #${sale.ref}`, lines: [formatMoney(sale.amount, sale.currency), why], tone: 'warn', back: 'menu' } };
  }
  return { ...s, mode: { kind: 'refund-confirm', sale, input: '', ...(late ? { late: true } : {}) } };
}

function startSaleOf(s: MachineState, c: Ctx, amount: number, newId: string, method?: PaymentMethod): MachineState {
  const sale: SaleRef = { saleId: newId, amount, currency: c.cfg.currency, ...(method && method !== DEFAULT_METHOD ? { method } : {}) };
  c.effects.push({ type: 'record-sale', sale, at: c.now });
  const { notice: _drop, ...rest } = s;
  return { ...rest, mode: { kind: 'creating', sale, startedAt: c.now } };
}

/** The enabled methods, in key order: the relay's list, or Alipay+ alone. */
function enabledMethods(s: MachineState): PaymentMethod[] {
  return s.methods?.length ? s.methods : [DEFAULT_METHOD];
}

/**
 * Enter on an amount: checked against the limits of every enabled method before anything is
 * sent. One method that takes the amount: the sale starts with it. Several: the picker.
 */
function enterKey(s: MachineState, c: Ctx, input: string, newId: string): MachineState {
  const amount = amountOf(input, c.cfg);
  if (!input || amount === 0) {
    c.effects.push({ type: 'beep', kind: 'error' });
    return { ...s, mode: { kind: 'entering', input, error: 'Key an amount first' } };
  }
  const enabled = enabledMethods(s);
  const fit = enabled.filter((m) => {
    const l = methodLimits(m, c.cfg.currency);
    return amount >= l.min && amount <= l.max;
  });
  if (!fit.length) {
    c.effects.push({ type: 'beep', kind: 'error' });
    const { min, max } = widestLimits(enabled, c.cfg.currency);
    const error = amount < min ? `Minimum is ${formatMoney(min, c.cfg.currency)}` : `Maximum is ${formatMoney(max, c.cfg.currency)}`;
    return { ...s, mode: { kind: 'entering', input, error } };
  }
  if (s.storageProblem) {
    c.effects.push({ type: 'beep', kind: 'error' });
    return { ...s, mode: { kind: 'info', title: 'Storage full: sales paused', lines: ['Nothing was charged.', s.storageProblem.slice(0, 100)], tone: 'error', back: 'idle' } };
  }
  if (!s.online) {
    c.effects.push({ type: 'beep', kind: 'error' });
    return { ...s, mode: { kind: 'offline', input } };
  }
  if (enabled.length === 1) return startSaleOf(s, c, amount, newId, fit[0]);
  // Methods the amount does not suit are left out of the picker, and the picker says so.
  const skipped = enabled.filter((m) => !fit.includes(m));
  const error = skipped.length ? `${skipped.map(methodName).join(', ')}: not for this amount` : undefined;
  return { ...s, mode: { kind: 'method', input, choices: fit, ...(error ? { error } : {}) } };
}

/** A key on the method picker: a digit picks that method, Enter the remembered default. */
function methodKey(s: MachineState, c: Ctx, m: Extract<Mode, { kind: 'method' }>, key: KeyName, newId: string): MachineState {
  if (key === 'cancel' || key === 'clear' || key === 'backspace') {
    c.effects.push({ type: 'beep', kind: 'key' });
    return { ...s, mode: { kind: 'entering', input: m.input } };
  }
  let method: PaymentMethod | undefined;
  if (/^[1-9]$/.test(key)) method = m.choices[Number(key) - 1];
  else if (key === 'enter') method = s.defaultMethod && m.choices.includes(s.defaultMethod) ? s.defaultMethod : m.choices.length === 1 ? m.choices[0] : undefined;
  if (!method) {
    c.effects.push({ type: 'beep', kind: 'error' });
    return { ...s, mode: { ...m, error: key === 'enter' ? `Press 1–${m.choices.length} to choose how to pay` : m.error } };
  }
  if (s.storageProblem || !s.online) return enterKey(s, c, m.input, newId);
  c.effects.push({ type: 'beep', kind: 'key' });
  if (method !== s.defaultMethod) c.effects.push({ type: 'remember-method', method });
  return startSaleOf({ ...s, defaultMethod: method }, c, amountOf(m.input, c.cfg), newId, method);
}

function onKey(s0: MachineState, c: Ctx, key: KeyName, newId: string): MachineState {
  const s = { ...s0, lastKeyAt: c.now };
  const m = s.mode;
  const beep = (kind: 'key' | 'error' = 'key') => c.effects.push({ type: 'beep', kind });
  switch (m.kind) {
    case 'idle': {
      if (isDigitKey(key) || key === '.') {
        const r = typeAmountKey('', key, c.cfg, s.methods);
        if ('error' in r) {
          beep('error');
          return { ...s, mode: { kind: 'entering', input: '', error: r.error } };
        }
        beep();
        return { ...s, mode: { kind: 'entering', input: r.input } };
      }
      if (key === 'menu') {
        beep();
        if (!c.cfg.supervisorPin) {
          return { ...s, mode: { kind: 'info', title: 'Supervisor menu', lines: ['No supervisor PIN is set.', 'Add supervisorPin to the secrets file.'], tone: 'warn', back: 'idle' } };
        }
        return { ...s, mode: { kind: 'pin', entered: '' } };
      }
      if (key === 'cancel' || key === 'clear') {
        if (s.notice) {
          const { notice: _n, ...rest } = s;
          return rest;
        }
      }
      return s;
    }
    case 'entering': {
      if (key === 'cancel') {
        beep();
        return { ...s, mode: { kind: 'idle' } };
      }
      if (key === 'clear' && m.input === '') {
        beep();
        return { ...s, mode: { kind: 'idle' } };
      }
      if (key === 'enter') return enterKey(s, c, m.input, newId);
      if (key === 'menu' || key.startsWith('f')) return s;
      const r = typeAmountKey(m.input, key, c.cfg, s.methods);
      if ('error' in r) {
        beep('error');
        return { ...s, mode: { kind: 'entering', input: m.input, error: r.error } };
      }
      beep();
      return { ...s, mode: { kind: 'entering', input: r.input } };
    }
    case 'method':
      return methodKey(s, c, m, key, newId);
    case 'offline': {
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'idle' } };
      }
      if (key === 'enter') {
        if (s.online) return enterKey(s, c, m.input, newId);
        beep('error');
      }
      return s;
    }
    case 'creating': {
      if (key === 'cancel') {
        beep();
        c.effects.push({ type: 'expire', saleId: m.sale.saleId, reason: 'cancel' });
        c.effects.push({ type: 'audit', kind: 'sale.cancelled', saleId: m.sale.saleId, data: { while: 'creating' } });
        return toResult(s, c, m.sale, 'cancelled');
      }
      return s;
    }
    case 'qr': {
      if (key === 'cancel') {
        beep();
        c.effects.push({ type: 'expire', saleId: m.sale.saleId, reason: 'cancel' });
        c.effects.push({ type: 'audit', kind: 'sale.cancelled', saleId: m.sale.saleId, data: { while: 'qr' } });
        return toResult(s, c, m.sale, 'cancelled');
      }
      return s;
    }
    case 'result': {
      if (m.outcome === 'not_created' && key === 'enter' && s.online) {
        // Retry: a new sale for the same amount (the one that could not be created is expired).
        beep();
        return startSaleOf(s, c, m.sale.amount, newId, m.sale.method);
      }
      const idle: MachineState = { ...s, mode: { kind: 'idle' } };
      if (isDigitKey(key) || key === '.') return onKey(idle, c, key, newId);
      if (key === 'menu') return onKey(idle, c, key, newId);
      beep();
      return idle;
    }
    case 'pin': {
      if (key === 'cancel' || key === 'menu') {
        beep();
        return { ...s, mode: { kind: 'idle' } };
      }
      if (c.now < s.pinLockedUntil) {
        beep('error');
        return { ...s, mode: { kind: 'pin', entered: '', error: `Locked: try again in ${Math.ceil((s.pinLockedUntil - c.now) / 1000)} s` } };
      }
      if (key === 'backspace') return { ...s, mode: { kind: 'pin', entered: m.entered.slice(0, -1) } };
      if (key === 'clear') return { ...s, mode: { kind: 'pin', entered: '' } };
      if (isDigitKey(key)) {
        beep();
        const entered = (m.entered + key).slice(0, MAX_PIN);
        return { ...s, mode: { kind: 'pin', entered } };
      }
      if (key === 'enter') {
        if (m.entered === c.cfg.supervisorPin) {
          beep();
          c.effects.push({ type: 'audit', kind: 'supervisor.login', saleId: null, data: {} });
          return { ...s, pinFailures: 0, mode: { kind: 'menu' } };
        }
        beep('error');
        const failures = s.pinFailures + 1;
        c.effects.push({ type: 'audit', kind: 'supervisor.pin_wrong', saleId: null, data: { failures } });
        if (failures >= PIN_ATTEMPTS) {
          return { ...s, pinFailures: 0, pinLockedUntil: c.now + PIN_LOCK_MS, mode: { kind: 'pin', entered: '', error: `Wrong PIN: locked for ${PIN_LOCK_MS / 1000} s` } };
        }
        return { ...s, pinFailures: failures, mode: { kind: 'pin', entered: '', error: 'Wrong PIN' } };
      }
      return s;
    }
    case 'menu': {
      if (key === 'cancel' || key === 'menu' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'idle' } };
      }
      const query = (q: Query, title: string): MachineState => {
        beep();
        c.effects.push({ type: 'query', query: q });
        return { ...s, mode: { kind: 'waiting', title } };
      };
      switch (key) {
        case '1':
          return query({ kind: 'recent', purpose: 'refund' }, 'Refund / void');
        case '2':
          beep();
          return { ...s, mode: { kind: 'ref-entry', input: '' } };
        case '3':
          return query({ kind: 'recent', purpose: 'view' }, 'Recent sales');
        case '4':
          return query({ kind: 'recent', purpose: 'late' }, 'Late payments');
        case '5':
          return query({ kind: 'report', close: false }, 'X report');
        case '6':
          beep();
          return { ...s, mode: { kind: 'z-confirm' } };
        case '7':
          return query({ kind: 'network' }, 'Network');
        case '8':
          beep();
          return { ...s, mode: { kind: 'repair-confirm' } };
        default:
          return s;
      }
    }
    case 'pick': {
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      const pages = Math.max(1, Math.ceil(m.sales.length / PICK_PAGE));
      if (key === 'enter') {
        beep();
        return { ...s, mode: { ...m, page: (m.page + 1) % pages } };
      }
      const index = /^[1-9]$/.test(key) ? m.page * PICK_PAGE + Number(key) - 1 : -1;
      const sale = Number(key) <= PICK_PAGE ? m.sales[index] : undefined;
      if (!sale) return s;
      beep();
      if (m.purpose === 'view') return { ...s, mode: { kind: 'sale-view', sale } };
      if (m.purpose === 'late') return { ...s, mode: { kind: 'late-decide', sale } };
      return toRefund(s, sale, false);
    }
    case 'sale-view': {
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      if (key === 'enter' && (m.sale.status === 'successful' || m.sale.status === 'reversed')) {
        beep();
        c.effects.push({ type: 'reprint', saleId: m.sale.saleId });
        c.effects.push({ type: 'audit', kind: 'supervisor.reprint', saleId: m.sale.saleId, data: {} });
        return { ...s, mode: { kind: 'info', title: 'Receipt copy', lines: [`Printing a copy of receipt #${m.sale.ref}.`], tone: 'ok', back: 'menu' } };
      }
      return s;
    }
    case 'late-decide': {
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      if (key === '1') {
        beep();
        c.effects.push({ type: 'resolve-late', saleId: m.sale.saleId, resolution: 'kept' });
        c.effects.push({ type: 'audit', kind: 'supervisor.late_kept', saleId: m.sale.saleId, data: { amount: m.sale.amount } });
        const lateCount = Math.max(0, (s.lateCount ?? 0) - 1);
        return {
          ...s,
          lateCount,
          mode: { kind: 'info', title: 'Kept as a sale', lines: [`Receipt #${m.sale.ref}: ${formatMoney(m.sale.amount, m.sale.currency)} stays paid.`], tone: 'ok', back: 'menu' },
        };
      }
      if (key === '2') {
        beep();
        return toRefund(s, m.sale, true);
      }
      return s;
    }
    case 'refund-review': {
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      if (key !== 'enter') return s;
      beep();
      c.effects.push({ type: 'refund', saleId: m.sale.saleId, refundId: newId, amount: m.amount, currency: m.sale.currency });
      c.effects.push({ type: 'audit', kind: 'supervisor.refund', saleId: m.sale.saleId, data: { refundId: newId, amount: m.amount, currency: m.sale.currency } });
      let next: MachineState = s;
      if (m.late) {
        c.effects.push({ type: 'resolve-late', saleId: m.sale.saleId, resolution: 'refunded' });
        next = { ...s, lateCount: Math.max(0, (s.lateCount ?? 0) - 1) };
      }
      return { ...next, mode: { kind: 'refund-pending', sale: m.sale, refundId: newId, amount: m.amount } };
    }
    case 'refund-pending': {
      if (key === 'cancel' || key === 'clear' || key === 'menu') {
        // The refund goes on without this screen; its result comes as a notice on the idle screen.
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      return s;
    }
    case 'z-confirm': {
      if (key === 'enter') {
        beep();
        c.effects.push({ type: 'query', query: { kind: 'report', close: true } });
        c.effects.push({ type: 'audit', kind: 'supervisor.z_report', saleId: null, data: {} });
        return { ...s, mode: { kind: 'waiting', title: 'Z report' } };
      }
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      return s;
    }
    case 'waiting': {
      if (key === 'cancel') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      return s;
    }
    case 'ref-entry': {
      if (key === 'cancel' || (key === 'clear' && m.input === '')) {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      if (key === 'clear') return { ...s, mode: { kind: 'ref-entry', input: '' } };
      if (key === 'backspace') return { ...s, mode: { kind: 'ref-entry', input: m.input.slice(0, -1) } };
      if (isDigitKey(key)) {
        const input = (m.input + key).replace(/^0+/, '');
        if (input.length > 9) {
          beep('error');
          return s;
        }
        beep();
        return { ...s, mode: { kind: 'ref-entry', input } };
      }
      if (key === 'enter') {
        if (!m.input) {
          beep('error');
          return { ...s, mode: { kind: 'ref-entry', input: '', error: 'Key the number from the receipt' } };
        }
        beep();
        c.effects.push({ type: 'query', query: { kind: 'sale-by-ref', ref: Number(m.input) } });
        return { ...s, mode: { kind: 'waiting', title: `Sale #${m.input}` } };
      }
      return s;
    }
    case 'refund-confirm': {
      if (key === 'cancel') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      const saleCfg = { ...c.cfg, currency: m.sale.currency };
      const remaining = m.sale.amount - m.sale.refundedAmount;
      if (key === 'enter') {
        const amount = m.input ? amountOf(m.input, saleCfg) : remaining;
        if (!Number.isSafeInteger(amount) || amount <= 0 || amount > remaining) {
          beep('error');
          return { ...s, mode: { ...m, error: `Refund must be between ${formatMoney(1, m.sale.currency)} and ${formatMoney(remaining, m.sale.currency)}` } };
        }
        beep();
        return { ...s, mode: { kind: 'refund-review', sale: m.sale, amount, ...(m.late ? { late: true } : {}) } };
      }
      const r = typeAmountKey(m.input, key, saleCfg);
      if ('error' in r) {
        beep('error');
        return { ...s, mode: { ...m, error: r.error } };
      }
      if (amountOf(r.input, saleCfg) > remaining) {
        beep('error');
        return { ...s, mode: { ...m, error: `At most ${formatMoney(remaining, m.sale.currency)}` } };
      }
      beep();
      return { ...s, mode: { kind: 'refund-confirm', sale: m.sale, input: r.input, ...(m.late ? { late: true } : {}) } };
    }
    case 'info': {
      beep();
      if (key === 'enter' && m.print) c.effects.push({ type: 'print', title: m.print.title, lines: m.print.lines });
      return { ...s, mode: m.back === 'menu' ? { kind: 'menu' } : { kind: 'idle' } };
    }
    case 'repair-confirm': {
      if (key === 'enter') {
        beep();
        c.effects.push({ type: 'audit', kind: 'supervisor.repair', saleId: null, data: {} });
        c.effects.push({ type: 'repair' });
        return { ...s, mode: { kind: 'waiting', title: 'Pairing' } };
      }
      if (key === 'cancel' || key === 'clear') {
        beep();
        return { ...s, mode: { kind: 'menu' } };
      }
      return s;
    }
    case 'pairing':
    case 'fatal':
      return s;
  }
}

function onSale(s: MachineState, c: Ctx, u: SaleUpdate): MachineState {
  const m = s.mode;
  const lateNotice = (): MachineState => ({
    ...s,
    lateCount: (s.lateCount ?? 0) + 1,
    notice: `Late payment ${formatMoney(u.amount, u.currency)}${u.ref !== undefined ? ` (#${u.ref})` : ''}: a supervisor keeps or refunds it`,
  });
  if ((m.kind === 'creating' || m.kind === 'qr') && m.sale.saleId === u.saleId) {
    const sale = withRef(m.sale, u);
    switch (u.status) {
      case 'pending':
        if (m.kind === 'creating' && u.qrText) {
          return { ...s, mode: { kind: 'qr', sale, qrText: u.qrText, deadline: c.now + c.cfg.qrTimeoutSeconds * 1000 } };
        }
        return { ...s, mode: { ...m, sale } };
      case 'successful':
        c.effects.push({ type: 'beep', kind: 'success' });
        c.effects.push({ type: 'paid', sale });
        return toResult(s, c, sale, 'paid');
      case 'failed':
        c.effects.push({ type: 'beep', kind: 'failure' });
        return toResult(s, c, sale, 'failed', failureMessages(u.failureCode));
      case 'create_failed':
        // No charge exists: the payment could not be created, which is not a failed payment.
        c.effects.push({ type: 'beep', kind: 'failure' });
        return toResult(s, c, sale, 'not_created', u.error ? { ...RETRY_HINT, en: `${u.error.message}. ${RETRY_HINT.en}` } : RETRY_HINT);
      case 'expired':
        c.effects.push({ type: 'beep', kind: 'failure' });
        return toResult(s, c, sale, 'expired');
      case 'reversed':
        return toResult(s, c, sale, 'cancelled');
      default:
        return { ...s, mode: { ...m, sale } };
    }
  }
  if (m.kind === 'result' && m.sale.saleId === u.saleId) {
    const sale = withRef(m.sale, u);
    if ((m.outcome === 'cancelled' || m.outcome === 'expired') && u.status === 'successful') {
      c.effects.push({ type: 'beep', kind: 'success' });
      return { ...lateNotice(), mode: { kind: 'result', outcome: 'late_paid', sale, until: c.now + c.cfg.resultSeconds * 1000 } };
    }
    return { ...s, mode: { ...m, sale } };
  }
  if (u.late && u.status === 'successful') {
    c.effects.push({ type: 'beep', kind: 'success' });
    return lateNotice();
  }
  return s;
}

function onTick(s: MachineState, c: Ctx, clock: string): MachineState {
  const next = { ...s, clock };
  const m = s.mode;
  switch (m.kind) {
    case 'creating': {
      const limit = (c.cfg.createTimeoutSeconds ?? 45) * 1000;
      if (c.now - m.startedAt >= limit) {
        c.effects.push({ type: 'expire', saleId: m.sale.saleId, reason: 'create-timeout' });
        c.effects.push({ type: 'beep', kind: 'failure' });
        return toResult(next, c, m.sale, 'not_created', RETRY_HINT);
      }
      return next;
    }
    case 'qr':
      if (c.now >= m.deadline) {
        c.effects.push({ type: 'expire', saleId: m.sale.saleId, reason: 'timeout' });
        c.effects.push({ type: 'audit', kind: 'sale.timed_out', saleId: m.sale.saleId, data: {} });
        c.effects.push({ type: 'beep', kind: 'failure' });
        return toResult(next, c, m.sale, 'expired');
      }
      return next;
    case 'result':
      return c.now >= m.until ? { ...next, mode: { kind: 'idle' } } : next;
    case 'pin':
    case 'menu':
    case 'ref-entry':
    case 'refund-confirm':
    case 'info':
    case 'repair-confirm':
    case 'pick':
    case 'sale-view':
    case 'late-decide':
    case 'refund-review':
    case 'refund-pending':
    case 'z-confirm':
    case 'waiting': {
      const idleMs = (c.cfg.supervisorIdleSeconds ?? 60) * 1000;
      if (c.now - s.lastKeyAt >= idleMs) return { ...next, mode: { kind: 'idle' } };
      return next;
    }
    default:
      return next;
  }
}

const PICK_TITLE: Record<PickPurpose, string> = { refund: 'Refund / void: pick a sale', view: 'Recent sales', late: 'Late payments' };
const PICK_EMPTY: Record<PickPurpose, string> = { refund: 'No paid sales to refund.', view: 'No sales yet.', late: 'No late payments to settle.' };

function onAnswer(s: MachineState, a: Answer): MachineState {
  if (s.mode.kind !== 'waiting') return s;
  if (a.kind === 'lines') {
    const lines = a.lines.length ? a.lines : ['Nothing to show'];
    return { ...s, mode: { kind: 'info', title: a.title, lines, tone: 'info', back: 'menu', ...(a.printable ? { print: { title: a.title, lines } } : {}) } };
  }
  if (a.kind === 'sales') {
    if (a.purpose === 'late') s = { ...s, lateCount: a.sales.length };
    if (!a.sales.length) return { ...s, mode: { kind: 'info', title: PICK_TITLE[a.purpose], lines: [PICK_EMPTY[a.purpose]], tone: 'info', back: 'menu' } };
    return { ...s, mode: { kind: 'pick', purpose: a.purpose, title: PICK_TITLE[a.purpose], sales: a.sales, page: 0 } };
  }
  const sale = a.sale;
  if (!sale) return { ...s, mode: { kind: 'info', title: 'No such sale', lines: ['No paid sale found.'], tone: 'warn', back: 'menu' } };
  return toRefund(s, sale, false);
}

function onRefund(s: MachineState, e: Extract<MachineEvent, { type: 'refund' }>): MachineState {
  const amount = formatMoney(e.amount, e.currency);
  const which = e.ref !== undefined ? ` #${e.ref}` : '';
  const text =
    e.status === 'done'
      ? e.already
        ? `Sale${which} was already refunded in full`
        : `${e.voided ? 'Voided' : 'Refunded'} ${amount} (sale${which})`
      : e.status === 'failed'
        ? `Refund of ${amount} (sale${which}) failed: ${e.error ?? 'unknown error'}`
        : null;
  const next = text ? { ...s, notice: text } : s;
  const m = s.mode;
  if (m.kind !== 'refund-pending' || e.status === 'pending') return next;
  if (e.refundId ? e.refundId !== m.refundId : e.saleId !== m.sale.saleId) return next;
  if (e.status === 'done') {
    const title = e.already ? 'Already refunded' : e.voided ? 'Voided' : 'Refunded';
    const lines = e.already
      ? [`Receipt #${m.sale.ref} was refunded in full by an earlier request.`, 'Nothing more was taken back.']
      : [`${amount} for receipt #${m.sale.ref}`, e.voided ? 'The payment was cancelled before settlement.' : 'The money goes back to the customer’s wallet.'];
    return { ...next, mode: { kind: 'info', title, lines, tone: 'ok', back: 'menu' } };
  }
  return { ...next, mode: { kind: 'info', title: 'Refund failed', lines: [`${amount} for receipt #${m.sale.ref}`, (e.error ?? 'unknown error').slice(0, 120)], tone: 'error', back: 'menu' } };
}

/** One step. Never throws for any event in any state. */
export function step(state: MachineState, event: MachineEvent, cfg: MachineConfig): StepResult {
  const c: Ctx = { cfg, now: event.now, effects: [] };
  let next: MachineState;
  switch (event.type) {
    case 'key':
      next = onKey(state, c, event.key, event.newId);
      break;
    case 'tick':
      next = onTick(state, c, event.clock);
      break;
    case 'link': {
      next = { ...state, online: event.online };
      if (event.online && state.mode.kind === 'offline') next = { ...next, mode: { kind: 'entering', input: state.mode.input } };
      break;
    }
    case 'unsynced':
      next = { ...state, unsynced: event.count };
      break;
    case 'sale':
      next = onSale(state, c, event.sale);
      break;
    case 'refund':
      next = onRefund(state, event);
      break;
    case 'late-count':
      next = { ...state, lateCount: event.count };
      break;
    case 'answer':
      next = onAnswer(state, event.answer);
      break;
    case 'pairing':
      next = { ...state, mode: { kind: 'pairing', code: event.code, relayUrl: event.relayUrl, ...(event.message ? { message: event.message } : {}) } };
      break;
    case 'paired':
      next = state.mode.kind === 'pairing' || state.mode.kind === 'waiting' ? { ...state, mode: { kind: 'idle' } } : state;
      break;
    case 'notice':
      if (event.text) next = { ...state, notice: event.text };
      else {
        const { notice: _n, ...rest } = state;
        next = rest;
      }
      break;
    case 'fatal':
      next = { ...state, mode: { kind: 'fatal', title: event.title, lines: event.lines } };
      break;
    case 'methods': {
      const { defaultMethod: _d, ...rest } = state;
      const keep = event.defaultMethod ?? state.defaultMethod;
      next = { ...rest, methods: event.methods, ...(keep && event.methods.includes(keep) ? { defaultMethod: keep } : {}) };
      break;
    }
    case 'storage':
      if (event.problem) next = { ...state, storageProblem: event.problem };
      else {
        const { storageProblem: _p, ...rest } = state;
        next = rest;
      }
      break;
  }
  const model = screenOf(next, cfg, event.now);
  const shown = JSON.stringify(model);
  if (shown !== next.shown) {
    c.effects.push({ type: 'screen', model });
    next = { ...next, shown };
  }
  return { state: next, effects: c.effects };
}

/** The state name the status endpoint reports. */
export function stateName(s: MachineState): string {
  const k = s.mode.kind;
  if (k === 'qr') return 'showing_qr';
  if (k === 'result') return s.mode.outcome;
  return k;
}
