import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseRelayConfig } from './config';
import { startRelay, type RelayHandle } from './server';
import { ADMIN_TOKEN } from './testkit';

describe('relay over TLS', () => {
  let dir: string;
  let relay: RelayHandle;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-tls-'));
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    relay = await startRelay({
      config: parseRelayConfig({
        version: 1,
        listen: { host: '127.0.0.1', port: 0 },
        tls: { certFile: cert, keyFile: key },
        country: 'TH',
        omise: { baseUrl: 'http://127.0.0.1:9' },
        dataDir: path.join(dir, 'data'),
        reconcile: { intervalMs: 3_600_000, webhookOverdueMs: 0 },
      }),
      secrets: { omiseSecretKey: 'skey_test_x', webhookSecret: Buffer.alloc(32, 1).toString('base64'), adminToken: ADMIN_TOKEN },
    });
  });
  afterAll(async () => {
    await relay.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS and refuses an unauthenticated WSS stream', async () => {
    expect(relay.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`${relay.url}/healthz`, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(200);
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${relay.url.replace('https', 'wss')}/v1/stream`, { rejectUnauthorized: false });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(refused).toBe(401);
  });
});
