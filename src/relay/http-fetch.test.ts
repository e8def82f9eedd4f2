import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanFetch } from './http-fetch';

describe('leanFetch', () => {
  let server: http.Server;
  let base: string;
  const f = leanFetch();
  const seen: { method?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url === '/hang') return; // never answers
        if (req.url === '/moved') {
          res.writeHead(302, { location: '/elsewhere' }).end();
          return;
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'x-twice': ['a', 'b'] });
        res.end(JSON.stringify({ path: req.url, method: req.method }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    f.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('answers like fetch: status, ok, headers, body', async () => {
    const res = await f(`${base}/charges/chrg_1`, { headers: { authorization: 'Basic x' } });
    expect(res.status).toBe(200);
    expect(res.ok).toBe(true);
    expect(res.headers.get('Content-Type')).toBe('application/json');
    expect(res.headers.get('x-twice')).toBe('a, b');
    expect(res.headers.get('x-absent')).toBeNull();
    expect(JSON.parse(Buffer.from(await res.arrayBuffer()).toString())).toEqual({ path: '/charges/chrg_1', method: 'GET' });
    expect(seen.at(-1)!.headers.authorization).toBe('Basic x');

    const missing = await f(`${base}/missing`);
    expect(missing.status).toBe(404);
    expect(missing.ok).toBe(false);
  });

  it('sends a POST body with its length', async () => {
    const res = await f(`${base}/charges`, { method: 'POST', body: 'amount=2000&currency=THB', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(await res.json()).toEqual({ path: '/charges', method: 'POST' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', body: 'amount=2000&currency=THB' });
    expect(seen.at(-1)!.headers['content-length']).toBe('24');
  });

  it('refuses a redirect when asked to, as fetch does', async () => {
    await expect(f(`${base}/moved`, { redirect: 'error' })).rejects.toThrow(TypeError);
  });

  it('rejects with the abort reason when the signal fires, and frees the request', async () => {
    const c = new AbortController();
    const p = f(`${base}/hang`, { signal: c.signal });
    setTimeout(() => c.abort(), 20);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await expect(f(`${base}/x`, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('reports network errors with their code', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(f(`http://127.0.0.1:${port}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
