import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../shared/testing/fuzz';
import { signWebhook, verifyWebhookSignature } from './webhook-signature';

const secret = fc.uint8Array({ minLength: 16, maxLength: 48 }).map((b) => Buffer.from(b).toString('base64'));
const NOW = 1_765_000_000;

describe('webhook signatures (fuzz)', () => {
  it('a signature made with a current or previous secret verifies; one changed byte of the body does not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), secret, secret, fc.integer({ min: -300, max: 300 }), fc.boolean(), fc.nat(), (bytes, current, previous, skew, upper, flip) => {
        fc.pre(current !== previous);
        const body = Buffer.from(bytes);
        const ts = NOW + skew;
        const sig = signWebhook(body, previous, ts);
        const params = { rawBody: body, signature: upper ? sig.toUpperCase() : sig, timestamp: String(ts), secrets: [current, previous], nowSec: NOW };
        expect(verifyWebhookSignature(params)).toEqual({ ok: true });
        if (body.length > 0) {
          const changed = Buffer.from(body);
          changed[flip % body.length] ^= 1 << (flip % 8);
          expect(verifyWebhookSignature({ ...params, rawBody: changed })).toEqual({ ok: false, reason: 'bad_signature' });
        }
        expect(verifyWebhookSignature({ ...params, secrets: [current] })).toEqual({ ok: false, reason: 'bad_signature' });
      }),
      fuzzParams(300),
    );
  });

  it('any headers: a typed verdict, never an exception, never ok without the secret', () => {
    const header = fc.option(fc.oneof(fc.string({ maxLength: 200 }), fc.stringMatching(/^[0-9a-fA-F]{64}(, ?[0-9a-f]{64}){0,9}$/), fc.constantFrom('', ' ', ',', '1e9', '-1', '0x10')), { nil: undefined });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), header, header, secret, (bytes, signature, timestamp, s) => {
        const v = verifyWebhookSignature({ rawBody: Buffer.from(bytes), signature, timestamp, secrets: [s, ''], nowSec: NOW });
        expect(v.ok).toBe(false);
        if (!v.ok) expect(['missing_signature', 'missing_timestamp', 'stale_timestamp', 'bad_signature', 'malformed']).toContain(v.reason);
      }),
      fuzzParams(1000),
    );
  });
});
