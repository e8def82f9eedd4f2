import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEdit, fuzzParams, isJson, textEdit } from '../shared/testing/fuzz';
import { ConfigError, loadTerminalConfig, parseTerminalConfig } from './config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-terminal-config-fuzz-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const profileDirs = [path.resolve(__dirname, '../../device/profiles')];
const PROFILE = 'pi-hdmi-800x480-usb-numpad';

const alnum = (min: number, max: number) => fc.stringMatching(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`));
/** Configs as setup.sh writes them; the relay URL carries a token-like piece that must never be echoed. */
const goodConfig = fc.record({
  version: fc.constant(1),
  relayUrl: fc.tuple(fc.constantFrom('https://relay.example.com', 'http://127.0.0.1:8787'), alnum(16, 24)).map(([u, t]) => `${u}/p/${t}`),
  merchantName: fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.trim() !== ''),
  currency: fc.constantFrom('THB', 'SGD', 'MYR'),
  profile: fc.constant(PROFILE),
  sale: fc.record({ qrTimeoutSeconds: fc.integer({ min: 15, max: 900 }), resultSeconds: fc.integer({ min: 1, max: 120 }) }),
});

const edit = textEdit('{}[]:,"\\ \n0aZ');

let n = 0;
function writeConfig(text: string): string {
  const file = path.join(dir, `config-${n++}.json`);
  fs.writeFileSync(file, text);
  return file;
}

describe('terminal config (fuzz)', () => {
  it('a good config file round-trips, with or without a byte-order mark', () => {
    fc.assert(
      fc.property(goodConfig, fc.boolean(), (cfg, bom) => {
        const loaded = loadTerminalConfig(writeConfig((bom ? '\ufeff' : '') + JSON.stringify(cfg, null, 2)), profileDirs);
        expect(loaded).toMatchObject({ ...cfg, sale: { ...cfg.sale } });
        expect(loaded.drivers).toBeDefined();
      }),
      fuzzParams(200),
    );
  });

  it('any JSON value: a TerminalConfig or a ConfigError listing problems', () => {
    const near = fc
      .tuple(goodConfig, fc.dictionary(fc.constantFrom('version', 'relayUrl', 'merchantName', 'currency', 'profile', 'sale', 'link', 'drivers', 'allowPlainHttp', 'dataDir'), fc.jsonValue(), { maxKeys: 3 }))
      .map(([c, o]) => ({ ...c, ...o }));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), near), (v) => {
        try {
          parseTerminalConfig(v, 'fuzz.json', profileDirs);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as ConfigError).problems.length).toBeGreaterThan(0);
        }
      }),
      fuzzParams(400),
    );
  });

  it('a damaged file is a ConfigError with the line and column, never quoting the text', () => {
    fc.assert(
      fc.property(goodConfig, fc.array(edit, { minLength: 1, maxLength: 3 }), (cfg, edits) => {
        const text = edits.reduce(applyEdit, JSON.stringify(cfg));
        const file = writeConfig(text);
        try {
          loadTerminalConfig(file, profileDirs);
          return;
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          const msg = (e as Error).message;
          expect(msg).toContain(file);
          const token = cfg.relayUrl.slice(cfg.relayUrl.lastIndexOf('/') + 1);
          for (let k = 0; k + 8 <= token.length; k++) expect(msg, 'the error quotes the file').not.toContain(token.slice(k, k + 8));
          const valid = isJson(text);
          if (!valid) expect(msg).toMatch(/line \d+, column \d+/);
        }
      }),
      fuzzParams(400),
    );
  });
});
