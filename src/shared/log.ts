/**
 * Structured logging: one JSON object per line on stdout (journald keeps and rotates it).
 * Components receive a Logger; none creates its own. Anything that looks like a secret is
 * redacted before it is written, whatever the caller passed.
 * Not pino: with this redaction pino costs more CPU per line and ~25 ms more at start-up
 * (scripts/bench/libraries.ts; docs/architecture.md, "Libraries and hand-written code").
 */
import { escapeJsonText } from './printable';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

/**
 * Words that make a field name secret, matched against the name's own words (camelCase, snake_case,
 * kebab-case, dotted), never as substrings: `supervisorPin` and `x-pairing-secret` are secret,
 * `shipping` and `spinner` are not.
 */
const SECRET_WORDS = new Set(['secret', 'secrets', 'password', 'passwd', 'token', 'tokens', 'credential', 'credentials', 'authorization', 'apikey', 'pin', 'pins', 'cookie', 'cookies']);
/** Word pairs that make a field name secret (`api_key`, `downloadUri`). */
const SECRET_WORD_PAIRS = new Set(['api key', 'download uri']);

/** The lower-case words of a field name. */
function fieldWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

const secretFieldCache = new Map<string, boolean>();
/** True when values of a field with this name are never logged. */
export function isSecretField(name: string): boolean {
  let known = secretFieldCache.get(name);
  if (known === undefined) {
    const words = fieldWords(name);
    known = words.some((w, i) => SECRET_WORDS.has(w) || (i > 0 && SECRET_WORD_PAIRS.has(`${words[i - 1]} ${w}`)));
    if (secretFieldCache.size < 10_000) secretFieldCache.set(name, known);
  }
  return known;
}

/** Values that are secrets wherever they appear (Omise keys, QR download URLs, bearer tokens). */
const SECRET_PATTERNS: RegExp[] = [
  // No word boundary in front: a key glued to other text ("user_skey_…", "xpkey_…") is a key all the same.
  /[ps]key_(?:test_)?[A-Za-z0-9]+/g,
  /\/documents\/docu_[A-Za-z0-9_]+\/downloads\/[A-Za-z0-9]+/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi,
  /\bBasic\s+[A-Za-z0-9+/=]+/gi,
  /\bqrt_[A-Za-z0-9_-]+/g,
];

export function redactText(text: string): string {
  let out = text;
  for (const re of SECRET_PATTERNS) out = out.replace(re, '[redacted]');
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[deep]';
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) {
    return { name: value.name, message: redactText(value.message), ...(value.stack ? { stack: redactText(value.stack) } : {}) };
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = isSecretField(k) && v !== null && v !== undefined && typeof v !== 'boolean' ? '[redacted]' : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

export interface LoggerOptions {
  level?: Level;
  /** Where lines go; defaults to stdout. Tests pass an array sink. */
  write?: (line: string) => void;
  component?: string;
  clock?: () => Date;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? (process.env.QRPOS_LOG_LEVEL as Level | undefined) ?? 'info'] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stdout.write(line + '\n'));
  const clock = opts.clock ?? (() => new Date());
  const make = (component: string | undefined): Logger => {
    const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
      if (ORDER[level] < min) return;
      const rec: Record<string, unknown> = { t: clock().toISOString(), level, ...(component ? { c: component } : {}), msg: redactText(msg) };
      if (fields) Object.assign(rec, redact(fields) as Record<string, unknown>);
      write(escapeJsonText(JSON.stringify(rec)));
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (c) => make(component ? `${component}.${c}` : c),
    };
  };
  return make(opts.component);
}

/** A logger that keeps lines in memory, for tests that assert on logs (and on redaction). */
export function memoryLogger(level: Level = 'debug'): Logger & { lines: string[]; records(): Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = createLogger({ level, write: (l) => lines.push(l) });
  return Object.assign(log, { lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) });
}

export const silentLogger: Logger = createLogger({ level: 'error', write: () => undefined });
