/**
 * Omise API object shapes used by qrpos, as in the Alipay+ MPM specification's JSON
 * examples (copies in src/simulator/fixtures). The simulator produces exactly these; the client returns them.
 */
import type { PaymentMethod } from '../domain/methods';
import type { Currency } from '../domain/money';
import type { ChargeStatus } from '../domain/status';

/** The charge statuses, and which are final, live in src/domain/status.ts. */
export type { ChargeStatus };

export type Metadata = Record<string, string | number | boolean | null>;

export interface OmiseDocument {
  object: 'document';
  livemode: boolean;
  id: string;
  deleted: boolean;
  filename: string;
  location: string;
  kind: string;
  download_uri: string;
  created_at: string;
}

export interface ScannableCode {
  object: 'barcode';
  type: 'qr';
  image: OmiseDocument;
}

export interface OmiseSource {
  object: 'source';
  id: string;
  livemode: boolean;
  location: string;
  amount: number;
  barcode: null;
  bank: null;
  created_at: string;
  currency: Currency;
  email: null;
  flow: 'offline';
  installment_term: null;
  ip: string | null;
  absorption_type: null;
  name: null;
  mobile_number: null;
  phone_number: null;
  platform_type: null;
  scannable_code: ScannableCode | null;
  billing: null;
  shipping: null;
  items: unknown[];
  references: null;
  provider_references: null;
  store_id: null;
  store_name: null;
  terminal_id: null;
  type: PaymentMethod;
  zero_interest_installments: null;
  charge_status: 'unknown' | ChargeStatus;
  receipt_amount: null;
  discounts: unknown[];
  promotion_code: null;
}

export interface OmiseList<T> {
  object: 'list';
  data: T[];
  limit: number;
  offset: number;
  total: number;
  location: string | null;
  order: 'chronological' | 'reverse_chronological';
  from: string;
  to: string;
}

export interface OmiseRefund {
  object: 'refund';
  id: string;
  location: string;
  amount: number;
  currency: Currency;
  charge: string;
  transaction: string | null;
  voided: boolean;
  status: 'closed' | 'pending' | 'failed';
  funding_amount: number;
  funding_currency: Currency;
  metadata: Metadata;
  created_at: string;
  livemode: boolean;
}

export interface OmiseCharge {
  object: 'charge';
  id: string;
  location: string;
  amount: number;
  acquirer_reference_number: null;
  net: number;
  fee: number;
  fee_vat: number;
  interest: number;
  interest_vat: number;
  funding_amount: number;
  refunded_amount: number;
  transaction_fees: { fee_flat: string; fee_rate: string; vat_rate: string };
  platform_fee: { fixed: null; amount: null; percentage: null };
  currency: Currency;
  funding_currency: Currency;
  ip: string | null;
  refunds: OmiseList<OmiseRefund>;
  link: null;
  description: string | null;
  metadata: Metadata;
  card: null;
  source: OmiseSource;
  schedule: null;
  linked_account: null;
  customer: null;
  dispute: null;
  transaction: string | null;
  failure_code: string | null;
  failure_message: string | null;
  status: ChargeStatus;
  authorize_uri: null;
  return_uri: null;
  created_at: string;
  paid_at: string | null;
  authorized_at: string | null;
  expires_at: string;
  expired_at: string | null;
  reversed_at: string | null;
  zero_interest_installments: boolean;
  branch: null;
  terminal: null;
  device: null;
  authorized: boolean;
  capturable: boolean;
  capture: boolean;
  disputable: boolean;
  livemode: boolean;
  refundable: boolean;
  partially_refundable: boolean;
  reversed: boolean;
  reversible: boolean;
  voided: boolean;
  paid: boolean;
  expired: boolean;
  can_perform_void: boolean;
  approval_code: null;
}

export type EventKey = 'charge.create' | 'charge.complete' | 'charge.update' | 'refund.create';

export interface WebhookDelivery {
  object: 'webhook_delivery';
  id: string;
  uri: string;
  status: number | null;
  created_at: string;
  error?: string | null;
}

export interface OmiseEvent {
  object: 'event';
  id: string;
  livemode: boolean;
  location: string;
  key: EventKey;
  data: OmiseCharge | OmiseRefund;
  created_at: string;
  webhook_deliveries: WebhookDelivery[];
  team_uid?: string;
}

export interface OmiseErrorBody {
  object: 'error';
  location: string;
  code: string;
  message: string;
}
