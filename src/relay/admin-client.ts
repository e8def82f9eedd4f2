/**
 * The operator CLI's way to the running relay: its admin API with the admin token, instead of
 * writing the relay's database or files behind its back. The address is the relay's own listen
 * address from its config (a wildcard address means this machine), or --url.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { RelayConfig } from './config';

export class AdminApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

/** Where the relay of `config` answers on this machine. */
export function localRelayUrl(config: Pick<RelayConfig, 'listen' | 'tls'>): string {
  let host = config.listen.host;
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '::1';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `${config.tls ? 'https' : 'http'}://${host}:${config.listen.port}`;
}

export interface AdminClientOptions {
  baseUrl: string;
  token: string;
  /** The name the relay's TLS certificate carries when baseUrl is an address (its publicUrl's host). */
  servername?: string;
  timeoutMs?: number;
}

export class AdminClient {
  constructor(private readonly o: AdminClientOptions) {}

  /** A JSON request; a file body is streamed (a release bundle). Throws AdminApiError with the relay's message. */
  request<T>(method: 'GET' | 'POST' | 'DELETE', p: string, body?: { json: unknown } | { file: string }): Promise<T> {
    const u = new URL(p, this.o.baseUrl);
    const lib = u.protocol === 'https:' ? https : http;
    const headers: Record<string, string | number> = { authorization: `Bearer ${this.o.token}`, accept: 'application/json' };
    let payload: Buffer | undefined;
    if (body && 'json' in body) {
      payload = Buffer.from(JSON.stringify(body.json));
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    } else if (body) {
      headers['content-type'] = 'application/gzip';
      headers['content-length'] = fs.statSync(body.file).size;
    }
    return new Promise<T>((resolve, reject) => {
      const req = lib.request(
        u,
        { method, headers, timeout: this.o.timeoutMs ?? 10 * 60_000, ...(this.o.servername && u.protocol === 'https:' ? { servername: this.o.servername } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : null;
            } catch {
              return reject(new AdminApiError(`${method} ${u.pathname}: the relay answered HTTP ${res.statusCode} with something that is not JSON`, res.statusCode ?? 0));
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(json as T);
            const err = (json as { error?: { message?: unknown } } | null)?.error;
            reject(new AdminApiError(typeof err?.message === 'string' ? err.message : `HTTP ${status}`, status));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err: NodeJS.ErrnoException) =>
        // Never the token: only the address and the socket's error code.
        reject(new AdminApiError(`the relay at ${u.origin} does not answer: start it, or pass --url (${err.code ?? err.message})`, 0)),
      );
      if (body && 'file' in body) {
        const input = fs.createReadStream(body.file);
        input.on('error', (err) => req.destroy(err));
        input.pipe(req);
      } else req.end(payload);
    });
  }
}
