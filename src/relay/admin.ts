/**
 * Operator actions on terminals, inside the server: the admin HTTP API calls them, and the
 * `qrpos relay terminals` CLI reaches them only through that API (never the database itself).
 */
import type { PaymentMethod } from '../domain/methods';
import { TerminalNameSchema } from '../link/protocol';
import type { Pairing } from './pairing';
import { cancelOpenSales } from './revocation';
import type { RelayStore, StoredEvent, TerminalRow } from './store';

export interface TerminalSummary {
  id: string;
  name: string;
  online: boolean;
  lastSeenAt: string | null;
  version: string | null;
  device: string | null;
  address: string | null;
  createdAt: string;
  revoked: boolean;
  revokedAt: string | null;
  /** Events stored and not yet acknowledged by the terminal. */
  unackedEvents: number;
  /** The terminal this one replaced when its device paired again. */
  replaces: string | null;
  /** The payment methods it may charge with, from the relay config's `methods` (methodsOfTerminal). */
  methods: PaymentMethod[];
}

/** A pairing code waiting for the operator, as the admin API shows it. */
export interface PendingPairing {
  code: string;
  name: string;
  version: string;
  device: string | null;
  address: string | null;
  expiresAt: string;
}

export interface TerminalAdminOptions {
  store: RelayStore;
  pairing: Pairing;
  clock: () => Date;
  /** Live knowledge from the server; the CLI infers from last-seen times instead. */
  isConnected?: (terminalId: string) => boolean;
  heartbeatMs: number;
  /** A terminal's enabled payment methods: methodsOfTerminal over the relay config's `methods`. */
  methodsOf: (t: { id: string; name: string }) => PaymentMethod[];
  onPublished?: (events: StoredEvent[]) => void;
  onRevoked?: (terminalId: string) => void;
}

/** An operator-supplied terminal name that cannot be stored (empty, too long, control characters). */
export class InvalidNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidNameError';
  }
}

function checkedName(name: string): string {
  const r = TerminalNameSchema.safeParse(name);
  if (!r.success) throw new InvalidNameError(`terminal name ${r.error.issues[0]?.message ?? 'is not valid'} (1–64 characters, no control characters)`);
  return r.data;
}

export class TerminalAdmin {
  constructor(private readonly o: TerminalAdminOptions) {}

  summary(t: TerminalRow): TerminalSummary {
    const now = this.o.clock().getTime();
    const online = this.o.isConnected
      ? this.o.isConnected(t.id)
      : !t.revokedAt && t.lastSeenAt !== null && now - Date.parse(t.lastSeenAt) <= 2 * this.o.heartbeatMs;
    return {
      id: t.id,
      name: t.name,
      online,
      lastSeenAt: t.lastSeenAt,
      version: t.version,
      device: t.device,
      address: t.address,
      createdAt: t.createdAt,
      revoked: t.revokedAt !== null,
      revokedAt: t.revokedAt,
      unackedEvents: Math.max(0, t.lastSeq - t.ackedSeq),
      replaces: t.predecessorId ?? null,
      methods: this.o.methodsOf(t),
    };
  }

  async list(): Promise<TerminalSummary[]> {
    return (await this.o.store.listTerminals()).map((t) => this.summary(t));
  }

  async pendingPairings(): Promise<PendingPairing[]> {
    return (await this.o.store.listPendingPairings(this.o.clock().toISOString())).map((p) => ({
      code: `${p.code.slice(0, 3)}-${p.code.slice(3)}`,
      name: p.name,
      version: p.version,
      device: p.device,
      address: p.address,
      expiresAt: p.expiresAt,
    }));
  }

  /** Approving a device that proved its old credential revokes the terminal it replaces. */
  async approve(code: string, name?: string): Promise<TerminalSummary> {
    const t = await this.o.pairing.approve(code, name === undefined ? undefined : checkedName(name));
    if (t.predecessorId) await this.revoke(t.predecessorId);
    return this.summary(t);
  }

  reject(code: string): Promise<void> {
    return this.o.pairing.reject(code);
  }

  /** Undefined when there is no such terminal. */
  async rename(id: string, newName: string): Promise<TerminalSummary | undefined> {
    const name = checkedName(newName);
    const at = this.o.clock().toISOString();
    const events: StoredEvent[] = [];
    const t = await this.o.store.transaction(async () => {
      if (!(await this.o.store.renameTerminal(id, name, at))) return undefined;
      const fresh = (await this.o.store.terminalById(id))!;
      if (!fresh.revokedAt) events.push(await this.o.store.publish(id, at, { kind: 'terminal.updated', name, revoked: false }));
      return fresh;
    });
    if (events.length) this.o.onPublished?.(events);
    return t && this.summary(t);
  }

  /**
   * Revokes at once: the credential stops working, open streams are closed, and every open sale is
   * marked for expiry in the same transaction (the server's reconciler sends the expiries).
   */
  async revoke(id: string): Promise<TerminalSummary | undefined> {
    const events: StoredEvent[] = [];
    // Under the terminal's lock: two relays sharing the store revoke it (and publish it) once.
    const t = await this.o.store.lock(`revoke:${id}`, () => {
      const at = this.o.clock().toISOString();
      return this.o.store.transaction(async () => {
        const before = await this.o.store.terminalById(id);
        if (!before) return undefined;
        if (await this.o.store.revokeTerminal(id, at)) {
          events.push(await this.o.store.publish(id, at, { kind: 'terminal.updated', name: before.name, revoked: true }));
          await cancelOpenSales(this.o.store, id, at);
        }
        return (await this.o.store.terminalById(id))!;
      });
    });
    if (events.length) this.o.onPublished?.(events);
    if (t) this.o.onRevoked?.(id);
    return t && this.summary(t);
  }
}
