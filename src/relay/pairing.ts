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
  ) {
    super(message);
    this.name = 'PairingError';
  }
}

export class Pairing {
  constructor(
    private readonly store: RelayStore,
    private readonly clock: () => Date,
    private readonly opts: { codeTtlMs: number; maxPending: number },
  ) {}

  start(req: PairRequest, address: string | null): PairStarted {
    const now = this.clock();
    const pairingSecret = randomToken(32);
    // Proof of the old credential names the terminal this device was; a wrong one is ignored.
    const prev = terminalOfCredential(this.store, req.previousCredential);
    return this.store.transaction(() => {
      if (this.store.countPendingPairings(now.toISOString()) >= this.opts.maxPending) {
        throw new PairingError('too_many', 'too many pairing requests are waiting for an operator; try again later');
      }
      let code = randomCode();
      for (let i = 0; i < 10 && this.store.pendingPairingByCode(code, now.toISOString()); i++) code = randomCode();
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
      };
      this.store.insertPairing(row);
      return { pairingId: row.id, code: formatCode(code), pairingSecret, expiresAt: row.expiresAt };
    });
  }

  /** Undefined when the id is unknown or the secret is wrong (the caller answers 404 either way). */
  poll(pairingId: string, pairingSecret: string): PairPoll | undefined {
    const p = this.store.pairingById(pairingId);
    if (!p) return undefined;
    const given = Buffer.from(hashToken(pairingSecret), 'hex');
    if (!crypto.timingSafeEqual(given, Buffer.from(p.secretHash, 'hex'))) return undefined;
    const now = this.clock();
    if (p.status === 'rejected') return { status: 'rejected' };
    if (p.status === 'approved') {
      const t = p.terminalId ? this.store.terminalById(p.terminalId) : undefined;
      if (!t || t.revokedAt) return { status: 'rejected' };
      if (p.decidedAt && now.getTime() - Date.parse(p.decidedAt) > COLLECT_WINDOW_MS) return { status: 'expired' };
      return { status: 'approved', terminalId: t.id, credential: deriveCredential(pairingSecret), name: t.name };
    }
    if (Date.parse(p.expiresAt) <= now.getTime()) return { status: 'expired' };
    return { status: 'pending', expiresAt: p.expiresAt };
  }

  /** The operator's approval: creates the terminal. */
  approve(code: string, name?: string): TerminalRow {
    const now = this.clock().toISOString();
    const norm = normaliseCode(code);
    return this.store.transaction(() => {
      const p = this.store.pendingPairingByCode(norm, now);
      if (!p) throw new PairingError('not_found', `no pending pairing with code ${formatCode(norm)} (expired, already decided, or mistyped)`);
      const id = 'term_' + crypto.randomBytes(8).toString('hex');
      this.store.insertTerminal({
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
      this.store.decidePairing(p.id, 'approved', id, now);
      return this.store.terminalById(id)!;
    });
  }

  reject(code: string): void {
    const now = this.clock().toISOString();
    const p = this.store.pendingPairingByCode(normaliseCode(code), now);
    if (!p) throw new PairingError('not_found', `no pending pairing with code ${code}`);
    this.store.decidePairing(p.id, 'rejected', null, now);
  }
}

/** The terminal a credential belongs to, revoked or not. */
function terminalOfCredential(store: RelayStore, credential: string | undefined): TerminalRow | undefined {
  if (!credential || !credential.startsWith(CREDENTIAL_PREFIX) || credential.length > 200) return undefined;
  return store.terminalByCredentialHash(hashToken(credential));
}

/** True when the credential is a terminal's that was revoked (a 401 can then say why). */
export function isRevokedCredential(store: RelayStore, credential: string | undefined): boolean {
  return Boolean(terminalOfCredential(store, credential)?.revokedAt);
}

/** Looks a bearer credential up; undefined when unknown or revoked. */
export function authenticate(store: RelayStore, credential: string | undefined): TerminalRow | undefined {
  const t = terminalOfCredential(store, credential);
  return t && !t.revokedAt ? t : undefined;
}

export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}
