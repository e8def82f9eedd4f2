/**
 * The one retry policy of qrpos: exponential backoff with "equal jitter" (each delay is at least
 * half its step, so a fleet does not retry in lockstep), plus the server's `Retry-After` when it
 * names one. Used by the terminal's link (reconnects, outbox, record sync), the Omise client
 * (HTTP 429) and the drivers that reopen a lost device (`Backoff`).
 * Not a retry library: exponential-backoff has no Retry-After and no equal jitter, and our callers
 * run their own loops and timers (docs/architecture.md, "Libraries and hand-written code").
 */

/** Delay before retry number `attempt` (0-based): step = min(maxMs, baseMs·2^attempt), delay in [step/2, step]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, rand: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(ceiling / 2 + rand() * (ceiling / 2));
}

/**
 * A `Retry-After` header value as a wait in ms: delta-seconds ("120") or an HTTP date
 * ("Wed, 21 Oct 2015 07:28:00 GMT", compared with `nowMs`). Undefined when absent or unreadable;
 * a date in the past is 0.
 */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * The wait before the next retry: the server's Retry-After when given (never less than it),
 * else the jittered backoff.
 */
export function nextRetryDelay(attempt: number, policy: { baseMs: number; maxMs: number }, retryAfter: number | undefined, rand: () => number = Math.random): number {
  return retryAfter !== undefined ? retryAfter : backoffDelay(attempt, policy.baseMs, policy.maxMs, rand);
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/**
 * Reopen scheduling for the drivers that lose their device (HID keypad, GPIO, serial): one pending
 * attempt at a time, delays from `backoffDelay` growing from minMs to maxMs, reset on success or
 * when something says the device may be back (a new /dev node).
 */
export class Backoff {
  private attempt = 0;
  private handle: unknown = null;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly timers: Timers = realTimers,
    private readonly rand: () => number = Math.random,
  ) {}

  get pending(): boolean {
    return this.handle !== null;
  }

  /** Run fn after the next backoff delay (or exactly `ms`), replacing any pending run. */
  schedule(fn: () => void, ms?: number): void {
    this.cancel();
    const wait = ms ?? backoffDelay(this.attempt++, this.opts.minMs, this.opts.maxMs, this.rand);
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      fn();
    }, wait);
  }

  cancel(): void {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
  }

  reset(): void {
    this.attempt = 0;
  }
}
