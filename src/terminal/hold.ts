/**
 * Holding new sales for the moment of an upgrade (`qrpos upgrade`, src/release/upgrade.ts): the
 * sale on screen (creating, showing its QR, its result) goes on to its end; keys that could start
 * another one are ignored and the screen says "Updating — one moment" until the hold is released
 * or runs out. The hold lives in memory only, with a short time to live that the upgrade renews
 * while it waits: an upgrade that dies leaves no terminal held for long, and a restart (the new
 * release starting) begins without one.
 */
import type { ScreenModel } from './screens/model';
import type { MachineState } from './sale-machine';

/** The longest hold one request can ask for. */
export const HOLD_MAX_SECONDS = 600;

export const HOLD_SCREEN: ScreenModel = {
  kind: 'message',
  title: 'Updating — one moment',
  lines: ['This terminal is being updated.', 'Sales start again by themselves in a moment.'],
  tone: 'info',
};

export interface HoldView {
  /** ISO time the hold runs out unless renewed. */
  until: string;
  reason: string;
}

export class SalesHold {
  private until = 0;
  private reason = '';

  constructor(private readonly clock: () => number) {}

  /** Holds for `seconds` from now (renewing replaces the end); 0 releases. */
  set(seconds: number, reason: string): HoldView | null {
    if (seconds <= 0) {
      this.until = 0;
      return null;
    }
    this.until = this.clock() + Math.min(seconds, HOLD_MAX_SECONDS) * 1000;
    this.reason = reason;
    return this.view();
  }

  active(): boolean {
    return this.until > this.clock();
  }

  view(): HoldView | null {
    return this.active() ? { until: new Date(this.until).toISOString(), reason: this.reason } : null;
  }
}

/** A sale the hold lets finish: recorded and being created, its QR on screen, or its result showing. */
export function saleOnScreen(state: MachineState): boolean {
  const k = state.mode.kind;
  return k === 'creating' || k === 'qr' || k === 'result';
}

/** Keys still reach the state machine while held only for the sale being paid (cancel on its QR). */
export function keysPassHold(state: MachineState): boolean {
  const k = state.mode.kind;
  return k === 'creating' || k === 'qr';
}

/** The body of POST /hold: {"seconds": 1-600, "reason": "..."}; a problem as text. */
export function parseHoldRequest(body: unknown): { seconds: number; reason: string } | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'expected a JSON object {"seconds": N, "reason": "..."}';
  const b = body as Record<string, unknown>;
  const seconds = b.seconds;
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 0 || seconds > HOLD_MAX_SECONDS) {
    return `seconds: a whole number from 0 (release) to ${HOLD_MAX_SECONDS}`;
  }
  const reason = b.reason === undefined ? 'update' : b.reason;
  if (typeof reason !== 'string' || reason.length > 200 || [...reason].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    return 'reason: text of at most 200 characters, on one line';
  }
  return { seconds, reason };
}
