/**
 * Fault injection, set from tests through the handle or over HTTP (`POST /_sim/faults`).
 * Counters (`failNext`, `hangNext`, `dropResponseNext`, …) make faults deterministic;
 * rates make them random for soak runs.
 */
export const ENDPOINTS = [
  'POST /sources',
  'GET /sources/:id',
  'POST /charges',
  'GET /charges',
  'GET /charges/:id',
  'PATCH /charges/:id',
  'GET /charges/:id/events',
  'POST /charges/:id/expire',
  'POST /charges/:id/refunds',
  'GET /charges/:id/refunds',
  'GET /charges/:id/refunds/:id',
  'POST /charges/:id/mark_as_paid',
  'POST /charges/:id/mark_as_failed',
  'GET /events',
  'GET /events/:id',
  'GET download',
] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export interface EndpointFault {
  /** Added before the request is handled. */
  latencyMs?: number;
  /** Probability (0..1) of answering errorStatus instead of handling the request. */
  errorRate?: number;
  /** Fail the next n requests (before handling them). */
  failNext?: number;
  errorStatus?: 500 | 503 | 429;
  /** Never answer (until the simulator stops). */
  hang?: boolean;
  hangNext?: number;
  /** Handle the request (the charge IS created) and then lose the answer. */
  dropResponseRate?: number;
  dropResponseNext?: number;
  /** '500': answer 500 backend_error; 'reset': destroy the connection. Default '500'. */
  dropResponseMode?: '500' | 'reset';
  /** With errorStatus 429: send `Retry-After` with this many seconds. */
  retryAfterSeconds?: number;
  /** How Retry-After is written: delta-seconds (default) or an HTTP date on the simulator's clock. */
  retryAfterForm?: 'seconds' | 'http-date';
  /** Handle the request (the charge IS created), then answer with one field of the object broken. */
  malformNext?: number;
  malformRate?: number;
  /** Dotted path of the field to break in the answer (default "status"; e.g. "source.scannable_code"). */
  malformField?: string;
  /** 'missing': leave the field out; 'mistyped': a number where a string was (and a string otherwise). Default 'missing'. */
  malformMode?: 'missing' | 'mistyped';
}

export interface WebhookFaults {
  /** Never deliver (no attempt is recorded) this fraction / the next n events. */
  dropRate?: number;
  dropNext?: number;
  /** Deliver twice. */
  duplicateRate?: number;
  duplicateNext?: number;
  /** Hold deliveries for reorderWindowMs (default 200) and send each held batch newest first. */
  reorder?: boolean;
  reorderWindowMs?: number;
}

export interface FaultConfig {
  /** Added to every API request. */
  latencyMs?: number;
  /** Per endpoint; '*' applies to every API endpoint without its own entry. */
  endpoints?: Partial<Record<Endpoint | '*', EndpointFault>>;
  webhooks?: WebhookFaults;
}

export interface Malform {
  field: string;
  mode: 'missing' | 'mistyped';
}

export type FaultDecision =
  | { kind: 'none'; latencyMs: number; dropResponse: null | '500' | 'reset'; malform?: Malform }
  | { kind: 'error'; latencyMs: number; status: number; retryAfterSeconds?: number; retryAfterForm?: 'seconds' | 'http-date' }
  | { kind: 'hang'; latencyMs: number };

function nonNegative(v: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) throw new Error(`${name} must be a number between 0 and ${max}`);
  return v;
}

