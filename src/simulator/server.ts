/**
 * The Omise test-mode simulator: a real HTTP server (loopback by default) speaking the
 * Omise API shapes of the seed, with signed webhooks, a dashboard, and fault injection.
 * Everything is in memory; the optional state file is written in the background.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Country } from '../domain/money';
import { BodyTooLarge, drainBody, hasRequestBody, mediaType, readBody as readLimitedBody } from '../shared/http-body';
import { silentLogger, type Logger } from '../shared/log';
import type { OmiseCharge, OmiseEvent } from '../omise/types';
import { decodeForm, FormError } from '../omise/form';
import { SIMULATOR_DEFAULTS } from './config';
import { Engine, methodOf, parseListQuery, type ChargeRec, type EventRec } from './engine';
import { authFailure, badRequest, notFound, SimError } from './errors';
import { Faults, type Endpoint, type FaultConfig, type Malform } from './faults';
import { renderQrPng, renderQrSvg, type SvgStyleOption } from './qr-svg';
import { methodInfo } from '../domain/methods';
import { WebhookDispatcher } from './webhooks';
import { renderDashboard } from './dashboard';
import { loadState, StateWriter } from './persist';

export interface SimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Generated (pkey_test_…/skey_test_…) when not given. */
  publicKey?: string;
  secretKey?: string;
  webhookUrl?: string | null;
  /** Base64 webhook secret; generated when not given. */
  webhookSecret?: string;
  /** Simulates a secret rotation: deliveries carry a second signature made with this secret. */
  previousWebhookSecret?: string;
  /**
   * Time used for Omise-Signature-Timestamp (default: the simulator's clock). Tests that move
   * the simulator's clock but verify webhooks against real time pass () => new Date().
   */
  signatureClock?: () => Date;
  country?: Country;
  /** The simulator's time (for expiry, void window, timestamps); tests inject one. */
  clock?: () => Date;
  stateFile?: string;
  log?: Logger;
  svgStyle?: SvgStyleOption;
  /** How long a charge stays pending when the request names no expires_at (default 24 h). */
  chargeTtlMs?: number;
  /** Delays before webhook retries (default 1 s, 5 s, 30 s, 2 min, 10 min). */
  webhookRetryDelaysMs?: number[];
  webhookTimeoutMs?: number;
  /** Largest request body accepted (default 64 KiB). */
  bodyLimitBytes?: number;
  /** How often pending charges are checked for expiry (default 1 s). */
  expirySweepMs?: number;
  /** Base of download_uri when the simulator is reached by another name (default http://host:port). */
  publicUrl?: string;
  /** Random source for fault rates (tests make it deterministic). */
  random?: () => number;
}

export interface SimulatorHandle {
  url: string;
  port: number;
  publicKey: string;
  secretKey: string;
  webhookSecret: string;
  stop(): Promise<void>;
  setWebhookUrl(url: string | null): void;
  markAsPaid(chargeId: string): OmiseCharge;
  markAsFailed(chargeId: string, failureCode?: string): OmiseCharge;
  expire(chargeId: string): OmiseCharge;
  /** The text encoded in the charge's QR (what a wallet would scan). */
  qrTextOf(chargeId: string): string;
  charges(): OmiseCharge[];
  charge(chargeId: string): OmiseCharge;
  events(): OmiseEvent[];
  faults: Faults;
  /** Moves the simulator's clock (on top of `clock`). */
  advanceClock(ms: number): void;
  setClock(at: Date): void;
  now(): Date;
  /** True while webhook attempts are in flight, scheduled for retry or held for reordering. */
  webhooksBusy(): boolean;
  /** Runs the expiry sweep now instead of waiting for the timer. */
  sweep(): void;
  /** The API requests seen (newest last, at most 1000), each with the Omise-Version it asked for. */
  requests(): RecordedRequest[];
}

export interface RecordedRequest {
  endpoint: Endpoint;
  /** The request's `Omise-Version` header, or null when it sent none. */
  omiseVersion: string | null;
}

