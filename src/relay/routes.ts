/**
 * The relay's HTTP API, route by route: health, readiness and metrics; Omise's webhooks; pairing
 * (no credential yet); the terminal API (`/v1/…`, a terminal credential); the operator's admin
 * API (`/admin/…`, the admin token). Each handler checks its input and calls the service that
 * owns the rule (sales, pairing, admin, report).
 */
import type http from 'node:http';
import { z } from 'zod';
import {
  CreateSaleRequestSchema,
  PairRequestSchema,
  RecordBatchSchema,
  RefundRequestSchema,
  ReleaseArchSchema,
  ReleaseReportSchema,
  ReleaseVersionSchema,
  SaleIdSchema,
  type TerminalInfo,
} from '../link/protocol';
import type { Access } from './access';
import { InvalidNameError, type TerminalAdmin } from './admin';
import type { RelayConfig } from './config';
import { LinkError } from './errors';
import { jsonBody, sendJson, sendText } from './http';
import type { RelayMetrics } from './metrics';
import { PairingError, type Pairing } from './pairing';
import { limitKey } from './rate-limit';
import type { ReleaseService } from './releases';
import { adminReport, reportRule } from './report';
import type { SaleService } from './sales';
import type { RelayStore } from './store';
import type { WebhookIntake } from './webhooks';

export interface RouteContext {
  config: RelayConfig;
  store: RelayStore;
  sales: SaleService;
  pairing: Pairing;
  admin: TerminalAdmin;
  webhooks: WebhookIntake;
  metrics: RelayMetrics;
  access: Access;
  releases: ReleaseService;
  clock: () => Date;
  stopping: () => boolean;
}

// Names are checked by TerminalAdmin (InvalidNameError), and codes by Pairing (not found), so the
// admin API answers with the same messages the operator CLI always printed.
const NameBody = z.object({ name: z.string().max(4096) });
const ApproveBody = z.object({ code: z.string().min(1).max(64), name: z.string().max(4096).optional() });
const RolloutBody = z.object({
  target: z.union([
    z.literal('all'),
    z.object({ terminals: z.array(z.string().min(1).max(64)).min(1).max(1000) }).strict(),
    z.object({ percent: z.number().int().min(1).max(100) }).strict(),
  ]),
});

/** A %-decoded path segment. */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new LinkError('bad_request', 'the path has a broken %-escape');
  }
}

function versionOf(raw: string): string {
  const v = segment(raw);
  if (!ReleaseVersionSchema.safeParse(v).success) throw new LinkError('bad_request', 'version: letters, digits, . _ + -; at most 128');
  return v;
}

/** A terminal id from the path; one that cannot exist is simply not found. */
function terminalIdOf(raw: string): string {
  const id = segment(raw);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new LinkError('not_found', `no terminal ${id}`);
  return id;
}

/** Operator input the admin's rules refuse: a 404 for a code that is not pending, a 400 for a bad name. */
async function adminRule<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PairingError) throw new LinkError('not_found', err.message);
    if (err instanceof InvalidNameError) throw new LinkError('bad_request', err.message);
    throw err;
  }
}

function saleIdOf(raw: string): string {
  const id = segment(raw);
  if (!SaleIdSchema.safeParse(id).success) throw new LinkError('bad_request', 'saleId: 8–64 characters of A-Z a-z 0-9 _ -');
  return id;
}

function sinceAndLimit(u: URL): { since: string; limit: number } {
  const since = u.searchParams.get('since') ?? '1970-01-01T00:00:00.000Z';
  if (Number.isNaN(Date.parse(since))) throw new LinkError('bad_request', 'since: an ISO 8601 time');
  const n = Number(u.searchParams.get('limit') ?? 100);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new LinkError('bad_request', 'limit: an integer from 1 to 500');
  return { since: new Date(since).toISOString(), limit: n };
}

