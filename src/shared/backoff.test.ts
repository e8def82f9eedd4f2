import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, nextRetryDelay, retryAfterMs, type Timers } from './backoff';

describe('backoffDelay (the one retry policy)', () => {
  it('grows exponentially, is capped, and is jittered within the upper half of each step', () => {
    expect(backoffDelay(0, 500, 30_000, () => 0)).toBe(250);
    expect(backoffDelay(0, 500, 30_000, () => 1)).toBe(500);
    expect(backoffDelay(3, 500, 30_000, () => 1)).toBe(4000);
    expect(backoffDelay(30, 500, 30_000, () => 0.5)).toBe(22_500);
    expect(backoffDelay(10_000, 500, 30_000, () => 1)).toBe(30_000);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-06T10:00:00Z');
  it('reads delta-seconds and HTTP dates', () => {
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Sun, 06 Dec 2026 10:00:07 GMT', now)).toBe(7000);
    expect(retryAfterMs('Sun, 06 Dec 2026 09:59:00 GMT', now)).toBe(0);
  });
  it('ignores what it cannot read', () => {
    for (const v of [null, undefined, '', '-1', '1.5', 'soon']) expect(retryAfterMs(v, now)).toBeUndefined();
  });
  it('the server’s Retry-After wins over the backoff', () => {
    expect(nextRetryDelay(5, { baseMs: 100, maxMs: 1000 }, 2500, () => 0)).toBe(2500);
    expect(nextRetryDelay(1, { baseMs: 100, maxMs: 1000 }, undefined, () => 1)).toBe(200);
  });
});

describe('Backoff (driver reopen scheduling)', () => {
  function fakeTimers(): Timers & { waits: number[]; fire(): void } {
    let pending: (() => void) | null = null;
    const waits: number[] = [];
    return {
      waits,
      setTimeout: (fn, ms) => {
        pending = fn;
        waits.push(ms);
        return 1;
      },
      clearTimeout: () => {
        pending = null;
      },
      fire: () => pending?.(),
    };
  }
  it('uses the policy’s delays, one pending run at a time, and starts over after reset', () => {
    const t = fakeTimers();
    const b = new Backoff({ minMs: 1000, maxMs: 4000 }, t, () => 1);
    let runs = 0;
    for (let i = 0; i < 4; i++) b.schedule(() => runs++);
    expect(t.waits).toEqual([1000, 2000, 4000, 4000]);
    expect(b.pending).toBe(true);
    t.fire();
    expect(runs).toBe(1);
    expect(b.pending).toBe(false);
    b.reset();
    b.schedule(() => runs++);
    b.schedule(() => runs++, 20);
    expect(t.waits.slice(4)).toEqual([1000, 20]);
    b.cancel();
    expect(b.pending).toBe(false);
  });
});
