import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../shared/log';
import { ConfigError, loadRelaySecrets, parseRelayConfig, storeLocation } from './config';
import { openRelayStore } from './open-store';
import { SqliteStore } from './sqlite-store';

const URL_WITH_PASSWORD = 'postgres://relay:hunter2-very-secret@127.0.0.1:1/qrpos';
const base = { version: 1, country: 'TH' } as const;

describe('relay store setting', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-open-store-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('absent or sqlite: the SQLite file in dataDir', async () => {
    for (const store of [undefined, 'sqlite']) {
      const config = parseRelayConfig({ ...base, dataDir: dir, ...(store ? { store } : {}) });
      expect(storeLocation(config)).toEqual({ kind: 'sqlite', dataDir: dir });
      const log = memoryLogger();
      const s = await openRelayStore(config, log);
      try {
        expect(s).toBeInstanceOf(SqliteStore);
        expect(fs.existsSync(path.join(dir, 'relay.db'))).toBe(true);
      } finally {
        await s.close();
      }
    }
  });

  it('postgres: the URL from the secrets (file or QRPOS_STORE_URL), never echoed in an error', () => {
    const config = parseRelayConfig({ ...base, dataDir: dir, store: 'postgres' });
    expect(storeLocation(config, { storeUrl: URL_WITH_PASSWORD })).toEqual({ kind: 'postgres', url: URL_WITH_PASSWORD });
    expect(() => storeLocation(config, {})).toThrow(ConfigError);
    expect(() => storeLocation(config, {})).toThrow(/storeUrl in the secrets file or QRPOS_STORE_URL/);
    // A URL in the config file works; one among the secrets wins.
    const inFile = parseRelayConfig({ ...base, dataDir: dir, store: 'postgresql://a:b@h/d' });
    expect(storeLocation(inFile)).toEqual({ kind: 'postgres', url: 'postgresql://a:b@h/d' });
    expect(storeLocation(inFile, { storeUrl: URL_WITH_PASSWORD })).toEqual({ kind: 'postgres', url: URL_WITH_PASSWORD });
    // Not a store: the message says what is accepted, without the value.
    let msg = '';
    try {
      parseRelayConfig({ ...base, dataDir: dir, store: 'mysql://relay:hunter2-very-secret@db/qrpos' });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/store: sqlite, postgres, or a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(msg).not.toContain('hunter2');
  });

  it('the secret storeUrl comes from the environment like the other secrets, and a bad one is not echoed', () => {
    const env = {
      QRPOS_OMISE_SECRET_KEY: 'skey_test_abcdefghijklmnop',
      QRPOS_WEBHOOK_SECRET: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64'),
      QRPOS_ADMIN_TOKEN: 'a-long-enough-admin-token-value-4f9c2e7b',
    };
    expect(loadRelaySecrets(undefined, { ...env, QRPOS_STORE_URL: URL_WITH_PASSWORD }).storeUrl).toBe(URL_WITH_PASSWORD);
    let msg = '';
    try {
      loadRelaySecrets(undefined, { ...env, QRPOS_STORE_URL: 'http://relay:hunter2-very-secret@db/qrpos' });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/storeUrl: a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(msg).toContain('QRPOS_STORE_URL');
    expect(msg).not.toContain('hunter2');
  });

  it('postgres that cannot be reached: a clear error, without the URL, nothing logged of it', async () => {
    const config = parseRelayConfig({ ...base, dataDir: dir, store: 'postgres' });
    const log = memoryLogger();
    let err: Error | undefined;
    try {
      const s = await openRelayStore(config, log, { storeUrl: URL_WITH_PASSWORD });
      await s.close();
    } catch (e) {
      err = e as Error;
    }
    expect(err).toBeDefined();
    expect(String(err?.message)).not.toContain('hunter2');
    expect(String(err?.message)).toContain('127.0.0.1');
    expect(log.lines.join('\n')).not.toContain('hunter2');
  }, 30_000);
});
