import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyEdit, fuzzParams, isJson, textEdit } from './testing/fuzz';
import { JsonTextError, parseJsonText } from './json-text';

/** Characters that matter to a JSON scanner, and a few that never belong outside strings. */
const JSONISH = [...'{}[]:,"\\/ \t\n\r-+.0123456789eEtrufalsnbx\u0000\u001f\u00e9'];

/** A valid JSON text with one small edit: insert, delete or replace one character. */
const mutatedJson = fc.tuple(fc.json({ maxDepth: 4 }), textEdit(JSONISH.join(''))).map(([text, edit]) => applyEdit(text, edit));
const jsonishNoise = fc.array(fc.constantFrom(...JSONISH), { maxLength: 40 }).map((a) => a.join(''));
/** Strings full of escapes: the scanner's trickiest part. */
const escapeNoise = fc.array(fc.constantFrom(...'\\u0aFq"n\n'), { maxLength: 16 }).map((a) => `["${a.join('')}`);

/** Where V8's JSON.parse says it failed, when its message says so. */
function v8Offset(text: string): number | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /at position (\d+)/.exec(msg);
    if (pos) return Number(pos[1]);
    if (/Unexpected end of JSON input/.test(msg)) return text.length;
    return undefined;
  }
}

function errorOf(text: string): JsonTextError {
  try {
    parseJsonText(text);
  } catch (e) {
    if (e instanceof JsonTextError) return e;
    throw new Error(`not a JsonTextError: ${String(e)}`, { cause: e });
  }
  throw new Error('parsed');
}

/** Offset in `text` of a 1-based line and column. */
function offsetOf(text: string, line: number, column: number): number {
  let off = 0;
  for (let l = 1; l < line; l++) off = text.indexOf('\n', off) + 1;
  return off + column - 1;
}

describe('parseJsonText (fuzz)', () => {
  it('valid JSON round-trips, with or without a byte-order mark', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), fc.boolean(), (v, bom, pretty) => {
        const text = (bom ? '\ufeff' : '') + JSON.stringify(v, null, pretty ? 2 : undefined);
        expect(parseJsonText(text)).toStrictEqual(JSON.parse(JSON.stringify(v)));
      }),
      fuzzParams(300),
    );
  });

  it('invalid JSON: a JsonTextError at the line and column where JSON.parse fails', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedJson, jsonishNoise, escapeNoise), (text) => {
        if (isJson(text)) return;
        const err = errorOf(text);
        expect(err.line).toBeGreaterThanOrEqual(1);
        expect(err.column).toBeGreaterThanOrEqual(1);
        const at = offsetOf(text, err.line, err.column);
        expect(at).toBeLessThanOrEqual(text.length);
        const v8 = v8Offset(text);
        if (v8 !== undefined) expect(at, `scanner says offset ${at}, JSON.parse ${v8}`).toBe(v8);
      }),
      fuzzParams(2000),
    );
  });

  it('never echoes the text: a secrets file with a mistake names no key', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((s) => `skey_test_${s}`);
    fc.assert(
      fc.property(secret, textEdit(JSONISH.join('')), (key, edit) => {
        const text = applyEdit(JSON.stringify({ omiseSecretKey: key, adminToken: key.split('').reverse().join('') }, null, 2), edit);
        try {
          parseJsonText(text);
          return;
        } catch (e) {
          expect(e).toBeInstanceOf(JsonTextError);
          const msg = (e as Error).message;
          for (let k = 0; k + 6 <= key.length; k++) expect(msg).not.toContain(key.slice(k, k + 6));
        }
      }),
      fuzzParams(500),
    );
  });

  it('deep nesting and huge inputs end in a JsonTextError, not a stack overflow', () => {
    for (const text of ['['.repeat(100_000), '{"a":'.repeat(50_000), '"' + 'x'.repeat(1_000_000)]) {
      expect(() => parseJsonText(text)).toThrow(JsonTextError);
    }
  });
});
