import { describe, expect, it } from 'vitest';
import { KEY_NAMES, type KeyName } from '../../drivers/keypad/contract';
import { limitsOf } from '../domain/money';
import { rng } from './testing/rng';
import {
  amountOf,
  initialState,
  screenOf,
  step,
  typeAmountKey,
  type Effect,
  type MachineConfig,
  type MachineEvent,
  type MachineState,
  type Mode,
  type SaleInfo,
  type SaleRef,
  type SaleUpdate,
} from './sale-machine';

const CFG: MachineConfig = {
  currency: 'THB',
  merchantName: 'Noodle Shop',
  entryMode: 'implied-decimals',
  qrTimeoutSeconds: 120,
  resultSeconds: 8,
  supervisorPin: '2468',
  createTimeoutSeconds: 30,
};

const T0 = 1_700_000_000_000;
let idCounter = 0;
const nextId = () => `SALE${String(++idCounter).padStart(8, '0')}`;

function key(k: KeyName, now = T0): MachineEvent {
  return { type: 'key', key: k, now, newId: nextId() };
}

function run(s: MachineState, events: MachineEvent[], cfg = CFG): { state: MachineState; effects: Effect[] } {
  const effects: Effect[] = [];
  let state = s;
  for (const e of events) {
    const r = step(state, e, cfg);
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

function online(): MachineState {
  return step(initialState(T0, '10:00'), { type: 'link', online: true, now: T0 }, CFG).state;
}

function typeAmount(s: MachineState, digits: string, cfg = CFG): { state: MachineState; effects: Effect[] } {
  const keys = digits.split('').map((d) => key(d as KeyName));
  return run(s, keys, cfg);
}

const SALE: SaleRef = { saleId: 'SALE_FIXED_01', amount: 15000, currency: 'THB', ref: 7 };
const PAID_7: SaleInfo = { saleId: SALE.saleId, ref: 7, amount: 15000, currency: 'THB', status: 'successful', refundedAmount: 0, canVoid: true, time: '09:58' };

function withMode(mode: Mode, extra: Partial<MachineState> = {}): MachineState {
  const s = { ...online(), mode, ...extra };
  return { ...s, shown: JSON.stringify(screenOf(s, CFG, T0)) };
}

/** One state of every kind (and the interesting variants), for the key × state matrix. */
const FIXTURES: Record<string, MachineState> = {
  idle: withMode({ kind: 'idle' }),
  'idle-offline': withMode({ kind: 'idle' }, { online: false }),
  'entering-empty': withMode({ kind: 'entering', input: '' }),
  'entering-150.00': withMode({ kind: 'entering', input: '15000' }),
  'entering-max': withMode({ kind: 'entering', input: '15000000' }),
  'entering-below-min': withMode({ kind: 'entering', input: '150' }),
  'entering-offline': withMode({ kind: 'entering', input: '15000' }, { online: false }),
  offline: withMode({ kind: 'offline', input: '1500' }, { online: false }),
  creating: withMode({ kind: 'creating', sale: SALE, startedAt: T0 }),
  qr: withMode({ kind: 'qr', sale: SALE, qrText: 'https://qr.example/abc', deadline: T0 + 120_000 }),
  'result-paid': withMode({ kind: 'result', outcome: 'paid', sale: SALE, until: T0 + 8000 }),
  'result-cancelled': withMode({ kind: 'result', outcome: 'cancelled', sale: SALE, until: T0 + 8000 }),
  pin: withMode({ kind: 'pin', entered: '24' }),
  'pin-locked': withMode({ kind: 'pin', entered: '' }, { pinLockedUntil: T0 + 30_000 }),
  menu: withMode({ kind: 'menu' }),
  waiting: withMode({ kind: 'waiting', title: 'Last sale' }),
  'ref-entry': withMode({ kind: 'ref-entry', input: '7' }),
  'refund-confirm': withMode({
    kind: 'refund-confirm',
    sale: { saleId: SALE.saleId, ref: 7, amount: 15000, currency: 'THB', status: 'successful', refundedAmount: 0, canVoid: true },
    input: '',
  }),
  info: withMode({ kind: 'info', title: 'Totals', lines: ['x'], tone: 'info', back: 'menu' }),
  'info-printable': withMode({ kind: 'info', title: 'X report', lines: ['x'], tone: 'info', back: 'menu', print: { title: 'X report', lines: ['x'] } }),
  'pick-refund': withMode({ kind: 'pick', purpose: 'refund', title: 'Refund', sales: [PAID_7, { ...PAID_7, saleId: 'SALE_FIXED_02', ref: 6, status: 'expired' }], page: 0 }),
  'pick-view': withMode({ kind: 'pick', purpose: 'view', title: 'Recent', sales: [PAID_7], page: 0 }),
  'pick-late': withMode({ kind: 'pick', purpose: 'late', title: 'Late', sales: [{ ...PAID_7, late: true }], page: 0 }),
  'sale-view': withMode({ kind: 'sale-view', sale: PAID_7 }),
  'late-decide': withMode({ kind: 'late-decide', sale: { ...PAID_7, late: true } }, { lateCount: 1 }),
  'refund-review': withMode({ kind: 'refund-review', sale: PAID_7, amount: 15000 }),
  'refund-pending': withMode({ kind: 'refund-pending', sale: PAID_7, refundId: 'REFUND_FIX_1', amount: 15000 }),
  'z-confirm': withMode({ kind: 'z-confirm' }),
  'repair-confirm': withMode({ kind: 'repair-confirm' }),
  pairing: withMode({ kind: 'pairing', code: 'ABC123', relayUrl: 'http://relay' }),
  fatal: withMode({ kind: 'fatal', title: 'Configuration error', lines: ['currency: bad'] }),
};

const DIGIT_KEYS: KeyName[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '00'];

/** Expected mode kind after `key` in the fixture; the whole table is the spec of the keypad. */
function expectedKind(fixture: string, k: KeyName): string {
  const digit = DIGIT_KEYS.includes(k);
  switch (fixture) {
    case 'idle':
    case 'idle-offline':
      if (digit || k === '.') return 'entering';
      if (k === 'menu') return 'pin';
      return 'idle';
    case 'entering-empty':
      if (k === 'cancel' || k === 'clear') return 'idle';
      return 'entering';
    case 'entering-150.00':
      if (k === 'cancel') return 'idle';
      if (k === 'enter') return 'creating';
      return 'entering';
    case 'entering-max':
      if (k === 'cancel') return 'idle';
      if (k === 'enter') return 'creating';
      return 'entering';
    case 'entering-below-min':
      if (k === 'cancel') return 'idle';
      return 'entering';
    case 'entering-offline':
      if (k === 'cancel') return 'idle';
      if (k === 'enter') return 'offline';
      return 'entering';
    case 'offline':
      return k === 'cancel' || k === 'clear' ? 'idle' : 'offline';
    case 'creating':
    case 'qr':
      return k === 'cancel' ? 'result' : fixture;
    case 'result-paid':
    case 'result-cancelled':
      if (digit || k === '.') return 'entering';
      if (k === 'menu') return 'pin';
      return 'idle';
    case 'pin':
      if (k === 'cancel' || k === 'menu') return 'idle';
      return 'pin';
    case 'pin-locked':
      if (k === 'cancel' || k === 'menu') return 'idle';
      return 'pin';
    case 'menu':
      if (k === 'cancel' || k === 'menu' || k === 'clear') return 'idle';
      if (k === '1' || k === '3' || k === '4' || k === '5' || k === '7') return 'waiting';
      if (k === '2') return 'ref-entry';
      if (k === '6') return 'z-confirm';
      if (k === '8') return 'repair-confirm';
      return 'menu';
    case 'pick-refund':
      if (k === 'cancel' || k === 'clear') return 'menu';
      if (k === '1') return 'refund-confirm';
      if (k === '2') return 'info'; // an expired sale: nothing to refund
      return 'pick';
    case 'pick-view':
      if (k === 'cancel' || k === 'clear') return 'menu';
      return k === '1' ? 'sale-view' : 'pick';
    case 'pick-late':
      if (k === 'cancel' || k === 'clear') return 'menu';
      return k === '1' ? 'late-decide' : 'pick';
    case 'sale-view':
      if (k === 'cancel' || k === 'clear') return 'menu';
      return k === 'enter' ? 'info' : 'sale-view';
    case 'late-decide':
      if (k === 'cancel' || k === 'clear') return 'menu';
      if (k === '1') return 'info';
      if (k === '2') return 'refund-confirm';
      return 'late-decide';
    case 'refund-review':
      if (k === 'cancel' || k === 'clear') return 'menu';
      return k === 'enter' ? 'refund-pending' : 'refund-review';
    case 'refund-pending':
      return k === 'cancel' || k === 'clear' || k === 'menu' ? 'menu' : 'refund-pending';
    case 'z-confirm':
      if (k === 'cancel' || k === 'clear') return 'menu';
      return k === 'enter' ? 'waiting' : 'z-confirm';
    case 'waiting':
      return k === 'cancel' ? 'menu' : 'waiting';
    case 'ref-entry':
      if (k === 'cancel') return 'menu';
      if (k === 'enter') return 'waiting';
      return 'ref-entry';
    case 'refund-confirm':
      if (k === 'cancel') return 'menu';
      if (k === 'enter') return 'refund-review';
      return 'refund-confirm';
    case 'info':
    case 'info-printable':
      return 'menu';
    case 'repair-confirm':
      if (k === 'enter') return 'waiting';
      if (k === 'cancel' || k === 'clear') return 'menu';
      return 'repair-confirm';
    case 'pairing':
    case 'fatal':
      return fixture;
  }
  throw new Error(`no expectation for ${fixture}`);
}

describe('sale machine: every state × every key', () => {
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    for (const k of KEY_NAMES) {
      it(`${name} + ${k}`, () => {
        const r = step(fixture, key(k, T0 + 1000), CFG);
        expect(r.state.mode.kind).toBe(expectedKind(name, k));
        const recorded = r.effects.filter((e) => e.type === 'record-sale');
        if (r.state.mode.kind === 'creating' && fixture.mode.kind !== 'creating') {
          expect(recorded).toHaveLength(1);
          const sale = (recorded[0]).sale;
          expect(Number.isInteger(sale.amount)).toBe(true);
          expect(sale.amount).toBeGreaterThanOrEqual(limitsOf('THB').min);
          expect(sale.amount).toBeLessThanOrEqual(limitsOf('THB').max);
        } else expect(recorded).toHaveLength(0);
        const expires = r.effects.filter((e) => e.type === 'expire');
        expect(expires).toHaveLength((name === 'creating' || name === 'qr') && k === 'cancel' ? 1 : 0);
        // Money goes back only from the review screen, on Enter.
        expect(r.effects.filter((e) => e.type === 'refund')).toHaveLength(name === 'refund-review' && k === 'enter' ? 1 : 0);
        expect(r.effects.filter((e) => e.type === 'print')).toHaveLength(name === 'info-printable' && k === 'enter' ? 1 : 0);
        // No key ever brings up a QR screen (only a recorded sale's relay answer does); on the
        // QR screen a key may only redraw the countdown.
        if (r.effects.some((e) => e.type === 'screen' && e.model.kind === 'qr')) expect(name).toBe('qr');
      });
    }
  }
});

const SALE_STATUSES: SaleUpdate['status'][] = ['recorded', 'creating', 'create_failed', 'pending', 'successful', 'failed', 'expired', 'reversed'];

describe('sale machine: every state × every non-key event', () => {
  for (const [name, fixture] of Object.entries(FIXTURES)) {
    const events: [string, MachineEvent][] = [
      ['tick now', { type: 'tick', now: T0 + 1000, clock: '10:01' }],
      ['tick late', { type: 'tick', now: T0 + 10 * 60_000, clock: '10:10' }],
      ['link up', { type: 'link', online: true, now: T0 }],
      ['link down', { type: 'link', online: false, now: T0 }],
      ['unsynced', { type: 'unsynced', count: 3, now: T0 }],
      ['answer none', { type: 'answer', answer: { kind: 'sale-info', sale: null }, now: T0 }],
      ['answer lines', { type: 'answer', answer: { kind: 'lines', title: 'T', lines: ['a'] }, now: T0 }],
      ['answer sales', { type: 'answer', answer: { kind: 'sales', purpose: 'refund', sales: [PAID_7] }, now: T0 }],
      ['answer no sales', { type: 'answer', answer: { kind: 'sales', purpose: 'late', sales: [] }, now: T0 }],
      ['refund failed', { type: 'refund', saleId: SALE.saleId, refundId: 'REFUND_FIX_1', amount: 100, currency: 'THB', status: 'failed', voided: false, error: 'nope', now: T0 }],
      ['refund already', { type: 'refund', saleId: SALE.saleId, refundId: 'REFUND_FIX_1', amount: 100, currency: 'THB', status: 'done', voided: false, already: true, now: T0 }],
      ['late count', { type: 'late-count', count: 2, now: T0 }],
      ['refund done', { type: 'refund', saleId: SALE.saleId, amount: 100, currency: 'THB', status: 'done', voided: false, now: T0 }],
      ['pairing', { type: 'pairing', code: 'X', relayUrl: 'u', now: T0 }],
      ['paired', { type: 'paired', now: T0 }],
      ['notice', { type: 'notice', text: 'hello', now: T0 }],
      ['fatal', { type: 'fatal', title: 't', lines: [], now: T0 }],
      ...SALE_STATUSES.flatMap((status): [string, MachineEvent][] => [
        [`sale ${status} (this sale)`, { type: 'sale', now: T0, sale: { ...SALE, status, qrText: 'https://qr.example/abc' } }],
        [`sale ${status} (other sale, late)`, { type: 'sale', now: T0, sale: { ...SALE, saleId: 'OTHER_SALE_1', status, late: true } }],
      ]),
    ];
    for (const [label, ev] of events) {
      it(`${name} + ${label}`, () => {
        const r = step(fixture, ev, CFG);
        expect(r.effects.some((e) => e.type === 'record-sale')).toBe(false);
        const qrShown = r.effects.some((e) => e.type === 'screen' && e.model.kind === 'qr');
        if (qrShown) {
          // A QR appears only for the sale that was already being created or shown.
          expect(r.state.mode.kind).toBe('qr');
          expect(fixture.mode.kind === 'creating' || fixture.mode.kind === 'qr').toBe(true);
          expect((r.state.mode as { sale: SaleRef }).sale.saleId).toBe(SALE.saleId);
        }
        if (ev.type === 'fatal') expect(r.state.mode.kind).toBe('fatal');
      });
    }
  }
});

describe('customer screens carry the shop', () => {
  it("the QR screen names the merchant and the country whose languages it speaks (the currency's unless set)", () => {
    const qr = withMode({ kind: 'qr', sale: { ...SALE, currency: 'SGD' }, qrText: 'https://qr.example/abc', deadline: T0 + 120_000 });
    expect(screenOf(qr, { ...CFG, currency: 'SGD' }, T0)).toMatchObject({ kind: 'qr', merchantName: 'Noodle Shop', country: 'SG' });
    expect(screenOf(qr, { ...CFG, currency: 'MYR' }, T0)).toMatchObject({ country: 'MY' });
    for (const kind of ['entering', 'offline'] as const) {
      expect(screenOf(withMode({ kind, input: '1500' }), { ...CFG, currency: 'MYR' }, T0)).toMatchObject({ country: 'MY' });
    }
    expect(screenOf(withMode({ kind: 'result', outcome: 'paid', sale: SALE, until: T0 + 1 }), CFG, T0)).toMatchObject({ kind: 'result', country: 'TH' });
  });
});

describe('amount entry', () => {
  it('whole units: 1-5-0 is ฿150.00, a decimal point is refused with how to key it', () => {
    const cfg: MachineConfig = { ...CFG, entryMode: 'whole-units' };
    const { state, effects } = typeAmount(online(), '150', cfg);
    const last = effects.filter((e) => e.type === 'screen').pop() as Extract<Effect, { type: 'screen' }>;
    expect(last.model).toMatchObject({ kind: 'entry', amountText: '฿150.00' });
    expect(typeAmountKey('150', '.', cfg)).toEqual({ error: 'Whole amounts only: key 150 for ฿150.00' });
    const r = step(state, key('enter'), cfg);
    expect(r.effects).toContainEqual(expect.objectContaining({ type: 'record-sale', sale: expect.objectContaining({ amount: 15000 }) }));
    // The maximum holds in whole units too (฿150,000.00 for THB): one more digit is refused.
    expect(typeAmountKey('150000', '0', cfg)).toEqual({ error: 'Maximum is ฿150,000.00' });
    expect(amountOf('19', { ...cfg, currency: 'SGD' })).toBe(1900);
  });


  it('implied decimals: 1-5-0-0 shows 15.00', () => {
    const { effects, state } = typeAmount(online(), '1500');
    expect(state.mode).toEqual({ kind: 'entering', input: '1500' });
    const last = effects.filter((e) => e.type === 'screen').pop() as Extract<Effect, { type: 'screen' }>;
    expect(last.model).toMatchObject({ kind: 'entry', amountText: '฿15.00', currency: 'THB' });
  });

  it('00 appends two zeros and leading zeros are ignored', () => {
    expect(run(online(), [key('0'), key('00'), key('2'), key('00')]).state.mode).toEqual({ kind: 'entering', input: '200' });
  });

  it('decimal point mode: 15.5 is 1550, a second point and a third decimal are refused with a message', () => {
    const cfg: MachineConfig = { ...CFG, entryMode: 'decimal-point' };
    const r = run(online(), ['1', '5', '.', '5'].map((k) => key(k as KeyName)), cfg);
    expect(r.state.mode).toEqual({ kind: 'entering', input: '15.5' });
    expect(amountOf('15.5', cfg)).toBe(1550);
    const screen = r.effects.filter((e) => e.type === 'screen').pop() as Extract<Effect, { type: 'screen' }>;
    expect(screen.model).toMatchObject({ amountText: '฿15.5' });
    expect(run(r.state, [key('.')], cfg).state.mode).toMatchObject({ input: '15.5', error: 'Only one decimal point' });
    const two = run(r.state, [key('0')], cfg).state;
    expect(run(two, [key('1')], cfg).state.mode).toMatchObject({ input: '15.50', error: 'At most 2 decimals' });
  });

  it('the maximum is enforced while typing, per currency', () => {
    const r = typeAmount(online(), '150000001');
    expect(r.state.mode).toEqual({ kind: 'entering', input: '15000000', error: 'Maximum is ฿150,000.00' });
    expect(r.effects.some((e) => e.type === 'beep' && e.kind === 'error')).toBe(true);
    const sgd = typeAmount(online(), '2000001', { ...CFG, currency: 'SGD' });
    expect(sgd.state.mode).toMatchObject({ input: '200000', error: 'Maximum is S$20,000.00' });
    expect(typeAmountKey('3000000', '1', { entryMode: 'implied-decimals', currency: 'MYR' })).toEqual({ error: 'Maximum is RM30,000.00' });
  });

  it('Enter below the minimum is refused with the message and nothing is recorded', () => {
    const r = run(typeAmount(online(), '1999').state, [key('enter')]);
    expect(r.state.mode).toEqual({ kind: 'entering', input: '1999', error: 'Minimum is ฿20.00' });
    expect(r.effects.some((e) => e.type === 'record-sale')).toBe(false);
  });

  it('backspace and clear edit; clear on empty and cancel go back to idle', () => {
    let s = typeAmount(online(), '123').state;
    s = run(s, [key('backspace')]).state;
    expect(s.mode).toEqual({ kind: 'entering', input: '12' });
    s = run(s, [key('clear')]).state;
    expect(s.mode).toEqual({ kind: 'entering', input: '' });
    expect(run(s, [key('clear')]).state.mode.kind).toBe('idle');
  });
});

describe('the sale', () => {
  function toQr(): MachineState {
    let s = typeAmount(online(), '15000').state;
    const r = step(s, { type: 'key', key: 'enter', now: T0, newId: 'SALE_A_00001' }, CFG);
    expect(r.effects[0]).toEqual({ type: 'record-sale', sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB' }, at: T0 });
    s = r.state;
    expect(s.mode.kind).toBe('creating');
    s = step(s, { type: 'sale', now: T0 + 10, sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB', ref: 1, status: 'recorded' } }, CFG).state;
    const q = step(s, { type: 'sale', now: T0 + 30, sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB', ref: 1, status: 'pending', qrText: 'https://qr/1' } }, CFG);
    expect(q.state.mode).toMatchObject({ kind: 'qr', qrText: 'https://qr/1', deadline: T0 + 30 + 120_000 });
    expect(q.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'qr', qrText: 'https://qr/1', secondsLeft: 120, totalSeconds: 120, amountText: '฿150.00' } });
    return q.state;
  }

  it('paid: result screen with the reference, success beep, paid effect, back to idle after resultSeconds', () => {
    const s = toQr();
    const r = step(s, { type: 'sale', now: T0 + 5000, sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB', ref: 1, status: 'successful' } }, CFG);
    expect(r.state.mode).toMatchObject({ kind: 'result', outcome: 'paid' });
    expect(r.effects).toContainEqual({ type: 'beep', kind: 'success' });
    expect(r.effects.some((e) => e.type === 'paid')).toBe(true);
    expect(r.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'result', outcome: 'paid', reference: '#1' } });
    expect(step(r.state, { type: 'tick', now: T0 + 5000 + 7999, clock: '' }, CFG).state.mode.kind).toBe('result');
    expect(step(r.state, { type: 'tick', now: T0 + 5000 + 8000, clock: '' }, CFG).state.mode.kind).toBe('idle');
  });

  it('failed: the reason in three languages', () => {
    const r = step(toQr(), { type: 'sale', now: T0 + 1, sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB', status: 'failed', failureCode: 'insufficient_fund' } }, CFG);
    expect(r.state.mode).toMatchObject({ kind: 'result', outcome: 'failed', reason: { en: 'Insufficient funds or limit reached' } });
  });

  it('the countdown ticks once a second and the timeout expires the charge', () => {
    const s = toQr();
    const t1 = step(s, { type: 'tick', now: T0 + 30 + 1000, clock: '10:00' }, CFG);
    expect(t1.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { secondsLeft: 119 } });
    const t2 = step(t1.state, { type: 'tick', now: T0 + 30 + 1200, clock: '10:00' }, CFG);
    expect(t2.effects.filter((e) => e.type === 'screen')).toHaveLength(0);
    const end = step(t2.state, { type: 'tick', now: T0 + 30 + 120_000, clock: '10:02' }, CFG);
    expect(end.state.mode).toMatchObject({ kind: 'result', outcome: 'expired' });
    expect(end.effects).toContainEqual({ type: 'expire', saleId: 'SALE_A_00001', reason: 'timeout' });
  });

  it('cancel expires the charge; a payment landing afterwards is shown as a late payment', () => {
    const c = step(toQr(), key('cancel', T0 + 2000), CFG);
    expect(c.effects).toContainEqual({ type: 'expire', saleId: 'SALE_A_00001', reason: 'cancel' });
    expect(c.state.mode).toMatchObject({ kind: 'result', outcome: 'cancelled' });
    const late = step(c.state, { type: 'sale', now: T0 + 3000, sale: { saleId: 'SALE_A_00001', amount: 15000, currency: 'THB', ref: 1, status: 'successful', late: true } }, CFG);
    expect(late.state.mode).toMatchObject({ kind: 'result', outcome: 'late_paid' });
    expect(late.state.notice).toMatch(/Late payment ฿150.00 \(#1\)/);
    // It promises nothing nobody does: a supervisor decides, and the marker stays until then.
    expect(late.state.notice).not.toMatch(/will be refunded/);
    expect(late.state.lateCount).toBe(1);
    // Back at idle, the notice stays until dismissed.
    const idle = step(late.state, key('cancel', T0 + 4000), CFG).state;
    expect(idle.mode.kind).toBe('idle');
    expect(idle.notice).toBeDefined();
    const dismissed = step(idle, key('clear', T0 + 4001), CFG);
    expect(dismissed.state.notice).toBeUndefined();
    // The notice can go; the reminder that a late payment waits cannot, not even after a sale.
    expect(dismissed.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'idle', notice: '1 late payment to settle: Menu → 4' } });
    const afterSale = run(dismissed.state, [...'5000'.split('').map((d) => key(d as KeyName, T0 + 5000)), key('enter', T0 + 5000), key('cancel', T0 + 5001), key('cancel', T0 + 5002)]);
    expect(afterSale.state.mode.kind).toBe('idle');
    expect(screenOf(afterSale.state, CFG, T0 + 5003)).toMatchObject({ kind: 'idle', notice: '1 late payment to settle: Menu → 4' });
  });

  it('a late payment for a sale no longer on screen becomes an idle notice', () => {
    const r = step(online(), { type: 'sale', now: T0, sale: { saleId: 'OLD_SALE_01', amount: 5000, currency: 'THB', ref: 4, status: 'successful', late: true } }, CFG);
    expect(r.state.notice).toMatch(/#4/);
    expect(r.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'idle', notice: expect.stringMatching(/Late payment/) } });
  });

  it('offline: Enter is refused with the offline screen, the amount is kept and the link coming back resumes entry', () => {
    let s = { ...typeAmount(online(), '5000').state, online: false };
    const r = step(s, key('enter'), CFG);
    expect(r.state.mode).toEqual({ kind: 'offline', input: '5000' });
    expect(r.effects.some((e) => e.type === 'record-sale')).toBe(false);
    expect(r.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'offline' } });
    s = step(r.state, { type: 'link', online: true, now: T0 }, CFG).state;
    expect(s.mode).toEqual({ kind: 'entering', input: '5000' });
  });

  it('a create that never answers (e.g. Omise rate limiting past the deadline) is given up as "could not create — Enter to retry", never "payment failed", and its charge expired', () => {
    let s = typeAmount(online(), '5000').state;
    s = step(s, key('enter'), CFG).state;
    const saleId = (s.mode as { sale: SaleRef }).sale.saleId;
    const r = step(s, { type: 'tick', now: T0 + 30_000, clock: '' }, CFG);
    expect(r.state.mode).toMatchObject({ kind: 'result', outcome: 'not_created', reason: { en: 'Enter to retry' } });
    expect(r.effects).toContainEqual({ type: 'expire', saleId, reason: 'create-timeout' });
    const screen = r.effects.find((e) => e.type === 'screen');
    expect(screen).toMatchObject({ model: { kind: 'result', outcome: 'not_created' } });
    expect(JSON.stringify(screen)).not.toMatch(/failed/i);
    // Enter: a new sale for the same amount.
    const again = step(r.state, { type: 'key', key: 'enter', now: T0 + 31_000, newId: 'SALE_RETRY_0001' }, CFG);
    expect(again.state.mode).toMatchObject({ kind: 'creating', sale: { saleId: 'SALE_RETRY_0001', amount: 5000 } });
    expect(again.effects).toContainEqual(expect.objectContaining({ type: 'record-sale', sale: expect.objectContaining({ saleId: 'SALE_RETRY_0001', amount: 5000 }) }));
    // Any other key leaves it as a result does.
    expect(step(r.state, key('cancel'), CFG).state.mode.kind).toBe('idle');
  });

  it('create_failed shows the relay error as "could not create — Enter to retry"', () => {
    let s = typeAmount(online(), '5000').state;
    s = step(s, key('enter'), CFG).state;
    const sale = (s.mode as { sale: SaleRef }).sale;
    const r = step(s, { type: 'sale', now: T0, sale: { ...sale, status: 'create_failed', error: { code: 'invalid_charge', message: 'amount is invalid' } } }, CFG);
    expect(r.state.mode).toMatchObject({ kind: 'result', outcome: 'not_created', reason: { en: 'amount is invalid. Enter to retry' } });
  });
});

describe('supervisor menu', () => {
  const pin = (s: MachineState, digits: string) => run(s, [key('menu'), ...digits.split('').map((d) => key(d as KeyName)), key('enter')]);

  it('opens with the right PIN and closes after idling', () => {
    const r = pin(online(), '2468');
    expect(r.state.mode.kind).toBe('menu');
    expect(r.effects).toContainEqual({ type: 'audit', kind: 'supervisor.login', saleId: null, data: {} });
    expect(step(r.state, { type: 'tick', now: T0 + 61_000, clock: '' }, CFG).state.mode.kind).toBe('idle');
  });

  it('three wrong PINs lock it for a minute', () => {
    let s = step(online(), key('menu'), CFG).state;
    for (let i = 0; i < 3; i++) s = run(s, ['1', '1', '1', '1', 'enter'].map((k) => key(k as KeyName))).state;
    expect(s.mode).toMatchObject({ kind: 'pin', error: expect.stringMatching(/locked/i) });
    const locked = run(s, [key('2', T0 + 1000), key('enter', T0 + 1000)]).state;
    expect(locked.mode).toMatchObject({ kind: 'pin', error: expect.stringMatching(/Locked/) });
    const after = run(locked, ['2', '4', '6', '8', 'enter'].map((k) => key(k as KeyName, T0 + 61_000))).state;
    expect(after.mode.kind).toBe('menu');
  });

  it('without a PIN configured the menu says so', () => {
    const { supervisorPin: _p, ...noPin } = CFG;
    const r = step(online(), key('menu'), noPin);
    expect(r.state.mode).toMatchObject({ kind: 'info', lines: expect.arrayContaining(['No supervisor PIN is set.']) });
  });

  const answerSales = (st: MachineState, purpose: 'refund' | 'view' | 'late', sales: SaleInfo[]) =>
    step(st, { type: 'answer', now: T0, answer: { kind: 'sales', purpose, sales } }, CFG);

  it('refund: pick a recent sale, key a partial amount, review amount and receipt, then a pending screen until Omise answers', () => {
    let s = pin(online(), '2468').state;
    const q = step(s, key('1'), CFG);
    expect(q.effects).toContainEqual({ type: 'query', query: { kind: 'recent', purpose: 'refund' } });
    const paid3: SaleInfo = { saleId: 'S1_0000000', ref: 3, amount: 15000, currency: 'THB', status: 'successful', refundedAmount: 5000, canVoid: false, time: '09:12' };
    const list = answerSales(q.state, 'refund', [paid3, PAID_7]);
    expect(list.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'menu', items: [{ key: '1', label: '#3 ฿150.00 Part refunded 09:12' }, { key: '2', label: '#7 ฿150.00 Paid 09:58' }] } });
    s = step(list.state, key('1'), CFG).state;
    expect(s.mode.kind).toBe('refund-confirm');
    const over = run(s, [key('1'), key('0'), key('0'), key('0'), key('1')]).state;
    expect(over.mode).toMatchObject({ input: '1000', error: 'At most ฿100.00' });
    const review = run(s, [key('2'), key('5'), key('0'), key('0'), key('enter')]);
    expect(review.state.mode).toMatchObject({ kind: 'refund-review', amount: 2500 });
    expect(review.effects.some((e) => e.type === 'refund')).toBe(false);
    expect(review.effects.filter((e) => e.type === 'screen').pop()).toMatchObject({ model: { kind: 'message', title: 'Confirm refund', lines: ['Refund ฿25.00', 'Receipt #3 (paid ฿150.00)', expect.any(String)] } });
    const sent = step(review.state, { type: 'key', key: 'enter', now: T0, newId: 'REFUND_0001' }, CFG);
    expect(sent.effects).toContainEqual({ type: 'refund', saleId: 'S1_0000000', refundId: 'REFUND_0001', amount: 2500, currency: 'THB' });
    expect(sent.effects.some((e) => e.type === 'audit' && e.kind === 'supervisor.refund')).toBe(true);
    expect(sent.state.mode).toMatchObject({ kind: 'refund-pending', refundId: 'REFUND_0001' });
    // Another refund's answer does not end this one's wait.
    const other = step(sent.state, { type: 'refund', saleId: 'S9_0000000', refundId: 'REFUND_OTHER', amount: 100, currency: 'THB', status: 'done', voided: false, now: T0 }, CFG);
    expect(other.state.mode.kind).toBe('refund-pending');
    const done = step(other.state, { type: 'refund', saleId: 'S1_0000000', refundId: 'REFUND_0001', ref: 3, amount: 2500, currency: 'THB', status: 'done', voided: false, now: T0 }, CFG);
    expect(done.state.mode).toMatchObject({ kind: 'info', title: 'Refunded', tone: 'ok' });
    const failed = step(sent.state, { type: 'refund', saleId: 'S1_0000000', refundId: 'REFUND_0001', ref: 3, amount: 2500, currency: 'THB', status: 'failed', voided: false, error: 'refund window closed', now: T0 }, CFG);
    expect(failed.state.mode).toMatchObject({ kind: 'info', title: 'Refund failed', tone: 'error', lines: expect.arrayContaining(['refund window closed']) });
  });

  it('a refund the relay answers "already refunded in full" reads as done, never as failed', () => {
    let s = pin(online(), '2468').state;
    s = answerSales(step(s, key('1'), CFG).state, 'refund', [PAID_7]).state;
    s = run(s, [key('1'), key('enter'), { type: 'key', key: 'enter', now: T0, newId: 'REFUND_0002' }]).state;
    expect(s.mode).toMatchObject({ kind: 'refund-pending', amount: 15000 });
    const r = step(s, { type: 'refund', saleId: SALE.saleId, refundId: 'REFUND_0002', ref: 7, amount: 15000, currency: 'THB', status: 'done', voided: false, already: true, now: T0 }, CFG);
    expect(r.state.mode).toMatchObject({ kind: 'info', title: 'Already refunded', tone: 'ok' });
    expect(r.state.notice).toBe('Sale #7 was already refunded in full');
    expect(JSON.stringify(r.effects)).not.toMatch(/fail/i);
  });

  it('a full refund of a sale still in its void window says void on the review screen', () => {
    const s = withMode({ kind: 'refund-confirm', sale: PAID_7, input: '' });
    const review = step(s, key('enter'), CFG);
    expect(review.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { title: 'Confirm void', lines: expect.arrayContaining(['Void ฿150.00']) } });
  });

  it('late payments: the list, then keep as a sale or refund now; the idle marker counts what is left', () => {
    let s: MachineState = { ...pin(online(), '2468').state, lateCount: 2 };
    expect(screenOf(s, CFG, T0)).toMatchObject({ kind: 'menu', items: expect.arrayContaining([{ key: '4', label: 'Late payments (2 to settle)' }]) });
    const q = step(s, key('4'), CFG);
    expect(q.effects).toContainEqual({ type: 'query', query: { kind: 'recent', purpose: 'late' } });
    const late5: SaleInfo = { ...PAID_7, saleId: 'LATE_000005', ref: 5, late: true };
    const late6: SaleInfo = { ...PAID_7, saleId: 'LATE_000006', ref: 6, late: true };
    s = answerSales(q.state, 'late', [late6, late5]).state;
    const decide = step(s, key('2'), CFG);
    expect(decide.state.mode).toMatchObject({ kind: 'late-decide', sale: { ref: 5 } });
    const kept = step(decide.state, key('1'), CFG);
    expect(kept.effects).toContainEqual({ type: 'resolve-late', saleId: 'LATE_000005', resolution: 'kept' });
    expect(kept.state.lateCount).toBe(1);
    expect(kept.effects.some((e) => e.type === 'refund')).toBe(false);
    // Refund now: the same review as any refund, and the late payment is settled as refunded.
    const toRefund = run(decide.state, [key('2'), key('enter')]);
    expect(toRefund.state.mode).toMatchObject({ kind: 'refund-review', amount: 15000, late: true });
    const sent = step(toRefund.state, { type: 'key', key: 'enter', now: T0, newId: 'REFUND_LATE_1' }, CFG);
    expect(sent.effects).toContainEqual({ type: 'refund', saleId: 'LATE_000005', refundId: 'REFUND_LATE_1', amount: 15000, currency: 'THB' });
    expect(sent.effects).toContainEqual({ type: 'resolve-late', saleId: 'LATE_000005', resolution: 'refunded' });
    expect(sent.state.lateCount).toBe(1);
    // Nothing left: the list says so.
    const none = answerSales(step(pin(online(), '2468').state, key('4'), CFG).state, 'late', []);
    expect(none.state.mode).toMatchObject({ kind: 'info', lines: ['No late payments to settle.'] });
    expect(none.state.lateCount).toBe(0);
  });

  it('recent sales: pages of five, Enter for more; a paid sale can be reprinted', () => {
    const sales: SaleInfo[] = Array.from({ length: 12 }, (_, i) => ({ ...PAID_7, saleId: `SALE_${String(20 - i).padStart(8, '0')}`, ref: 20 - i, status: i === 1 ? 'expired' : 'successful' }));
    let s = answerSales(step(pin(online(), '2468').state, key('3'), CFG).state, 'view', sales).state;
    expect(screenOf(s, CFG, T0)).toMatchObject({ kind: 'menu', title: 'Recent sales (1/3)', items: expect.arrayContaining([{ key: '2', label: '#19 ฿150.00 QR code expired 09:58' }]) });
    s = step(s, key('enter'), CFG).state;
    expect(screenOf(s, CFG, T0)).toMatchObject({ title: 'Recent sales (2/3)', items: expect.arrayContaining([{ key: '1', label: '#15 ฿150.00 Paid 09:58' }]) });
    expect(step(s, key('6'), CFG).state.mode.kind).toBe('pick');
    const view = step(s, key('1'), CFG).state;
    expect(view.mode).toMatchObject({ kind: 'sale-view', sale: { ref: 15 } });
    const r = step(view, key('enter'), CFG);
    expect(r.effects).toContainEqual({ type: 'reprint', saleId: 'SALE_00000015' });
    const expired = step(answerSales(step(pin(online(), '2468').state, key('3'), CFG).state, 'view', sales).state, key('2'), CFG).state;
    expect(step(expired, key('enter'), CFG).effects.some((e) => e.type === 'reprint')).toBe(false);
  });

  it('X report prints on Enter when a printer is there; Z report asks first', () => {
    const s = pin(online(), '2468').state;
    const x = step(s, key('5'), CFG);
    expect(x.effects).toContainEqual({ type: 'query', query: { kind: 'report', close: false } });
    const shown = step(x.state, { type: 'answer', now: T0, answer: { kind: 'lines', title: 'X report', lines: ['Net ฿1.00'], printable: true } }, CFG).state;
    expect(step(shown, key('enter'), CFG).effects).toContainEqual({ type: 'print', title: 'X report', lines: ['Net ฿1.00'] });
    const z = step(s, key('6'), CFG);
    expect(z.state.mode.kind).toBe('z-confirm');
    expect(z.effects.some((e) => e.type === 'query')).toBe(false);
    expect(step(z.state, key('enter'), CFG).effects).toContainEqual({ type: 'query', query: { kind: 'report', close: true } });
  });

  it('refund by reference looks the sale up; an unpaid sale cannot be refunded', () => {
    let s = pin(online(), '2468').state;
    s = run(s, [key('2'), key('1'), key('2')]).state;
    const r = step(s, key('enter'), CFG);
    expect(r.effects).toContainEqual({ type: 'query', query: { kind: 'sale-by-ref', ref: 12 } });
    const a = step(r.state, { type: 'answer', now: T0, answer: { kind: 'sale-info', sale: { saleId: 'S1_0000000', ref: 12, amount: 15000, currency: 'THB', status: 'expired', refundedAmount: 0, canVoid: false } } }, CFG);
    expect(a.state.mode).toMatchObject({ kind: 'info', tone: 'warn' });
  });

  it('network info and re-pair', () => {
    const s = pin(online(), '2468').state;
    expect(step(s, key('7'), CFG).effects).toContainEqual({ type: 'query', query: { kind: 'network' } });
    const confirm = step(s, key('8'), CFG).state;
    expect(step(confirm, key('enter'), CFG).effects).toContainEqual({ type: 'repair' });
  });
});