function checkEndpointFault(f: unknown, where: string): EndpointFault {
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw new Error(`${where} must be an object`);
  const o = f as Record<string, unknown>;
  const allowed = [
    'latencyMs',
    'errorRate',
    'failNext',
    'errorStatus',
    'hang',
    'hangNext',
    'dropResponseRate',
    'dropResponseNext',
    'dropResponseMode',
    'retryAfterSeconds',
    'retryAfterForm',
    'malformNext',
    'malformRate',
    'malformField',
    'malformMode',
  ];
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new Error(`${where}.${k} is not a fault setting`);
  if (o.errorStatus !== undefined && ![500, 503, 429].includes(o.errorStatus as number)) throw new Error(`${where}.errorStatus must be 500, 503 or 429`);
  if (o.hang !== undefined && typeof o.hang !== 'boolean') throw new Error(`${where}.hang must be true or false`);
  if (o.dropResponseMode !== undefined && o.dropResponseMode !== '500' && o.dropResponseMode !== 'reset') throw new Error(`${where}.dropResponseMode must be "500" or "reset"`);
  nonNegative(o.latencyMs, `${where}.latencyMs`, 600_000);
  nonNegative(o.errorRate, `${where}.errorRate`, 1);
  nonNegative(o.dropResponseRate, `${where}.dropResponseRate`, 1);
  nonNegative(o.failNext, `${where}.failNext`);
  nonNegative(o.hangNext, `${where}.hangNext`);
  nonNegative(o.dropResponseNext, `${where}.dropResponseNext`);
  nonNegative(o.retryAfterSeconds, `${where}.retryAfterSeconds`, 86_400);
  if (o.retryAfterSeconds !== undefined && !Number.isInteger(o.retryAfterSeconds)) throw new Error(`${where}.retryAfterSeconds must be a whole number`);
  if (o.retryAfterForm !== undefined && o.retryAfterForm !== 'seconds' && o.retryAfterForm !== 'http-date') throw new Error(`${where}.retryAfterForm must be "seconds" or "http-date"`);
  nonNegative(o.malformNext, `${where}.malformNext`);
  nonNegative(o.malformRate, `${where}.malformRate`, 1);
  if (o.malformField !== undefined && (typeof o.malformField !== 'string' || !/^[a-z_]+(\.[a-z_]+)*$/.test(o.malformField))) {
    throw new Error(`${where}.malformField must be a dotted field path such as "status" or "source.scannable_code"`);
  }
  if (o.malformMode !== undefined && o.malformMode !== 'missing' && o.malformMode !== 'mistyped') throw new Error(`${where}.malformMode must be "missing" or "mistyped"`);
  return { ...(o as EndpointFault) };
}

/** Validates a config from the network; throws Error with a message naming the bad field. */
export function checkFaultConfig(input: unknown): FaultConfig {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('faults must be a JSON object');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['latencyMs', 'endpoints', 'webhooks'].includes(k)) throw new Error(`${k} is not a fault setting`);
  const out: FaultConfig = {};
  if (o.latencyMs !== undefined) out.latencyMs = nonNegative(o.latencyMs, 'latencyMs', 600_000);
  if (o.endpoints !== undefined) {
    if (!o.endpoints || typeof o.endpoints !== 'object' || Array.isArray(o.endpoints)) throw new Error('endpoints must be an object');
    out.endpoints = {};
    for (const [k, v] of Object.entries(o.endpoints as Record<string, unknown>)) {
      if (k !== '*' && !(ENDPOINTS as readonly string[]).includes(k)) throw new Error(`unknown endpoint "${k}" (one of: *, ${ENDPOINTS.join(', ')})`);
      out.endpoints[k as Endpoint] = checkEndpointFault(v, `endpoints["${k}"]`);
    }
  }
  if (o.webhooks !== undefined) {
    const w = o.webhooks as Record<string, unknown>;
    if (!w || typeof w !== 'object' || Array.isArray(w)) throw new Error('webhooks must be an object');
    for (const k of Object.keys(w)) if (!['dropRate', 'dropNext', 'duplicateRate', 'duplicateNext', 'reorder', 'reorderWindowMs'].includes(k)) throw new Error(`webhooks.${k} is not a fault setting`);
    nonNegative(w.dropRate, 'webhooks.dropRate', 1);
    nonNegative(w.duplicateRate, 'webhooks.duplicateRate', 1);
    nonNegative(w.dropNext, 'webhooks.dropNext');
    nonNegative(w.duplicateNext, 'webhooks.duplicateNext');
    nonNegative(w.reorderWindowMs, 'webhooks.reorderWindowMs', 60_000);
    if (w.reorder !== undefined && typeof w.reorder !== 'boolean') throw new Error('webhooks.reorder must be true or false');
    out.webhooks = { ...(w as WebhookFaults) };
  }
  return out;
}

