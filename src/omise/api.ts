/**
 * The Omise operations qrpos uses, as an interface: the relay depends on this, the HTTP client in
 * ./client.ts implements it against the real API or the simulator (src/simulator).
 */
import type { PaymentMethod } from '../domain/methods';
import type { Currency } from '../domain/money';
import type { Metadata, OmiseCharge, OmiseEvent, OmiseList, OmiseRefund, OmiseSource } from './types';

/**
 * The Omise API version qrpos is written against: every request sends it as `Omise-Version`, so
 * the account's own default version never changes what the answers look like.
 */
export const OMISE_API_VERSION = '2019-05-29';

export interface RequestOptions {
  /** Cancels the request; the promise rejects with an OmiseError of kind 'aborted'. */
  signal?: AbortSignal;
  /** Per-request timeout; default from the client options (10 s). Kind 'timeout' on expiry. */
  timeoutMs?: number;
  /**
   * How long answers of HTTP 429 (rate limited) may be retried, with backoff and the server's
   * Retry-After, before the 429 is thrown; default from the client options. 0: no retry.
   */
  retryBudgetMs?: number;
}

export interface ListParams {
  limit?: number;
  offset?: number;
  /** ISO 8601 times bounding created_at. */
  from?: string;
  to?: string;
  order?: 'chronological' | 'reverse_chronological';
}

export interface CreateChargeParams {
  amount: number;
  currency: Currency;
  /** A source id (src_…) or an inline source created in the same request. */
  source: string | { type: PaymentMethod };
  metadata?: Metadata;
  description?: string;
  /** ISO 8601. */
  expires_at?: string;
}

export interface CreateRefundParams {
  amount: number;
  metadata?: Metadata;
  /** Ask for a void (only inside the void window). */
  void?: boolean;
}

export interface QrDocument {
  contentType: string;
  body: Buffer;
}

export interface OmiseApi {
  /** Public key. */
  createSource(params: { type: PaymentMethod; amount: number; currency: Currency }, opts?: RequestOptions): Promise<OmiseSource>;
  /** Secret key for everything below. */
  createCharge(params: CreateChargeParams, opts?: RequestOptions): Promise<OmiseCharge>;
  retrieveCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge>;
  listCharges(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseCharge>>;
  expireCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge>;
  createRefund(chargeId: string, params: CreateRefundParams, opts?: RequestOptions): Promise<OmiseRefund>;
  listRefunds(chargeId: string, params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseRefund>>;
  listEvents(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseEvent>>;
  retrieveEvent(eventId: string, opts?: RequestOptions): Promise<OmiseEvent>;
  /** Test mode only. */
  markAsPaid(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge>;
  /** Test mode only. `failureCode` is a simulator extension; the real API ignores it. */
  markAsFailed(chargeId: string, failureCode?: string, opts?: RequestOptions): Promise<OmiseCharge>;
  /** GET the QR document at `download_uri` (no key: the URL is the secret; never logged). */
  downloadDocument(downloadUri: string, opts?: RequestOptions): Promise<QrDocument>;
}

export type OmiseErrorKind =
  /** Omise answered with an error object (status and code set). */
  | 'api'
  /** No answer within the timeout: the request may or may not have taken effect. */
  | 'timeout'
  /** Connection refused / reset / DNS: the request may or may not have taken effect (reset) or did not (refused). */
  | 'network'
  | 'aborted'
  /** An answer that is not the expected JSON. */
  | 'bad_response';

/**
 * Every failure of an Omise call. The message never contains a key or a download URL.
 * `status` is the HTTP status (0 when there was none); `code` is Omise's error code
 * (e.g. authentication_failure, not_found, invalid_charge, failed_expire) or the kind.
 */
export class OmiseError extends Error {
  constructor(
    readonly kind: OmiseErrorKind,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OmiseError';
  }

  /**
   * True when the request may have reached Omise and its outcome is unknown (timeout, reset, 5xx,
   * or an answer that could not be read: Omise may have acted on the request).
   */
  get outcomeUnknown(): boolean {
    return this.kind === 'timeout' || this.kind === 'network' || this.kind === 'bad_response' || (this.kind === 'api' && this.status >= 500);
  }

  /** HTTP 429: Omise did not act on the request; it can be sent again later. Not a payment failure. */
  get rateLimited(): boolean {
    return this.kind === 'api' && this.status === 429;
  }
}

/**
 * A 2xx answer from Omise that is not the object qrpos relies on (a missing or mistyped field).
 * Its message names the operation and the fields, never their values.
 */
export class OmiseResponseError extends OmiseError {
  constructor(
    status: number,
    message: string,
    /** `path: problem` for each field that failed (no values). */
    readonly issues: string,
  ) {
    super('bad_response', status, 'bad_response', message);
    this.name = 'OmiseResponseError';
  }
}
