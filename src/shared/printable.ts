/**
 * Text that came from outside (a terminal's name, pairing fields) printed on an operator's console:
 * control characters (ESC, CR, LF, DEL, C1) and the bidirectional overrides that reorder what a
 * reader sees are shown escaped, so a field can never move the cursor, clear the screen or fake a line.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');
/** What JSON.stringify leaves unescaped inside strings: DEL, C1 and the bidirectional controls. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const UNSAFE_IN_JSON_ALL = new RegExp(UNSAFE_IN_JSON.source, 'gu');

export function hasUnsafeChars(text: string): boolean {
  return UNSAFE.test(text);
}

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every unsafe character written as `\xNN` or `\uNNNN`. */
export function printable(text: string): string {
  return text.replace(UNSAFE_ALL, escapeChar);
}

/** JSON text with what JSON.stringify left raw written as `\uNNNN` escapes (still valid JSON, same value). */
export function escapeJsonText(json: string): string {
  return UNSAFE_IN_JSON.test(json) ? json.replace(UNSAFE_IN_JSON_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

/** Pretty JSON for a console, with no unsafe character left raw. */
export function jsonForConsole(value: unknown): string {
  return escapeJsonText(JSON.stringify(value, null, 2));
}
