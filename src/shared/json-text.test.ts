import { describe, expect, it } from 'vitest';
import { JsonTextError, parseJsonText } from './json-text';

const SECRET = 'skey_test_5abcdefSECRETfragment';

describe('parseJsonText: errors say where, never what', () => {
  const broken: [string, number, number][] = [
    [`{\n  "omiseSecretKey": ${SECRET}\n}`, 2, 21],
    [`{\n  "omiseSecretKey": "${SECRET}"\n  "adminToken": "x"\n}`, 3, 3],
    [`{"omiseSecretKey": "${SECRET}`, 1, 52],
    [`{"omiseSecretKey": "${SECRET}\n"}`, 1, 52],
    [`{"omiseSecretKey": "${SECRET}",}`, 1, 54],
    [`{"omiseSecretKey": '${SECRET}'}`, 1, 20],
    [`{"omiseSecretKey": "${SECRET}"} ${SECRET}`, 1, 55],
    [`{omiseSecretKey: "${SECRET}"}`, 1, 2],
  ];
  it.each(broken)('%#: names line and column and quotes nothing', (text, line, column) => {
    let err: unknown;
    try {
      parseJsonText(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JsonTextError);
    const e = err as JsonTextError;
    expect({ line: e.line, column: e.column }).toEqual({ line, column });
    for (const piece of ['SECRET', 'skey', 'fragment', '5abc', 'omiseSecretKey']) expect(e.message).not.toContain(piece);
    // The built-in parser's own message does quote the secret for at least the first case: that is what this guards.
  });

  it('parses valid JSON like JSON.parse', () => {
    const text = `\uFEFF{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n"], "b": {}}`;
    expect(parseJsonText(text)).toEqual(JSON.parse(text.slice(1)));
  });

  it("V8's own message quotes the secret (the reason this exists)", () => {
    expect(() => JSON.parse(broken[0][0])).toThrow(/skey_test/);
  });
});