const KEEP_REQUESTS = 1000;

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

interface Route {
  method: 'GET' | 'POST' | 'PATCH';
  re: RegExp;
  endpoint: Endpoint;
  /** 'public': either key; 'secret': secret key only. */
  auth: 'public' | 'secret';
  run: (ctx: Ctx) => { status?: number; json: string };
}

interface Ctx {
  m: RegExpExecArray;
  params: Record<string, unknown>;
  ip: string | null;
}

const ID = '([a-z]+_test_[a-z0-9]+)';

/** A `%` not followed by two hex digits, or escapes that are not UTF-8, in the path or query. */
function brokenEscape(target: string): boolean {
  if (/%(?![0-9A-Fa-f]{2})/.test(target)) return true;
  try {
    decodeURIComponent(target);
    return false;
  } catch {
    return true;
  }
}

/** The answer with one field removed or given the wrong type (the `malform` fault). */
/** 9999-12-31T23:59:59.999Z: the latest time the simulator's clock may be set to. */
const MAX_CLOCK_MS = 253_402_300_799_999;

function malformed(json: string, m: Malform): string {
  const obj = JSON.parse(json) as Record<string, unknown>;
  const parts = m.field.split('.');
  let at: Record<string, unknown> | null = obj;
  for (const p of parts.slice(0, -1)) {
    const next: unknown = at?.[p];
    at = next && typeof next === 'object' ? (next as Record<string, unknown>) : null;
  }
  const last = parts[parts.length - 1];
  if (at && last in at) {
    if (m.mode === 'missing') delete at[last];
    else at[last] = typeof at[last] === 'string' ? 42 : 'x';
  }
  return JSON.stringify(obj);
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const log = opts.log ?? silentLogger;
  const host = opts.host ?? SIMULATOR_DEFAULTS.host;
  const publicKey = opts.publicKey ?? `pkey_test_${randomBytes(12).toString('hex')}`;
  const secretKey = opts.secretKey ?? `skey_test_${randomBytes(12).toString('hex')}`;
  const webhookSecret = opts.webhookSecret ?? randomBytes(32).toString('base64');
  const bodyLimit = opts.bodyLimitBytes ?? SIMULATOR_DEFAULTS.bodyLimitBytes;
  let offsetMs = 0;
  const baseClock = opts.clock ?? (() => new Date());
  const nowMs = (): number => baseClock().getTime() + offsetMs;
  let publicBase = '';

  const faults = new Faults(opts.random);
  let writer: StateWriter | null = null;
  let dispatcher: WebhookDispatcher | null = null;
  const engine = new Engine({
    country: opts.country ?? SIMULATOR_DEFAULTS.country,
    now: nowMs,
    publicBase: () => publicBase,
    svgStyle: opts.svgStyle ?? SIMULATOR_DEFAULTS.svgStyle,
    chargeTtlMs: opts.chargeTtlMs ?? SIMULATOR_DEFAULTS.chargeTtlMs,
    onEvent: (ev: EventRec) => dispatcher?.enqueue(ev),
    onChange: () => writer?.markDirty(),
  });
  if (opts.stateFile) {
    if (loadState(opts.stateFile, engine)) log.info('state loaded', { charges: engine.charges.size });
    writer = new StateWriter(opts.stateFile, engine, log);
  }
  dispatcher = new WebhookDispatcher({
    engine,
    faults,
    log: log.child('webhooks'),
    url: opts.webhookUrl ?? null,
    secret: webhookSecret,
    previousSecret: opts.previousWebhookSecret ?? null,
    retryDelaysMs: opts.webhookRetryDelaysMs ?? [...SIMULATOR_DEFAULTS.webhookRetryDelaysMs],
    attemptTimeoutMs: opts.webhookTimeoutMs ?? SIMULATOR_DEFAULTS.webhookTimeoutMs,
    nowSec: () => Math.floor((opts.signatureClock ? opts.signatureClock().getTime() : nowMs()) / 1000),
    onChange: () => writer?.markDirty(),
  });
  const webhooks = dispatcher;

  const chargeJson = (c: ChargeRec): { json: string } => ({ json: engine.renderChargeJson(c) });
  const listJson = <T>(meta: object, data: T[], render: (t: T) => string): string => {
    const m = JSON.stringify(meta);
    return `${m.slice(0, -1)},"data":[${data.map(render).join(',')}]}`;
  };

  const routes: Route[] = [
    { method: 'POST', re: /^\/sources$/, endpoint: 'POST /sources', auth: 'public', run: (c) => ({ json: JSON.stringify(engine.renderSource(engine.createSource(c.params, c.ip))) }) },
    { method: 'GET', re: new RegExp(`^/sources/${ID}$`), endpoint: 'GET /sources/:id', auth: 'public', run: (c) => ({ json: JSON.stringify(engine.renderSource(engine.retrieveSource(c.m[1]))) }) },
    { method: 'POST', re: /^\/charges$/, endpoint: 'POST /charges', auth: 'secret', run: (c) => chargeJson(engine.createCharge(c.params, c.ip)) },
    {
      method: 'GET',
      re: /^\/charges$/,
      endpoint: 'GET /charges',
      auth: 'secret',
      run: (c) => {
        const q = parseListQuery(c.params, nowMs());
        const { page, meta } = engine.list(engine.charges.values(), q, '/charges');
        return { json: listJson(meta, page, (ch) => (engine.expireIfDue(ch), engine.renderChargeJson(ch))) };
      },
    },
    { method: 'GET', re: new RegExp(`^/charges/${ID}$`), endpoint: 'GET /charges/:id', auth: 'secret', run: (c) => chargeJson(engine.getCharge(c.m[1])) },
    { method: 'PATCH', re: new RegExp(`^/charges/${ID}$`), endpoint: 'PATCH /charges/:id', auth: 'secret', run: (c) => chargeJson(engine.updateCharge(c.m[1], c.params)) },
    {
      method: 'GET',
      re: new RegExp(`^/charges/${ID}/events$`),
      endpoint: 'GET /charges/:id/events',
      auth: 'secret',
      run: (c) => {
        const q = parseListQuery(c.params, nowMs());
        const { page, meta } = engine.list(engine.eventsOfCharge(c.m[1]), q, `/charges/${c.m[1]}/events`);
        return { json: listJson(meta, page, (e) => engine.renderEventJson(e)) };
      },
    },
    { method: 'POST', re: new RegExp(`^/charges/${ID}/expire$`), endpoint: 'POST /charges/:id/expire', auth: 'secret', run: (c) => chargeJson(engine.expireCharge(c.m[1])) },
    { method: 'POST', re: new RegExp(`^/charges/${ID}/mark_as_paid$`), endpoint: 'POST /charges/:id/mark_as_paid', auth: 'secret', run: (c) => chargeJson(engine.markAsPaid(c.m[1])) },
    { method: 'POST', re: new RegExp(`^/charges/${ID}/mark_as_failed$`), endpoint: 'POST /charges/:id/mark_as_failed', auth: 'secret', run: (c) => chargeJson(engine.markAsFailed(c.m[1], c.params)) },
    { method: 'POST', re: new RegExp(`^/charges/${ID}/refunds$`), endpoint: 'POST /charges/:id/refunds', auth: 'secret', run: (c) => ({ json: JSON.stringify(engine.renderRefund(engine.createRefund(c.m[1], c.params))) }) },
    {
      method: 'GET',
      re: new RegExp(`^/charges/${ID}/refunds$`),
      endpoint: 'GET /charges/:id/refunds',
      auth: 'secret',
      run: (c) => {
        const ch = engine.getCharge(c.m[1]);
        const q = parseListQuery(c.params, nowMs());
        const { page, meta } = engine.list(
          ch.refundIds.map((id) => engine.refunds.get(id)!),
          q,
          `/charges/${ch.id}/refunds`,
        );
        return { json: listJson(meta, page, (r) => JSON.stringify(engine.renderRefund(r))) };
      },
    },
    {
      method: 'GET',
      re: new RegExp(`^/charges/${ID}/refunds/${ID}$`),
      endpoint: 'GET /charges/:id/refunds/:id',
      auth: 'secret',
      run: (c) => ({ json: JSON.stringify(engine.renderRefund(engine.getRefund(c.m[1], c.m[2]))) }),
    },
    {
      method: 'GET',
      re: /^\/events$/,
      endpoint: 'GET /events',
      auth: 'secret',
      run: (c) => {
        const q = parseListQuery(c.params, nowMs());
        const { page, meta } = engine.list(engine.events.values(), q, '/events');
        return { json: listJson(meta, page, (e) => engine.renderEventJson(e)) };
      },
    },
    { method: 'GET', re: new RegExp(`^/events/${ID}$`), endpoint: 'GET /events/:id', auth: 'secret', run: (c) => ({ json: engine.renderEventJson(engine.getEvent(c.m[1])) }) },
  ];
  const DOWNLOAD = new RegExp(`^/charges/${ID}/documents/${ID}/downloads/([0-9A-F]{16})$`);

  /** The charge's QR document in its method's format (PNG for PayNow, SVG for the others). */
  const docCache = new Map<string, { body: string | Buffer; type: string }>();
  const documentOf = (c: ChargeRec): { body: string | Buffer; type: string } => {
    let doc = docCache.get(c.id);
    if (!doc) {
      doc =
        methodInfo(methodOf(c)).document === 'png'
          ? { body: renderQrPng(c.payload), type: 'image/png' }
          : { body: renderQrSvg(c.payload, c.svgStyle), type: 'image/svg+xml' };
      if (docCache.size >= 500) docCache.delete(docCache.keys().next().value!);
      docCache.set(c.id, doc);
    }
    return doc;
  };

  const hung = new Set<ServerResponse>();
  const recorded: RecordedRequest[] = [];
  const record = (endpoint: Endpoint, req: IncomingMessage): void => {
    const v = req.headers['omise-version'];
    if (recorded.length >= KEEP_REQUESTS) recorded.splice(0, recorded.length - KEEP_REQUESTS + 1);
    recorded.push({ endpoint, omiseVersion: typeof v === 'string' ? v.slice(0, 40) : null });
  };

  function send(res: ServerResponse, status: number, body: string | Buffer, type = 'application/json; charset=utf-8', extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
    res.end(body);
  }

  function sendError(res: ServerResponse, err: SimError): void {
    send(res, err.status, JSON.stringify(err.body()), undefined, err.headers);
  }

  function authKey(req: IncomingMessage): string | null {
    const h = req.headers.authorization;
    if (!h || !/^basic /i.test(h)) return null;
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? decoded : decoded.slice(0, colon);
  }

  const tooLarge = () => new SimError(413, 'bad_request', `request body too large (at most ${bodyLimit} bytes)`);

  /** The body, or 413 once the rest of it has been drained (up to a bound), so the client reads the answer. */
  function readBody(req: IncomingMessage): Promise<Buffer> {
    return readLimitedBody(req, bodyLimit).catch((e: unknown) => {
      throw e instanceof BodyTooLarge ? tooLarge() : e;
    });
  }

  /**
   * Omise takes form and JSON bodies; anything else is refused with 415 before it is read (a
   * text/plain POST is what any web page can send to a loopback server without a preflight).
   */
  async function requireBodyType(req: IncomingMessage): Promise<void> {
    if (!hasRequestBody(req)) return;
    const type = mediaType(req.headers['content-type']);
    if (type === 'application/x-www-form-urlencoded' || type === 'application/json') return;
    await drainBody(req);
    throw new SimError(415, 'bad_request', 'request bodies must be application/x-www-form-urlencoded or application/json');
  }

  function parseBody(req: IncomingMessage, raw: Buffer): Record<string, unknown> {
    if (raw.length === 0) return {};
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    const text = raw.toString('utf8');
    if (type.startsWith('application/json')) {
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        throw badRequest('request body is not valid JSON');
      }
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('request body must be a JSON object');
      return v as Record<string, unknown>;
    }
    try {
      return decodeForm(text);
    } catch (e) {
      if (e instanceof FormError) throw badRequest(`request body is malformed: ${e.message}`);
      throw e;
    }
  }

  function queryParams(url: URL): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of url.searchParams) {
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') throw badRequest(`parameter not allowed: ${k}`);
      out[k] = v;
    }
    return out;
  }

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const dl = method === 'GET' ? DOWNLOAD.exec(path) : null;
    let route: Route | undefined;
    let m: RegExpExecArray | null = null;
    if (!dl) {
      for (const r of routes) {
        if (r.method !== method) continue;
        m = r.re.exec(path);
        if (m) {
          route = r;
          break;
        }
      }
      if (!route || !m) {
        await drain(req);
        throw new SimError(404, 'not_found', `${method} ${path.slice(0, 80)} is not a known endpoint`);
      }
    }
    const endpoint: Endpoint = dl ? 'GET download' : route!.endpoint;
    record(endpoint, req);
    if (method === 'POST' || method === 'PATCH') await requireBodyType(req);
    const raw = method === 'POST' || method === 'PATCH' ? await readBody(req) : Buffer.alloc(0);
    const decision = faults.decide(endpoint);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    if (decision.kind === 'hang') {
      hung.add(res);
      res.on('close', () => hung.delete(res));
      return;
    }
    if (decision.kind === 'error') {
      const err =
        decision.status === 429
          ? new SimError(429, 'too_many_requests', 'injected fault: too many requests')
          : new SimError(decision.status, 'backend_error', 'injected fault: the server could not handle the request');
      if (decision.retryAfterSeconds !== undefined) {
        err.headers['retry-after'] =
          decision.retryAfterForm === 'http-date' ? new Date(Math.ceil(nowMs() / 1000) * 1000 + decision.retryAfterSeconds * 1000).toUTCString() : String(decision.retryAfterSeconds);
      }
      throw err;
    }
    if (dl) {
      const c = engine.chargeOfDocument(dl[1], dl[2], dl[3]);
      if (!c) throw new SimError(404, 'not_found', 'document was not found');
      const doc = documentOf(c);
      send(res, 200, doc.body, doc.type);
      return;
    }
    const key = authKey(req);
    if (key === null || (key !== secretKey && key !== publicKey)) throw authFailure();
    if (route!.auth === 'secret' && key !== secretKey) throw authFailure();
    const params = method === 'POST' || method === 'PATCH' ? parseBody(req, raw) : queryParams(url);
    const socketIp = req.socket.remoteAddress ?? null;
    const ip = socketIp?.startsWith('::ffff:') ? socketIp.slice(7) : socketIp;
    const out = route!.run({ m: m!, params, ip });
    if (decision.dropResponse === 'reset') {
      req.socket.destroy();
      return;
    }
    if (decision.dropResponse === '500') throw new SimError(500, 'backend_error', 'injected fault: the answer was lost');
    send(res, out.status ?? 200, decision.malform ? malformed(out.json, decision.malform) : out.json);
  }

  function drain(req: IncomingMessage): Promise<void> {
    return readBody(req).then(
      () => undefined,
      () => undefined,
    );
  }

  function chargeAction(id: string, action: string, params: Record<string, unknown>): ChargeRec {
    switch (action) {
      case 'mark_as_paid':
        return engine.markAsPaid(id);
      case 'mark_as_failed':
        return engine.markAsFailed(id, params);
      case 'expire':
        return engine.expireCharge(id);
      default:
        throw notFound('action', action);
    }
  }

  async function handleSim(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const remote = req.socket.remoteAddress ?? '';
    if (!LOOPBACK.has(remote)) {
      await drain(req);
      throw new SimError(403, 'forbidden', 'the dashboard and /_sim routes answer loopback clients only');
    }
    const wantsHtml = (req.headers.accept ?? '').includes('text/html');
    if (method === 'GET' && (path === '/' || path === '/dashboard')) {
      const notice = url.searchParams.get('notice') ?? undefined;
      send(
        res,
        200,
        renderDashboard({ engine, baseUrl: publicBase, publicKey, secretKey, webhookUrl: webhooks.getUrl(), faultsJson: JSON.stringify(faults.get(), null, 2), notice }),
        'text/html; charset=utf-8',
      );
      return;
    }
    if (method === 'POST' || method === 'PUT') await requireBodyType(req);
    const raw = method === 'POST' || method === 'PUT' ? await readBody(req) : Buffer.alloc(0);
    const action = new RegExp(`^/_sim/charges/${ID}/(mark_as_paid|mark_as_failed|expire)$`).exec(path);
    if (method === 'POST' && action) {
      let result: ChargeRec;
      try {
        result = chargeAction(action[1], action[2], parseBody(req, raw));
      } catch (err) {
        if (wantsHtml && err instanceof SimError) {
          send(res, 303, '', 'text/plain', { location: `/?notice=${encodeURIComponent(err.message)}` });
          return;
        }
        throw err;
      }
      if (wantsHtml) send(res, 303, '', 'text/plain', { location: '/' });
      else send(res, 200, engine.renderChargeJson(result));
      return;
    }
    const qr = new RegExp(`^/_sim/charges/${ID}/qr-text$`).exec(path);
    if (method === 'GET' && qr) {
      const c = engine.getCharge(qr[1]);
      send(res, 200, JSON.stringify({ charge: c.id, text: c.payload }));
      return;
    }
    if (path === '/_sim/faults') {
      if (method === 'GET') {
        send(res, 200, JSON.stringify(faults.get()));
        return;
      }
      if (method === 'DELETE') {
        faults.reset();
        send(res, 200, JSON.stringify(faults.get()));
        return;
      }
      if (method === 'POST' || method === 'PUT') {
        let cfg: unknown;
        try {
          cfg = JSON.parse(raw.toString('utf8') || '{}');
        } catch {
          throw badRequest('faults must be JSON');
        }
        try {
          if (method === 'PUT') faults.set(cfg as FaultConfig);
          else faults.update(cfg as FaultConfig);
        } catch (e) {
          throw badRequest((e as Error).message);
        }
        send(res, 200, JSON.stringify(faults.get()));
        return;
      }
    }
    if (path === '/_sim/clock') {
      if (method === 'POST') {
        let body: { advanceMs?: unknown; set?: unknown };
        try {
          body = (JSON.parse(raw.toString('utf8') || '{}') ?? {}) as typeof body;
        } catch {
          throw badRequest('clock body must be JSON');
        }
        let next: number;
        if (typeof body.advanceMs === 'number' && Number.isFinite(body.advanceMs)) next = offsetMs + body.advanceMs;
        else if (typeof body.set === 'string' && Number.isFinite(Date.parse(body.set))) next = Date.parse(body.set) - baseClock().getTime();
        else throw badRequest('clock body must be {"advanceMs": n} or {"set": "ISO time"}');
        // A clock outside 1970–9999 would make every time the simulator renders an invalid date.
        const at = baseClock().getTime() + next;
        if (!(at >= 0 && at <= MAX_CLOCK_MS)) throw badRequest('the clock must stay between 1970 and 9999');
        offsetMs = next;
        engine.sweepExpired();
      } else if (method !== 'GET') throw notFound('route', path);
      send(res, 200, JSON.stringify({ now: new Date(nowMs()).toISOString() }));
      return;
    }
    if (path === '/_sim/webhook' && method === 'POST') {
      let body: { url?: unknown };
      try {
        body = (JSON.parse(raw.toString('utf8') || '{}') ?? {}) as typeof body;
      } catch {
        throw badRequest('webhook body must be JSON');
      }
      if (body.url !== null && (typeof body.url !== 'string' || !/^https?:\/\//.test(body.url))) throw badRequest('url must be an http(s) URL or null');
      webhooks.setUrl(body.url);
      send(res, 200, JSON.stringify({ url: webhooks.getUrl() }));
      return;
    }
    if (path === '/_sim/requests' && method === 'GET') {
      send(res, 200, JSON.stringify({ requests: recorded }));
      return;
    }
    if (path === '/_sim/health') {
      send(res, 200, JSON.stringify({ ok: true, charges: engine.charges.size }));
      return;
    }
    throw new SimError(404, 'not_found', `${method} ${path.slice(0, 80)} is not a known simulator route`);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sim.invalid');
    } catch {
      sendError(res, badRequest('malformed request target'));
      return;
    }
    if (brokenEscape(req.url ?? '/')) {
      // Drained first, as for a 413: the client may be sending a body it expects us to read.
      res.setHeader('connection', 'close');
      void drainBody(req).then(() => sendError(res, badRequest('the request target has a broken %-escape')));
      return;
    }
    const sim = url.pathname === '/' || url.pathname === '/dashboard' || url.pathname.startsWith('/_sim/');
    (sim ? handleSim(req, res, url) : handleApi(req, res, url)).catch((err: unknown) => {
      if (err instanceof SimError) {
        // The body was drained up to a bound; what is left of it is not read: close.
        if (err.status === 413) res.setHeader('connection', 'close');
        sendError(res, err);
        return;
      }
      log.error('simulator request failed', { err, path: url.pathname.slice(0, 80) });
      sendError(res, new SimError(500, 'internal_error', 'the simulator could not handle the request'));
    });
  }

  const server: Server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 60_000 }, onRequest);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? SIMULATOR_DEFAULTS.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  publicBase = (opts.publicUrl ?? url).replace(/\/+$/, '');
  const sweepTimer = setInterval(() => engine.sweepExpired(), opts.expirySweepMs ?? SIMULATOR_DEFAULTS.expirySweepMs);
  sweepTimer.unref();
  log.info('simulator listening', { url, country: engine.country });

  const chargeOrThrow = (id: string): ChargeRec => engine.getCharge(id);
  let stopped: Promise<void> | null = null;

  return {
    url,
    port,
    publicKey,
    secretKey,
    webhookSecret,
    faults,
    stop(): Promise<void> {
      stopped ??= (async () => {
        clearInterval(sweepTimer);
        webhooks.stop();
        for (const res of hung) res.destroy();
        hung.clear();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await writer?.flush();
        log.info('simulator stopped');
      })();
      return stopped;
    },
    setWebhookUrl: (u) => webhooks.setUrl(u),
    markAsPaid: (id) => engine.renderCharge(engine.markAsPaid(id)),
    markAsFailed: (id, code) => engine.renderCharge(engine.markAsFailed(id, code === undefined ? {} : { failure_code: code })),
    expire: (id) => engine.renderCharge(engine.expireCharge(id)),
    qrTextOf: (id) => chargeOrThrow(id).payload,
    charges: () => [...engine.charges.values()].map((c) => (engine.expireIfDue(c), engine.renderCharge(c))),
    charge: (id) => engine.renderCharge(chargeOrThrow(id)),
    events: () => [...engine.events.values()].map((e) => JSON.parse(engine.renderEventJson(e)) as OmiseEvent),
    advanceClock: (ms) => {
      offsetMs += ms;
      engine.sweepExpired();
    },
    setClock: (at) => {
      offsetMs = at.getTime() - baseClock().getTime();
      engine.sweepExpired();
    },
    now: () => new Date(nowMs()),
    webhooksBusy: () => webhooks.busy,
    sweep: () => engine.sweepExpired(),
    requests: () => recorded.map((r) => ({ ...r })),
  };
}