/** The request handler behind the server: routes by method and path; errors are thrown (LinkError → its status). */
export function relayRoutes(ctx: RouteContext): (req: http.IncomingMessage, res: http.ServerResponse, u: URL) => Promise<void> {
  const { config, store, sales, pairing, admin, webhooks, metrics, access, releases, clock } = ctx;
  const limit = config.limits.bodyBytes;
  return async function route(req: http.IncomingMessage, res: http.ServerResponse, u: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const p = u.pathname;
    let m: RegExpExecArray | null;
  
    if (p === '/healthz') return sendJson(res, 200, { ok: true });
    if (p === '/readyz') {
      let reason: string | null = ctx.stopping() ? 'stopping' : null;
      try {
        await store.terminalById('');
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
        return sendJson(res, 201, await pairing.start(body, access.address(req)));
      } catch (err) {
        if (err instanceof PairingError && err.code === 'too_many') return access.tooMany(res, err.message, err.retryAfterSeconds ?? 60);
        throw err;
      }
    }
    if ((m = /^\/v1\/pair\/([A-Za-z0-9_]{1,64})$/.exec(p)) && method === 'GET') {
      const wait = access.pollLimit.take(limitKey(access.address(req)));
      if (wait > 0) return access.tooMany(res, 'too many pairing polls from this address; slow down', wait);
      const secret = req.headers['x-pairing-secret'];
      const polled = typeof secret === 'string' ? await pairing.poll(m[1], secret) : undefined;
      if (!polled) throw new LinkError('not_found', 'no such pairing (or wrong pairing secret)');
      return sendJson(res, 200, polled);
    }
  
    if (p.startsWith('/v1/')) {
      const t = await access.terminal(req);
      if (p === '/v1/me' && method === 'GET') {
        const info: TerminalInfo = { terminalId: t.id, name: t.name, currency: sales.currency, serverTime: clock().toISOString(), highestRef: await store.highestRecordRef(t.id) };
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
        return sendJson(res, 200, { sales: await sales.list(t, since, n) });
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
        return sendJson(res, 200, await store.insertRecords(t.id, body.records, clock().toISOString()));
      }
      // fleet updates: what to run, its bundle (only if rolled out to this terminal), how it went
      if (p === '/v1/release' && method === 'GET') return sendJson(res, 200, await releases.offerFor(t, u.searchParams.get('arch')));
      if ((m = /^\/v1\/release\/([^/]+)\/bundle$/.exec(p)) && method === 'GET') return releases.sendBundle(t, versionOf(m[1]), u.searchParams.get('arch'), req, res);
      if (p === '/v1/release/report' && method === 'POST') {
        await releases.report(t, await jsonBody(req, 4096, ReleaseReportSchema));
        return sendJson(res, 200, { recorded: true });
      }
      throw new LinkError('not_found', `no route ${method} ${p}`);
    }
  
    if (p.startsWith('/admin/')) {
      access.requireAdmin(req);
      if (p === '/admin/terminals' && method === 'GET') return sendJson(res, 200, { terminals: await admin.list() });
      if (p === '/admin/pairings' && method === 'GET') return sendJson(res, 200, { pairings: await admin.pendingPairings() });
      if (p === '/admin/pairings/approve' && method === 'POST') {
        const body = await jsonBody(req, 4096, ApproveBody);
        return sendJson(res, 200, { terminal: await adminRule(() => admin.approve(body.code, body.name)) });
      }
      if (p === '/admin/pairings/reject' && method === 'POST') {
        const body = await jsonBody(req, 4096, ApproveBody);
        await adminRule(() => admin.reject(body.code));
        return sendJson(res, 200, { rejected: true });
      }
      if ((m = /^\/admin\/terminals\/([^/]+)\/rename$/.exec(p)) && method === 'POST') {
        const id = terminalIdOf(m[1]);
        const body = await jsonBody(req, 4096, NameBody);
        const t = await adminRule(() => admin.rename(id, body.name));
        if (!t) throw new LinkError('not_found', `no terminal ${id}`);
        return sendJson(res, 200, { terminal: t });
      }
      if ((m = /^\/admin\/terminals\/([^/]+)\/revoke$/.exec(p)) && method === 'POST') {
        const id = terminalIdOf(m[1]);
        const t = await admin.revoke(id);
        if (!t) throw new LinkError('not_found', `no terminal ${id}`);
        return sendJson(res, 200, { terminal: t });
      }
      if (p === '/admin/releases' && method === 'POST') {
        const added = await releases.add(req);
        return sendJson(res, added.status === 'added' ? 201 : 200, added);
      }
      if (p === '/admin/releases' && method === 'GET') return sendJson(res, 200, await releases.list());
      if ((m = /^\/admin\/releases\/([^/]+)$/.exec(p)) && method === 'DELETE') {
        const arch = u.searchParams.get('arch');
        if (arch !== null && !ReleaseArchSchema.safeParse(arch).success) throw new LinkError('bad_request', 'arch: x64, arm64 or arm');
        return sendJson(res, 200, await releases.remove(versionOf(m[1]), { ...(arch ? { arch } : {}), force: u.searchParams.get('force') === '1' }));
      }
      if ((m = /^\/admin\/releases\/([^/]+)\/rollout$/.exec(p)) && method === 'POST') {
        const version = versionOf(m[1]);
        const { target } = await jsonBody(req, 65_536, RolloutBody);
        const t = target === 'all' ? ({ kind: 'all' } as const) : 'percent' in target ? ({ kind: 'percent', percent: target.percent } as const) : ({ kind: 'terminals', ids: target.terminals } as const);
        return sendJson(res, 200, await releases.rollout(version, t));
      }
      if (p === '/admin/fleet' && method === 'GET') return sendJson(res, 200, { terminals: await releases.fleet() });
      if (p === '/admin/late-payments' && method === 'GET') return sendJson(res, 200, await sales.latePayments());
      if (p === '/admin/report' && method === 'GET') {
        const r = await adminReport(store, reportRule(config), u, req.headers.accept, clock());
        if (r.type === 'json') return sendJson(res, 200, r.body);
        res.setHeader('content-disposition', `attachment; filename="${r.filename}"`);
        return sendText(res, 200, r.body, 'text/csv; charset=utf-8; header=present');
      }
      if (p === '/admin/sales' && method === 'GET') {
        const { since, limit: n } = sinceAndLimit(u);
        const terminal = u.searchParams.get('terminal');
        const views = [];
        for (const s of await store.salesSince(terminal, since, n)) views.push(await sales.view(s, false));
        return sendJson(res, 200, { sales: views });
      }
      throw new LinkError('not_found', `no route ${method} ${p}`);
    }
    throw new LinkError('not_found', `no route ${method} ${p}`);
  };
}
