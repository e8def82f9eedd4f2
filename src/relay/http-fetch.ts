/**
 * The part of `fetch` the Omise client uses, on node:http(s) with a keep-alive agent. The
 * relay calls Omise once per webhook; the built-in fetch (undici) costs several times the CPU
 * of a plain http request for such small calls, and at hundreds of webhooks a second that
 * was a fifth of the relay's main thread.
 *
 * Supported: method, string headers, string body, AbortSignal, redirect 'error' (a 3xx is a
 * network error, as with fetch). The answer has status, ok, headers.get, arrayBuffer, text, json.
 */
import http from 'node:http';
import https from 'node:https';
import { httpRequest, type HttpAnswer } from '../shared/http-request';

export interface LeanInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal | null;
  redirect?: string;
}

class LeanHeaders {
  constructor(private readonly raw: http.IncomingHttpHeaders) {}

  get(name: string): string | null {
    const v = this.raw[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }
}

export class LeanResponse {
  readonly ok: boolean;
  readonly headers: LeanHeaders;

  constructor(
    readonly status: number,
    headers: http.IncomingHttpHeaders,
    private readonly body: Buffer,
  ) {
    this.ok = status >= 200 && status < 300;
    this.headers = new LeanHeaders(headers);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.body;
    return Promise.resolve(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);
  }

  text(): Promise<string> {
    return Promise.resolve(this.body.toString('utf8'));
  }

  json(): Promise<unknown> {
    return this.text().then((t) => JSON.parse(t) as unknown);
  }
}

/** What the Omise client sends through `fetch`. */
export interface LeanRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  redirect?: string;
}

/**
 * HTTP exchanges over their own keep-alive agents: the part of leanFetch that does the I/O (also
 * what the Omise transport thread runs). `close()` frees the agents' sockets.
 */
export function leanExchanger(opts: { maxSockets?: number } = {}): {
  exchange(req: LeanRequest, signal?: AbortSignal): Promise<HttpAnswer>;
  close(): void;
} {
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64, scheduling: 'fifo' as const };
  const agents = { http: new http.Agent(agentOpts), https: new https.Agent(agentOpts) };
  return {
    async exchange(req, signal) {
      const url = new URL(req.url);
      const answer = await httpRequest(url, {
        method: req.method ?? 'GET',
        headers: req.headers,
        body: req.body,
        signal,
        agent: url.protocol === 'https:' ? agents.https : agents.http,
        // Omise's largest answers (lists of 100 charges, QR documents) are far below this.
        maxAnswerBytes: 16 * 1024 * 1024,
      });
      if (answer.status >= 300 && answer.status < 400 && req.redirect === 'error' && answer.headers.location !== undefined) {
        throw new TypeError('unexpected redirect');
      }
      return answer;
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** The fetch-compatible answer around an exchange's result. */
export function leanResponse(answer: HttpAnswer): LeanResponse {
  return new LeanResponse(answer.status, answer.headers, answer.body);
}

/** Only what OmiseClient touches is implemented; the cast states that contract in one place. */
export function asFetch(impl: (input: string | URL | Request, init?: LeanInit) => Promise<LeanResponse>, close: () => void): typeof fetch & { close(): void } {
  const f = impl as unknown as typeof fetch & { close(): void };
  f.close = close;
  return f;
}

export function requestOf(input: string | URL | Request, init: LeanInit = {}): LeanRequest {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return { url, method: init.method, headers: init.headers, body: init.body, redirect: init.redirect };
}

/** A fetch-compatible function over its own keep-alive agents, on this thread; `close()` frees their sockets. */
export function leanFetch(opts: { maxSockets?: number } = {}): typeof fetch & { close(): void } {
  const x = leanExchanger(opts);
  return asFetch(async (input, init = {}) => leanResponse(await x.exchange(requestOf(input, init), init.signal ?? undefined)), () => x.close());
}
