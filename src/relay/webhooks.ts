/**
 * Omise webhook intake. The order matters: size limit, signature (nothing is parsed or stored
 * before it verifies), durable insert of the event id (dedupe), 2xx, then the charge is fetched
 * from Omise — the body is only a hint of which charge changed — and applied.
 *
 * A correctly signed webhook whose timestamp is more than 5 minutes off our clock is still taken
 * as that hint: when either clock is off, refusing them would refuse every webhook. Nothing in
 * its body is used, so a replayed one can only make the relay re-read a charge, and its event id
 * is deduplicated like any other.
 *
 * An event row stays 'unprocessed' until its charge has been fetched and applied; failed
 * attempts are retried with backoff, also after a restart.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OmiseError, type OmiseApi } from '../omise/api';
import { verifyWebhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../omise/webhook-signature';
import type { Logger } from '../shared/log';
import { readBody, sendJson, BodyTooLarge } from './http';
import type { RelayMetrics } from './metrics';
import type { GroupCommit } from './group-commit';
import type { OmiseCharge } from '../omise/types';
import type { SaleService } from './sales';
import type { RelayStore, WebhookEventRow } from './store';

const MAX_BACKOFF_MS = 5 * 60_000;
const RETRY_TICK_MS = 1000;
/**
 * How long a webhook's answer may wait for the charge so both are stored in one commit. Generous
 * on purpose: when the relay is busy the fetch takes longer, and giving up early would double
 * the commits per webhook exactly when the relay can least afford them. Still far inside Omise's
 * delivery timeout; a hanging Omise only delays the 2xx this long.
 */
const PREFETCH_WAIT_MS = 200;

export interface WebhookOptions {
  store: RelayStore;
  omise: OmiseApi;
  sales: SaleService;
  log: Logger;
  metrics: RelayMetrics;
  clock: () => Date;
  /** Current secret first; the previous one during a rotation. */
  secrets: string[];
  bodyLimit: number;
  omiseTimeoutMs: number;
  commit: GroupCommit;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Which charge an event is about (charge events carry it; refund events name it). */
function chargeOf(body: unknown): { id: string; key: string; objectType: string; objectId: string } | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const e = body as Record<string, unknown>;
  if (e.object !== 'event' || typeof e.id !== 'string' || typeof e.key !== 'string' || !e.id || e.id.length > 100) return undefined;
  const data = e.data as Record<string, unknown> | undefined;
  if (!data || typeof data !== 'object') return undefined;
  if (data.object === 'charge' && typeof data.id === 'string') return { id: e.id, key: e.key, objectType: 'charge', objectId: data.id };
  if (data.object === 'refund' && typeof data.charge === 'string') return { id: e.id, key: e.key, objectType: 'charge', objectId: data.charge };
  return { id: e.id, key: e.key, objectType: String(data.object ?? 'unknown'), objectId: String(data.id ?? '') };
}

