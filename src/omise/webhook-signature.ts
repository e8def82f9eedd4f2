/**
 * Omise webhook signatures: hex(HMAC-SHA256(base64decode(secret), timestamp + "." + raw body)),
 * sent in `Omise-Signature` (comma-separated during a secret rotation) with the Unix-seconds
 * timestamp in `Omise-Signature-Timestamp`. Verification must use the raw body bytes:
 * re-serialised JSON would not match.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'omise-signature';
export const TIMESTAMP_HEADER = 'omise-signature-timestamp';
export const DEFAULT_TOLERANCE_SEC = 300;

function hmac(rawBody: Buffer, key: Buffer, timestamp: string): Buffer {
  return createHmac('sha256', key).update(`${timestamp}.`).update(rawBody).digest();
}

/** Lower-case hex signature for one secret. */
export function signWebhook(rawBody: Buffer, secretBase64: string, timestampSec: number): string {
  return hmac(rawBody, Buffer.from(secretBase64, 'base64'), String(Math.floor(timestampSec))).toString('hex');
}

export type VerifyFailure = 'missing_signature' | 'missing_timestamp' | 'stale_timestamp' | 'bad_signature' | 'malformed';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

export interface VerifyParams {
  rawBody: Buffer;
  signature: string | undefined;
  timestamp: string | undefined;
  /** Base64 webhook secrets: the current one and, during a rotation, the previous one. */
  secrets: string[];
  nowSec?: number;
  toleranceSec?: number;
}

const HEX_SIG = /^[0-9a-fA-F]{64}$/;

export function verifyWebhookSignature(p: VerifyParams): VerifyResult {
  if (p.signature === undefined || p.signature.trim() === '') return { ok: false, reason: 'missing_signature' };
  if (p.timestamp === undefined || p.timestamp.trim() === '') return { ok: false, reason: 'missing_timestamp' };
  const ts = p.timestamp.trim();
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'malformed' };
  const now = p.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = p.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (Math.abs(now - Number(ts)) > tolerance) return { ok: false, reason: 'stale_timestamp' };
  const candidates = p.signature
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (candidates.length === 0 || candidates.length > 8 || !candidates.every((s) => HEX_SIG.test(s))) {
    return { ok: false, reason: 'malformed' };
  }
  const given = candidates.map((s) => Buffer.from(s.toLowerCase(), 'hex'));
  let matched = false;
  // Every comparison runs (no early exit) so timing does not reveal which secret matched.
  for (const secret of p.secrets) {
    if (secret === '') continue;
    const expected = hmac(p.rawBody, Buffer.from(secret, 'base64'), ts);
    for (const g of given) if (g.length === expected.length && timingSafeEqual(g, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: 'bad_signature' };
}
