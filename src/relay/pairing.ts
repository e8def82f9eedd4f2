/**
 * Pairing: a terminal asks, shows a short code, the operator approves the code, the terminal
 * collects its credential with the pairing secret only it knows.
 *
 * The credential is derived from the pairing secret (HMAC), so the relay never stores it in
 * clear: at pairing time it keeps hashes of the secret and of the credential. A terminal whose
 * poll answer got lost polls again and derives the same credential; nothing needs to be re-issued.
 */
import crypto from 'node:crypto';
import type { PairPoll, PairRequest, PairStarted } from '../link/protocol';
import { limitKey, refill, secondsUntilToken, type BucketRule } from './rate-limit';
import type { PairingRow, RelayStore, TerminalRow } from './store';

/** Credentials and secrets carry the qrt_ prefix so the shared logger redacts them wherever they appear. */
const CREDENTIAL_PREFIX = 'qrt_';
/** No 0/O, 1/I/L: the operator reads the code off a small screen. */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const CODE_LENGTH = 6;
/** After approval the terminal may collect (again) for this long. */
const COLLECT_WINDOW_MS = 60 * 60_000;

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

export function randomToken(bytes = 32): string {
  return CREDENTIAL_PREFIX + crypto.randomBytes(bytes).toString('base64url');
}

export function deriveCredential(pairingSecret: string): string {
  return CREDENTIAL_PREFIX + crypto.createHmac('sha256', pairingSecret).update('qrpos terminal credential v1').digest('base64url');
}

function randomCode(): string {
  const bytes = crypto.randomBytes(CODE_LENGTH);
  let s = '';
  for (const b of bytes) s += CODE_ALPHABET[b % CODE_ALPHABET.length];
  return s;
}

/** Operators type codes with or without the dash, in any case. */
export function normaliseCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

export function formatCode(code: string): string {
  return `${code.slice(0, 3)}-${code.slice(3)}`;
}

export class PairingError extends Error {
  constructor(
    readonly code: 'not_found' | 'too_many' | 'revoked',
    message: string,
    /** With too_many: when asking again may succeed. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'PairingError';
  }
}

export interface PairingLimits {
  codeTtlMs: number;
  /** Pending codes at once, all addresses together. */
  maxPending: number;
  /** The rest default to the config's defaults (the CLI only approves and rejects). */
  maxPendingPerAddress?: number;
  perAddress?: BucketRule;
  global?: BucketRule;
}

const ADDRESS_BUCKET = 'pair:';
const GLOBAL_BUCKET = 'pair*';
/** An address with its full share of codes waiting: the operator decides within minutes. */
const PENDING_RETRY_SECONDS = 60;
const PRUNE_EVERY_MS = 3600_000;

export class Pairing {
  private lastPruneMs = 0;
  private readonly opts: Required<PairingLimits>;
  constructor(
    private readonly store: RelayStore,
    private readonly clock: () => Date,
    limits: PairingLimits,
  ) {
    this.opts = { maxPendingPerAddress: 5, perAddress: { burst: 10, perMinute: 1 }, global: { burst: 60, perMinute: 60 }, ...limits };
  }

  /**
   * A refused request takes no token and writes nothing; an accepted one stores both buckets in
   * the transaction that stores the pairing (no extra fsync), so the limits survive a restart.
   */
  async start(req: PairRequest, address: string | null): Promise<PairStarted> {
    const now = this.clock();
    const nowMs = now.getTime();
    const sourceKey = limitKey(address);
    const pairingSecret = randomToken(32);
    // Proof of the old credential names the terminal this device was; a wrong one is ignored.
    const prev = await terminalOfCredential(this.store, req.previousCredential);
    return this.store.transaction(async () => {
      const mine = refill(await this.store.rateBucket(ADDRESS_BUCKET + sourceKey), this.opts.perAddress, nowMs);
      if (mine < 1) {
        throw new PairingError('too_many', 'too many pairing requests from this address; try again later', secondsUntilToken(mine, this.opts.perAddress));
      }
      if ((await this.store.countPendingPairingsFrom(sourceKey, now.toISOString())) >= this.opts.maxPendingPerAddress) {
        throw new PairingError('too_many', 'this address already has pairing codes waiting for an operator; try again later', PENDING_RETRY_SECONDS);
      }
      const all = refill(await this.store.rateBucket(GLOBAL_BUCKET), this.opts.global, nowMs);
      if (all < 1) throw new PairingError('too_many', 'the relay is busy with pairing requests; try again shortly', secondsUntilToken(all, this.opts.global));
      // Every slot taken (by many addresses): the busiest one gives up its oldest code, so a new
      // address still gets one.
      if ((await this.store.countPendingPairings(now.toISOString())) >= this.opts.maxPending) await this.store.expireBusiestPendingPairing(now.toISOString());
      await this.store.saveRateBucket(ADDRESS_BUCKET + sourceKey, { tokens: mine - 1, atMs: nowMs });
      await this.store.saveRateBucket(GLOBAL_BUCKET, { tokens: all - 1, atMs: nowMs });
      if (nowMs - this.lastPruneMs > PRUNE_EVERY_MS) {
        this.lastPruneMs = nowMs;
        // A bucket unused for as long as it takes to fill is full again: forgetting it changes nothing.
        const fillMs = (r: BucketRule) => (r.burst / r.perMinute) * 60_000;
        await this.store.pruneRateBuckets(nowMs - Math.ceil(Math.max(fillMs(this.opts.perAddress), fillMs(this.opts.global))));
      }
      let code = randomCode();
      for (let i = 0; i < 10 && (await this.store.pendingPairingByCode(code, now.toISOString())); i++) code = randomCode();
      const row: PairingRow = {
        id: 'pair_' + crypto.randomBytes(12).toString('hex'),
        code,
        secretHash: hashToken(pairingSecret),
        credentialHash: hashToken(deriveCredential(pairingSecret)),
        name: req.name,
        version: req.version,
        device: req.device ?? null,
        address,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + this.opts.codeTtlMs).toISOString(),
        status: 'pending',
        terminalId: null,
        decidedAt: null,
        replacesTerminalId: prev?.id ?? null,
        sourceKey,
      };
      await this.store.insertPairing(row);
      return { pairingId: row.id, code: formatCode(code), pairingSecret, expiresAt: row.expiresAt };
    });
  }

