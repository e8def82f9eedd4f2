/**
 * A small JSON-over-HTTP client on node:http / node:https with kept-alive connections, for the
 * relay link. It replaces the global fetch (undici), which on the device cost ~3 MB of the node
 * binary's pages and ~4 MB of heap just to load, and several times more garbage per request
 * (WHATWG streams, Headers, AbortSignal timers) than this: the terminal makes three or four
 * requests per sale, all small JSON.
 */
import http from 'node:http';
import https from 'node:https';
import { httpRequest, HttpTransportError } from '../shared/http-request';

export { HttpTransportError };

export interface HttpAnswer {
  status: number;
  text: string;
}

export interface HttpClientOptions {
  /** Answers larger than this are refused (a relay listing hundreds of sales is a few MB). */
  maxAnswerBytes?: number;
}

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly maxAnswerBytes: number;

  constructor(baseUrl: string, opts: HttpClientOptions = {}) {
    // One connection is all a terminal needs most of the time; a few allow a status poll next
    // to an outbox command. Node's agent drops an idle socket before the server's Keep-Alive
    // timeout (it reads the header), so a reused socket is rarely stale.
    const agentOpts = { keepAlive: true, maxSockets: 4, maxFreeSockets: 2 };
    this.agent = new URL(baseUrl).protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
    this.maxAnswerBytes = opts.maxAnswerBytes ?? 32 * 1024 * 1024;
  }

  async request(method: 'GET' | 'POST', url: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
    const once = async () => {
      const a = await httpRequest(url, { method, headers, body, agent: this.agent, timeoutMs, maxAnswerBytes: this.maxAnswerBytes });
      return { status: a.status, text: a.body.toString('utf8') };
    };
    try {
      return await once();
    } catch (err) {
      // A kept-alive socket the server closed just as we reused it: nothing reached the relay,
      // so one immediate retry on a new connection is safe (and every relay call is idempotent).
      if (err instanceof HttpTransportError && err.staleSocket) return once();
      throw err;
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
