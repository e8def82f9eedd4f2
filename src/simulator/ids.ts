/**
 * Omise-style test-mode identifiers: `chrg_test_` + 19 lower-case base-36 characters, a
 * time-ordered head and a random tail (the seed's ids look like `chrg_test_611bij7kcn967m8wk55`),
 * and the 16 upper-case hex download token of a QR document URL.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const POOL_SIZE = 4096;

/** Random bytes drawn from a pool: one randomBytes call per few hundred ids keeps creation cheap. */
export class IdFactory {
  private pool = randomBytes(POOL_SIZE);
  private pos = 0;

  private bytes(n: number): Buffer {
    if (this.pos + n > this.pool.length) {
      this.pool = randomBytes(POOL_SIZE);
      this.pos = 0;
    }
    const out = this.pool.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** prefix e.g. 'chrg', 'src', 'docu', 'rfnd', 'evnt', 'trxn', 'whdl'. */
  id(prefix: string, nowMs: number): string {
    const head = Math.floor(nowMs / 1000)
      .toString(36)
      .padStart(7, '0')
      .slice(-7);
    const rnd = this.bytes(12);
    let tail = '';
    for (let i = 0; i < 12; i++) tail += ALPHABET[rnd[i] % 36];
    return `${prefix}_test_${head}${tail}`;
  }

  /** 16 upper-case hex characters. */
  downloadToken(): string {
    return this.bytes(8).toString('hex').toUpperCase();
  }

  /** Alphanumerics for QR payloads (mixed case, like Alipay+ order codes). */
  alnum(n: number): string {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const rnd = this.bytes(n);
    let out = '';
    for (let i = 0; i < n; i++) out += chars[rnd[i] % chars.length];
    return out;
  }
}

/** Omise writes times as ISO 8601 without milliseconds. */
export function omiseTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
