/** The method picker in the pure state machine: every rule without I/O. */
import { describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import type { PaymentMethod } from '../domain/methods';
import { initialState, step, type Effect, type MachineConfig, type MachineEvent, type MachineState } from './sale-machine';

const CFG: MachineConfig = { currency: 'SGD', merchantName: 'Kopi', entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 8, supervisorPin: '2468' };
const T0 = 1_700_000_000_000;
let n = 0;

function run(s: MachineState, keys: string, cfg = CFG): { state: MachineState; effects: Effect[] } {
  const effects: Effect[] = [];
  let state = s;
  for (const k of keys.split(' ')) {
    const ev: MachineEvent = { type: 'key', key: k as KeyName, now: T0, newId: `SALE${String(++n).padStart(8, '0')}` };
    const r = step(state, ev, cfg);
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}

function ready(methods: PaymentMethod[] | null, defaultMethod?: PaymentMethod): MachineState {
  let s = step(initialState(T0, '10:00'), { type: 'link', online: true, now: T0 }, CFG).state;
  if (methods) s = step(s, { type: 'methods', methods, ...(defaultMethod ? { defaultMethod } : {}), now: T0 }, CFG).state;
  return s;
}

const recorded = (effects: Effect[]) => effects.filter((e) => e.type === 'record-sale').map((e) => (e.type === 'record-sale' ? e.sale : null));

describe('method picker', () => {
  it('without a list from the relay, Enter starts an Alipay+ sale as before (no method on the sale)', () => {
    const r = run(ready(null), '5 0 0 enter');
    expect(r.state.mode.kind).toBe('creating');
    expect(recorded(r.effects)).toEqual([{ saleId: expect.any(String) as string, amount: 500, currency: 'SGD' }]);
  });

  it('one enabled method: no picker, the sale carries it', () => {
    const r = run(ready(['paynow']), '5 0 0 enter');
    expect(r.state.mode.kind).toBe('creating');
    expect(recorded(r.effects)[0]).toMatchObject({ amount: 500, method: 'paynow' });
  });

  it('several: a key per method, the pick is remembered and becomes Enter’s choice', () => {
    const s = ready(['alipayplus_mpm', 'paynow']);
    const picker = run(s, '5 0 0 enter');
    expect(picker.state.mode).toMatchObject({ kind: 'method', choices: ['alipayplus_mpm', 'paynow'] });
    expect(recorded(picker.effects)).toEqual([]);
    // Enter without a default asks for a key and sends nothing.
    const asked = run(picker.state, 'enter');
    expect(asked.state.mode).toMatchObject({ kind: 'method', error: 'Press 1–2 to choose how to pay' });
    expect(recorded(asked.effects)).toEqual([]);
    const picked = run(picker.state, '2');
    expect(recorded(picked.effects)[0]).toMatchObject({ method: 'paynow' });
    expect(picked.effects).toContainEqual({ type: 'remember-method', method: 'paynow' });
    expect(picked.state.defaultMethod).toBe('paynow');
    const next = run({ ...picked.state, mode: { kind: 'idle' } }, '7 0 0 enter enter');
    expect(recorded(next.effects)[0]).toMatchObject({ amount: 700, method: 'paynow' });
    // Picking the default again writes nothing new.
    expect(next.effects.some((e) => e.type === 'remember-method')).toBe(false);
  });

  it('amounts only some methods take: the others are left out and named; none: refused before anything is sent', () => {
    // Above Alipay+'s S$20,000 but within PayNow's S$200,000: PayNow alone, still on the picker.
    const big = run(ready(['alipayplus_mpm', 'paynow']), '5 0 0 0 0 0 0 enter');
    expect(big.state.mode).toMatchObject({ kind: 'method', choices: ['paynow'], error: 'Alipay+: not for this amount' });
    expect(run(big.state, 'enter').effects.filter((e) => e.type === 'record-sale')).toHaveLength(1);
    // Alipay+ alone: its maximum applies while keying.
    const capped = run(ready(['alipayplus_mpm']), '5 0 0 0 0 0 0');
    expect(capped.state.mode).toMatchObject({ kind: 'entering', error: 'Maximum is S$20,000.00' });
    const small = run(ready(['alipayplus_mpm', 'paynow']), '5 0 enter');
    expect(small.state.mode).toMatchObject({ kind: 'entering', error: 'Minimum is S$1.00' });
    expect(recorded(small.effects)).toEqual([]);
  });

  it('Cancel on the picker goes back to the amount with it kept; a default the relay no longer enables is dropped', () => {
    const picker = run(ready(['alipayplus_mpm', 'paynow']), '5 0 0 enter');
    const back = run(picker.state, 'cancel');
    expect(back.state.mode).toEqual({ kind: 'entering', input: '500' });
    const s = step(ready(['alipayplus_mpm', 'paynow'], 'paynow'), { type: 'methods', methods: ['alipayplus_mpm'], now: T0 }, CFG).state;
    expect(s.defaultMethod).toBeUndefined();
  });

  it('a sale of a method without refunds is refused on the terminal, with the reason', () => {
    const s: MachineState = {
      ...ready(['promptpay']),
      mode: { kind: 'pick', purpose: 'refund', title: 'Refund', page: 0, sales: [{ saleId: 'S1', ref: 3, method: 'promptpay', amount: 5000, currency: 'THB', status: 'successful', refundedAmount: 0, canVoid: false }] },
    };
    const r = run(s, '1');
    expect(r.state.mode).toMatchObject({ kind: 'info', tone: 'warn' });
    expect(JSON.stringify(r.state.mode)).toContain('PromptPay payments cannot be refunded');
    expect(r.effects.some((e) => e.type === 'refund')).toBe(false);
  });
});
