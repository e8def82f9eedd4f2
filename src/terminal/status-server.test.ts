import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/log';
import { startStatusServer, type StatusServer, type TerminalStatus } from './status-server';

/** A raw GET with a chosen Host header, over TCP or a unix socket. */
function get(target: { port?: number; socketPath?: string }, p: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...(target.socketPath ? { socketPath: target.socketPath } : { host: '127.0.0.1', port: target.port }), path: p, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('terminal status endpoint', () => {
  let server: StatusServer | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    server = undefined;
    dir = undefined;
  });
  const status = () => ({ state: 'idle', ready: true }) as unknown as TerminalStatus;

  it('refuses a Host header that names another site (DNS rebinding), and answers by address or localhost', async () => {
    server = await startStatusServer({ listen: '127.0.0.1:0', status, log: silentLogger });
    const port = Number(new URL(server.address).port);
    for (const host of ['evil.example', `evil.example:${port}`, 'rebind.127.0.0.1.nip.io']) {
      const r = await get({ port }, '/status', host);
      expect(r.status, host).toBe(403);
      expect(r.body).not.toContain('idle');
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) expect((await get({ port }, '/status', host)).status, host).toBe(200);
  });

  it('on a unix socket (no browser reaches it) any Host is answered', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-status-'));
    const socketPath = path.join(dir, 'status.sock');
    server = await startStatusServer({ listen: socketPath, status, log: silentLogger });
    expect((await get({ socketPath }, '/status', 'anything.example')).status).toBe(200);
  });
});
