import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryAfterMs } from './backoff';
import { fuzzParams } from './testing/fuzz';

const NOW = Date.UTC(2026, 11, 6, 12, 0, 0);

describe('Retry-After (fuzz)', () => {
  it('seconds and HTTP dates round-trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: -86_400, max: 86_400 * 365 }), (seconds, ahead) => {
        expect(retryAfterMs(String(seconds), NOW)).toBe(seconds * 1000);
        expect(retryAfterMs(` ${seconds} `, NOW)).toBe(seconds * 1000);
        expect(retryAfterMs(new Date(NOW + ahead * 1000).toUTCString(), NOW)).toBe(Math.max(0, ahead * 1000));
      }),
      fuzzParams(500),
    );
  });

  it('any header value: a wait of zero or more milliseconds, or none', () => {
    fc.assert(
      fc.property(fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('-1', '1.5', '1e3', '0x10', 'Infinity', 'NaN', '9'.repeat(20), 'Mon, 99 Foo 2026 99:99:99 GMT')), { nil: undefined }), (v) => {
        const ms = retryAfterMs(v, NOW);
        if (ms !== undefined) {
          expect(Number.isFinite(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(0);
        }
      }),
      fuzzParams(1000),
    );
  });
});
