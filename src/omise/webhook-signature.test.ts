import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './webhook-signature';

// Vector computed independently with:
//   printf '1700000000.{"a":1}' | openssl dgst -sha256 -mac HMAC -macopt hexkey:<hex of base64-decoded secret>
const SECRET = 'c2VjcmV0LWtleS0xMjM0NTY3ODkw'; // base64("secret-key-1234567890")
const OTHER = Buffer.from('another-secret-0987654321').toString('base64');
const BODY = Buffer.from('{"a":1}');
const TS = 1_700_000_000;
const EXPECTED = '6f3e1965c2ce8dadc70bc125790d73cfe7dc6bce5c0493d00d3a1d1bc508728e';

const verify = (over: Partial<Parameters<typeof verifyWebhookSignature>[0]> = {}) =>
  verifyWebhookSignature({ rawBody: BODY, signature: EXPECTED, timestamp: String(TS), secrets: [SECRET], nowSec: TS, ...over });

describe('webhook signature', () => {
  it('matches the independently computed vector', () => {
    expect(signWebhook(BODY, SECRET, TS)).toBe(EXPECTED);
    expect(verify()).toEqual({ ok: true });
  });

  it('accepts either of two comma-separated signatures (rotation) and either configured secret', () => {
    const oldSig = signWebhook(BODY, OTHER, TS);
    expect(verify({ signature: `${oldSig},${EXPECTED}` })).toEqual({ ok: true });
    expect(verify({ signature: `${EXPECTED}, ${oldSig}` })).toEqual({ ok: true });
    expect(verify({ signature: oldSig, secrets: [SECRET, OTHER] })).toEqual({ ok: true });
    expect(verify({ signature: EXPECTED.toUpperCase() })).toEqual({ ok: true });
  });

  it('rejects a tampered body, a wrong secret and a signature for another timestamp', () => {
    expect(verify({ rawBody: Buffer.from('{"a":2}') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ rawBody: Buffer.from('{"a": 1}') })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ secrets: [OTHER] })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ secrets: [] })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify({ timestamp: String(TS + 1), nowSec: TS + 1 })).toEqual({ ok: false, reason: 'bad_signature' });
    const flipped = EXPECTED.slice(0, -1) + (EXPECTED.endsWith('e') ? 'f' : 'e');
    expect(verify({ signature: flipped })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('enforces the 5-minute tolerance in both directions', () => {
    expect(verify({ nowSec: TS + 300 })).toEqual({ ok: true });
    expect(verify({ nowSec: TS - 300 })).toEqual({ ok: true });
    expect(verify({ nowSec: TS + 301 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verify({ nowSec: TS - 301 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verify({ nowSec: TS + 3600, toleranceSec: 7200 })).toEqual({ ok: true });
  });

  it('names missing and malformed headers', () => {
    expect(verify({ signature: undefined })).toEqual({ ok: false, reason: 'missing_signature' });
    expect(verify({ signature: '' })).toEqual({ ok: false, reason: 'missing_signature' });
    expect(verify({ timestamp: undefined })).toEqual({ ok: false, reason: 'missing_timestamp' });
    expect(verify({ timestamp: '17e8' })).toEqual({ ok: false, reason: 'malformed' });
    expect(verify({ signature: 'zz' + EXPECTED.slice(2) })).toEqual({ ok: false, reason: 'malformed' });
    expect(verify({ signature: EXPECTED.slice(0, 62) })).toEqual({ ok: false, reason: 'malformed' });
    expect(verify({ signature: ',,' })).toEqual({ ok: false, reason: 'malformed' });
  });
});
