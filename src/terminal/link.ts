/**
 * The terminal's side of the relay link: pairing, the event stream, the outbox worker that
 * delivers queued commands and records, status polling while the stream is down, and
 * reconciliation of unfinished sales. Everything it learns goes into the journal first; the
 * daemon hears about it afterwards through the callbacks.
 */
import { DEFAULT_METHOD, type PaymentMethod } from '../domain/methods';
import type { Currency } from '../domain/money';
import type { RelayEvent, RefundView, SaleView } from '../link/protocol';
import type { Logger } from '../shared/log';
import { isStorageError, type ApplyResult, type Journal, type OutboxItem } from './journal';
import { RelayError, RelayHttp } from './relay-http';
import { readSecrets, writeSecrets, type Secrets } from './secrets';
import { backoffDelay } from '../shared/backoff';
import { RelayStream } from './stream';

const REVOKED_TEXT = 'This terminal was revoked by the operator';

export interface LinkCallbacks {
  /** A sale changed in the journal (already committed). */
  onSale(result: ApplyResult): void;
  /** `already`: the relay had refunded the sale in full by an earlier request (this one did nothing). */
  onRefund(refund: RefundView, already?: boolean): void;
  onOnline(online: boolean): void;
  /** Pairing is needed or in progress: show this code. */
  onPairing(p: { code: string; message?: string }): void;
  /** Pairing finished; the credential is stored. */
  onPaired(info: { terminalId: string; name: string }): void;
  /** The relay named the payment methods this terminal may offer (every connect). */
  onMethods?(methods: PaymentMethod[]): void;
  /** Something the idle screen should say (revoked terminal, relay unreachable during pairing). */
  onNotice(text: string): void;
  /** The queue or record counts changed. */
  onUnsynced(): void;
}

export interface LinkOptions {
  relayUrl: string;
  secretsFile: string;
  journal: Journal;
  heartbeatMs: number;
  requestTimeoutMs: number;
  terminalName: string;
  version: string;
  device?: string;
  log: Logger;
  callbacks: LinkCallbacks;
  clock?: () => number;
  /** Poll interval for the current sale while the stream is down. */
  pollMs?: number;
  pairPollMs?: number;
  backoff?: { baseMs: number; maxMs: number };
}

export interface LinkStatus {
  online: boolean;
  paired: boolean;
  terminalId: string | null;
  lastEventSeq: number;
  lastError: string | null;
  pairingCode: string | null;
}

export class Link {
  readonly http: RelayHttp;
  private readonly stream: RelayStream;
  private secrets: Secrets;
  private running = false;
  private outboxTimer: NodeJS.Timeout | null = null;
  private outboxBusy: Promise<void> | null = null;
  private outboxAgain = false;
  private recordAttempt = 0;
  private recordsNotBefore = 0;
  private pollTimer: NodeJS.Timeout | null = null;
  private watched: string | null = null;
  private pairing: { abort: boolean } | null = null;
  private pairingCode: string | null = null;
  private lastError: string | null = null;
  private readonly clock: () => number;
  private reconciling: Promise<void> | null = null;
  /** The credential given up by a supervisor's re-pair: shown to the relay as proof when pairing again. */
  private previousCredential: string | undefined;
  /**
   * Commands the relay has answered while the journal could not write the answer (disk full):
   * not sent again until writes go through (then they are, idempotently, and the answer is kept).
   */
  private readonly held = new Set<number>();

