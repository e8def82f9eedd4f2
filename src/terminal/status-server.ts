/**
 * Local status endpoint for operators and monitoring: GET /status on loopback or a unix socket.
 * It never listens on a public address: the answer names sales and the terminal.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/log';
import { isSafeHostHeader } from '../shared/loopback';
import { parseHoldRequest, type HoldView } from './hold';

export interface TerminalStatus {
  state: string;
  screen: string;
  /** Whether a new sale can start as far as this terminal goes (false: journal maintenance, storage full). */
  ready: boolean;
  /** Why not ready. */
  reason?: string;
  currentSale: { saleId: string; ref: number | null; amount: number; currency: string; status: string } | null;
  link: { online: boolean; paired: boolean; lastEventSeq: number; lastError: string | null; pairingCode: string | null };
  unsynced: number;
  /** Late payments (paid after the terminal gave the sale up) no supervisor has kept or refunded yet. */
  latePayments: number;
  version: string;
  terminalId: string | null;
  merchantName: string;
  journal: { path: string; resetFrom: string | null };
  configErrors?: { field: string; message: string }[];
  /** Set while the terminal waits on something it cannot fix itself (e.g. no keypad yet). */
  problem?: StartupProblem | null;
  /** New sales held for an upgrade (POST /hold): until when, and why. */
  hold?: HoldView | null;
}

/** Why the terminal cannot start (or sell), and what to do about it: on screen, here, in the log. */
export interface StartupProblem {
  /** config, secrets, display, journal, status, keypad, start */
  stage: string;
  title: string;
  reason: string[];
  action: string[];
  /** ISO time it was first seen. */
  since: string;
}

/** The answer while the daemon waits after a failed start. */
export interface FatalStatus {
  state: 'fatal';
  screen: 'fatal' | 'none';
  ready: false;
  /** The problem's title and first reason line. */
  reason: string;
  version: string;
  configFile: string;
  problem: StartupProblem;
}

export type Listen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export function parseListen(spec: string): Listen {
  if (spec.startsWith('/') || spec.startsWith('./') || spec.startsWith('unix:')) return { kind: 'unix', path: spec.replace(/^unix:/, '') };
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(spec);
  if (!m) throw new Error(`statusListen must be "host:port" on loopback or a unix socket path, got "${spec}"`);
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`statusListen port out of range: ${port}`);
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new Error(`statusListen must be a loopback address (127.0.0.1, ::1, localhost), got "${host}"`);
  }
  return { kind: 'tcp', host, port };
}

export interface StatusServer {
  /** "http://127.0.0.1:7601" or the socket path. */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * Holding new sales (`qrpos upgrade`): POST /hold {"seconds": N, "reason": "..."} holds for N
 * seconds (renewable; 0 releases), DELETE /hold releases. Only without an Origin header and with a
 * JSON body, so a web page in a browser on the device can neither send it nor read the answer.
 */
export interface HoldControl {
  set(seconds: number, reason: string): HoldView | null;
}

const HOLD_BODY_MAX = 4096;

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function holdRequest(req: http.IncomingMessage, res: http.ServerResponse, hold: HoldControl, log: Logger): void {
  if (req.headers.origin !== undefined) {
    sendJson(res, 403, { error: { code: 'forbidden_origin', message: 'not from a web page' } });
    return;
  }
  if (req.method === 'DELETE') {
    req.resume();
    hold.set(0, '');
    log.info('sales hold released');
    sendJson(res, 200, { hold: null });
    return;
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    req.resume();
    sendJson(res, 415, { error: { code: 'unsupported_media_type', message: 'POST /hold takes a JSON body (content-type: application/json)' } });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= HOLD_BODY_MAX) chunks.push(c);
  });
  req.on('end', () => {
    let parsed: ReturnType<typeof parseHoldRequest>;
    try {
      parsed = size > HOLD_BODY_MAX ? 'body too large' : parseHoldRequest(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch {
      parsed = 'body is not JSON';
    }
    if (typeof parsed === 'string') {
      sendJson(res, 400, { error: { code: 'bad_request', message: parsed } });
      return;
    }
    const view = hold.set(parsed.seconds, parsed.reason);
    if (view) log.info('new sales held', { ...view });
    else log.info('sales hold released');
    sendJson(res, 200, { hold: view });
  });
}

export async function startStatusServer(opts: { listen: string; status: () => TerminalStatus | FatalStatus; log: Logger; hold?: HoldControl }): Promise<StatusServer> {
  const listen = parseListen(opts.listen);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    // DNS rebinding: a web page must not read the status through a name of its own (a unix socket has no such risk).
    if (listen.kind === 'tcp' && !isSafeHostHeader(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: { code: 'forbidden_host', message: 'use an address (127.0.0.1) or localhost as the host name' } }));
      return;
    }
    if (url === '/hold' && opts.hold && (req.method === 'POST' || req.method === 'DELETE')) {
      holdRequest(req, res, opts.hold, opts.log);
      return;
    }
    if (req.method !== 'GET' || (url !== '/status' && url !== '/' && url !== '/ready')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'GET /status or GET /ready' } }));
      return;
    }
    if (url === '/ready') {
      // For monitoring: 200 when sales can start, 503 with the reason when they cannot.
      let st: TerminalStatus | FatalStatus;
      try {
        st = opts.status();
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: (err as Error).message } }));
        return;
      }
      res.writeHead(st.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(st.ready ? { ready: true } : { ready: false, reason: st.reason ?? 'not ready' }));
      return;
    }
    let body: string;
    try {
      body = JSON.stringify(opts.status());
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'internal', message: (err as Error).message } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(body);
  });
  server.keepAliveTimeout = 1000;
  if (listen.kind === 'unix') {
    // A socket left by a killed daemon would make listen fail with EADDRINUSE.
    try {
      if (fs.statSync(listen.path).isSocket()) fs.unlinkSync(listen.path);
    } catch {
      /* absent */
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (listen.kind === 'unix') server.listen(listen.path, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  if (listen.kind === 'unix') fs.chmodSync(listen.path, 0o660);
  const addr = server.address();
  const address = listen.kind === 'unix' ? listen.path : `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${(addr as AddressInfo).port}`;
  opts.log.info('status endpoint listening', { address });
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
