import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEdit, fuzzParams, isJson, textEdit } from '../shared/testing/fuzz';
import { ConfigError, loadRelayConfig, loadRelaySecrets, parseRelayConfig, type RelaySecrets } from './config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-relay-config-fuzz-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const alnum = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`));
/** Secrets of the right shapes, random enough never to be a published example. */
const secrets: fc.Arbitrary<RelaySecrets> = fc.record({
  omisePublicKey: alnum(20, 30).map((s) => `pkey_test_${s}`),
  omiseSecretKey: alnum(20, 30).map((s) => `skey_test_${s}`),
  webhookSecret: fc.uint8Array({ minLength: 16, maxLength: 48 }).map((b) => Buffer.from(b).toString('base64')),
  adminToken: alnum(32, 48).filter((s) => new Set(s).size >= 12),
});

/** One small edit of a text: what a slip in an editor does to a secrets file. */
const edit = textEdit('{}[]:,"\\ \n0aZ=+/_');

/** The 8-character pieces of every secret value: none may appear in an error. */
function pieces(s: RelaySecrets): string[] {
  const out: string[] = [];
  for (const v of Object.values(s)) for (let k = 0; k + 8 <= v.length; k++) out.push(v.slice(k, k + 8));
  return out;
}

let n = 0;
function writeSecretsFile(text: string): string {
  const file = path.join(dir, `secrets-${n++}.json`);
  fs.writeFileSync(file, text, { mode: 0o600 });
  return file;
}

describe('relay secrets file (fuzz)', () => {
  it('good secrets round-trip through the file', () => {
    fc.assert(
      fc.property(secrets, fc.boolean(), (s, bom) => {
        const file = writeSecretsFile((bom ? '\ufeff' : '') + JSON.stringify(s, null, 2));
        expect(loadRelaySecrets(file, {})).toEqual({ ...s });
      }),
      fuzzParams(200),
    );
  });

  it('a damaged file is a ConfigError naming the file, never quoting a secret', () => {
    fc.assert(
      fc.property(secrets, fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean(), (s, edits, pretty) => {
        const text = edits.reduce(applyEdit, JSON.stringify(s, null, pretty ? 2 : undefined));
        const file = writeSecretsFile(text);
        try {
          loadRelaySecrets(file, {});
          return;
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          const msg = (e as Error).message;
          expect(msg).toContain(file);
          for (const p of pieces(s)) expect(msg, 'the error quotes a secret').not.toContain(p);
        }
      }),
      fuzzParams(400),
    );
  });

  it('secrets in the wrong fields or of the wrong types are refused without quoting them', () => {
    const field = fc.constantFrom('omisePublicKey', 'omiseSecretKey', 'webhookSecret', 'previousWebhookSecret', 'adminToken', 'adminTokne', '');
    fc.assert(
      fc.property(secrets, fc.dictionary(field, fc.oneof(fc.constantFrom('omisePublicKey', 'omiseSecretKey', 'webhookSecret', 'adminToken'), fc.jsonValue())), (s, shuffle) => {
        const obj = Object.fromEntries(
          Object.entries(shuffle).map(([k, v]) => [k, typeof v === 'string' && v in s ? s[v as keyof RelaySecrets] : v]),
        );
        const file = writeSecretsFile(JSON.stringify(obj));
        try {
          loadRelaySecrets(file, {});
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          for (const p of pieces(s)) expect((e as Error).message, 'the error quotes a secret').not.toContain(p);
        }
      }),
      fuzzParams(300),
    );
  });
});

describe('relay config (fuzz)', () => {
  const base = { version: 1, country: 'TH', dataDir: '/var/lib/qrpos-relay', omise: { baseUrl: 'https://api.omise.co' } };

  it('any JSON value: a RelayConfig or a ConfigError', () => {
    const anyConfig = fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.constantFrom(...Object.keys(base), 'listen', 'tls', 'trustProxy', 'publicUrl', 'pairing', 'limits'), fc.jsonValue(), { maxKeys: 6 }).map((o) => ({ ...base, ...o })),
    );
    fc.assert(
      fc.property(anyConfig, (v) => {
        try {
          const cfg = parseRelayConfig(v);
          expect(cfg.version).toBe(1);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }),
      fuzzParams(500),
    );
  });

  it('a damaged config file is a ConfigError naming the file, line and column', () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 2 }), (edits) => {
        const text = edits.reduce(applyEdit, JSON.stringify(base, null, 2));
        const file = path.join(dir, `config-${n++}.json`);
        fs.writeFileSync(file, text);
        const valid = isJson(text);
        try {
          loadRelayConfig(file);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as Error).message).toContain(file);
          if (!valid) expect((e as Error).message).toMatch(/line \d+, column \d+/);
        }
      }),
      fuzzParams(300),
    );
  });
});
