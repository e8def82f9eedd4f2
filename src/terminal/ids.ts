/** node:crypto, loaded at the first id: not before the terminal's first frame (it is a large module). */
let crypto: typeof import('node:crypto') | undefined;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * ULID-like id: 10 chars of time (ms, Crockford base32) + 16 random chars. Sorts by creation
 * time, which keeps journal listings and relay lookups in order without a second column.
 */
export function newId(now: number = Date.now()): string {
  let t = Math.max(0, Math.floor(now));
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  crypto ??= require('node:crypto') as typeof import('node:crypto');
  const bytes = crypto.randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i] % 32];
  return time + rand;
}