export class WebhookIntake {
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: WebhookOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.retryDue(), RETRY_TICK_MS);
    this.timer.unref();
    void this.retryDue();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const m = this.o.metrics;
    m.webhooksReceived.inc();
    let raw: Buffer;
    try {
      raw = await readBody(req, this.o.bodyLimit);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        m.webhooksRejected.inc({ reason: 'too_large' });
        sendJson(res, 413, { error: { code: 'too_large', message: `webhook bodies are limited to ${this.o.bodyLimit} bytes` } }, true);
        return;
      }
      throw err;
    }
    const signature = header(req, SIGNATURE_HEADER);
    const timestamp = header(req, TIMESTAMP_HEADER);
    const nowSec = Math.floor(this.o.clock().getTime() / 1000);
    let v = verifyWebhookSignature({ rawBody: raw, signature, timestamp, secrets: this.o.secrets, nowSec });
    if (!v.ok && v.reason === 'stale_timestamp') {
      // Checked again at the webhook's own time: only the signature decides.
      v = verifyWebhookSignature({ rawBody: raw, signature, timestamp, secrets: this.o.secrets, nowSec: Number(timestamp) });
      if (v.ok) {
        m.webhooksStale.inc();
        this.o.log.warn('signed webhook with a timestamp far from our clock; re-reading its charge anyway (check the relay clock)', {
          offBySeconds: nowSec - Number(timestamp),
        });
      }
    }
    if (!v.ok) {
      m.webhooksRejected.inc({ reason: v.reason });
      this.o.log.warn('webhook refused', { reason: v.reason, bytes: raw.length });
      const status = v.reason === 'missing_signature' || v.reason === 'missing_timestamp' || v.reason === 'malformed' ? 400 : 401;
      sendJson(res, status, { error: { code: v.reason, message: 'webhook signature not accepted' } });
      return;
    }
    m.webhooksVerified.inc();
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      m.webhooksRejected.inc({ reason: 'bad_json' });
      sendJson(res, 400, { error: { code: 'bad_request', message: 'webhook body is not JSON' } });
      return;
    }
    const info = chargeOf(body);
    if (!info) {
      m.webhooksRejected.inc({ reason: 'not_an_event' });
      sendJson(res, 400, { error: { code: 'bad_request', message: 'webhook body is not an Omise event' } });
      return;
    }
    const relevant = info.objectType === 'charge' && info.objectId !== '';
    const row: WebhookEventRow = {
      id: info.id,
      key: info.key,
      objectType: info.objectType,
      objectId: info.objectId,
      receivedAt: this.o.clock().toISOString(),
      status: relevant ? 'unprocessed' : 'ignored',
      attempts: 0,
      nextAttemptAt: null,
      lastError: null,
    };
    if (await this.o.store.webhookEvent(row.id)) {
      // The first delivery's commit may still be on its way to the disk: answer once the commits
      // made so far are durable (an empty write resolves after the next fsync).
      try {
        await this.o.commit.run(() => undefined);
      } catch (err) {
        this.o.log.error('could not make the webhook event durable', { eventId: row.id, error: err });
        sendJson(res, 503, { error: { code: 'internal', message: 'not stored; retry' } });
        return;
      }
      m.webhooksDuplicate.inc();
      sendJson(res, 200, { received: true, duplicate: true });
      return;
    }
    // Fetch the charge first, briefly: when Omise answers quickly, the event row and the result
    // share one commit (one fsync) before the 2xx. Otherwise the row is committed alone, answered,
    // and the result applied when the fetch ends.
    const prefetched = relevant ? this.fetchCharge(row.objectId) : undefined;
    const quick = prefetched ? await this.within(prefetched, PREFETCH_WAIT_MS) : undefined;
    const charge = quick && 'charge' in quick ? quick.charge : undefined;
    let fresh: boolean;
    try {
      fresh = await this.o.commit.run(async () => {
        // With the charge in hand the row is stored as done at once (one statement, not an insert
        // and an update); if applying it throws, the item's savepoint takes the row back too.
        if (!(await this.o.store.insertWebhookEvent(charge ? { ...row, status: 'done', attempts: 1 } : row))) return false;
        if (charge) await this.o.sales.applyCharge(charge);
        return true;
      });
    } catch (err) {
      // Not stored: answer 5xx so Omise delivers it again.
      this.o.log.error('could not store webhook event', { eventId: row.id, error: err });
      sendJson(res, 503, { error: { code: 'internal', message: 'not stored; retry' } });
      return;
    }
    if (!fresh) {
      m.webhooksDuplicate.inc();
      sendJson(res, 200, { received: true, duplicate: true });
      return;
    }
    sendJson(res, 200, { received: true });
    // Stored and fresh: the charge was applied in that commit if it was in hand.
    if (relevant && !charge) this.process(row, prefetched);
  }

  private within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]).finally(() =>
      clearTimeout(timer),
    );
  }

  private fetchCharge(chargeId: string): Promise<{ charge: OmiseCharge } | { error: unknown }> {
    return this.o.omise.retrieveCharge(chargeId, { timeoutMs: this.o.omiseTimeoutMs }).then(
      (charge) => ({ charge }),
      (error: unknown) => ({ error }),
    );
  }

  /** Fetches the charge (unless already fetched) and applies it; never throws. */
  process(row: WebhookEventRow, prefetched?: Promise<{ charge: OmiseCharge } | { error: unknown }>): void {
    if (this.inFlight.has(row.id) || this.stopped) return;
    const p = this.run(row, prefetched).finally(() => this.inFlight.delete(row.id));
    this.inFlight.set(row.id, p);
  }

  private async run(row: WebhookEventRow, prefetched?: Promise<{ charge: OmiseCharge } | { error: unknown }>): Promise<void> {
    try {
      const got = await (prefetched ?? this.fetchCharge(row.objectId));
      if ('error' in got) throw got.error;
      await this.o.commit.run(async () => {
        await this.o.sales.applyCharge(got.charge);
        await this.o.store.updateWebhookEvent(row.id, { status: 'done', attempts: row.attempts + 1, lastError: null, nextAttemptAt: null });
      });
    } catch (err) {
      if (err instanceof OmiseError && err.kind === 'api' && (err.status === 404 || err.code === 'invalid_id')) {
        // Not a charge of this account, a test event, or not even an Omise id: nothing to apply, ever.
        this.o.log.warn('webhook names an unknown charge; ignored', { eventId: row.id, chargeId: row.objectId });
        await this.o.store.updateWebhookEvent(row.id, { status: 'ignored', attempts: row.attempts + 1, lastError: 'not_found' });
        return;
      }
      const attempts = row.attempts + 1;
      const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(attempts - 1, 10));
      const next = new Date(this.o.clock().getTime() + backoff).toISOString();
      this.o.log.warn('webhook processing failed; will retry', { eventId: row.id, attempts, error: err });
      try {
        await this.o.store.updateWebhookEvent(row.id, {
          attempts,
          nextAttemptAt: next,
          lastError: err instanceof Error ? err.message.slice(0, 200) : String(err),
        });
      } catch (dbErr) {
        this.o.log.error('could not record webhook retry', { eventId: row.id, error: dbErr });
      }
    }
  }

  /** Unprocessed events whose time has come (and every one of them at start). */
  async retryDue(): Promise<void> {
    if (this.stopped) return;
    try {
      for (const row of await this.o.store.unprocessedWebhookEvents(this.o.clock().toISOString(), 100)) this.process(row);
    } catch (err) {
      this.o.log.error('webhook retry scan failed', { error: err });
    }
  }

  get pending(): number {
    return this.inFlight.size;
  }
}
