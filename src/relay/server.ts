/**
 * The relay's composition root: store, Omise client, sale service, webhook intake, event stream,
 * reconciler, and the HTTP(S) server in front of them. `startRelay` is what the CLI, the demo and
 * the tests call.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  CreateSaleRequestSchema,
  PairRequestSchema,
  RecordBatchSchema,
  RefundRequestSchema,
  REVOKED_MESSAGE,
  SaleIdSchema,
  TerminalNameSchema,
  type TerminalInfo,
} from '../link/protocol';
import type { OmiseApi } from '../omise/api';
import { OmiseClient } from '../omise/client';
import { silentLogger, type Logger } from '../shared/log';
import { TerminalAdmin, type TerminalSummary } from './admin';
import { ConfigError, type RelayConfig, type RelaySecrets } from './config';
import { LinkError } from './errors';
import { jsonBody, sendError, sendJson, sendText } from './http';
import { relayMetrics, type RelayMetrics } from './metrics';
import { leanFetch } from './http-fetch';
import { meteredOmise } from './omise-metered';
import { authenticate, bearer, isRevokedCredential, Pairing, PairingError } from './pairing';
import { limitKey, MemoryBuckets, ProxyTrust, type BucketRule } from './rate-limit';
import { Reconciler } from './reconciler';
import { adminReport, reportRule } from './report';
import { SaleService } from './sales';
import { isStorageError, openSqliteStore } from './sqlite-store';
import type { RelayStore, StoredEvent, TerminalRow } from './store';
import { CLOSE_REVOKED, StreamHub } from './stream';
import { GroupCommit } from './group-commit';
import { WebhookIntake } from './webhooks';
import { z } from 'zod';

export interface StartRelayOptions {
  config: RelayConfig;
  secrets: RelaySecrets;
  log?: Logger;
  clock?: () => Date;
  /** Defaults to the HTTP client on config.omise.baseUrl. */
  omise?: OmiseApi;
  /** Defaults to SQLite in config.dataDir. */
  store?: RelayStore;
}

export interface RelayHandle {
  /** http(s)://host:port as bound (port 0 resolved). */
  url: string;
  port: number;
  store: RelayStore;
  metrics: RelayMetrics;
  sales: SaleService;
  approvePairing(code: string, name?: string): TerminalSummary;
  revokeTerminal(id: string): TerminalSummary | undefined;
  renameTerminal(id: string, name: string): TerminalSummary | undefined;
  listTerminals(): TerminalSummary[];
  /** Runs one reconciler pass now (tests, operators). */
  reconcile(): Promise<void>;
  /**
   * Takes new secrets without a restart (SIGHUP, `systemctl reload`): the next Omise call, webhook
   * and admin request use them; streams and requests in flight carry on.
   */
  reloadSecrets(next: RelaySecrets): void;
  /** Reads the TLS certificate and key files again (a renewed certificate); new connections use them. */
  reloadTls(): void;
  /** Graceful: stops accepting, closes streams, lets open requests finish until the deadline. */
  stop(): Promise<void>;
}

/** Polling PRAGMA data_version is how the server notices the CLI's writes. */
const EXTERNAL_POLL_MS = 250;
/** Writing last-seen on every request would cost an fsync each; this is precise enough. */
const TOUCH_EVERY_MS = 10_000;
/** A terminal polls its pairing every 2 s; several pairing behind one NAT still fit. */
const POLL_RULE: BucketRule = { burst: 60, perMinute: 300 };
/** Requests with a missing or unknown credential, per address. */
const AUTH_FAIL_RULE: BucketRule = { burst: 20, perMinute: 20 };

/** Answered 429 with Retry-After. */
class RateLimited extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    message: string,
  ) {
    super(message);
    this.name = 'RateLimited';
  }
}

/**
 * TLS 1.3, or TLS 1.2 with forward-secret AEAD suites only (ECDHE key exchange; no static RSA, no
 * CBC). A private key that other users can read is refused: whoever reads it can impersonate the relay.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function tlsOptions(tls: { certFile: string; keyFile: string }): https.ServerOptions {
  const mode = fs.statSync(tls.keyFile).mode;
  if (mode & 0o004) {
    throw new ConfigError(`TLS private key ${tls.keyFile} is readable by every user (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod o-r ${tls.keyFile}`);
  }
  return {
    cert: fs.readFileSync(tls.certFile),
    key: fs.readFileSync(tls.keyFile),
    minVersion: 'TLSv1.2',
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
  };
}

/** The client reads its keys on every request, so these getters let a reload swap them. */
function loadOmiseClient(config: RelayConfig, secrets: () => RelaySecrets, log: Logger, fetchImpl: typeof fetch, clock: () => Date): OmiseApi {
  return new OmiseClient({
    fetch: fetchImpl,
    clock,
    baseUrl: config.omise.baseUrl,
    get publicKey() {
      return secrets().omisePublicKey;
    },
    get secretKey() {
      return secrets().omiseSecretKey;
    },
    timeoutMs: config.omise.timeoutMs,
    log: log.child('omise'),
  });
}

