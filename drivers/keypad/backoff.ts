/**
 * Reopen scheduling shared by the drivers that lose their device (HID keypad, GPIO, serial):
 * one pending attempt at a time, delays doubling from minMs to maxMs, reset on success or when
 * something says the device may be back (a new /dev node).
 */
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

export class Backoff {
  private delay: number;
  private handle: unknown = null;

  constructor(
    private readonly opts: BackoffOptions,
    private readonly timers: Timers = realTimers,
  ) {
    this.delay = opts.minMs;
  }

  get pending(): boolean {
    return this.handle !== null;
  }

  /** Next delay that `schedule()` would use. */
  get nextDelayMs(): number {
    return this.delay;
  }

  /** Run fn after the current delay (or `ms`), replacing any pending run; the delay then grows. */
  schedule(fn: () => void, ms?: number): void {
    this.cancel();
    const wait = ms ?? this.delay;
    if (ms === undefined) this.delay = Math.min(this.opts.maxMs, this.delay * 2);
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
    this.delay = this.opts.minMs;
  }
}
