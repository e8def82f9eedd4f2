import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../shared/log';
import { rawRequest } from '../shared/testing/raw-http';
import { startStatusServer, type StatusServer, type TerminalStatus } from './status-server';

/** A raw GET with a chosen Host header, over TCP or a unix socket. */
const get = (target: { port?: number; socketPath?: string }, p: string, host: string) =>
  rawRequest(target.socketPath ? { socketPath: target.socketPath } : `http://127.0.0.1:${target.port}`, { method: 'GET', path: p, headers: { host } });

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
      expect(r, host).toMatchObject({ status: 403 });
      expect('body' in r ? r.body : '').not.toContain('idle');
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) expect(await get({ port }, '/status', host), host).toMatchObject({ status: 200 });
  });

  it('on a unix socket (no browser reaches it) any Host is answered', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-status-'));
    const socketPath = path.join(dir, 'status.sock');
    server = await startStatusServer({ listen: socketPath, status, log: silentLogger });
    expect(await get({ socketPath }, '/status', 'anything.example')).toMatchObject({ status: 200 });
  });
});
