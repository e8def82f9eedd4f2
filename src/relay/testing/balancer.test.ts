import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../shared/testing/free-port';
import { startBalancer, type Balancer } from './balancer';

const servers: http.Server[] = [];
let balancer: Balancer | undefined;
afterEach(async () => {
  await balancer?.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function backend(tag: string): Promise<{ host: string; port: number; server: http.Server }> {
  const server = http.createServer((_req, res) => res.end(tag));
  server.keepAliveTimeout = 1;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port, server };
}

const get = (url: string) =>
  new Promise<string>((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });

describe('the test load balancer', () => {
  it('spreads connections over the backends in turn and skips one that is down', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const down = { host: '127.0.0.1', port: await freePort() };
    balancer = await startBalancer([a, down, b]);
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await get(balancer.url));
    expect(seen.filter((s) => s === 'a').length).toBeGreaterThanOrEqual(2);
    expect(seen.filter((s) => s === 'b').length).toBeGreaterThanOrEqual(2);
    expect(seen.every((s) => s === 'a' || s === 'b')).toBe(true);
  });

  it('closes the client when every backend is down', async () => {
    balancer = await startBalancer([{ host: '127.0.0.1', port: await freePort() }]);
    await expect(get(balancer.url)).rejects.toThrow();
  });
});
