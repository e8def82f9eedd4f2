/**
 * Delivers events to the configured webhook URL, signed like Omise (Omise-Signature,
 * Omise-Signature-Timestamp), retried with backoff until the receiver answers 2xx or the
 * retries run out. Every attempt is recorded in the event's webhook_deliveries.
 */
import type { Logger } from '../shared/log';
import { signWebhook } from '../omise/webhook-signature';
import type { Engine, EventRec } from './engine';
import type { Faults } from './faults';
import { omiseTime } from './ids';

export interface WebhookOptions {
  engine: Engine;
  faults: Faults;
  log: Logger;
  url: string | null;
  /** Base64; without one, deliveries go out unsigned. */
  secret: string | null;
  /** During a secret rotation: also sign with this one (two comma-separated signatures). */
  previousSecret: string | null;
  /** Delays before the 2nd, 3rd, … attempt. */
  retryDelaysMs: number[];
  attemptTimeoutMs: number;
  /** Unix seconds for the signature timestamp (the simulator's clock). */
  nowSec: () => number;
  onChange: () => void;
}

/** The first system error code along the cause chain (fetch wraps it: TypeError → cause → code). */
function errorCode(err: unknown): string {
  let e: unknown = err;
  let message = 'connection failed';
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const o = e as { code?: unknown; cause?: unknown; errors?: unknown[]; message?: unknown };
    if (typeof o.code === 'string') return o.code;
    if (typeof o.message === 'string' && o.message !== '') message = o.message.slice(0, 80);
    e = o.cause ?? o.errors?.[0];
  }
  return message;
}

export class WebhookDispatcher {
  private url: string | null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<AbortController>();
  private held: EventRec[] = [];
  private heldTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Attempts started and not yet settled, for tests that wait for quiet. */
  private active = 0;

  constructor(private readonly o: WebhookOptions) {
    this.url = o.url;
  }

  setUrl(url: string | null): void {
    this.url = url;
  }

  getUrl(): string | null {
    return this.url;
  }

  get busy(): boolean {
    return this.active > 0 || this.timers.size > 0 || this.held.length > 0;
  }

  enqueue(ev: EventRec): void {
    if (this.stopped || !this.url) return;
    const copies = this.o.faults.webhookCopies();
    if (copies === 0) {
      this.o.log.debug('webhook dropped by fault injection', { event: ev.id });
      return;
    }
    const window = this.o.faults.reorderWindowMs();
    for (let i = 0; i < copies; i++) {
      if (window !== null) this.hold(ev, window);
      else this.attempt(ev, 0);
    }
  }

  private hold(ev: EventRec, windowMs: number): void {
    this.held.push(ev);
    if (this.heldTimer) return;
    this.heldTimer = setTimeout(() => {
      this.heldTimer = null;
      const batch = this.held.reverse();
      this.held = [];
      for (const e of batch) this.attempt(e, 0);
    }, windowMs);
  }

  private schedule(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private attempt(ev: EventRec, n: number): void {
    const url = this.url;
    if (this.stopped || !url) return;
    this.active++;
    void this.deliver(ev, url)
      .then((ok) => {
        if (ok || this.stopped) return;
        const delay = this.o.retryDelaysMs[n];
        if (delay === undefined) {
          this.o.log.warn('webhook gave up', { event: ev.id, attempts: n + 1 });
          return;
        }
        this.schedule(() => this.attempt(ev, n + 1), delay);
      })
      .finally(() => {
        this.active--;
      });
  }

  private async deliver(ev: EventRec, url: string): Promise<boolean> {
    const body = Buffer.from(this.o.engine.renderEventJson(ev, false));
    const ts = this.o.nowSec();
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Omise-Simulator/1' };
    if (this.o.secret) {
      const sigs = [signWebhook(body, this.o.secret, ts)];
      if (this.o.previousSecret) sigs.push(signWebhook(body, this.o.previousSecret, ts));
      headers['omise-signature'] = sigs.join(',');
      headers['omise-signature-timestamp'] = String(ts);
    }
    const controller = new AbortController();
    this.inflight.add(controller);
    const timer = setTimeout(() => controller.abort(), this.o.attemptTimeoutMs);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal: controller.signal, redirect: 'manual' });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      error = controller.signal.aborted ? 'timeout' : errorCode(err);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(controller);
    }
    const ok = status !== null && status >= 200 && status < 300;
    ev.deliveries.push({
      object: 'webhook_delivery',
      id: this.o.engine.newDeliveryId(),
      uri: url,
      status,
      created_at: omiseTime(ts * 1000),
      error: ok ? null : (error ?? `HTTP ${status}`),
    });
    this.o.onChange();
    this.o.log.debug('webhook attempt', { event: ev.id, key: ev.key, status, error });
    return ok;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.heldTimer) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    this.held = [];
    for (const c of this.inflight) c.abort();
  }
}
