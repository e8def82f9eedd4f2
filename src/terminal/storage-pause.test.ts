/**
 * Issue 12 item 6 at the counter (the pure state machine) and in the journal (on a real full
 * tmpfs): a storage problem pauses new sales but not the sale on screen; writes that cannot be
 * made wait in memory, in order, and are made when a probe finds space again.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyName } from '../../drivers/keypad/contract';
import { memoryLogger } from '../shared/log';
import { mountSmallFs, type SmallFs } from '../shared/testing/small-fs';
import { Journal } from './journal';
import { initialState, step, type Effect, type MachineConfig, type MachineEvent, type MachineState } from './sale-machine';

const CFG: MachineConfig = { currency: 'THB', merchantName: 'Noodle Shop', entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 8 };
const T0 = 1_700_000_000_000;

function feed(s: MachineState, events: MachineEvent[]): { state: MachineState; effects: Effect[] } {
  const effects: Effect[] = [];
  let state = s;
  for (const e of events) {
    const r = step(state, e, CFG);
    state = r.state;
    effects.push(...r.effects);
  }
  return { state, effects };
}
const keys = (ks: string): MachineEvent[] => ks.split(' ').map((k, i) => ({ type: 'key', key: k as KeyName, now: T0 + i, newId: `SALE_${String(i).padStart(8, '0')}` }));

describe('sales paused by storage (state machine)', () => {
  const online = feed(initialState(T0), [{ type: 'link', online: true, now: T0 }]).state;

  it('the idle screen says storage full; Enter records nothing and says nothing was charged; cleared, the same keys sell', () => {
    const paused = feed(online, [{ type: 'storage', problem: 'disk nearly full: 0 KiB free', now: T0 }]);
    expect(paused.effects.find((e) => e.type === 'screen')).toMatchObject({ model: { kind: 'message', title: 'Storage full: sales paused' } });
    const refused = feed(paused.state, keys('2 5 0 0 enter'));
    expect(refused.effects.some((e) => e.type === 'record-sale')).toBe(false);
    expect(refused.state.mode).toMatchObject({ kind: 'info', title: 'Storage full: sales paused', lines: ['Nothing was charged.', 'disk nearly full: 0 KiB free'] });
    const back = feed(refused.state, [{ type: 'storage', problem: null, now: T0 }, ...keys('cancel 2 5 0 0 enter')]);
    expect(back.effects.filter((e) => e.type === 'record-sale')).toHaveLength(1);
  });

  it('the sale on screen is not interrupted: its QR and its PAID still show', () => {
    const selling = feed(online, keys('2 5 0 0 enter'));
    const saleId = (selling.effects.find((e) => e.type === 'record-sale') as { sale: { saleId: string } }).sale.saleId;
    const r = feed(selling.state, [
      { type: 'storage', problem: 'cannot write the journal (SQLITE_FULL)', now: T0 },
      { type: 'sale', sale: { saleId, amount: 2500, currency: 'THB', ref: 1, status: 'pending', qrText: 'qr-text' }, now: T0 + 10 },
      { type: 'sale', sale: { saleId, amount: 2500, currency: 'THB', ref: 1, status: 'successful' }, now: T0 + 20 },
    ]);
    expect(r.state.mode).toMatchObject({ kind: 'result', outcome: 'paid' });
    expect(r.effects.some((e) => e.type === 'screen' && e.model.kind === 'qr')).toBe(true);
  });
});

describe('journal writes on a full disk', () => {
  let small: SmallFs;
  beforeAll(() => {
    small = mountSmallFs(2048);
  });
  afterAll(async () => {
    await small?.close();
  });

  it('a failed write marks the journal failing; deferred writes wait in order; a probe after freeing writes them all', () => {
    const log = memoryLogger();
    const { journal } = Journal.open(path.join(small.dir, 'journal.sqlite'), { log, minFreeBytes: 64 * 1024 });
    const seen: boolean[] = [];
    journal.onStorageChange((s) => seen.push(s.ok));
    try {
      const a = journal.recordSale({ saleId: 'SALE_full_000001', amount: 5000, currency: 'THB', at: T0 });
      expect(journal.checkSpace()).toEqual({ ok: true });
      small.fill();
      expect(journal.checkSpace()).toMatchObject({ ok: false, reason: expect.stringMatching(/disk nearly full/) as string });
      // A new sale cannot be recorded: the error is a storage error and nothing half-written stays.
      expect(() => journal.recordSale({ saleId: 'SALE_full_000002', amount: 5000, currency: 'THB', at: T0 })).toThrow(expect.objectContaining({ code: 'SQLITE_FULL' }) as Error);
      expect(journal.getSale('SALE_full_000002')).toBeNull();
      expect(journal.storage()).toMatchObject({ ok: false });
      // The cashier cancels the sale on screen and a supervisor note follows: both wait in memory.
      expect(journal.writeOrDefer('expire', () => journal.requestExpire(a.saleId, 'cancel'))).toBe(false);
      expect(journal.writeOrDefer('audit', () => journal.audit('sale.cancelled', a.saleId, { while: 'qr' }))).toBe(false);
      expect(journal.deferredCount()).toBe(2);
      expect(journal.probe()).toBe(false);
      expect(journal.getSale(a.saleId)!.expireRequested).toBe(false);

      small.free();
      expect(journal.probe()).toBe(true);
      expect(journal.checkSpace()).toEqual({ ok: true });
      expect(journal.deferredCount()).toBe(0);
      expect(journal.getSale(a.saleId)!.expireRequested).toBe(true);
      expect(journal.saleEvents(a.saleId).map((e) => e.kind)).toEqual(['sale.recorded', 'sale.expire_requested', 'sale.cancelled']);
      expect(journal.dueOutbox(Date.now()).map((o) => o.kind)).toEqual(['create', 'expire']);
      expect(seen[0]).toBe(false);
      expect(seen[seen.length - 1]).toBe(true);
    } finally {
      small.free();
      journal.close();
    }
  });
});
