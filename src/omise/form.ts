/**
 * application/x-www-form-urlencoded with Omise's bracket notation (`source[type]=…`,
 * `metadata[order]=…`), as the documented curl commands send it. The client encodes with it;
 * the simulator decodes with it. Decoding is defensive: the input comes from the network.
 */

export type FormScalar = string | number | boolean | null | undefined;
export interface FormObject {
  [key: string]: FormScalar | FormObject | FormScalar[];
}

export class FormError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormError';
  }
}

function scalarText(v: FormScalar): string {
  if (v === null || v === undefined) return '';
  return String(v);
}

/** Nested objects become `a[b]=…`, arrays `a[]=…`; undefined values are left out. */
export function encodeForm(obj: FormObject): string {
  const parts: string[] = [];
  const walk = (prefix: string, value: FormScalar | FormObject | FormScalar[]): void => {
    if (value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value) parts.push(`${encodeURIComponent(prefix + '[]')}=${encodeURIComponent(scalarText(item))}`);
      return;
    }
    if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(`${prefix}[${k}]`, v);
      return;
    }
    parts.push(`${encodeURIComponent(prefix)}=${encodeURIComponent(scalarText(value))}`);
  };
  for (const [k, v] of Object.entries(obj)) walk(k, v);
  return parts.join('&');
}

export type DecodedValue = string | string[] | DecodedForm;
export interface DecodedForm {
  [key: string]: DecodedValue;
}

export interface DecodeLimits {
  /** Most fields accepted (default 200). */
  maxFields?: number;
  /** Deepest bracket nesting accepted (default 4). */
  maxDepth?: number;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw new FormError('malformed percent-encoding');
  }
}

/** Splits `a[b][c]` into ['a','b','c']; `a[]` gives ['a','']. */
function splitKey(key: string): string[] {
  const open = key.indexOf('[');
  if (open === -1) {
    if (key.includes(']')) throw new FormError(`malformed field name "${key.slice(0, 40)}"`);
    return [key];
  }
  const head = key.slice(0, open);
  if (head === '') throw new FormError(`malformed field name "${key.slice(0, 40)}"`);
  const segments = [head];
  let rest = key.slice(open);
  while (rest.length > 0) {
    const m = /^\[([^[\]]*)\]/.exec(rest);
    if (!m) throw new FormError(`malformed field name "${key.slice(0, 40)}"`);
    segments.push(m[1]);
    rest = rest.slice(m[0].length);
  }
  return segments;
}

/**
 * Decodes a form body into nested plain objects (created without a prototype chain risk:
 * `__proto__` and friends are refused). Conflicting shapes (`a=1&a[b]=2`) are errors.
 */
export function decodeForm(body: string, limits: DecodeLimits = {}): DecodedForm {
  const maxFields = limits.maxFields ?? 200;
  const maxDepth = limits.maxDepth ?? 4;
  const out: DecodedForm = {};
  if (body.trim() === '') return out;
  const pairs = body.split('&');
  if (pairs.length > maxFields) throw new FormError(`too many fields (at most ${maxFields})`);
  for (const pair of pairs) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    const segments = splitKey(decodeComponent(rawKey));
    if (segments.length > maxDepth + 1) throw new FormError('field name nested too deeply');
    for (const s of segments) if (FORBIDDEN_KEYS.has(s)) throw new FormError(`field name not allowed: "${s}"`);
    let node: DecodedForm = out;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const last = i === segments.length - 1;
      const isArrayPush = i === segments.length - 1 && seg === '' && i > 0;
      if (isArrayPush) break;
      if (seg === '') throw new FormError('empty field name segment');
      const nextIsArray = i === segments.length - 2 && segments[segments.length - 1] === '';
      const existing = Object.prototype.hasOwnProperty.call(node, seg) ? node[seg] : undefined;
      if (last) {
        if (existing !== undefined && typeof existing !== 'string') throw new FormError(`field "${seg}" given conflicting shapes`);
        node[seg] = value;
      } else if (nextIsArray) {
        if (existing === undefined) node[seg] = [value];
        else if (Array.isArray(existing)) existing.push(value);
        else throw new FormError(`field "${seg}" given conflicting shapes`);
        break;
      } else {
        if (existing === undefined) {
          const child: DecodedForm = {};
          node[seg] = child;
          node = child;
        } else if (typeof existing === 'object' && !Array.isArray(existing)) node = existing;
        else throw new FormError(`field "${seg}" given conflicting shapes`);
      }
    }
  }
  return out;
}
