/**
 * A thin typed Omise client on Node's built-in fetch: configurable base URL (the simulator
 * runs on a loopback port), a timeout on every request, typed errors with the HTTP status
 * and Omise's code, and the right key per call (public for sources, secret for the rest).
 * Every request names the API version (OMISE_API_VERSION); every answer is checked against the
 * schemas of ./schemas.ts once, here; HTTP 429 is retried with the shared backoff policy and the
 * server's Retry-After, within a budget.
 * Keys and QR download URLs never reach an error message or a log line.
 */
import type { PaymentMethod } from '../domain/methods';
import type { z } from 'zod';
import { nextRetryDelay, retryAfterMs } from '../shared/backoff';
import type { Logger } from '../shared/log';
import { redactText } from '../shared/log';
import {
  OMISE_API_VERSION,
  OmiseError,
  OmiseResponseError,
  type CreateChargeParams,
  type CreateRefundParams,
  type ListParams,
  type OmiseApi,
  type QrDocument,
  type RequestOptions,
} from './api';
import { encodeForm, type FormObject } from './form';
import { ChargeListSchema, ChargeSchema, describeIssues, EventListSchema, EventSchema, RefundListSchema, RefundSchema, SourceSchema } from './schemas';
import type { OmiseCharge, OmiseEvent, OmiseList, OmiseRefund, OmiseSource } from './types';
import type { Currency } from '../domain/money';

export interface OmiseClientOptions {
  /** e.g. http://127.0.0.1:4010 (simulator) or https://api.omise.co */
  baseUrl: string;
  publicKey?: string;
  secretKey?: string;
  /** Per-request timeout, default 10 s. */
  timeoutMs?: number;
  log?: Logger;
  fetch?: typeof fetch;
  /**
   * HTTP 429 retries: backoff from baseMs (default 250) to maxMs (default 4 s), within budgetMs
   * per call (default: the call's timeout) unless the call names its own `retryBudgetMs`.
   */
  rateLimit?: { baseMs?: number; maxMs?: number; budgetMs?: number };
  /** Wall clock, only to read a Retry-After given as an HTTP date (default: the system clock). */
  clock?: () => Date;
  /** Jitter source (tests make it deterministic). */
  random?: () => number;
}

type KeyKind = 'public' | 'secret' | 'none';

interface Call {
  method: 'GET' | 'POST' | 'PATCH';
  path: string;
  key: KeyKind;
  form?: FormObject;
  query?: Record<string, string | number | undefined>;
  /** What to call the operation in errors and logs (never the URL itself for downloads). */
  label: string;
}

interface Answer {
  ok: boolean;
  status: number;
  contentType: string;
  retryAfter: string | null;
  body: Buffer;
}

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

function networkCode(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return 'network';
}

