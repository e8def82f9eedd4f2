/** Omise-style error objects ({object:"error", location, code, message}) and their HTTP status. */
import type { OmiseErrorBody } from '../omise/types';

export class SimError extends Error {
  /** Extra response headers (e.g. Retry-After on a 429). */
  readonly headers: Record<string, string> = {};
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SimError';
  }

  body(): OmiseErrorBody {
    return { object: 'error', location: `https://www.omise.co/api-errors#${this.code.replace(/_/g, '-')}`, code: this.code, message: this.message };
  }
}

export const authFailure = (): SimError => new SimError(401, 'authentication_failure', 'authentication failed');
export const notFound = (what: string, id: string): SimError => new SimError(404, 'not_found', `${what} ${id} was not found`);
export const badRequest = (message: string): SimError => new SimError(400, 'bad_request', message);
export const invalidCharge = (message: string): SimError => new SimError(400, 'invalid_charge', message);
