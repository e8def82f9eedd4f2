/**
 * HTTP side of the terminal ↔ relay link (src/link/protocol.ts). Every call is time-boxed and
 * every answer validated; failures come back as RelayError saying whether a retry can help.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { z } from 'zod';
import {
  ErrorBodySchema,
  PairPollSchema,
  PairStartedSchema,
  RefundViewSchema,
  ReleaseOfferSchema,
  SaleViewSchema,
  TerminalInfoSchema,
  type CreateSaleRequest,
  type JournalRecord,
  type PairPoll,
  type PairRequest,
  type PairStarted,
  type RefundRequest,
  type RefundView,
  type ReleaseOffer,
  type ReleaseReport,
  type SaleView,
  type TerminalInfo,
} from '../link/protocol';
import { z as zod } from 'zod';
import { printable } from '../shared/printable';
import { HttpClient, HttpTransportError } from './http-client';

export class RelayError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the relay could not be reached or answered garbage. */
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'RelayError';
  }

  /** Network trouble, timeouts and 5xx/408/429 may succeed later with the same ids. */
  get retryable(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

export interface RelayHttpOptions {
  baseUrl: string;
  /** Read on every request so a fresh pairing takes effect at once. */
  credential: () => string | undefined;
  timeoutMs: number;
  /** Sent as x-qrpos-version so the operator sees which terminals run what. */
  version?: string;
}

const SalesListSchema = zod.object({ sales: zod.array(SaleViewSchema) });
const RecordsAnswerSchema = zod.object({ accepted: zod.number(), duplicates: zod.number() });
const RecordedSchema = zod.object({ recorded: zod.literal(true) });

export class RelayHttp {
  private readonly base: string;
  private readonly client: HttpClient;

  constructor(private readonly opts: RelayHttpOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.client = new HttpClient(this.base);
  }

  /** Drops kept-alive connections. */
  close(): void {
    this.client.close();
  }

  async request<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: unknown, headers: Record<string, string> = {}): Promise<z.infer<S>> {
    const h: Record<string, string> = { accept: 'application/json', ...(this.opts.version ? { 'x-qrpos-version': this.opts.version } : {}), ...headers };
    const cred = this.opts.credential();
    if (cred) h.authorization = `Bearer ${cred}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: { status: number; ok: boolean };
    let text: string;
    try {
      const answer = await this.client.request(method, this.base + path, h, body !== undefined ? JSON.stringify(body) : undefined, this.opts.timeoutMs);
      res = { status: answer.status, ok: answer.status >= 200 && answer.status < 300 };
      text = answer.text;
    } catch (err) {
      const e = err as Error;
      const why = e instanceof HttpTransportError ? (e.code === 'timeout' || e.code === 'too_large' ? e.message : e.code) : e.message;
      throw new RelayError(`${method} ${path}: relay unreachable (${why})`, 0, 'unreachable');
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      throw new RelayError(`${method} ${path}: answer is not JSON (HTTP ${res.status})`, res.ok ? 0 : res.status, 'bad_answer');
    }
    if (!res.ok) {
      const parsed = ErrorBodySchema.safeParse(json);
      // The relay's words reach the log and the screen: bounded, and no control characters.
      const code = parsed.success ? printable(parsed.data.error.code).slice(0, 64) : 'http_error';
      const message = parsed.success ? printable(parsed.data.error.message).slice(0, 300) : `HTTP ${res.status}`;
      throw new RelayError(`${method} ${path}: ${message}`, res.status, code);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`);
      throw new RelayError(`${method} ${path}: unexpected answer (${printable(issues.join('; ')).slice(0, 300)})`, 0, 'bad_answer');
    }
    return parsed.data;
  }

  pairStart(req: PairRequest): Promise<PairStarted> {
    return this.request('POST', '/v1/pair', PairStartedSchema, req);
  }

  pairPoll(pairingId: string, pairingSecret: string): Promise<PairPoll> {
    return this.request('GET', `/v1/pair/${encodeURIComponent(pairingId)}`, PairPollSchema, undefined, { 'x-pairing-secret': pairingSecret });
  }

  me(): Promise<TerminalInfo> {
    return this.request('GET', '/v1/me', TerminalInfoSchema);
  }

  createSale(req: CreateSaleRequest): Promise<SaleView> {
    return this.request('POST', '/v1/sales', SaleViewSchema, req);
  }

  getSale(saleId: string): Promise<SaleView> {
    return this.request('GET', `/v1/sales/${encodeURIComponent(saleId)}`, SaleViewSchema);
  }

  expireSale(saleId: string): Promise<SaleView> {
    return this.request('POST', `/v1/sales/${encodeURIComponent(saleId)}/expire`, SaleViewSchema, {});
  }

  refund(saleId: string, req: RefundRequest): Promise<RefundView> {
    return this.request('POST', `/v1/sales/${encodeURIComponent(saleId)}/refunds`, RefundViewSchema, req);
  }

  listSales(sinceIso: string, limit = 500): Promise<SaleView[]> {
    return this.request('GET', `/v1/sales?since=${encodeURIComponent(sinceIso)}&limit=${limit}`, SalesListSchema).then((r) => r.sales);
  }

  postRecords(records: JournalRecord[]): Promise<{ accepted: number; duplicates: number }> {
    return this.request('POST', '/v1/records', RecordsAnswerSchema, { records });
  }

  /** Fleet updates: the release the operator rolled out to this terminal (for its architecture), or none. */
  releaseOffer(arch: string): Promise<ReleaseOffer> {
    return this.request('GET', `/v1/release?arch=${encodeURIComponent(arch)}`, ReleaseOfferSchema);
  }

  reportRelease(r: ReleaseReport): Promise<{ recorded: true }> {
    return this.request('POST', '/v1/release/report', RecordedSchema, r);
  }

  /**
   * Downloads the bundle of `version` from the relay (this link's address and credential only)
   * into `dest` (0600), at most `maxBytes`. Returns its size and SHA-256 (of the whole file).
   * With `resume` and a partial `dest`, asks for the rest only (`Range`, `If-Range` with the ETag
   * the relay gives the bundle: its SHA-256); a relay that sends all of it again starts the file
   * over. `signal` stops the download (RelayError `aborted`) and keeps what was written.
   */
  async downloadBundle(
    version: string,
    arch: string,
    dest: string,
    o: { maxBytes: number; timeoutMs: number; signal?: AbortSignal; resume?: { sha256: string } },
  ): Promise<{ bytes: number; sha256: string; resumedFrom: number }> {
    const path = `/v1/release/${encodeURIComponent(version)}/bundle?arch=${encodeURIComponent(arch)}`;
    const u = new URL(this.base + path);
    const headers: Record<string, string> = { accept: 'application/gzip', ...(this.opts.version ? { 'x-qrpos-version': this.opts.version } : {}) };
    const cred = this.opts.credential();
    if (cred) headers.authorization = `Bearer ${cred}`;
    let have = 0;
    if (o.resume) {
      have = fs.existsSync(dest) ? fs.statSync(dest).size : 0;
      if (have > 0 && have < o.maxBytes) {
        headers.range = `bytes=${have}-`;
        headers['if-range'] = `"${o.resume.sha256}"`;
      } else have = 0;
    }
    // What is on disk already counts towards the SHA-256 of a resumed download.
    const prefix = crypto.createHash('sha256');
    if (have > 0) await hashInto(prefix, dest, have);
    const lib = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let out: fs.WriteStream | null = null;
      const fail = (err: RelayError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        req.destroy();
        // Everything written is on disk before the caller looks at the file (to resume from it).
        if (out && !out.closed) {
          out.once('close', () => reject(err));
          out.destroy();
        } else reject(err);
      };
      const onAbort = () => fail(new RelayError(`GET ${path}: download paused`, 0, 'aborted'));
      const timer = setTimeout(() => fail(new RelayError(`GET ${path}: download timed out`, 0, 'unreachable')), o.timeoutMs);
      const req = lib.request(u, { method: 'GET', headers }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200 && status !== 206) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.length < 16 && chunks.push(c));
          res.on('end', () => {
            const parsed = ErrorBodySchema.safeParse((() => {
              try {
                return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
              } catch {
                return null;
              }
            })());
            const message = parsed.success ? printable(parsed.data.error.message).slice(0, 300) : `HTTP ${status}`;
            fail(new RelayError(`GET ${path}: ${message}`, status, parsed.success ? printable(parsed.data.error.code).slice(0, 64) : 'http_error'));
          });
          return;
        }
        let from = 0;
        if (status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
          if (!have || !m || Number(m[1]) !== have) {
            res.resume();
            return fail(new RelayError(`GET ${path}: the relay sent a part of the bundle that was not asked for (${String(res.headers['content-range'])})`, 0, 'bad_range'));
          }
          from = have;
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && from + declared > o.maxBytes) {
          res.resume();
          return fail(new RelayError(`GET ${path}: the bundle is ${from + declared} bytes, more than ${o.maxBytes}`, 0, 'too_large'));
        }
        const hash = from ? prefix : crypto.createHash('sha256');
        const sink = fs.createWriteStream(dest, { mode: 0o600, flags: from ? 'a' : o.resume ? 'w' : 'wx' });
        out = sink;
        let bytes = from;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          hash.update(c);
          if (bytes > o.maxBytes) fail(new RelayError(`GET ${path}: the relay sent more than ${o.maxBytes} bytes`, 0, 'too_large'));
        });
        res.on('error', (err) => fail(new RelayError(`GET ${path}: download broke off (${err.message})`, 0, 'unreachable')));
        res.on('aborted', () => fail(new RelayError(`GET ${path}: download broke off`, 0, 'unreachable')));
        res.pipe(sink);
        sink.on('error', (err) => fail(new RelayError(`GET ${path}: cannot write ${dest} (${err.message})`, 0, 'storage')));
        sink.on('finish', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          resolve({ bytes, sha256: hash.digest('hex'), resumedFrom: from });
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => fail(new RelayError(`GET ${path}: relay unreachable (${err.code ?? err.message})`, 0, 'unreachable')));
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      req.end();
    });
  }
}

/** Feeds the first `bytes` of `file` into `hash`. */
async function hashInto(hash: crypto.Hash, file: string, bytes: number): Promise<void> {
  for await (const chunk of fs.createReadStream(file, { start: 0, end: bytes - 1 })) hash.update(chunk as Buffer);
}