  /** Undefined when the id is unknown or the secret is wrong (the caller answers 404 either way). */
  async poll(pairingId: string, pairingSecret: string): Promise<PairPoll | undefined> {
    const p = await this.store.pairingById(pairingId);
    if (!p) return undefined;
    const given = Buffer.from(hashToken(pairingSecret), 'hex');
    if (!crypto.timingSafeEqual(given, Buffer.from(p.secretHash, 'hex'))) return undefined;
    const now = this.clock();
    if (p.status === 'rejected') return { status: 'rejected' };
    if (p.status === 'approved') {
      const t = p.terminalId ? await this.store.terminalById(p.terminalId) : undefined;
      if (!t || t.revokedAt) return { status: 'rejected' };
      if (p.decidedAt && now.getTime() - Date.parse(p.decidedAt) > COLLECT_WINDOW_MS) return { status: 'expired' };
      return { status: 'approved', terminalId: t.id, credential: deriveCredential(pairingSecret), name: t.name };
    }
    if (Date.parse(p.expiresAt) <= now.getTime()) return { status: 'expired' };
    return { status: 'pending', expiresAt: p.expiresAt };
  }

  /**
   * The operator's approval: creates the terminal. Under the code's lock: two relays sharing the
   * store never both approve one code (two terminals for one device).
   */
  approve(code: string, name?: string): Promise<TerminalRow> {
    const norm = normaliseCode(code);
    return this.store.lock(`pairing:${norm}`, () => this.approveLocked(norm, name));
  }

  private approveLocked(norm: string, name?: string): Promise<TerminalRow> {
    const now = this.clock().toISOString();
    return this.store.transaction(async () => {
      const p = await this.store.pendingPairingByCode(norm, now);
      if (!p) throw new PairingError('not_found', `no pending pairing with code ${formatCode(norm)} (expired, already decided, or mistyped)`);
      const id = 'term_' + crypto.randomBytes(8).toString('hex');
      await this.store.insertTerminal({
        id,
        name: name ?? p.name,
        credentialHash: p.credentialHash,
        createdAt: now,
        revokedAt: null,
        lastSeenAt: null,
        version: p.version,
        device: p.device,
        address: p.address,
        predecessorId: p.replacesTerminalId ?? null,
      });
      await this.store.decidePairing(p.id, 'approved', id, now);
      return (await this.store.terminalById(id))!;
    });
  }

  async reject(code: string): Promise<void> {
    const norm = normaliseCode(code);
    await this.store.lock(`pairing:${norm}`, async () => {
      const now = this.clock().toISOString();
      const p = await this.store.pendingPairingByCode(norm, now);
      if (!p) throw new PairingError('not_found', `no pending pairing with code ${code}`);
      await this.store.decidePairing(p.id, 'rejected', null, now);
    });
  }
}

/** The terminal a credential belongs to, revoked or not. */
async function terminalOfCredential(store: RelayStore, credential: string | undefined): Promise<TerminalRow | undefined> {
  if (!credential || !credential.startsWith(CREDENTIAL_PREFIX) || credential.length > 200) return undefined;
  return store.terminalByCredentialHash(hashToken(credential));
}

/** True when the credential is a terminal's that was revoked (a 401 can then say why). */
export async function isRevokedCredential(store: RelayStore, credential: string | undefined): Promise<boolean> {
  return Boolean((await terminalOfCredential(store, credential))?.revokedAt);
}

/** Looks a bearer credential up; undefined when unknown or revoked. */
export async function authenticate(store: RelayStore, credential: string | undefined): Promise<TerminalRow | undefined> {
  const t = await terminalOfCredential(store, credential);
  return t && !t.revokedAt ? t : undefined;
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
