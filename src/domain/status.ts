/**
 * Sale and charge statuses: the lists, which are final, and which moves each side allows. The one
 * home of these rules (src/domain/one-home.test.ts fails when another module lists them again).
 *
 * Three views of one sale:
 * - Omise's charge status (`ChargeStatus`): pending, then successful, failed or expired;
 *   a successful charge may later be reversed (a void).
 * - The relay's sale status (`SaleStatus`, also what the link carries): `creating` while the
 *   relay talks to Omise, `create_failed` when Omise refused the charge (final; no charge
 *   exists), then the charge's own status.
 * - The terminal journal's status (`LocalSaleStatus`): `recorded` before the relay has answered,
 *   then the relay's.
 */

// ---- Omise charges ---------------------------------------------------------------------------

export const CHARGE_STATUSES = ['pending', 'successful', 'failed', 'expired', 'reversed'] as const;
export type ChargeStatus = (typeof CHARGE_STATUSES)[number];

/** What a pending charge ends as (a reversal comes later, and only to a successful charge). */
export type ChargeEnding = Exclude<ChargeStatus, 'pending' | 'reversed'>;

export const FINAL_CHARGE_STATUSES: readonly ChargeStatus[] = CHARGE_STATUSES.filter((s) => s !== 'pending');

export function isFinalChargeStatus(s: ChargeStatus): boolean {
  return s !== 'pending';
}

// ---- sales, as the relay keeps them and the link carries them -----------------------------------

export const SALE_STATUSES = ['creating', 'create_failed', ...CHARGE_STATUSES] as const;
export type SaleStatus = (typeof SALE_STATUSES)[number];

export const FINAL_SALE_STATUSES: readonly SaleStatus[] = ['create_failed', ...FINAL_CHARGE_STATUSES];

/** Sales still waiting for an outcome (the relay's view): creating, pending. */
export const OPEN_SALE_STATUSES: readonly SaleStatus[] = SALE_STATUSES.filter((s) => !FINAL_SALE_STATUSES.includes(s));

/**
 * The relay's sale status once Omise says its charge is `charge`. A final status never returns
 * to pending; the only change between final statuses is successful → reversed.
 */
export function saleStatusAfterCharge(current: SaleStatus, charge: ChargeStatus): SaleStatus {
  if (current === 'creating' || current === 'pending') return charge;
  if (current === 'successful' && charge === 'reversed') return 'reversed';
  return current;
}

// ---- sales, as the terminal's journal keeps them ------------------------------------------------

export const LOCAL_SALE_STATUSES = ['recorded', ...SALE_STATUSES] as const;
export type LocalSaleStatus = (typeof LOCAL_SALE_STATUSES)[number];

/** Sales still waiting for an outcome (the terminal's view): recorded, creating, pending. */
export const OPEN_LOCAL_SALE_STATUSES: readonly LocalSaleStatus[] = LOCAL_SALE_STATUSES.filter((s) => !isFinalSaleStatus(s));

export function isFinalSaleStatus(s: LocalSaleStatus): boolean {
  return (FINAL_SALE_STATUSES as readonly string[]).includes(s);
}

/** How far along a sale is; the journal moves a sale forward only. */
const LOCAL_RANK: Record<LocalSaleStatus, number> = {
  recorded: 0,
  creating: 1,
  pending: 2,
  create_failed: 3,
  successful: 3,
  failed: 3,
  expired: 3,
  reversed: 4,
};

/**
 * Whether the journal may move a sale `from → to`: forward only, a final status never goes back
 * (a paid sale may be reversed by a void).
 */
export function canMoveLocalSale(from: LocalSaleStatus, to: LocalSaleStatus): boolean {
  if (from === to) return false;
  if (isFinalSaleStatus(from)) return from === 'successful' && to === 'reversed';
  return LOCAL_RANK[to] > LOCAL_RANK[from];
}

// ---- what a status means for the books ----------------------------------------------------------

/**
 * The report bucket of a sale's status: a reversed (voided) sale still counts as paid (and again
 * as voided); `open` is anything not final yet. The relay's report splits `expired` further by
 * whether the cashier cancelled.
 */
export type SaleOutcome = 'paid' | 'failed' | 'expired' | 'notCreated' | 'open';

export function saleOutcome(s: LocalSaleStatus): SaleOutcome {
  switch (s) {
    case 'successful':
    case 'reversed':
      return 'paid';
    case 'failed':
      return 'failed';
    case 'expired':
      return 'expired';
    case 'create_failed':
      return 'notCreated';
    default:
      return 'open';
  }
}
