/**
 * The relay's composition root, read top to bottom: store → Omise client → sale service →
 * pairing and terminal admin → webhook intake → reconciler → access checks and routes
 * (routes.ts) → the HTTP(S) server and the terminals' event streams. `startRelay` is what the
 * CLI, the demo and the tests call; stop() undoes it in reverse.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { REVOKED_MESSAGE } from '../link/protocol';
import type { OmiseApi } from '../omise/api';
import { OmiseClient } from '../omise/client';
import { silentLogger, type Logger } from '../shared/log';
import { Access, RateLimited } from './access';
import { TerminalAdmin, type TerminalSummary } from './admin';
import { methodsOfTerminal, type RelayConfig, type RelaySecrets } from './config';
import { LinkError } from './errors';
import { GroupCommit } from './group-commit';
import { sendError, sendJson } from './http';
import { leanFetch } from './http-fetch';
import { relayMetrics, type RelayMetrics } from './metrics';
import { meteredOmise } from './omise-metered';
import { authenticate, bearer, isRevokedCredential, Pairing } from './pairing';
import { ProxyTrust } from './rate-limit';
import { Reconciler } from './reconciler';
import { ReleaseService } from './releases';
import { relayRoutes } from './routes';
import { SaleService } from './sales';
import { openRelayStore } from './open-store';
import { isStorageError } from './sqlite-store';
import type { RelayStore, StoredEvent, TerminalRow } from './store';
import { CLOSE_REVOKED, StreamHub } from './stream';
import { tlsOptions } from './tls';
import { WebhookIntake } from './webhooks';

export { TLS12_CIPHERS, tlsOptions } from './tls';

export interface StartRelayOptions {
  config: RelayConfig;
  secrets: RelaySecrets;
  log?: Logger;
  clock?: () => Date;
  /** Defaults to the HTTP client on config.omise.baseUrl. */
  omise?: OmiseApi;
  /** Defaults to the config's `store` (SQLite in config.dataDir unless it names PostgreSQL). */
  store?: RelayStore;
}

export interface RelayHandle {
  /** http(s)://host:port as bound (port 0 resolved). */
  url: string;
  port: number;
  store: RelayStore;
  metrics: RelayMetrics;
  sales: SaleService;
  approvePairing(code: string, name?: string): Promise<TerminalSummary>;
  revokeTerminal(id: string): Promise<TerminalSummary | undefined>;
  renameTerminal(id: string, name: string): Promise<TerminalSummary | undefined>;
  listTerminals(): Promise<TerminalSummary[]>;
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

/** Polling PRAGMA data_version is how the server notices writes by another process (an older qrpos CLI, a repair by hand); today's CLI goes through the admin API. */
const EXTERNAL_POLL_MS = 250;

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

export async function startRelay(opts: StartRelayOptions): Promise<RelayHandle> {
  const { config } = opts;
  let secrets = opts.secrets;
  const log = (opts.log ?? silentLogger).child('relay');
  const clock = opts.clock ?? (() => new Date());
  const store = opts.store ?? (await openRelayStore(config, log, secrets));
  const connected = { count: () => 0 };
  const metrics = relayMetrics(() => connected.count());
  const commit = new GroupCommit(store, (ms, items) => {
    metrics.commitSeconds.observe(ms / 1000);
    metrics.commitItems.inc(undefined, items);
  });
  const methodsOf = (t: { id: string; name: string }) => methodsOfTerminal(config.methods, t);
  const stream = new StreamHub({ store, log: log.child('stream'), metrics, clock, heartbeatMs: config.heartbeatMs, commit, methodsOf });
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
    methodsOf,
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
  const admin = new TerminalAdmin({
    store,
    pairing,
    clock,
    isConnected: (id) => stream.isConnected(id),
    heartbeatMs: config.heartbeatMs,
    methodsOf,
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

  // --- access and routes -------------------------------------------------------------------
  let stopping = false;
  let active = 0;
  const access = new Access({ store, proxies, commit, metrics, log, clock, adminToken: () => secrets.adminToken });
  // Fleet updates: bundles in <dataDir>/releases, verified with the release keys before kept.
  const releases = new ReleaseService({
    store,
    dataDir: config.dataDir,
    ...(config.releases.dir ? { dir: config.releases.dir } : {}),
    ...(config.releases.keysFile ? { keysFile: config.releases.keysFile } : {}),
    maxBundleBytes: config.releases.maxBundleBytes,
    keep: config.releases.keep,
    ...(config.releases.downloadBytesPerSecond ? { downloadBytesPerSecond: config.releases.downloadBytesPerSecond } : {}),
    clock,
    log: log.child('releases'),
    terminals: () => admin.list(),
  });
  // Files a crash left between forgetting a bundle and deleting it, then the retention rule.
  await releases.tidy();
  const route = relayRoutes({ config, store, sales, pairing, admin, webhooks, metrics, access, releases, clock, stopping: () => stopping });

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
      if (err instanceof RateLimited) return access.tooMany(res, err.message, err.retryAfterSeconds);
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
  const onUpgrade = async (req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://relay');
    } catch {
      return refuseUpgrade(socket, 400, 'bad URL');
    }
    if (u.pathname !== '/v1/stream' || stopping) return refuseUpgrade(socket, stopping ? 503 : 404, 'no such stream');
    let t: TerminalRow | undefined;
    let revoked = false;
    try {
      t = await authenticate(store, bearer(req.headers.authorization));
      if (!t) revoked = await isRevokedCredential(store, bearer(req.headers.authorization));
    } catch (err) {
      log.error('stream auth failed', { error: err });
      return refuseUpgrade(socket, 503, 'try again');
    }
    if (!t) {
      if (revoked) return refuseUpgrade(socket, 401, REVOKED_MESSAGE);
      const wait = access.wrongCredential(req);
      if (wait > 0) return refuseUpgrade(socket, 429, 'too many requests with a wrong credential from this address; slow down', wait);
      return refuseUpgrade(socket, 401, 'missing, unknown or revoked terminal credential');
    }
    const raw = u.searchParams.get('after');
    const after = raw === null ? t.ackedSeq : Number(raw);
    if (!Number.isSafeInteger(after) || after < 0) return refuseUpgrade(socket, 400, 'after: a non-negative integer');
    if (stopping) return refuseUpgrade(socket, 503, 'no such stream');
    stream.upgrade(req, socket, head, t, after, proxies.clientAddress(req));
  };
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    onUpgrade(req, socket, head).catch((err: unknown) => {
      log.error('stream upgrade failed', { error: err });
      socket.destroy();
    });
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
      if (store.externalChange()) stream.syncExternal().catch((err: unknown) => log.warn('external change check failed', { error: err }));
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
      const streamWritten = stream.stop();
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
      await streamWritten;
      await commit.drain().catch((err: unknown) => log.error('could not make the last writes durable', { error: err }));
      await store.close();
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
