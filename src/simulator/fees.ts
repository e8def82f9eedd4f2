/**
 * Fees the simulator charges, per account country. Thailand's are the seed's example
 * (fee_rate 1.65 %, VAT 7 %: 150000 → fee 2475, fee_vat 173, net 147352). Singapore's and
 * Malaysia's are invented but plausible (GST 9 %, SST 8 %); real rates depend on the contract.
 * Rounding is half-up on the smallest unit, which reproduces the seed's numbers.
 */
import type { Country } from '../domain/money';

export interface FeeSchedule {
  /** Percent, as Omise prints it in transaction_fees. */
  feeRate: string;
  vatRate: string;
  feeFlat: string;
}

export const FEE_SCHEDULES: Record<Country, FeeSchedule> = {
  TH: { feeFlat: '0.0', feeRate: '1.65', vatRate: '7.0' },
  SG: { feeFlat: '0.0', feeRate: '2.8', vatRate: '9.0' },
  MY: { feeFlat: '0.0', feeRate: '1.8', vatRate: '8.0' },
};

export interface Fees {
  fee: number;
  fee_vat: number;
  net: number;
}

/** Integer arithmetic in hundredths of a percent, so 1.65 % never becomes 1.6499999. */
function percentOf(amount: number, percentText: string): number {
  const basis = Math.round(Number(percentText) * 100);
  return Math.floor((amount * basis + 5000) / 10000);
}

export function computeFees(amount: number, country: Country): Fees {
  const s = FEE_SCHEDULES[country];
  const fee = percentOf(amount, s.feeRate) + Math.round(Number(s.feeFlat) * 100);
  const fee_vat = percentOf(fee, s.vatRate);
  return { fee, fee_vat, net: amount - fee - fee_vat };
}