export class Faults {
  private cfg: FaultConfig = {};

  constructor(private readonly random: () => number = Math.random) {}

  get(): FaultConfig {
    return structuredClone(this.cfg);
  }

  /** Replaces the whole configuration. */
  set(cfg: FaultConfig): void {
    this.cfg = structuredClone(checkFaultConfig(cfg));
  }

  /** Merges into the configuration (per endpoint, per webhook setting). */
  update(cfg: FaultConfig): void {
    const c = checkFaultConfig(cfg);
    const next: FaultConfig = structuredClone(this.cfg);
    if (c.latencyMs !== undefined) next.latencyMs = c.latencyMs;
    if (c.endpoints) next.endpoints = { ...(next.endpoints ?? {}), ...c.endpoints };
    if (c.webhooks) next.webhooks = { ...(next.webhooks ?? {}), ...c.webhooks };
    this.cfg = next;
  }

  reset(): void {
    this.cfg = {};
  }

  /** Called once per API request; consumes counters. */
  decide(endpoint: Endpoint): FaultDecision {
    const f = this.cfg.endpoints?.[endpoint] ?? this.cfg.endpoints?.['*'];
    const latencyMs = (this.cfg.latencyMs ?? 0) + (f?.latencyMs ?? 0);
    if (!f) return { kind: 'none', latencyMs, dropResponse: null };
    if (f.hang) return { kind: 'hang', latencyMs };
    if (f.hangNext && f.hangNext > 0) {
      f.hangNext--;
      return { kind: 'hang', latencyMs };
    }
    const status = f.errorStatus ?? 500;
    const error = (): FaultDecision => ({
      kind: 'error',
      latencyMs,
      status,
      ...(status === 429 && f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds, retryAfterForm: f.retryAfterForm ?? 'seconds' } : {}),
    });
    if (f.failNext && f.failNext > 0) {
      f.failNext--;
      return error();
    }
    if (f.errorRate && this.random() < f.errorRate) return error();
    let drop = false;
    if (f.dropResponseNext && f.dropResponseNext > 0) {
      f.dropResponseNext--;
      drop = true;
    } else if (f.dropResponseRate && this.random() < f.dropResponseRate) drop = true;
    let malform = false;
    if (f.malformNext && f.malformNext > 0) {
      f.malformNext--;
      malform = true;
    } else if (f.malformRate && this.random() < f.malformRate) malform = true;
    return {
      kind: 'none',
      latencyMs,
      dropResponse: drop ? (f.dropResponseMode ?? '500') : null,
      ...(malform ? { malform: { field: f.malformField ?? 'status', mode: f.malformMode ?? 'missing' } } : {}),
    };
  }

  /** Called once per event to deliver: how many copies to send (0 = dropped). */
  webhookCopies(): number {
    const w = this.cfg.webhooks;
    if (!w) return 1;
    if (w.dropNext && w.dropNext > 0) {
      w.dropNext--;
      return 0;
    }
    if (w.dropRate && this.random() < w.dropRate) return 0;
    if (w.duplicateNext && w.duplicateNext > 0) {
      w.duplicateNext--;
      return 2;
    }
    if (w.duplicateRate && this.random() < w.duplicateRate) return 2;
    return 1;
  }

  reorderWindowMs(): number | null {
    const w = this.cfg.webhooks;
    return w?.reorder ? (w.reorderWindowMs ?? 200) : null;
  }
}
