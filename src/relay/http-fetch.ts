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
import { httpRequest } from '../shared/http-request';

interface LeanInit {
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

class LeanResponse {
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

/** A fetch-compatible function over its own keep-alive agents; `close()` frees their sockets. */
export function leanFetch(opts: { maxSockets?: number } = {}): typeof fetch & { close(): void } {
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? 64, scheduling: 'fifo' as const };
  const agents = { http: new http.Agent(agentOpts), https: new https.Agent(agentOpts) };
  const impl = async (input: string | URL | Request, init: LeanInit = {}): Promise<LeanResponse> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const answer = await httpRequest(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      body: init.body,
      signal: init.signal ?? undefined,
      agent: url.protocol === 'https:' ? agents.https : agents.http,
      // Omise's largest answers (lists of 100 charges, QR documents) are far below this.
      maxAnswerBytes: 16 * 1024 * 1024,
    });
    if (answer.status >= 300 && answer.status < 400 && init.redirect === 'error' && answer.headers.location !== undefined) {
      throw new TypeError('unexpected redirect');
    }
    return new LeanResponse(answer.status, answer.headers, answer.body);
  };
  // Only what OmiseClient touches is implemented; the cast states that contract in one place.
  const f = impl as unknown as typeof fetch & { close(): void };
  f.close = () => {
    agents.http.destroy();
    agents.https.destroy();
  };
  return f;
}
