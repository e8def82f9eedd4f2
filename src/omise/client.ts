/**
 * A thin typed Omise client on Node's built-in fetch: configurable base URL (the simulator
 * runs on a loopback port), a timeout on every request, typed errors with the HTTP status
 * and Omise's code, and the right key per call (public for sources, secret for the rest).
 * Keys and QR download URLs never reach an error message or a log line.
 */
import type { Logger } from '../shared/log';
import { redactText } from '../shared/log';
import {
  OmiseError,
  type CreateChargeParams,
  type CreateRefundParams,
  type ListParams,
  type OmiseApi,
  type QrDocument,
  type RequestOptions,
} from './api';
import { encodeForm, type FormObject } from './form';
import type { OmiseCharge, OmiseEvent, OmiseList, OmiseRefund, OmiseSource } from './types';
import type { Currency } from '../domain/money';

export interface OmiseClientOptions {
  /** e.g. http://127.0.0.1:4010 (simulator) or https://api.omise.co */
  baseUrl: string;
  publicKey?: string;
  secretKey?: string;
  /** Per-request timeout, default 10 s. */
  timeoutMs?: number;
  /** Sent as Omise-Version when set. */
  apiVersion?: string;
  log?: Logger;
  fetch?: typeof fetch;
}

type KeyKind = 'public' | 'secret' | 'none';

interface Call {
  method: 'GET' | 'POST';
  path: string;
  key: KeyKind;
  form?: FormObject;
  query?: Record<string, string | number | undefined>;
  /** What to call the operation in errors and logs (never the URL itself for downloads). */
  label: string;
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

  async createSource(params: { type: 'alipayplus_mpm'; amount: number; currency: Currency }, opts?: RequestOptions): Promise<OmiseSource> {
    return this.json<OmiseSource>(
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
    return this.json<OmiseCharge>({ method: 'POST', path: '/charges', key: 'secret', label: 'create charge', form }, opts);
  }

  async retrieveCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>({ method: 'GET', path: `/charges/${this.id(chargeId)}`, key: 'secret', label: 'retrieve charge' }, opts);
  }

  async listCharges(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseCharge>> {
    return this.json<OmiseList<OmiseCharge>>({ method: 'GET', path: '/charges', key: 'secret', label: 'list charges', query: listQuery(params) }, opts);
  }

  async expireCharge(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>({ method: 'POST', path: `/charges/${this.id(chargeId)}/expire`, key: 'secret', label: 'expire charge' }, opts);
  }

  async createRefund(chargeId: string, params: CreateRefundParams, opts?: RequestOptions): Promise<OmiseRefund> {
    const form: FormObject = { amount: params.amount };
    if (params.metadata && Object.keys(params.metadata).length > 0) form.metadata = { ...params.metadata };
    if (params.void !== undefined) form.void = params.void;
    return this.json<OmiseRefund>({ method: 'POST', path: `/charges/${this.id(chargeId)}/refunds`, key: 'secret', label: 'create refund', form }, opts);
  }

  async listRefunds(chargeId: string, params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseRefund>> {
    return this.json<OmiseList<OmiseRefund>>(
      { method: 'GET', path: `/charges/${this.id(chargeId)}/refunds`, key: 'secret', label: 'list refunds', query: listQuery(params) },
      opts,
    );
  }

  async listEvents(params?: ListParams, opts?: RequestOptions): Promise<OmiseList<OmiseEvent>> {
    return this.json<OmiseList<OmiseEvent>>({ method: 'GET', path: '/events', key: 'secret', label: 'list events', query: listQuery(params) }, opts);
  }

  async retrieveEvent(eventId: string, opts?: RequestOptions): Promise<OmiseEvent> {
    return this.json<OmiseEvent>({ method: 'GET', path: `/events/${this.id(eventId)}`, key: 'secret', label: 'retrieve event' }, opts);
  }

  async markAsPaid(chargeId: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>({ method: 'POST', path: `/charges/${this.id(chargeId)}/mark_as_paid`, key: 'secret', label: 'mark as paid' }, opts);
  }

  async markAsFailed(chargeId: string, failureCode?: string, opts?: RequestOptions): Promise<OmiseCharge> {
    return this.json<OmiseCharge>(
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

  private async json<T>(call: Call, opts?: RequestOptions): Promise<T> {
    let url = this.baseUrl + call.path;
    if (call.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(call.query)) if (v !== undefined) q.set(k, String(v));
      const qs = q.toString();
      if (qs) url += `?${qs}`;
    }
    const res = await this.send(call, url, opts);
    const text = res.body.toString('utf8');
    if (!res.ok) throw this.apiError(call.label, res.status, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: the answer is not JSON (HTTP ${res.status})`);
    }
    if (!parsed || typeof parsed !== 'object' || typeof (parsed as { object?: unknown }).object !== 'string') {
      throw new OmiseError('bad_response', res.status, 'bad_response', `${call.label}: the answer is not an Omise object`);
    }
    if ((parsed as { object: string }).object === 'error') throw this.apiError(call.label, res.status, text);
    return parsed as T;
  }

  private apiError(label: string, status: number, text: string): OmiseError {
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
    return new OmiseError('api', status, code, redactText(`${label}: ${code} (HTTP ${status}): ${message}`));
  }

  private async send(
    call: Call,
    url: string,
    opts: RequestOptions | undefined,
  ): Promise<{ ok: boolean; status: number; contentType: string; body: Buffer }> {
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
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'qrpos-omise-client/1' };
    if (call.key !== 'none') {
      const key = call.key === 'public' ? this.opts.publicKey : this.opts.secretKey;
      if (!key) {
        cleanup();
        throw new OmiseError('api', 0, 'missing_key', `${call.label}: no ${call.key} key configured`);
      }
      headers.authorization = `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
      if (this.opts.apiVersion) headers['omise-version'] = this.opts.apiVersion;
    }
    let body: string | undefined;
    if (call.method === 'POST') {
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
      return { ok: res.ok, status: res.status, contentType: res.headers.get('content-type') ?? '', body: buf };
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
