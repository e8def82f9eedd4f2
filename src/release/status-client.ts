/**
 * The upgrade's side of the terminal's status endpoint (src/terminal/status-server.ts), on
 * 127.0.0.1:<port> or a unix socket as the config's statusListen says: GET /status, GET /ready,
 * and POST / DELETE /hold to hold new sales for the moment of the switch.
 */
import http from 'node:http';

export interface EndpointAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

export interface StatusClient {
  /** Where it talks to, for messages. */
  readonly address: string;
  get(p: '/status' | '/ready'): Promise<EndpointAnswer>;
  /** Holds new sales for `seconds` (renewable); 0 releases. */
  hold(seconds: number, reason: string): Promise<EndpointAnswer>;
  release(): Promise<EndpointAnswer>;
}

/** statusListen ("127.0.0.1:7601", "[::1]:7601", "/run/qrpos/status.sock", "unix:/...") to a client. */
export function statusClient(listen: string, timeoutMs = 3000): StatusClient {
  const unix = listen.startsWith('/') || listen.startsWith('./') || listen.startsWith('unix:');
  let target: { socketPath: string } | { host: string; port: number };
  if (unix) target = { socketPath: listen.replace(/^unix:/, '') };
  else {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
    if (!m) throw new Error(`statusListen "${listen}" is neither host:port nor a socket path`);
    target = { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }
  const address = 'socketPath' in target ? target.socketPath : `http://${listen}`;
  const request = (method: string, p: string, body?: unknown): Promise<EndpointAnswer> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = http.request(
        {
          ...target,
          method,
          path: p,
          // The endpoint refuses other host names (DNS rebinding); a socket has none to check.
          headers: { host: 'socketPath' in target ? 'localhost' : listen, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let parsed: Record<string, unknown> | null;
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              parsed = null;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${address} within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  return {
    address,
    get: (p) => request('GET', p),
    hold: (seconds, reason) => request('POST', '/hold', { seconds, reason }),
    release: () => request('DELETE', '/hold'),
  };
}
