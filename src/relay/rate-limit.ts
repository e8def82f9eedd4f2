/**
 * Limits on the unauthenticated endpoints (pairing and its poll): token buckets per source
 * address and one global bucket. A flood from one address only slows that address; a flood from
 * many is slowed as a whole (429 with Retry-After), but pairing never closes for everyone.
 *
 * Source addresses: IPv4 addresses count one by one; IPv6 addresses by their /64 (one host
 * usually owns a whole /64). X-Forwarded-For is read only when the peer is a trusted proxy.
 */
import net from 'node:net';
import type { IncomingMessage } from 'node:http';

/** A bucket as stored: `tokens` as of `atMs`. */
export interface BucketState {
  tokens: number;
  atMs: number;
}

export interface BucketRule {
  /** Largest burst (the bucket's size). */
  burst: number;
  /** Tokens added per minute. */
  perMinute: number;
}

/** The bucket's tokens at `nowMs`, refilled since it was stored (a bucket never seen is full). */
export function refill(state: BucketState | undefined, rule: BucketRule, nowMs: number): number {
  if (!state) return rule.burst;
  const elapsed = Math.max(0, nowMs - state.atMs);
  return Math.min(rule.burst, state.tokens + (elapsed * rule.perMinute) / 60_000);
}

/** Whole seconds until the bucket holds one token again. */
export function secondsUntilToken(tokens: number, rule: BucketRule): number {
  if (tokens >= 1) return 0;
  return Math.max(1, Math.ceil(((1 - tokens) * 60) / rule.perMinute));
}

/** In memory only: for cheap endpoints whose limit may start over after a restart. */
export class MemoryBuckets {
  private readonly buckets = new Map<string, BucketState>();
  constructor(
    private readonly rule: BucketRule,
    private readonly clock: () => Date,
    private readonly maxKeys = 10_000,
  ) {}

  /** 0 when the request may go on (a token is taken), else the seconds to wait. */
  take(key: string): number {
    const now = this.clock().getTime();
    const tokens = refill(this.buckets.get(key), this.rule, now);
    if (tokens < 1) return secondsUntilToken(tokens, this.rule);
    this.buckets.delete(key);
    if (this.buckets.size >= this.maxKeys) this.prune(now);
    this.buckets.set(key, { tokens: tokens - 1, atMs: now });
    return 0;
  }

  /** Drops buckets that are full again; if none is, the oldest (a map keeps insertion order). */
  private prune(nowMs: number): void {
    for (const [k, s] of this.buckets) if (refill(s, this.rule, nowMs) >= this.rule.burst) this.buckets.delete(k);
    while (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
  }
}

const LOOPBACK_PROXIES = ['127.0.0.0/8', '::1/128'];

/**
 * Which peers may tell the client's address in X-Forwarded-For: `false` none, `true` loopback
 * only (a reverse proxy on the same host), or a list of addresses and CIDRs.
 */
export class ProxyTrust {
  private readonly list: net.BlockList | null;
  constructor(setting: boolean | string[]) {
    const entries = setting === true ? LOOPBACK_PROXIES : setting === false ? [] : setting;
    if (!entries.length) {
      this.list = null;
      return;
    }
    this.list = new net.BlockList();
    for (const e of entries) {
      const { address, prefix, family } = parseCidr(e);
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, prefix, family);
    }
  }

  trusts(address: string): boolean {
    if (!this.list) return false;
    const a = unmapV4(address);
    const family = net.isIPv4(a) ? 'ipv4' : net.isIPv6(a) ? 'ipv6' : null;
    return family !== null && this.list.check(a, family);
  }

  /**
   * The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
   * address in X-Forwarded-For that is not itself a trusted proxy (entries left of it can be
   * made up by the client).
   */
  clientAddress(req: IncomingMessage): string | null {
    const peer = req.socket.remoteAddress ? unmapV4(req.socket.remoteAddress) : null;
    if (!peer || !this.trusts(peer)) return peer;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapV4(hops[i]);
      if (net.isIP(hop) === 0) return peer;
      if (!this.trusts(hop)) return hop;
    }
    return peer;
  }
}

/** "10.0.0.0/8", "fd00::/8" or a single address; throws on anything else (used by the config check). */
export function parseCidr(text: string): { address: string; prefix: number | undefined; family: 'ipv4' | 'ipv6' } {
  const [address, bits, ...rest] = text.trim().split('/');
  const kind = net.isIP(address);
  if (kind === 0 || rest.length) throw new Error('an IP address or CIDR (e.g. 10.0.0.5 or 10.0.0.0/8)');
  const max = kind === 4 ? 32 : 128;
  let prefix: number | undefined;
  if (bits !== undefined) {
    prefix = Number(bits);
    if (!/^\d{1,3}$/.test(bits) || prefix > max) throw new Error(`a prefix length from 0 to ${max}`);
  }
  return { address, prefix, family: kind === 4 ? 'ipv4' : 'ipv6' };
}

function unmapV4(address: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address) ? address.slice(7) : address;
}

/** The key an address is limited under: IPv4 as is, IPv6 by its /64. */
export function limitKey(address: string | null): string {
  if (!address) return 'unknown';
  const unmapped = unmapV4(address);
  if (!net.isIPv6(unmapped)) return unmapped;
  // A dotted IPv4 tail (::1:0:0:1.2.3.4) is two groups: counted as one, every group would shift.
  const a = unmapped.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, w: string, x: string, y: string, z: string) => `${((+w << 8) | +x).toString(16)}:${((+y << 8) | +z).toString(16)}`);
  const [head, tail = ''] = a.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return (
    groups
      .slice(0, 4)
      .map((g) => (parseInt(g, 16) || 0).toString(16))
      .join(':') + '::/64'
  );
}
