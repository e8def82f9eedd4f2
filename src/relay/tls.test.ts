import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseRelayConfig } from './config';
import { startRelay, tlsOptions, type RelayHandle } from './server';
import { ADMIN_TOKEN } from './testing/testkit';

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

  /** The TLS version and cipher a client gets, or the handshake error. */
  const handshake = (opts: tls.ConnectionOptions) =>
    new Promise<{ version: string | null; cipher: string } | { error: string }>((resolve) => {
      const port = Number(new URL(relay.url).port);
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
        resolve({ version: s.getProtocol(), cipher: s.getCipher().name });
        s.end();
      });
      s.on('error', (e) => resolve({ error: e.message }));
    });

  it('speaks TLS 1.3, and TLS 1.2 only with forward-secret AEAD suites', async () => {
    expect(await handshake({})).toMatchObject({ version: 'TLSv1.3' });
    const tls12 = await handshake({ maxVersion: 'TLSv1.2' });
    expect(tls12).toMatchObject({ version: 'TLSv1.2', cipher: expect.stringMatching(/^ECDHE-RSA-(AES\d+-GCM|CHACHA20)/) });
    // Static-RSA key exchange (no forward secrecy) and CBC suites: refused.
    for (const cipher of ['AES128-GCM-SHA256', 'AES256-SHA256', 'ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA']) {
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: cipher }), cipher).toHaveProperty('error');
    }
    expect(await handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' })).toHaveProperty('error');
  });

  it('takes a renewed certificate on reload, for new connections, without a restart', async () => {
    const subjectSeen = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: Number(new URL(relay.url).port), rejectUnauthorized: false }, () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        });
        s.on('error', reject);
      });
    expect(await subjectSeen()).toBe('127.0.0.1');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=renewed.test'], { stdio: 'ignore' });
    fs.chmodSync(key, 0o600);
    relay.reloadTls();
    expect(await subjectSeen()).toBe('renewed.test');
  });

  it('refuses a private key every user can read, and plain HTTP off loopback', () => {
    const key = path.join(dir, 'key.pem');
    fs.chmodSync(key, 0o644);
    try {
      expect(() => tlsOptions({ certFile: path.join(dir, 'cert.pem'), keyFile: key })).toThrow(/readable by every user \(mode 0644\): chmod o-r/);
      fs.chmodSync(key, 0o640);
      expect(tlsOptions({ certFile: path.join(dir, 'cert.pem'), keyFile: key }).minVersion).toBe('TLSv1.2');
    } finally {
      fs.chmodSync(key, 0o600);
    }
    const base = { version: 1, country: 'TH', dataDir: path.join(dir, 'data') };
    expect(() => parseRelayConfig({ ...base, listen: { host: '0.0.0.0', port: 8443 } })).toThrow(/listen\.host: plain HTTP on 0\.0\.0\.0 would carry credentials in clear/);
    expect(() => parseRelayConfig({ ...base, publicUrl: 'http://relay.example.com' })).toThrow(/publicUrl: must be https/);
    expect(parseRelayConfig(base).listen.host).toBe('127.0.0.1');
    expect(parseRelayConfig({ ...base, listen: { host: '0.0.0.0', port: 8443 }, allowPlainHttp: true }).allowPlainHttp).toBe(true);
    expect(parseRelayConfig({ ...base, listen: { host: '0.0.0.0', port: 8443 }, tls: { certFile: 'c', keyFile: 'k' } }).tls).toBeTruthy();
  });
});
