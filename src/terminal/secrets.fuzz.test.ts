import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { applyEdit, fuzzParams, isJson, textEdit } from '../shared/testing/fuzz';
import { readSecrets, SecretsError, writeSecrets, type Secrets } from './secrets';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-terminal-secrets-fuzz-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const secrets: fc.Arbitrary<Secrets> = fc.record(
  {
    credential: fc.stringMatching(/^[A-Za-z0-9_-]{24,48}$/).map((s) => `tc_${s}`),
    terminalId: fc.stringMatching(/^[a-z0-9]{8,16}$/).map((s) => `term_${s}`),
    supervisorPin: fc.stringMatching(/^\d{4,8}$/),
  },
  { requiredKeys: [] },
);

const edit = textEdit('{}[]:,"\\ \n0a');

/** The credential's 8-character pieces and the whole PIN: none may be in an error. */
function secretPieces(s: Secrets): string[] {
  const out: string[] = [];
  if (s.credential) for (let k = 0; k + 8 <= s.credential.length; k++) out.push(s.credential.slice(k, k + 8));
  if (s.supervisorPin) out.push(s.supervisorPin);
  return out;
}

let n = 0;
describe('terminal secrets file (fuzz)', () => {
  it('writeSecrets then readSecrets gives the same secrets; a byte-order mark is taken', () => {
    fc.assert(
      fc.property(secrets, fc.boolean(), (s, bom) => {
        const file = path.join(dir, `own-${n++}.json`);
        writeSecrets(file, s, {});
        if (bom) fs.writeFileSync(file, '\ufeff' + fs.readFileSync(file, 'utf8'), { mode: 0o600 });
        expect(readSecrets(file, {}).secrets).toEqual({ ...s });
      }),
      fuzzParams(150),
    );
  });

  it('a damaged file is a SecretsError naming the file (and line and column), never a secret', () => {
    fc.assert(
      fc.property(secrets, fc.array(edit, { minLength: 1, maxLength: 3 }), (s, edits) => {
        const text = edits.reduce(applyEdit, JSON.stringify(s, null, 2));
        const file = path.join(dir, `own-${n++}.json`);
        fs.writeFileSync(file, text, { mode: 0o600 });
        try {
          readSecrets(file, {});
          return;
        } catch (e) {
          expect(e).toBeInstanceOf(SecretsError);
          const msg = (e as Error).message;
          expect(msg).toContain(file);
          const rest = msg.replaceAll(file, '<file>');
          for (const p of secretPieces(s)) expect(rest, 'the error quotes a secret').not.toContain(p);
          const valid = isJson(text);
          if (!valid) expect(rest).toMatch(/line \d+, column \d+/);
        }
      }),
      fuzzParams(400),
    );
  });

  it('values of the wrong type or shape are refused by field, without the value', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('credential', 'terminalId', 'supervisorPin'), fc.jsonValue()), (obj) => {
        const file = path.join(dir, `own-${n++}.json`);
        fs.writeFileSync(file, JSON.stringify(obj), { mode: 0o600 });
        try {
          readSecrets(file, {});
        } catch (e) {
          expect(e).toBeInstanceOf(SecretsError);
          const rest = (e as Error).message.replaceAll(file, '<file>');
          for (const v of Object.values(obj)) if (typeof v === 'string' && v.length >= 4) expect(rest).not.toContain(v);
        }
      }),
      fuzzParams(300),
    );
  });
});