  constructor(private readonly opts: LinkOptions) {
    this.clock = opts.clock ?? Date.now;
    this.secrets = readSecrets(opts.secretsFile).secrets;
    this.previousCredential = this.secrets.previousCredential;
    this.http = new RelayHttp({ baseUrl: opts.relayUrl, credential: () => this.secrets.credential, timeoutMs: opts.requestTimeoutMs, version: opts.version });
    this.stream = new RelayStream({
      baseUrl: opts.relayUrl,
      credential: () => this.secrets.credential,
      heartbeatMs: opts.heartbeatMs,
      lastSeq: () => opts.journal.lastSeq(),
      onEvent: (seq, ev) => this.applyEvent(seq, ev),
      log: opts.log.child('stream'),
      ...(opts.backoff ? { backoff: opts.backoff } : {}),
    });
    this.stream.on('online', (online) => {
      opts.log.info(online ? 'link online' : 'link offline');
      opts.callbacks.onOnline(online);
      if (online) {
        this.tryWrite('waking the outbox', () => opts.journal.outboxWake());
        this.kickOutbox();
        void this.reconcile();
      }
      this.updatePolling();
    });
    this.stream.on('hello', ({ terminalId, lastSeq, methods }) => {
      if (methods) opts.callbacks.onMethods?.(methods);
      // The relay numbers fewer events than we have seen: its database was restored. Follow
      // its numbering, or every new event would look like a duplicate.
      if (lastSeq < opts.journal.lastSeq()) {
        opts.log.warn('relay event sequence is behind the journal; following the relay', { relayLastSeq: lastSeq, journalLastSeq: opts.journal.lastSeq() });
        this.tryWrite('following the relay sequence', () => opts.journal.resetCursor(lastSeq));
      }
      if (this.secrets.terminalId && terminalId !== this.secrets.terminalId) {
        opts.log.warn('relay names this terminal differently from the secrets file', { terminalId, stored: this.secrets.terminalId });
      }
    });
    this.stream.on('revoked', () => {
      if (!this.running || this.pairing) return;
      opts.log.error('the operator revoked this terminal; pairing again');
      // No sale of the revoked terminal may stay payable: its QR leaves the screen. The relay
      // expires the sales it knows; one whose create is still queued here is expired right after
      // the create goes through, once the terminal is paired again.
      for (const s of opts.journal.nonFinalSales()) this.tryWrite('cancelling a sale of the revoked terminal', () => opts.journal.requestExpire(s.saleId, 'terminal revoked'));
      opts.callbacks.onNotice(REVOKED_TEXT);
      void this.startPairing(`${REVOKED_TEXT}: pair it again`);
    });
    this.stream.on('unauthorized', () => {
      if (!this.running || this.pairing) return;
      opts.log.error('the relay refused this terminal credential (revoked?); pairing again');
      opts.callbacks.onNotice('This terminal was not accepted by the relay: pair it again');
      void this.startPairing('The relay no longer accepts this terminal');
    });
  }

