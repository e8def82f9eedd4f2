import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { command } from './cli';
import { ConfigError, loadRelayConfig, loadRelaySecrets, parseRelayConfig } from './config';

const SECRETS = {
  omisePublicKey: 'pkey_test_abcdefghijklmnop',
  omiseSecretKey: 'skey_test_abcdefghijklmnop',
  webhookSecret: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64'),
  adminToken: 'a-long-enough-admin-token-value-4f9c2e7b',
};

/** The message of the ConfigError that `fn` throws (fails the test if it throws nothing or something else). */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('relay config', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-cfg-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fills defaults and resolves paths against the config file', () => {
    const file = path.join(dir, 'relay.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, country: 'SG', dataDir: 'data', secretsFile: 'secrets.json' }));
    const cfg = loadRelayConfig(file);
    expect(cfg.omise.baseUrl).toBe('https://api.omise.co');
    expect(cfg.heartbeatMs).toBe(15000);
    expect(cfg.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    // A section left out takes each field's own default (the documented values in the README).
    expect(cfg.omise).toEqual({ baseUrl: 'https://api.omise.co', timeoutMs: 10_000 });
    expect(cfg.reconcile).toEqual({ intervalMs: 30_000, webhookOverdueMs: 60_000 });
    expect(cfg.limits).toEqual({ bodyBytes: 1_048_576, webhookBodyBytes: 262_144, maxPendingPairings: 100 });
    expect(cfg.pairing).toEqual({ codeTtlMs: 15 * 60_000, perAddressBurst: 10, perAddressPerMinute: 1, globalBurst: 60, globalPerMinute: 60, maxPendingPerAddress: 5 });
    // A section given in part keeps the defaults of the fields it leaves out.
    expect(parseRelayConfig({ version: 1, country: 'SG', dataDir: 'd', pairing: { globalBurst: 7 } }).pairing).toMatchObject({ globalBurst: 7, perAddressBurst: 10 });
    expect(cfg.dataDir).toBe(path.join(dir, 'data'));
    expect(cfg.secretsFile).toBe(path.join(dir, 'secrets.json'));
  });

  it('names each wrong field and what it expects', () => {
    const msg = configErrorOf(() => parseRelayConfig({ version: 2, country: 'US', listen: { port: 'x' }, omise: { baseUrl: 'not a url' }, heartbeatMs: -1, extra: true }));
    expect(msg).toMatch(/^ {2}version: .*1/m);
    expect(msg).toMatch(/^ {2}country: .*"TH"/m);
    expect(msg).toMatch(/^ {2}listen\.port: .*number/m);
    expect(msg).toMatch(/^ {2}omise\.baseUrl: .*URL/im);
    expect(msg).toMatch(/^ {2}heartbeatMs: /m);
    expect(msg).toMatch(/^ {2}dataDir: /m);
    expect(msg).toMatch(/extra/);
  });

  it('reports bad JSON with the file name', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, '{ "version": 1,');
    expect(() => loadRelayConfig(file)).toThrow(/bad\.json is not valid JSON/);
    expect(() => loadRelayConfig(path.join(dir, 'missing.json'))).toThrow(/cannot read relay config .*ENOENT/);
  });

  it('refuses a secrets file others can read, naming the fix', () => {
    const file = path.join(dir, 'secrets.json');
    fs.writeFileSync(file, JSON.stringify(SECRETS), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(() => loadRelaySecrets(file, {})).toThrow(/mode 0644.*chmod 600/);
    fs.chmodSync(file, 0o600);
    expect(loadRelaySecrets(file, {}).omiseSecretKey).toBe(SECRETS.omiseSecretKey);
  });

  it('lets the environment override the file, and never echoes a secret in errors', () => {
    const file = path.join(dir, 'secrets.json');
    fs.writeFileSync(file, JSON.stringify({ ...SECRETS, omiseSecretKey: 'pkey_wrong_kind_of_key' }), { mode: 0o600 });
    const msg = configErrorOf(() => loadRelaySecrets(file, {}));
    expect(msg).toMatch(/omiseSecretKey: an Omise secret key/);
    expect(msg).toMatch(/QRPOS_OMISE_SECRET_KEY/);
    expect(msg).not.toContain('pkey_wrong_kind_of_key');
    const s = loadRelaySecrets(file, { QRPOS_OMISE_SECRET_KEY: 'skey_test_fromenv' });
    expect(s.omiseSecretKey).toBe('skey_test_fromenv');
    const envOnly = loadRelaySecrets(undefined, {
      QRPOS_OMISE_SECRET_KEY: SECRETS.omiseSecretKey,
      QRPOS_WEBHOOK_SECRET: SECRETS.webhookSecret,
      QRPOS_ADMIN_TOKEN: SECRETS.adminToken,
    });
    expect(envOnly.adminToken).toBe(SECRETS.adminToken);
  });

  it('refuses the published example secrets and too-short tokens, naming the field and never the value', () => {
    const examples = JSON.parse(fs.readFileSync(path.join(__dirname, '../../device/examples/relay.secrets.json'), 'utf8')) as Record<string, string>;
    const file = path.join(dir, 'secrets.json');
    const errorOf = (secrets: Record<string, string>): string => {
      fs.writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
      return configErrorOf(() => loadRelaySecrets(file, {}));
    };
    // The example file as shipped, and each of its values alone among real ones.
    expect(errorOf(examples)).toMatch(/adminToken: is an example value published with qrpos/);
    for (const field of Object.keys(examples)) {
      const msg = errorOf({ ...SECRETS, [field]: examples[field] });
      expect(msg, field).toContain(`${field}: is an example value published with qrpos`);
      expect(msg, field).not.toContain(examples[field]);
    }
    for (const weak of ['short-token-0123456789', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']) {
      const msg = errorOf({ ...SECRETS, adminToken: weak });
      expect(msg).toMatch(/adminToken: at least 32 characters/);
      expect(msg).not.toContain(weak);
    }
  });

  it('counts unknown fields in a secrets file without printing their names (a key pasted as a name)', () => {
    const file = path.join(dir, 'secrets.json');
    fs.writeFileSync(file, JSON.stringify({ ...SECRETS, skey_live_pastedAsAName123: '' }), { mode: 0o600 });
    const msg = configErrorOf(() => loadRelaySecrets(file, {}));
    expect(msg).toContain('1 unknown field(s), names not shown');
    expect(msg).not.toContain('pastedAsAName');
  });

  it('reports a secrets file that is not JSON by line and column, quoting none of it', () => {
    const file = path.join(dir, 'secrets.json');
    fs.writeFileSync(file, `{\n  "omiseSecretKey": ${SECRETS.omiseSecretKey},\n  "adminToken": "${SECRETS.adminToken}"\n}`, { mode: 0o600 });
    const msg = configErrorOf(() => loadRelaySecrets(file, {}));
    expect(msg).toContain(`${file} is not valid JSON at line 2, column 21`);
    for (const piece of ['skey', 'abcdefgh', SECRETS.adminToken.slice(0, 12)]) expect(msg).not.toContain(piece);
  });

  it('the CLI exits 2 with the message for an invalid config', async () => {
    const file = path.join(dir, 'relay.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, country: 'TH' }));
    const err: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (err.push(String(s)), true));
    try {
      expect(await command.run(['--config', file])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(err.join('')).toMatch(/dataDir/);
  });
});
