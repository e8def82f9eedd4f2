import type { LinkErrorCode } from '../link/protocol';

const STATUS: Record<LinkErrorCode, number> = {
  unauthorized: 401,
  bad_request: 400,
  amount_out_of_range: 422,
  currency_mismatch: 422,
  method_not_enabled: 422,
  not_found: 404,
  conflict: 409,
  already_refunded: 409,
  void_window_closed: 422,
  refund_window_closed: 422,
  not_refundable: 422,
  omise_unavailable: 503,
  storage_unavailable: 503,
  too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
};

/** An error answered to a terminal as `{ error: { code, message } }`. Messages never hold secrets. */
export class LinkError extends Error {
  readonly status: number;
  constructor(
    readonly code: LinkErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LinkError';
    this.status = STATUS[code];
  }
}