  /** A journal write that may fail for lack of space without stopping the link (it is logged). */
  private tryWrite(what: string, fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.opts.log.warn(`${what}: not written (journal storage)`, { error: (err as Error).message });
      return false;
    }
  }

  /** The journal can write again (space was freed): send what was held back and catch up. */
  storageRecovered(): void {
    this.held.clear();
    this.tryWrite('waking the outbox', () => this.opts.journal.outboxWake());
    this.kickOutbox();
    if (this.stream.online) void this.reconcile();
  }

  get paired(): boolean {
    return Boolean(this.secrets.credential);
  }

  get online(): boolean {
    return this.stream.online;
  }

  get supervisorPin(): string | undefined {
    return this.secrets.supervisorPin;
  }

  status(): LinkStatus {
    return {
      online: this.stream.online,
      paired: this.paired,
      terminalId: this.secrets.terminalId ?? null,
      lastEventSeq: this.opts.journal.lastSeq(),
      lastError: this.lastError,
      pairingCode: this.pairingCode,
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.paired) void this.startPairing();
    else this.stream.start();
    this.kickOutbox();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.pairing) this.pairing.abort = true;
    if (this.outboxTimer) clearTimeout(this.outboxTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.outboxTimer = null;
    this.pollTimer = null;
    await this.stream.stop();
    await this.outboxBusy?.catch(() => undefined);
    await this.reconciling?.catch(() => undefined);
    this.http.close();
  }

  /** Forget the credential and pair again (supervisor menu). */
  async repair(): Promise<void> {
    await this.stream.stop();
    const { credential: _c, terminalId: _t, ...rest } = readSecrets(this.opts.secretsFile).secrets;
    this.previousCredential = this.secrets.credential ?? this.previousCredential;
    // Kept in the file too: a restart before the operator approves still pairs as this terminal.
    this.secrets = { ...rest, ...(this.previousCredential ? { previousCredential: this.previousCredential } : {}) };
    writeSecrets(this.opts.secretsFile, this.secrets);
    this.opts.log.info('credential removed; pairing again');
    void this.startPairing('Pairing again');
  }

  /** The sale on screen: polled over HTTP while the stream is down. */
  watchSale(saleId: string | null): void {
    this.watched = saleId;
    this.updatePolling();
  }

  /** Drop the stream connection (tests: simulate a dead link). */
  kickStream(): void {
    this.stream.kick();
  }

  // --- pairing -----------------------------------------------------------------------------

  private async startPairing(message?: string): Promise<void> {
    if (this.pairing) return;
    const token = { abort: false };
    this.pairing = token;
    await this.stream.stop();
    const { log, callbacks } = this.opts;
    let attempt = 0;
    // Pairing must not present an old, refused credential.
    const anon = new RelayHttp({ baseUrl: this.opts.relayUrl, credential: () => undefined, timeoutMs: this.opts.requestTimeoutMs });
    const previousCredential = this.secrets.credential ?? this.previousCredential;
    try {
      while (!token.abort && this.running) {
        let started;
        try {
          started = await anon.pairStart({
            name: this.opts.terminalName.slice(0, 64),
            version: this.opts.version.slice(0, 32),
            ...(this.opts.device ? { device: this.opts.device.slice(0, 200) } : {}),
            // Proof that this device was that terminal: the relay then answers for its sales in flight.
            ...(previousCredential ? { previousCredential } : {}),
          });
        } catch (err) {
          this.lastError = (err as Error).message;
          callbacks.onPairing({ code: '------', message: 'Cannot reach the relay; retrying' });
          await this.sleep(backoffDelay(attempt++, 1000, 30_000), token);
          continue;
        }
        attempt = 0;
        this.pairingCode = started.code;
        log.info('pairing: waiting for the operator to approve', { code: started.code });
        callbacks.onPairing({ code: started.code, ...(message ? { message } : {}) });
        while (!token.abort && this.running) {
          await this.sleep(this.opts.pairPollMs ?? 2000, token);
          if (token.abort || !this.running) return;
          let poll;
          try {
            poll = await anon.pairPoll(started.pairingId, started.pairingSecret);
          } catch (err) {
            this.lastError = (err as Error).message;
            if (err instanceof RelayError && err.status === 404) break;
            continue;
          }
          if (poll.status === 'pending') continue;
          if (poll.status === 'approved') {
            const previous = this.secrets.terminalId;
            const { previousCredential: _p, ...kept } = readSecrets(this.opts.secretsFile).secrets;
            const next: Secrets = { ...kept, credential: poll.credential, terminalId: poll.terminalId };
            try {
              writeSecrets(this.opts.secretsFile, next);
            } catch (err) {
              // Kept in memory: the terminal works now; a restart before the file can be written pairs again.
              log.error('the new credential could not be saved (disk full?); it is kept in memory only', { error: (err as Error).message });
            }
            this.secrets = next;
            if (previous !== poll.terminalId) this.tryWrite('resetting the event cursor', () => this.opts.journal.resetCursor());
            this.pairingCode = null;
            this.previousCredential = undefined;
            log.info('paired', { terminalId: poll.terminalId, name: poll.name });
            callbacks.onPaired({ terminalId: poll.terminalId, name: poll.name });
            this.stream.start();
            this.kickOutbox();
            return;
          }
          message = poll.status === 'expired' ? 'The code expired: here is a new one' : 'Pairing was rejected: here is a new code';
          break;
        }
      }
    } finally {
      anon.close();
      if (this.pairing === token) this.pairing = null;
    }
  }

  private sleep(ms: number, token: { abort: boolean }): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      const check = setInterval(() => {
        if (token.abort || !this.running) {
          clearTimeout(t);
          clearInterval(check);
          resolve();
        }
      }, 100);
      t.unref();
      setTimeout(() => clearInterval(check), ms + 10).unref();
    });
  }

  // --- events ------------------------------------------------------------------------------

  private applyEvent(seq: number, ev: RelayEvent): void {
    const { journal, callbacks } = this.opts;
    let out: { applied: boolean; result?: ApplyResult | RefundView | null };
    try {
      out = this.applyEventTx(seq, ev);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      // Disk full: the screen still moves on, from memory. The event is acknowledged all the same:
      // what it says is the relay's view of a sale, which the reconciliation after the space
      // returns (and at every connection) fetches again and writes. Not acknowledging it would
      // drop the link for as long as the disk stays full.
      if (ev.kind === 'sale.updated') {
        const preview = journal.preview(() => journal.applySaleView(ev.sale, `stream#${seq}`));
        if (preview.changed) callbacks.onSale(preview);
      }
      if (ev.kind === 'refund.updated') callbacks.onRefund(ev.refund);
      return;
    }
    if (!out.applied) return;
    if (ev.kind === 'sale.updated' && out.result) callbacks.onSale(out.result as ApplyResult);
    if (ev.kind === 'refund.updated') callbacks.onRefund(ev.refund);
    if (ev.kind === 'terminal.updated' && ev.revoked) callbacks.onNotice(REVOKED_TEXT);
    callbacks.onUnsynced();
  }

  private applyEventTx(seq: number, ev: RelayEvent): { applied: boolean; result?: ApplyResult | RefundView | null } {
    const { journal } = this.opts;
    return journal.applyStreamEvent(seq, (): ApplyResult | RefundView | null => {
      switch (ev.kind) {
        case 'sale.updated':
          return journal.applySaleView(ev.sale, `stream#${seq}`);
        case 'refund.updated':
          journal.applyRefundView(ev.refund);
          return ev.refund;
        case 'terminal.updated':
          journal.audit('terminal.updated', null, { name: ev.name, revoked: ev.revoked });
          return null;
      }
    });
  }

  /**
   * Apply a sale view (and, in the same transaction, whatever `alsoInTx` writes). When the disk is
   * full the view still reaches the screen, from memory; `written` is then false.
   */
  private applyView(v: SaleView, source: string, alsoInTx?: () => void): { result: ApplyResult; written: boolean } {
    const { journal } = this.opts;
    let r: ApplyResult;
    let written = true;
    try {
      r = alsoInTx
        ? journal.atomically(() => {
            alsoInTx();
            return journal.applySaleView(v, source);
          })
        : journal.applySaleView(v, source);
    } catch (err) {
      if (!isStorageError(err)) throw err;
      r = journal.preview(() => journal.applySaleView(v, source));
      written = false;
    }
    if (r.changed) {
      this.opts.callbacks.onSale(r);
      this.opts.callbacks.onUnsynced();
    }
    return { result: r, written };
  }

  // --- reconciliation ----------------------------------------------------------------------

  /** Ask the relay about every unfinished sale, and adopt any sale it has that the journal lacks. */
  reconcile(): Promise<void> {
    if (this.reconciling) return this.reconciling;
    this.reconciling = this.doReconcile().finally(() => {
      this.reconciling = null;
    });
    return this.reconciling;
  }

  private async doReconcile(): Promise<void> {
    const { journal, log } = this.opts;
    try {
      for (const sale of journal.nonFinalSales()) {
        try {
          this.applyView(await this.http.getSale(sale.saleId), 'reconcile');
        } catch (err) {
          if (err instanceof RelayError && err.status === 404) continue; // its create is still queued
          throw err;
        }
      }
      const dayAgo = new Date(this.clock() - 24 * 3600_000).toISOString();
      const oldest = journal.oldestNonFinalCreatedAt();
      const since = oldest && oldest < dayAgo ? oldest : dayAgo;
      for (const v of await this.http.listSales(since)) this.applyView(v, 'reconcile-list');
    } catch (err) {
      this.lastError = (err as Error).message;
      log.warn('reconciliation incomplete; will retry on the next connection', { error: (err as Error).message });
    }
  }

  // --- polling while the stream is down ----------------------------------------------------

  private updatePolling(): void {
    const want = this.running && this.watched !== null && !this.stream.online;
    if (want && !this.pollTimer) {
      this.pollTimer = setInterval(() => void this.pollOnce(), this.opts.pollMs ?? 2000);
    } else if (!want && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  private polling = false;

  private async pollOnce(): Promise<void> {
    const saleId = this.watched;
    if (!saleId || this.polling) return;
    this.polling = true;
    try {
      this.applyView(await this.http.getSale(saleId), 'poll');
    } catch (err) {
      this.opts.log.debug('status poll failed', { error: (err as Error).message });
    } finally {
      this.polling = false;
    }
  }

  // --- outbox ------------------------------------------------------------------------------

  /** Run the outbox worker now (a command was queued). */
  kickOutbox(): void {
    if (!this.running) return;
    if (this.outboxBusy) {
      this.outboxAgain = true;
      return;
    }
    if (this.outboxTimer) clearTimeout(this.outboxTimer);
    this.outboxTimer = null;
    this.outboxBusy = this.drainOutbox()
      .catch((err: unknown) => this.opts.log.error('outbox worker failed', { error: (err as Error).message }))
      .finally(() => {
        this.outboxBusy = null;
        if (this.outboxAgain) {
          this.outboxAgain = false;
          this.kickOutbox();
        } else this.scheduleOutbox();
      });
  }

  private scheduleOutbox(): void {
    if (!this.running || this.outboxTimer) return;
    const { journal } = this.opts;
    const now = this.clock();
    let at = journal.nextOutboxAt() ?? now + 30_000;
    // Held commands stay due in the journal; do not spin on them (storageRecovered kicks us).
    if (this.held.size) at = Math.max(at, now + 1000);
    if (journal.unsyncedRecords(1).length) at = Math.min(at, Math.max(now + 1000, this.recordsNotBefore));
    this.outboxTimer = setTimeout(
      () => {
        this.outboxTimer = null;
        this.kickOutbox();
      },
      Math.min(30_000, Math.max(10, at - now)),
    );
    this.outboxTimer.unref();
  }

  private async drainOutbox(): Promise<void> {
    if (!this.paired) return;
    const { journal } = this.opts;
    const blocked = new Set<string>();
    for (const item of journal.dueOutbox(this.clock())) {
      if (!this.running) return;
      // Commands of one sale go in order: no expire before its create is through.
      if (blocked.has(item.saleId)) continue;
      if (this.held.has(item.id)) {
        blocked.add(item.saleId);
        continue;
      }
      const ok = await this.send(item);
      if (!ok) blocked.add(item.saleId);
    }
    await this.syncRecords();
    this.opts.callbacks.onUnsynced();
  }

  private async send(item: OutboxItem): Promise<boolean> {
    const { journal, log, callbacks } = this.opts;
    try {
      switch (item.kind) {
        case 'create': {
          const b = item.body as { saleId: string; amount: number; currency: Currency; method?: PaymentMethod; createdAt?: string };
          // A create queued before there were several methods has none: it was an Alipay+ sale.
          const view = await this.http.createSale({
            saleId: b.saleId,
            amount: b.amount,
            currency: b.currency,
            method: b.method ?? DEFAULT_METHOD,
            ...(b.createdAt ? { createdAt: b.createdAt } : {}),
          });
          if (!this.applyView(view, 'create', () => journal.outboxDone(item.id)).written) this.held.add(item.id);
          break;
        }
        case 'expire': {
          const view = await this.http.expireSale(item.saleId);
          if (!this.applyView(view, 'expire', () => journal.outboxDone(item.id)).written) this.held.add(item.id);
          break;
        }
        case 'refund': {
          const b = item.body as { refundId: string; amount: number; mode?: 'auto' | 'void' | 'refund' };
          const view = await this.http.refund(item.saleId, { refundId: b.refundId, amount: b.amount, mode: b.mode ?? 'auto' });
          journal.outboxDone(item.id);
          if (journal.applyRefundView(view)) callbacks.onRefund(view);
          break;
        }
      }
      this.lastError = null;
      return true;
    } catch (err) {
      if (isStorageError(err)) {
        // The relay may have done it; the journal could not say so. Idempotent: sent again later.
        this.held.add(item.id);
        log.warn('relay command answered but not journaled (storage); will send again when the journal can write', { kind: item.kind, saleId: item.saleId });
        return false;
      }
      const e = err instanceof RelayError ? err : new RelayError((err as Error).message, 0, 'internal');
      this.lastError = e.message;
      if (e.retryable || e.status === 401 || (e.status === 404 && item.kind !== 'create')) {
        // 404 on expire/refund: the relay has not seen the create yet; 401: pairing will fix it.
        const delay = backoffDelay(item.attempts, 1000, 60_000);
        if (!this.tryWrite('scheduling a retry', () => journal.outboxRetry(item.id, e.message, this.clock() + delay))) this.held.add(item.id);
        log.warn('relay command failed; will retry', { kind: item.kind, saleId: item.saleId, attempt: item.attempts + 1, retryInMs: delay, error: e.message });
        return false;
      }
      if (item.kind === 'refund' && e.code === 'already_refunded') {
        this.settleAlreadyRefunded(item);
        return true;
      }
      log.error('relay refused a command; not retrying', { kind: item.kind, saleId: item.saleId, status: e.status, code: e.code, error: e.message });
      const rejection = { code: e.code, message: e.message.replace(/^POST \S+: /, '') };
      const refund = item.body as { refundId: string; amount: number };
      const failedRefund = (): RefundView => ({
        refundId: refund.refundId,
        saleId: item.saleId,
        omiseRefundId: null,
        amount: refund.amount,
        currency: journal.getSale(item.saleId)?.currency ?? 'THB',
        voided: false,
        status: 'failed',
        reason: null,
        error: rejection.message,
        createdAt: new Date(this.clock()).toISOString(),
      });
      let outcome: { sale: ApplyResult | null; refund: RefundView | null };
      try {
        outcome = journal.atomically(() => {
          journal.outboxDead(item.id, e.message);
          const sale = item.kind === 'create' ? journal.markCreateRejected(item.saleId, rejection) : null;
          const r = item.kind === 'refund' ? failedRefund() : null;
          return { sale, refund: r && journal.applyRefundView(r) ? r : null };
        });
      } catch (werr) {
        if (!isStorageError(werr)) throw werr;
        // Disk full: shown now, journaled when the refusal comes again after space returns.
        this.held.add(item.id);
        outcome = {
          sale: item.kind === 'create' ? journal.preview(() => journal.markCreateRejected(item.saleId, rejection)) : null,
          refund: item.kind === 'refund' ? failedRefund() : null,
        };
      }
      if (outcome.sale?.changed) callbacks.onSale(outcome.sale);
      if (outcome.refund) callbacks.onRefund(outcome.refund);
      return true;
    }
  }

  /**
   * The relay says the sale is refunded in full already (an earlier request went through and its
   * answer was lost, or another refund did it). That is done, not failed: this request is closed
   * as done for nothing, and the sale's own refunded amount comes with the relay's sale view.
   */
  private settleAlreadyRefunded(item: OutboxItem): void {
    const { journal, log, callbacks } = this.opts;
    const body = item.body as { refundId: string; amount: number };
    if (!this.tryWrite('closing an already-refunded request', () => journal.closeSupersededRefund(item.id, body.refundId, item.saleId))) {
      this.held.add(item.id);
      return;
    }
    log.info('refund request closed: the sale was already refunded in full', { saleId: item.saleId, refundId: body.refundId });
    const view: RefundView = {
      refundId: body.refundId,
      saleId: item.saleId,
      omiseRefundId: null,
      amount: body.amount,
      currency: journal.getSale(item.saleId)?.currency ?? 'THB',
      voided: false,
      status: 'done',
      reason: null,
      error: null,
      createdAt: new Date(this.clock()).toISOString(),
    };
    callbacks.onRefund(view, true);
    // The sale's own refunded amount (and any refund this terminal missed) comes with its view.
    void (async () => {
      try {
        this.applyView(await this.http.getSale(item.saleId), 'refresh');
      } catch (err) {
        log.debug('sale refresh after an already-refunded answer failed', { error: (err as Error).message });
      }
    })();
  }

  private async syncRecords(): Promise<void> {
    const { journal, log } = this.opts;
    if (this.clock() < this.recordsNotBefore) return;
    for (let i = 0; i < 20; i++) {
      const batch = journal.unsyncedRecords(200);
      if (!batch.length) return;
      try {
        await this.http.postRecords(batch);
        journal.markRecordsSynced(batch.map((r) => r.recordId));
        this.recordAttempt = 0;
      } catch (err) {
        const delay = backoffDelay(this.recordAttempt++, 1000, 60_000);
        this.recordsNotBefore = this.clock() + delay;
        log.debug('record sync failed; will retry', { retryInMs: delay, error: (err as Error).message });
        return;
      }
    }
  }
}