describe('random key and event sequences keep the money invariants', () => {

  for (const cfg of [CFG, { ...CFG, entryMode: 'decimal-point' as const, currency: 'SGD' as const }]) {
    it(`300 runs × 400 events (${cfg.entryMode}, ${cfg.currency})`, () => {
      const { min, max } = limitsOf(cfg.currency);
      for (let runNo = 0; runNo < 300; runNo++) {
        const rand = rng(runNo * 7919 + 17);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
        let s = initialState(T0, '');
        let now = T0;
        const recorded = new Map<string, number>();
        const expired = new Set<string>();
        for (let i = 0; i < 400; i++) {
          now += Math.floor(rand() * 3000);
          const r = rand();
          let ev: MachineEvent;
          const current = s.mode.kind === 'creating' || s.mode.kind === 'qr' || s.mode.kind === 'result' ? s.mode.sale : null;
          if (r < 0.6) ev = { type: 'key', key: pick(KEY_NAMES), now, newId: `R${runNo}_${i}_XXXXXX` };
          else if (r < 0.75) ev = { type: 'tick', now, clock: '' };
          else if (r < 0.8) ev = { type: 'link', online: rand() < 0.8, now };
          else if (r < 0.95 && current) {
            ev = { type: 'sale', now, sale: { ...current, status: pick(SALE_STATUSES), qrText: rand() < 0.8 ? `https://qr/${current.saleId}` : null, late: rand() < 0.2 } };
          } else if (r < 0.97) ev = { type: 'answer', now, answer: { kind: 'lines', title: 'x', lines: [] } };
          else ev = { type: 'sale', now, sale: { saleId: `STRANGER_${i}_X`, amount: 5000, currency: cfg.currency, status: pick(SALE_STATUSES), qrText: 'https://qr/stranger' } };
          const before = s;
          const res = step(s, ev, cfg);
          s = res.state;
          for (const e of res.effects) {
            if (e.type === 'record-sale') {
              expect(recorded.has(e.sale.saleId)).toBe(false);
              expect(Number.isSafeInteger(e.sale.amount)).toBe(true);
              expect(e.sale.amount).toBeGreaterThanOrEqual(min);
              expect(e.sale.amount).toBeLessThanOrEqual(max);
              expect(e.sale.currency).toBe(cfg.currency);
              expect(before.online).toBe(true);
              recorded.set(e.sale.saleId, e.sale.amount);
            }
            if (e.type === 'screen' && e.model.kind === 'qr') {
              // Never a QR without a prior durable-record effect for that very sale.
              expect(s.mode.kind).toBe('qr');
              const sale = (s.mode as { sale: SaleRef }).sale;
              expect(recorded.get(sale.saleId)).toBe(sale.amount);
              expect(e.model.qrText).toBe(`https://qr/${sale.saleId}`);
            }
            if (e.type === 'expire') {
              expect(recorded.has(e.saleId)).toBe(true);
              expired.add(e.saleId);
            }
          }
          // Leaving a live sale other than by a final status always asks for its expiry.
          if ((before.mode.kind === 'creating' || before.mode.kind === 'qr') && s.mode.kind !== before.mode.kind && s.mode.kind !== 'qr') {
            const sale = before.mode.sale;
            const outcome = s.mode.kind === 'result' ? s.mode.outcome : null;
            if (outcome === 'cancelled' || (outcome === 'expired' && ev.type === 'tick') || (outcome === 'not_created' && ev.type === 'tick')) {
              if (!(ev.type === 'sale' && ev.sale.status === 'reversed')) expect(expired.has(sale.saleId)).toBe(true);
            }
            expect(s.mode.kind === 'result' || s.mode.kind === 'fatal' || s.mode.kind === 'pairing').toBe(true);
          }
        }
      }
    });
  }
});
