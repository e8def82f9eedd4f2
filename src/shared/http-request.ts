/**
 * One small HTTP request on node:http / node:https over a caller's keep-alive agent, with the
 * answer collected into a Buffer. The relay's Omise transport and the terminal's relay client
 * both stand on it instead of the built-in fetch (undici), which for small JSON calls costs about
 * three times the CPU per request and, on a terminal, ~10 MB more RSS and ~65 ms more to its first
 * request (scripts/bench/libraries.ts; docs/architecture.md, "Libraries and hand-written code").
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** The agent for the URL's protocol (http.Agent or https.Agent), normally kept alive. */
  agent: http.Agent;
  /** Rejects with the signal's reason (or an AbortError) and destroys the request. */
  signal?: AbortSignal;
  /** Rejects with an HttpTransportError of code 'timeout'. */
  timeoutMs?: number;
  /** Answers larger than this reject with code 'too_large'. */
  maxAnswerBytes?: number;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class HttpTransportError extends Error {
  constructor(
    message: string,
    /** 'timeout', 'too_large', or the socket error's code (ECONNREFUSED, ECONNRESET, …). */
    readonly code: string,
    /**
     * The failure came from a kept-alive socket the server had closed, before any answer: the
     * request cannot have been processed, so retrying it once on a new connection is safe.
     */
    readonly staleSocket = false,
  ) {
    super(message);
    this.name = 'HttpTransportError';
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
}

export function httpRequest(url: string | URL, opts: HttpRequestOptions): Promise<HttpAnswer> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  const headers = payload ? { ...opts.headers, 'content-length': String(payload.length) } : (opts.headers ?? {});
  const mod = target.protocol === 'https:' ? https : http;
  const maxBytes = opts.maxAnswerBytes ?? Infinity;
  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false;
    let gotResponse = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(answer!);
    };
    const req = mod.request(target, { method: opts.method, agent: opts.agent, headers });
    const onAbort = () => {
      const err = abortError(signal!);
      finish(err);
      req.destroy(err);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        finish(new HttpTransportError(`timed out after ${opts.timeoutMs} ms`, 'timeout'));
        req.destroy();
      }, opts.timeoutMs);
    }
    req.on('error', (err: Error & { code?: string }) => {
      const code = err.code ?? 'EIO';
      const stale = !gotResponse && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
      finish(new HttpTransportError(err.message, code, stale));
    });
    req.on('response', (res) => {
      gotResponse = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          finish(new HttpTransportError(`answer larger than ${maxBytes} bytes`, 'too_large'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) }));
      res.on('error', (err: Error & { code?: string }) => finish(new HttpTransportError(err.message, err.code ?? 'EIO')));
      res.on('close', () => {
        if (!res.complete) finish(new HttpTransportError('connection closed before the answer was complete', 'ECONNRESET'));
      });
    });
    req.end(payload);
  });
}