export class OmiseClient implements OmiseApi {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: OmiseClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(opts.baseUrl);
    } catch {
      throw new Error('OmiseClient: baseUrl is not a valid URL');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('OmiseClient: baseUrl must be http(s)');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  async createSource(params: { type: PaymentMethod; amount: number; currency: Currency }, opts?: RequestOptions): Promise<OmiseSource> {
    return this.json<OmiseSource>(
      SourceSchema,
      { method: 'POST', path: '/sources', key: 'public', label: 'create source', form: { type: params.type, amount: params.amount, currency: params.currency } },
      opts,
    );
  }

  async createCharge(params: CreateChargeParams, opts?: RequestOptions): Promise<OmiseCharge> {
    const form: FormObject = {
      amount: params.amount,
      currency: params.currency,
      source: typeof params.source === 'string' ? params.source : { type: params.source.type },
    };
    if (params.metadata && Object.keys(params.metadata).length > 0) form.metadata = { ...params.metadata };
    if (params.description !== undefined) form.description = params.description;
    if (params.expires_at !== undefined) form.expires_at = params.expires_at;
    return this.json<OmiseCharge>(ChargeSchema, { method: 'POST', path: '/charges', key: 'secret', label: 'create charge', form }, opts);
  }

  async retrieveCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>(ChargeSchema, { method: 'GET', path: `/charges/${this.id(chargeId)}`, key: 'secret', label: 'retrieve charge' }, opts);
  }

  async listCharges(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseCharge>> {
    return this.json<OmiseList<OmiseCharge>>(ChargeListSchema, { method: 'GET', path: '/charges', key: 'secret', label: 'list charges', query: listQuery(params) }, opts);
  }

  async expireCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>(ChargeSchema, { method: 'POST', path: `/charges/${this.id(chargeId)}/expire`, key: 'secret', label: 'expire charge' }, opts);
  }

  async createRefund(chargeId: string, params: CreateRefundParams, opts?: RequestOptions): Promise<OmiseRefund> {
    const form: FormObject = { amount: params.amount };
    if (params.metadata && Object.keys(params.metadata).length > 0) form.metadata = { ...params.metadata };
    if (params.void !== undefined) form.void = params.void;
    return this.json<OmiseRefund>(RefundSchema, { method: 'POST', path: `/charges/${this.id(chargeId)}/refunds`, key: 'secret', label: 'create refund', form }, opts);
  }

  async listRefunds(chargeId: string, params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseRefund>> {
    return this.json<OmiseList<OmiseRefund>>(
      RefundListSchema,
      { method: 'GET', path: `/charges/${this.id(chargeId)}/refunds`, key: 'secret', label: 'list refunds', query: listQuery(params) },
      opts,
    );
  }

  async listEvents(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseEvent>> {
    return this.json<OmiseList<OmiseEvent>>(EventListSchema, { method: 'GET', path: '/events', key: 'secret', label: 'list events', query: listQuery(params) }, opts);
  }

  async retrieveEvent(eventId: string, opts?: RequestOptions): Promise<OmiseEvent> {
    return this.json<OmiseEvent>(EventSchema, { method: 'GET', path: `/events/${this.id(eventId)}`, key: 'secret', label: 'retrieve event' }, opts);
  }

  async markAsPaid(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>(ChargeSchema, { method: 'POST', path: `/charges/${this.id(chargeId)}/mark_as_paid`, key: 'secret', label: 'mark as paid' }, opts);
  }

  async markAsFailed(chargeId: string, failureCode?: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>(
      ChargeSchema,
      {
        method: 'POST',
        path: `/charges/${this.id(chargeId)}/mark_as_failed`,
        key: 'secret',
        label: 'mark as failed',
        ...(failureCode !== undefined ? { form: { failure_code: failureCode } } : {}),
      },
      opts,
    );
  }

  async downloadDocument(downloadUri: string, opts?: RequestOptions): Promise<QrDocument> {
    let url: URL;
    try {
      url = new URL(downloadUri);
    } catch {
      throw new OmiseError('bad_response', 0, 'bad_response', 'download document: the download URI is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OmiseError('bad_response', 0, 'bad_response', 'download document: the download URI is not http(s)');
    }
    // The URI is used as given (the simulator's URIs point at itself); it needs no key.
    const res = await this.send({ method: 'GET', path: '', key: 'none', label: 'download document' }, url.toString(), opts);
    if (!res.ok) {
      const text = res.body.toString('utf8');
      throw this.apiError('download document', res.status, text);
    }
    return { contentType: res.contentType, body: res.body };
  }

  private id(value: string): string {
    if (!/^[A-Za-z0-9_]{1,80}$/.test(value)) throw new OmiseError('api', 0, 'invalid_id', 'the id is not a valid Omise id');
    return value;
  }

  /**
   * One call: sends it, retries HTTP 429 within the budget, checks the answer against `schema`
   * (JSON parsed once) and returns it as received: fields the schema does not name pass through.
   */
  private async json<T>(schema: z.ZodType, call: Call, opts?: RequestOptions): Promise<T> {
    let url = this.baseUrl + call.path;
    if (call.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(call.query)) if (v !== undefined) q.set(k, String(v));
      const qs = q.toString();
      if (qs) url += `?${qs}`;
    }
    const budgetMs = opts?.retryBudgetMs ?? this.opts.rateLimit?.budgetMs ?? opts?.timeoutMs ?? this.timeoutMs;
    const started = performance.now();
    let res: Answer;
    for (let attempt = 0; ; attempt++) {
      res = await this.send(call, url, opts);
      if (res.status !== 429) break;
      const wait = nextRetryDelay(
        attempt,
        { baseMs: this.opts.rateLimit?.baseMs ?? 250, maxMs: this.opts.rateLimit?.maxMs ?? 4000 },
        retryAfterMs(res.retryAfter, (this.opts.clock?.() ?? new Date()).getTime()),
        this.opts.random,
      );
      if (performance.now() - started + wait > budgetMs) break;
      this.opts.log?.info('omise rate limited; retrying', { op: call.label, attempt: attempt + 1, waitMs: wait });
      await this.pause(wait, call.label, opts?.signal);
    }
    const text = res.body.toString('utf8');
    if (!res.ok) throw this.apiError(call.label, res.status, text, res.retryAfter);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: the answer is not JSON (HTTP ${res.status})`);
    }
    if (!parsed || typeof parsed !== 'object' || typeof (parsed as { object?: unknown }).object !== 'string') {
      throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: the answer is not an Omise object`);
    }
    if ((parsed as { object: string }).object === 'error') throw this.apiError(call.label, res.status, text, res.retryAfter);
    const checked = schema.safeParse(parsed);
    if (!checked.success) {
      const issues = redactText(describeIssues(checked.error));
      const err = new OmiseResponseError(res.status, `${call.label}: the answer is not the object qrpos expects (${issues})`, issues);
      this.opts.log?.error('omise answer failed its schema', { op: call.label, status: res.status, issues });
      throw err;
    }
    // The answer as received: zod's copy would drop the fields the schema does not name.
    return parsed as T;
  }

  /** Waits out a rate limit; an abort ends the wait (and the call). */
  private pause(ms: number, label: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new OmiseError('aborted', 0, 'aborted', `${label}: aborted`));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new OmiseError('aborted', 0, 'aborted', `${label}: aborted`));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private apiError(label: string, status: number, text: string, retryAfter: string | null = null): OmiseError {
    let code = status >= 500 ? 'server_error' : 'http_error';
    let message = `HTTP ${status}`;
    try {
      const body = JSON.parse(text) as { object?: unknown; code?: unknown; message?: unknown };
      if (body && body.object === 'error') {
        if (typeof body.code === 'string' && body.code !== '') code = body.code.slice(0, 64);
        if (typeof body.message === 'string') message = body.message.slice(0, 300);
      }
    } catch {
      // not JSON: the status alone describes it
    }
    const after = status === 429 && retryAfter ? ` (Retry-After: ${retryAfter.slice(0, 40)})` : '';
    return new OmiseError('api', status, code, redactText(`${label}: ${code} (HTTP ${status}): ${message}${after}`));
  }

  private async send(
    call: Call,
    url: string,
    opts: RequestOptions | undefined,
  ): Promise<Answer> {
    const timeoutMs = opts?.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const outer = opts?.signal;
    const onOuterAbort = (): void => controller.abort();
    if (outer) {
      if (outer.aborted) controller.abort();
      else outer.addEventListener('abort', onOuterAbort, { once: true });
    }
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'qrpos-omise-client/1', 'omise-version': OMISE_API_VERSION };
    if (call.key !== 'none') {
      const key = call.key === 'public' ? this.opts.publicKey : this.opts.secretKey;
      if (!key) {
        cleanup();
        throw new OmiseError('api', 0, 'missing_key', `${call.label}: no ${call.key} key configured`);
      }
      headers.authorization = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
    }
    let body: string | undefined;
    if (call.method !== 'GET') {
      body = call.form ? encodeForm(call.form) : '';
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const started = Date.now();
    function cleanup(): void {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
    const failed = (err: unknown): OmiseError => {
      if (err instanceof OmiseError) return err;
      if (timedOut) return new OmiseError('timeout', 0, 'timeout', `${call.label}: no answer within ${timeoutMs} ms`);
      if (outer?.aborted || (isAbortError(err) && controller.signal.aborted)) return new OmiseError('aborted', 0, 'aborted', `${call.label}: aborted`);
      const code = networkCode(err);
      return new OmiseError('network', 0, code, `${call.label}: network error (${code})`);
    };
    try {
      const res = await this.fetchImpl(url, { method: call.method, headers, body, signal: controller.signal, redirect: 'error' });
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > MAX_RESPONSE_BYTES) {
        controller.abort();
        throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: answer too large`);
      }
      const buf = Buffer.from(await res.arrayBuffer());
      if (buf.length > MAX_RESPONSE_BYTES) throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: answer too large`);
      this.opts.log?.debug('omise call', { op: call.label, status: res.status, ms: Date.now() - started });
      return { ok: res.ok, status: res.status, contentType: res.headers.get('content-type') ?? '', retryAfter: res.headers.get('retry-after'), body: buf };
    } catch (err) {
      const e = failed(err);
      this.opts.log?.warn('omise call failed', { op: call.label, kind: e.kind, code: e.code, status: e.status, ms: Date.now() - started });
      throw e;
    } finally {
      cleanup();
    }
  }
}

function listQuery(p: ListParams | undefined): Record<string, string | number | undefined> | undefined {
  if (!p) return undefined;
  return { limit: p.limit, offset: p.offset, from: p.from, to: p.to, order: p.order };
}
