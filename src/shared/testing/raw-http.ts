/** Test support: one raw node:http request, for the listeners' HTTP hygiene tests. */
import http from 'node:http';

export type RawAnswer = { status: number; body: string } | { error: string };

/**
 * Resolves with the status and body, or with the socket error the client saw (a reset shows as
 * `{ error: 'ECONNRESET' }`, so a test can tell it from an answer).
 */
export function rawRequest(
  target: string | { socketPath: string },
  opts: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string; chunked?: boolean },
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const where = typeof target === 'string' ? { host: new URL(target).hostname, port: new URL(target).port } : { socketPath: target.socketPath };
    const req = http.request({ ...where, method: opts.method, path: opts.path, headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('error', (e) => resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    const body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    if (body && opts.chunked) {
      // Several writes without Content-Length: the server learns the size only while reading.
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
      req.end();
    } else req.end(body);
  });
}
