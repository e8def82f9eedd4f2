/**
 * A small JSON-over-HTTP client on node:http / node:https with kept-alive connections, for the
 * relay link. It replaces the global fetch (undici), which on the device cost ~3 MB of the node
 * binary's pages and ~4 MB of heap just to load, and several times more garbage per request
 * (WHATWG streams, Headers, AbortSignal timers) than this: the terminal makes three or four
 * requests per sale, all small JSON.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  text: string;
}

export class HttpTransportError extends Error {
  constructor(
    message: string,
    /** 'timeout', a socket error code (ECONNREFUSED, ECONNRESET, …) or 'too_large'. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'HttpTransportError';
  }
}

export interface HttpClientOptions {
  /** Answers larger than this are refused (a relay listing hundreds of sales is a few MB). */
  maxAnswerBytes?: number;
}

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly secure: boolean;
  private readonly maxAnswerBytes: number;

  constructor(baseUrl: string, opts: HttpClientOptions = {}) {
    this.secure = new URL(baseUrl).protocol === 'https:';
    // One connection is all a terminal needs most of the time; a few allow a status poll next
    // to an outbox command. Node's agent drops an idle socket before the server's Keep-Alive
    // timeout (it reads the header), so a reused socket is rarely stale.
    const agentOpts = { keepAlive: true, maxSockets: 4, maxFreeSockets: 2 };
    this.agent = this.secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.maxAnswerBytes = opts.maxAnswerBytes ?? 32 * 1024 * 1024;
  }

  async request(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
    try {
      return await this.once(method, url, headers, body, timeoutMs);
    } catch (err) {
      // A kept-alive socket the server closed just as we reused it: nothing reached the relay,
      // so one immediate retry on a new connection is safe (and every relay call is idempotent).
      if (err instanceof StaleSocketError) return this.once(method, url, headers, body, timeoutMs);
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private once(method: string, url: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const mod = this.secure ? https : http;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      let gotResponse = false;
      const finish = (err: Error | null, answer?: HttpAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(answer!);
      };
      const req = mod.request(url, {
        method,
        agent: this.agent,
        headers: payload ? { ...headers, 'content-length': String(payload.length) } : headers,
      });
      const timer = setTimeout(() => {
        finish(new HttpTransportError(`timed out after ${timeoutMs} ms`, 'timeout'));
        req.destroy();
      }, timeoutMs);
      req.on('error', (err: Error & { code?: string }) => {
        const code = err.code ?? 'EIO';
        const stale = !gotResponse && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
        finish(stale ? new StaleSocketError(err.message) : new HttpTransportError(err.message, code));
      });
      req.on('response', (res) => {
        gotResponse = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxAnswerBytes) {
            finish(new HttpTransportError(`answer larger than ${this.maxAnswerBytes} bytes`, 'too_large'));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, text: Buffer.concat(chunks, size).toString('utf8') }));
        res.on('error', (err: Error & { code?: string }) => finish(new HttpTransportError(err.message, err.code ?? 'EIO')));
        res.on('close', () => {
          if (!res.complete) finish(new HttpTransportError('connection closed before the answer was complete', 'ECONNRESET'));
        });
      });
      req.end(payload);
    });
  }
}

class StaleSocketError extends HttpTransportError {
  constructor(message: string) {
    super(message, 'ECONNRESET');
  }
}
