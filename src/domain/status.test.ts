import { describe, expect, it } from 'vitest';
import { ChargeSchema } from '../omise/schemas';
import { SaleStatusSchema } from '../link/protocol';
import {
  canMoveLocalSale,
  CHARGE_STATUSES,
  FINAL_CHARGE_STATUSES,
  FINAL_SALE_STATUSES,
  isFinalChargeStatus,
  isFinalSaleStatus,
  LOCAL_SALE_STATUSES,
  OPEN_LOCAL_SALE_STATUSES,
  OPEN_SALE_STATUSES,
  SALE_STATUSES,
  saleOutcome,
  saleStatusAfterCharge,
} from './status';

describe('statuses', () => {
  it('lists each view of a sale, in the order the link and the journal have always used', () => {
    expect(CHARGE_STATUSES).toEqual(['pending', 'successful', 'failed', 'expired', 'reversed']);
    expect(SALE_STATUSES).toEqual(['creating', 'create_failed', 'pending', 'successful', 'failed', 'expired', 'reversed']);
    expect(LOCAL_SALE_STATUSES).toEqual(['recorded', 'creating', 'create_failed', 'pending', 'successful', 'failed', 'expired', 'reversed']);
    expect(FINAL_CHARGE_STATUSES).toEqual(['successful', 'failed', 'expired', 'reversed']);
    expect(FINAL_SALE_STATUSES).toEqual(['create_failed', 'successful', 'failed', 'expired', 'reversed']);
    expect(OPEN_SALE_STATUSES).toEqual(['creating', 'pending']);
    expect(OPEN_LOCAL_SALE_STATUSES).toEqual(['recorded', 'creating', 'pending']);
    expect(CHARGE_STATUSES.filter(isFinalChargeStatus)).toEqual(FINAL_CHARGE_STATUSES);
    expect(LOCAL_SALE_STATUSES.filter(isFinalSaleStatus)).toEqual(FINAL_SALE_STATUSES);
  });

  it('is what the link protocol and the Omise schema accept', () => {
    expect(SaleStatusSchema.options).toEqual([...SALE_STATUSES]);
    expect(ChargeSchema.shape.status.options).toEqual([...CHARGE_STATUSES]);
  });

  it('terminal: a sale moves forward only; a final status only from successful to reversed', () => {
    const allowed = LOCAL_SALE_STATUSES.flatMap((from) => LOCAL_SALE_STATUSES.filter((to) => canMoveLocalSale(from, to)).map((to) => `${from}→${to}`));
    const final = ['create_failed', 'successful', 'failed', 'expired', 'reversed'];
    expect(allowed).toEqual([
      ...['creating', 'create_failed', 'pending', ...final.slice(1)].map((to) => `recorded→${to}`),
      ...['create_failed', 'pending', ...final.slice(1)].map((to) => `creating→${to}`),
      ...final.map((to) => `pending→${to}`),
      'successful→reversed',
    ]);
  });

  it('relay: a charge moves an open sale to its status; a final sale only from successful to reversed', () => {
    for (const current of SALE_STATUSES) {
      for (const charge of CHARGE_STATUSES) {
        const want =
          current === 'creating' || current === 'pending' ? charge : current === 'successful' && charge === 'reversed' ? 'reversed' : current;
        expect(saleStatusAfterCharge(current, charge), `${current} + ${charge}`).toBe(want);
      }
    }
  });

  it('puts each status in its report bucket', () => {
    expect(Object.fromEntries(LOCAL_SALE_STATUSES.map((s) => [s, saleOutcome(s)]))).toEqual({
      recorded: 'open',
      creating: 'open',
      create_failed: 'notCreated',
      pending: 'open',
      successful: 'paid',
      failed: 'failed',
      expired: 'expired',
      reversed: 'paid',
    });
  });
});