function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}

export async function startRelay(opts: StartRelayOptions): Promise<RelayHandle> {
  const { config } = opts;
  let secrets = opts.secrets;
  const log = (opts.log ?? silentLogger).child('relay');
  const clock = opts.clock ?? (() => new Date());
  const store = opts.store ?? openSqliteStore(config.dataDir);
  const connected = { count: () => 0 };
  const metrics = relayMetrics(() => connected.count());
  const commit = new GroupCommit(store, (ms, items) => {
    metrics.commitSeconds.observe(ms / 1000);
    metrics.commitItems.inc(undefined, items);
  });
  const stream = new StreamHub({ store, log: log.child('stream'), metrics, clock, heartbeatMs: config.heartbeatMs, commit });
  connected.count = () => stream.connectedCount;
  const onPublished = (events: StoredEvent[]) => {
    metrics.eventsPublished.inc(undefined, events.length);
    for (const e of events) stream.notify(e);
  };
  const omiseFetch = leanFetch();
  const omise = meteredOmise(opts.omise ?? loadOmiseClient(config, () => secrets, log, omiseFetch, clock), metrics);
  const sales = new SaleService({
    store,
    omise,
    log: log.child('sales'),
    clock,
    country: config.country,
    omiseTimeoutMs: config.omise.timeoutMs,
    statusStaleMs: config.statusStaleMs,
    onPublished,
  });
  const pairing = new Pairing(store, clock, {
    codeTtlMs: config.pairing.codeTtlMs,
    maxPending: config.limits.maxPendingPairings,
    maxPendingPerAddress: config.pairing.maxPendingPerAddress,
    perAddress: { burst: config.pairing.perAddressBurst, perMinute: config.pairing.perAddressPerMinute },
    global: { burst: config.pairing.globalBurst, perMinute: config.pairing.globalPerMinute },
  });
  const proxies = new ProxyTrust(config.trustProxy);
  /** Polls cost a hash and a read each: limited per address in memory (they refill in seconds). */
  const pollLimit = new MemoryBuckets(POLL_RULE, clock);
  const authFails = new MemoryBuckets(AUTH_FAIL_RULE, clock);
  const admin = new TerminalAdmin({
    store,
    pairing,
    clock,
    isConnected: (id) => stream.isConnected(id),
    heartbeatMs: config.heartbeatMs,
    onPublished,
    onRevoked: (id) => {
      stream.kick(id, CLOSE_REVOKED, 'revoked');
      // Its open sales were marked for expiry with the revocation: send the expiries now.
      void sales.expireOpenSales(id);
    },
  });
  const webhookSecretsOf = (s: RelaySecrets) => [s.webhookSecret, ...(s.previousWebhookSecret ? [s.previousWebhookSecret] : [])];
  /** Shared with the intake and changed in place by reloadSecrets. */
  const webhookSecrets = webhookSecretsOf(secrets);
  const webhooks = new WebhookIntake({
    store,
    omise,
    sales,
    log: log.child('webhooks'),
    metrics,
    clock,
    secrets: webhookSecrets,
    bodyLimit: config.limits.webhookBodyBytes,
    omiseTimeoutMs: config.omise.timeoutMs,
    commit,
  });
  const reconciler = new Reconciler({
    store,
    sales,
    log: log.child('reconcile'),
    clock,
    intervalMs: config.reconcile.intervalMs,
    webhookOverdueMs: config.reconcile.webhookOverdueMs,
    omiseTimeoutMs: config.omise.timeoutMs,
  });

  let stopping = false;
  let active = 0;
  const lastTouch = new Map<string, number>();

  /**
   * A missing or unknown credential takes a token of its address's bucket; once it is empty the
   * address gets 429 instead of 401 (a revoked terminal still hears why: it is not counted).
   */
  const failedAuth = (req: http.IncomingMessage) => {
    const wait = authFails.take(limitKey(proxies.clientAddress(req)));
    if (wait > 0) throw new RateLimited(wait, 'too many requests with a wrong credential from this address; slow down');
  };

  const terminalOf = (req: http.IncomingMessage): TerminalRow => {
    const t = authenticate(store, bearer(req.headers.authorization));
    if (!t) {
      if (!isRevokedCredential(store, bearer(req.headers.authorization))) failedAuth(req);
      throw new LinkError('unauthorized', 'missing, unknown or revoked terminal credential');
    }
    const now = Date.now();
    if ((lastTouch.get(t.id) ?? 0) + TOUCH_EVERY_MS < now) {
      lastTouch.set(t.id, now);
      const v = req.headers['x-qrpos-version'];
      const info = { address: proxies.clientAddress(req), version: typeof v === 'string' ? v.slice(0, 32) : null };
      const at = clock().toISOString();
      commit.run(() => store.touchTerminal(t.id, at, info)).catch((err: unknown) => log.warn('could not record last-seen time', { error: err }));
    }
    return t;
  };

  const requireAdmin = (req: http.IncomingMessage) => {
    const token = bearer(req.headers.authorization);
    if (!token || !safeEqual(token, secrets.adminToken)) {
      failedAuth(req);
      throw new LinkError('unauthorized', 'admin token required');
    }
  };

  const limit = config.limits.bodyBytes;
  const NameBody = z.object({ name: TerminalNameSchema });
  const ApproveBody = z.object({ code: z.string().min(4).max(16), name: TerminalNameSchema.optional() });

  const saleIdOf = (raw: string): string => {
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      throw new LinkError('bad_request', 'the path has a broken %-escape');
    }
    if (!SaleIdSchema.safeParse(id).success) throw new LinkError('bad_request', 'saleId: 8–64 characters of A-Z a-z 0-9 _ -');
    return id;
  };

  const sinceAndLimit = (u: URL) => {
    const since = u.searchParams.get('since') ?? '1970-01-01T00:00:00.000Z';
    if (Number.isNaN(Date.parse(since))) throw new LinkError('bad_request', 'since: an ISO 8601 time');
    const n = Number(u.searchParams.get('limit') ?? 100);
    if (!Number.isInteger(n) || n < 1 || n > 500) throw new LinkError('bad_request', 'limit: an integer from 1 to 500');
    return { since: new Date(since).toISOString(), limit: n };
  };

  const tooMany = (res: http.ServerResponse, message: string, retryAfterSeconds: number) => {
    metrics.rateLimited.inc();
    res.setHeader('retry-after', String(retryAfterSeconds));
    sendJson(res, 429, { error: { code: 'too_many', message } });
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse, u: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const p = u.pathname;
    let m: RegExpExecArray | null;

    if (p === '/healthz') return sendJson(res, 200, { ok: true });
    if (p === '/readyz') {
      let reason: string | null = stopping ? 'stopping' : null;
      try {
        store.terminalById('');
        const w = store.writable();
        if (!w.ok) reason ??= `${w.reason} (since ${w.since})`;
      } catch (err) {
        reason ??= `cannot read the database (${(err as { code?: string }).code ?? (err as Error).message})`;
      }
      return sendJson(res, reason ? 503 : 200, reason ? { ready: false, reason } : { ready: true });
    }
    if (p === '/metrics' && method === 'GET') return sendText(res, 200, metrics.registry.render(), 'text/plain; version=0.0.4; charset=utf-8');
    if (p === '/webhooks/omise' && method === 'POST') return webhooks.handle(req, res);

    // pairing (no credential yet)
    if (p === '/v1/pair' && method === 'POST') {
      const body = await jsonBody(req, 4096, PairRequestSchema);
      try {
        return sendJson(res, 201, pairing.start(body, proxies.clientAddress(req)));
      } catch (err) {
        if (err instanceof PairingError && err.code === 'too_many') return tooMany(res, err.message, err.retryAfterSeconds ?? 60);
        throw err;
      }
    }
    if ((m = /^\/v1\/pair\/([A-Za-z0-9_]{1,64})$/.exec(p)) && method === 'GET') {
      const wait = pollLimit.take(limitKey(proxies.clientAddress(req)));
      if (wait > 0) return tooMany(res, 'too many pairing polls from this address; slow down', wait);
      const secret = req.headers['x-pairing-secret'];
      const polled = typeof secret === 'string' ? pairing.poll(m[1], secret) : undefined;
      if (!polled) throw new LinkError('not_found', 'no such pairing (or wrong pairing secret)');
      return sendJson(res, 200, polled);
    }

    if (p.startsWith('/v1/')) {
      const t = terminalOf(req);
      if (p === '/v1/me' && method === 'GET') {
        const info: TerminalInfo = { terminalId: t.id, name: t.name, currency: sales.currency, serverTime: clock().toISOString(), highestRef: store.highestRecordRef(t.id) };
        return sendJson(res, 200, info);
      }
      if (p === '/v1/sales' && method === 'POST') {
        const body = await jsonBody(req, limit, CreateSaleRequestSchema);
        // A sale the relay could not record must not reach Omise; one in flight still finishes.
        const w = store.writable();
        if (!w.ok) throw new LinkError('storage_unavailable', `the relay cannot record sales now: ${w.reason}; no charge was made, retry with the same saleId`);
        return sendJson(res, 200, await sales.create(t, body));
      }
      if (p === '/v1/sales' && method === 'GET') {
        const { since, limit: n } = sinceAndLimit(u);
        return sendJson(res, 200, { sales: sales.list(t, since, n) });
      }
      if ((m = /^\/v1\/sales\/([^/]+)$/.exec(p)) && method === 'GET') return sendJson(res, 200, await sales.status(t, saleIdOf(m[1])));
      if ((m = /^\/v1\/sales\/([^/]+)\/expire$/.exec(p)) && method === 'POST') {
        return sendJson(res, 200, await sales.expire(t, saleIdOf(m[1])));
      }
      if ((m = /^\/v1\/sales\/([^/]+)\/refunds$/.exec(p)) && method === 'POST') {
        const saleId = saleIdOf(m[1]);
        const body = await jsonBody(req, limit, RefundRequestSchema);
        return sendJson(res, 200, await sales.refund(t, saleId, body));
      }
      if (p === '/v1/records' && method === 'POST') {
        const body = await jsonBody(req, limit, RecordBatchSchema);
        return sendJson(res, 200, store.insertRecords(t.id, body.records, clock().toISOString()));
      }
      throw new LinkError('not_found', `no route ${method} ${p}`);
    }

    if (p.startsWith('/admin/')) {
      requireAdmin(req);
      if (p === '/admin/terminals' && method === 'GET') return sendJson(res, 200, { terminals: admin.list() });
      if (p === '/admin/pairings' && method === 'GET') return sendJson(res, 200, { pairings: admin.pendingPairings() });
      if (p === '/admin/pairings/approve' && method === 'POST') {
        const body = await jsonBody(req, 4096, ApproveBody);
        try {
          return sendJson(res, 200, { terminal: admin.approve(body.code, body.name) });
        } catch (err) {
          if (err instanceof PairingError) throw new LinkError('not_found', err.message);
          throw err;
        }
      }
      if (p === '/admin/pairings/reject' && method === 'POST') {
        const body = await jsonBody(req, 4096, ApproveBody);
        try {
          admin.reject(body.code);
          return sendJson(res, 200, { rejected: true });
        } catch (err) {
          if (err instanceof PairingError) throw new LinkError('not_found', err.message);
          throw err;
        }
      }
      if ((m = /^\/admin\/terminals\/([A-Za-z0-9_]+)\/rename$/.exec(p)) && method === 'POST') {
        const body = await jsonBody(req, 4096, NameBody);
        const t = admin.rename(m[1], body.name);
        if (!t) throw new LinkError('not_found', `no terminal ${m[1]}`);
        return sendJson(res, 200, { terminal: t });
      }
      if ((m = /^\/admin\/terminals\/([A-Za-z0-9_]+)\/revoke$/.exec(p)) && method === 'POST') {
        const t = admin.revoke(m[1]);
        if (!t) throw new LinkError('not_found', `no terminal ${m[1]}`);
        return sendJson(res, 200, { terminal: t });
      }
      if (p === '/admin/late-payments' && method === 'GET') return sendJson(res, 200, sales.latePayments());
      if (p === '/admin/report' && method === 'GET') {
        const r = adminReport(store, reportRule(config), u, req.headers.accept, clock());
        if (r.type === 'json') return sendJson(res, 200, r.body);
        res.setHeader('content-disposition', `attachment; filename="${r.filename}"`);
        return sendText(res, 200, r.body, 'text/csv; charset=utf-8; header=present');
      }
      if (p === '/admin/sales' && method === 'GET') {
        const { since, limit: n } = sinceAndLimit(u);
        const terminal = u.searchParams.get('terminal');
        return sendJson(res, 200, { sales: store.salesSince(terminal, since, n).map((s) => sales.view(s, false)) });
      }
      throw new LinkError('not_found', `no route ${method} ${p}`);
    }
    throw new LinkError('not_found', `no route ${method} ${p}`);
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    active++;
    res.on('close', () => active--);
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://relay');
    } catch {
      sendJson(res, 400, { error: { code: 'bad_request', message: 'bad URL' } });
      return;
    }
    const cls = u.pathname.split('/')[1] || 'root';
    res.on('finish', () => metrics.httpRequests.inc({ route: cls, status: String(res.statusCode) }));
    if (stopping && !u.pathname.startsWith('/healthz') && !u.pathname.startsWith('/readyz')) {
      res.setHeader('connection', 'close');
    }
    route(req, res, u).catch((err: unknown) => {
      if (err instanceof RateLimited) return tooMany(res, err.message, err.retryAfterSeconds);
      if (err instanceof LinkError) {
        if (err.status >= 500) log.warn('request failed', { path: u.pathname, code: err.code, message: err.message });
        sendError(res, err);
        return;
      }
      if (isStorageError(err)) {
        log.error('request failed: the database cannot be written', { path: u.pathname, code: (err as { code: string }).code });
        sendError(res, new LinkError('storage_unavailable', 'the relay cannot write its database now (disk full?); retry later with the same ids'));
        return;
      }
      log.error('request crashed', { path: u.pathname, error: err });
      sendError(res, new LinkError('internal', 'internal error'));
    });
  };

  const server: http.Server = config.tls ? https.createServer(tlsOptions(config.tls), onRequest) : http.createServer(onRequest);
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  const refuseUpgrade = (socket: Duplex, status: number, text: string, retryAfterSeconds?: number) => {
    const code = status === 401 ? 'unauthorized' : status === 429 ? 'too_many' : 'bad_request';
    const body = JSON.stringify({ error: { code, message: text } });
    const retry = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`,
    );
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://relay');
    } catch {
      return refuseUpgrade(socket, 400, 'bad URL');
    }
    if (u.pathname !== '/v1/stream' || stopping) return refuseUpgrade(socket, stopping ? 503 : 404, 'no such stream');
    let t: TerminalRow | undefined;
    try {
      t = authenticate(store, bearer(req.headers.authorization));
    } catch (err) {
      log.error('stream auth failed', { error: err });
      return refuseUpgrade(socket, 503, 'try again');
    }
    if (!t) {
      if (isRevokedCredential(store, bearer(req.headers.authorization))) return refuseUpgrade(socket, 401, REVOKED_MESSAGE);
      const wait = authFails.take(limitKey(proxies.clientAddress(req)));
      if (wait > 0) return refuseUpgrade(socket, 429, 'too many requests with a wrong credential from this address; slow down', wait);
      return refuseUpgrade(socket, 401, 'missing, unknown or revoked terminal credential');
    }
    const raw = u.searchParams.get('after');
    const after = raw === null ? t.ackedSeq : Number(raw);
    if (!Number.isSafeInteger(after) || after < 0) return refuseUpgrade(socket, 400, 'after: a non-negative integer');
    stream.upgrade(req, socket, head, t, after, proxies.clientAddress(req));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${addr.port}`;

  stream.start();
  webhooks.start();
  reconciler.start();
  const externalTimer = setInterval(() => {
    try {
      if (store.externalChange()) stream.syncExternal();
    } catch (err) {
      log.warn('external change check failed', { error: err });
    }
  }, EXTERNAL_POLL_MS);
  externalTimer.unref();
  log.info('relay listening', { url, country: config.country, omise: config.omise.baseUrl, publicUrl: config.publicUrl });

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      log.info('relay stopping');
      clearInterval(externalTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      stream.stop();
      server.closeIdleConnections();
      const deadline = Date.now() + config.shutdownGraceMs;
      while (active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      // Omise calls in flight are waited for (their results are worth keeping), but not forever.
      const background = Promise.all([reconciler.stop(), webhooks.stop()]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([background, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()) + 1000)))]);
      clearTimeout(timer);
      await closed;
      omiseFetch.close();
      commit.flush();
      store.close();
      log.info('relay stopped');
    })());

  return {
    url,
    port: addr.port,
    store,
    metrics,
    sales,
    approvePairing: (code, name) => admin.approve(code, name),
    revokeTerminal: (id) => admin.revoke(id),
    renameTerminal: (id, name) => admin.rename(id, name),
    listTerminals: () => admin.list(),
    reconcile: () => reconciler.tick(),
    reloadSecrets(next) {
      const changed = (Object.keys({ ...secrets, ...next }) as (keyof RelaySecrets)[]).filter((k) => secrets[k] !== next[k]);
      secrets = next;
      webhookSecrets.splice(0, webhookSecrets.length, ...webhookSecretsOf(next));
      log.info('secrets reloaded', { changedFields: changed });
    },
    reloadTls() {
      if (!config.tls) return;
      (server as https.Server).setSecureContext(tlsOptions(config.tls));
      log.info('TLS certificate reloaded');
    },
    stop,
  };
}
