import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, HttpTransportError } from './http-client';

const servers: http.Server[] = [];
const clients: HttpClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function client(url: string, maxAnswerBytes?: number): HttpClient {
  const c = new HttpClient(url, maxAnswerBytes ? { maxAnswerBytes } : {});
  clients.push(c);
  return c;
}

describe('HttpClient', () => {
  it('sends the body and headers, returns status and text, and reuses the connection', async () => {
    const ports = new Set<number>();
    const url = await serve((req, res) => {
      ports.add(req.socket.remotePort!);
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        res.statusCode = req.headers['x-k'] === 'v' ? 201 : 400;
        res.end(JSON.stringify({ got: b, len: req.headers['content-length'] }));
      });
    });
    const c = client(url);
    for (let i = 0; i < 3; i++) {
      const a = await c.request('POST', `${url}/x`, { 'x-k': 'v' }, '{"é":1}', 2000);
      expect(a).toEqual({ status: 201, text: JSON.stringify({ got: '{"é":1}', len: '8' }) });
    }
    expect(ports.size).toBe(1);
  });

  it('a refused connection and a timeout are transport errors with a code', async () => {
    const url = await serve(() => undefined); // never answers
    const c = client(url);
    const slow = await c.request('GET', `${url}/`, {}, undefined, 100).catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(HttpTransportError);
    expect(slow).toMatchObject({ code: 'timeout', message: 'timed out after 100 ms' });
    const closed = await new Promise<string>((r) => {
      const s = http.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => r(`http://127.0.0.1:${p}`));
      });
    });
    await expect(client(closed).request('GET', `${closed}/`, {}, undefined, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('refuses an answer above the size cap', async () => {
    const url = await serve((_q, res) => res.end('x'.repeat(5000)));
    await expect(client(url, 1000).request('GET', `${url}/`, {}, undefined, 2000)).rejects.toMatchObject({ code: 'too_large' });
  });

  it('retries once, on a new connection, when a kept-alive socket is reset before any answer', async () => {
    const served = new WeakSet<object>();
    let resets = 0;
    const url = await serve((req, res) => {
      req.resume();
      // A reused connection is dropped without an answer the first time (a server restarting
      // or timing out idle sockets just as the client reuses one).
      if (served.has(req.socket) && resets === 0) {
        resets++;
        req.socket.destroy();
        return;
      }
      served.add(req.socket);
      res.end('ok');
    });
    const c = client(url);
    expect((await c.request('GET', `${url}/`, {}, undefined, 2000)).text).toBe('ok');
    expect((await c.request('POST', `${url}/`, {}, '{}', 2000)).text).toBe('ok');
    expect(resets).toBe(1);
  });

  it('does not retry a reset on a fresh connection', async () => {
    let n = 0;
    const url = await serve((req) => {
      n++;
      req.socket.destroy();
    });
    await expect(client(url).request('GET', `${url}/`, {}, undefined, 2000)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(n).toBe(1);
  });
});
