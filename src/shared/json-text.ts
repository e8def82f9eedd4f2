/**
 * JSON parsing whose errors never quote the text: V8's messages carry a snippet of the input
 * (`Unexpected token 's', ..."cretKey": skey_test_"...`), which for a secrets file is a piece of a key.
 * The error says where (line and column) and what kind of mistake, never what was there.
 */
export class JsonTextError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly problem: string,
  ) {
    super(`not valid JSON at line ${line}, column ${column}: ${problem}`);
    this.name = 'JsonTextError';
  }
}

/** JSON.parse that also takes a leading byte-order mark (editors on other systems write one). */
export function parseJsonText(withBom: string): unknown {
  const text = withBom.charCodeAt(0) === 0xfeff ? withBom.slice(1) : withBom;
  try {
    return JSON.parse(text);
  } catch {
    const { offset, problem } = firstSyntaxError(text);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    throw new JsonTextError(line, offset - before.lastIndexOf('\n'), problem);
  }
}

class ScanStop extends Error {
  constructor(
    readonly offset: number,
    readonly problem: string,
  ) {
    super(problem);
  }
}

/** Where a JSON text first goes wrong, found by a small recursive-descent scan (only run on failure). */
function firstSyntaxError(text: string): { offset: number; problem: string } {
  let i = 0;
  const fail = (problem: string): never => {
    throw new ScanStop(i, problem);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const literal = (word: string) => {
    // Reported at the first letter that differs (where JSON.parse reports it).
    for (const letter of word) {
      if (text[i] !== letter) fail('a value must be a "quoted string", a number, an object, an array, true, false or null');
      i++;
    }
  };
  const string = () => {
    i++;
    for (;;) {
      if (i >= text.length) fail('a string is not closed');
      const c = text.charCodeAt(i);
      if (c === 0x22) return void i++;
      if (c < 0x20) fail('a string holds a raw control character (a line break inside quotes?)');
      if (c === 0x5c) {
        i++;
        if (i >= text.length) fail('a string is not closed');
        if (text[i] === 'u') {
          // Reported at the first character that is not a hex digit (where JSON.parse reports it).
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail('a \\u escape needs four hex digits');
          }
          i++;
        } else if ('"\\/bfnrt'.includes(text[i])) i++;
        else fail('unknown escape after a backslash');
      } else i++;
    }
  };
  // Character by character, so a missing digit is reported where it is missing (as JSON.parse does).
  const digits = () => {
    if (!(text[i] >= '0' && text[i] <= '9')) fail('a number is malformed');
    while (text[i] >= '0' && text[i] <= '9') i++;
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else digits();
    if (text[i] === '.') {
      i++;
      digits();
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      digits();
    }
  };
  const value = (depth: number): void => {
    if (depth > 512) fail('nested too deeply');
    ws();
    const c = text[i];
    if (c === undefined) fail('the text ends where a value should be');
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a field name must be a "quoted string"');
        string();
        ws();
        if (text[i] !== ':') fail("a ':' must follow a field name");
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else fail("a ',' or '}' must follow a field's value");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else fail("a ',' or ']' must follow an element");
      }
    }
    if (c === '"') return string();
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    fail('a value must be a "quoted string", a number, an object, an array, true, false or null');
  };
  try {
    value(0);
    ws();
    if (i < text.length) fail('there is more text after the JSON value');
    return { offset: i, problem: 'not valid JSON' };
  } catch (e) {
    if (e instanceof ScanStop) return { offset: e.offset, problem: e.problem };
    throw e;
  }
}
