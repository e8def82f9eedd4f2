/**
 * Who may call the relay: terminal credentials (with a last-seen note, written at most every
 * 10 s), the admin token, and the per-address limits on wrong credentials and pairing polls
 * (answered 429 with Retry-After).
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import type { Logger } from '../shared/log';
import { LinkError } from './errors';
import type { GroupCommit } from './group-commit';
import { sendJson } from './http';
import type { RelayMetrics } from './metrics';
import { authenticate, bearer, isRevokedCredential } from './pairing';
import { limitKey, MemoryBuckets, type BucketRule, type ProxyTrust } from './rate-limit';
import type { RelayStore, TerminalRow } from './store';

/** Writing last-seen on every request would cost an fsync each; this is precise enough. */
const TOUCH_EVERY_MS = 10_000;
/** A terminal polls its pairing every 2 s; several pairing behind one NAT still fit. */
const POLL_RULE: BucketRule = { burst: 60, perMinute: 300 };
/** Requests with a missing or unknown credential, per address. */
const AUTH_FAIL_RULE: BucketRule = { burst: 20, perMinute: 20 };

/** Answered 429 with Retry-After. */
export class RateLimited extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
    this.name = 'RateLimited';
  }
}

function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export interface AccessOptions {
  store: RelayStore;
  proxies: ProxyTrust;
  commit: GroupCommit;
  metrics: RelayMetrics;
  log: Logger;
  clock: () => Date;
  /** Read on every admin request: a secrets reload swaps it. */
  adminToken: () => string;
}

export class Access {
  /** Polls cost a hash and a read each: limited per address in memory (they refill in seconds). */
  readonly pollLimit: MemoryBuckets;
  private readonly authFails: MemoryBuckets;
  private readonly lastTouch = new Map<string, number>();

  constructor(private readonly o: AccessOptions) {
    this.pollLimit = new MemoryBuckets(POLL_RULE, o.clock);
    this.authFails = new MemoryBuckets(AUTH_FAIL_RULE, o.clock);
  }

  /** The caller's address (behind a trusted proxy: the one it names). */
  address(req: http.IncomingMessage): string | null {
    return this.o.proxies.clientAddress(req);
  }

  /**
   * A missing or unknown credential takes a token of its address's bucket; once it is empty the
   * address gets 429 instead of 401 (a revoked terminal still hears why: it is not counted).
   * Returns the seconds to wait (0: go on).
   */
  wrongCredential(req: http.IncomingMessage): number {
    return this.authFails.take(limitKey(this.address(req)));
  }

  /** The terminal whose credential the request carries, or 401 (429 when its address keeps trying). */
  async terminal(req: http.IncomingMessage): Promise<TerminalRow> {
    const { store } = this.o;
    const t = await authenticate(store, bearer(req.headers.authorization));
    if (!t) {
      if (!(await isRevokedCredential(store, bearer(req.headers.authorization)))) this.throwIfLimited(req);
      throw new LinkError('unauthorized', 'missing, unknown or revoked terminal credential');
    }
    const now = Date.now();
    if ((this.lastTouch.get(t.id) ?? 0) + TOUCH_EVERY_MS < now) {
      this.lastTouch.set(t.id, now);
      const v = req.headers['x-qrpos-version'];
      const info = { address: this.address(req), version: typeof v === 'string' ? v.slice(0, 128) : null };
      const at = this.o.clock().toISOString();
      this.o.commit.run(() => store.touchTerminal(t.id, at, info)).catch((err: unknown) => this.o.log.warn('could not record last-seen time', { error: err }));
    }
    return t;
  }

  requireAdmin(req: http.IncomingMessage): void {
    const token = bearer(req.headers.authorization);
    if (!token || !safeEqual(token, this.o.adminToken())) {
      this.throwIfLimited(req);
      throw new LinkError('unauthorized', 'admin token required');
    }
  }

  tooMany(res: http.ServerResponse, message: string, retryAfterSeconds: number): void {
    this.o.metrics.rateLimited.inc();
    res.setHeader('retry-after', String(retryAfterSeconds));
    sendJson(res, 429, { error: { code: 'too_many', message } });
  }

  private throwIfLimited(req: http.IncomingMessage): void {
    const wait = this.wrongCredential(req);
    if (wait > 0) throw new RateLimited(wait, 'too many requests with a wrong credential from this address; slow down');
  }
}
