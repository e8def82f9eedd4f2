/**
 * The demo's virtual terminal hardware, served over HTTP: a page with the live screen and a
 * clickable keypad (the computer's keyboard works too), plus a small scriptable API:
 *   POST /api/keys   {"keys": ["1","5","0","0","enter"]}  → presses them in order
 *                    {"keys": [...], "client": "c1", "seq": 1}  → the same, in seq order per client
 *   GET  /api/screen.png                                  → the screen as it is now
 *   GET  /api/state                                       → the terminal's status (as its local status endpoint)
 *   GET  /api/events                                      → server-sent events: "frame" after each redraw
 *   GET  /api/pairing                                     → pairing requests waiting at the relay
 *   POST /api/pairing/approve {"code": "K7Q-4MX"}         → approves one at the relay (as its operator)
 *
 * Key order: one request's keys are pressed in order, all at once (two requests never interleave).
 * Requests from one sender can still overtake each other on the way (a browser sends them over
 * several connections), so a sender that does not wait for each answer numbers its requests: a
 * request whose seq is ahead waits (up to holdMs) for the ones before it, and a repeated seq (a
 * retry of a request already pressed) presses nothing.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeKeypad } from '../../drivers/keypad/fake';
import { isKeyName, type KeyName } from '../../drivers/keypad/contract';
import type { MemoryDisplay } from '../../drivers/display/memory';
import type { Logger } from '../shared/log';
import { renderDevicePage } from './page';
import { isSafeHostHeader } from '../shared/loopback';
import { BodyTooLarge, mediaType, readBody as readLimitedBody } from '../shared/http-body';

/** A pairing request waiting at the relay, as its admin API lists it. */
export interface PendingPairing {
  code: string;
  name: string;
  device: string | null;
  expiresAt: string;
}

/** The relay operator's side of pairing, done by the demo on the page's behalf (the admin token stays in the demo). */
export interface DemoPairing {
  pending(): Promise<PendingPairing[]>;
  approve(code: string): Promise<{ terminalId: string; name: string }>;
}

export interface VirtualDeviceOptions {
  host?: string;
  port?: number;
  keypad: FakeKeypad;
  /** Where posted keys go; default straight to the keypad (the demo holds them until the terminal is paired). */
  press?: (keys: KeyName[]) => void;
  display: MemoryDisplay;
  state: () => unknown;
  /** Shown on the page: where the simulator dashboard and the relay are. */
  links: { simulatorDashboard: string; relay: string };
  /** Pairing requests shown on the page with an Approve button; absent: no pairing panel. */
  pairing?: DemoPairing;
  /** How long a request that came ahead of its turn waits for the ones before it. */
  holdMs?: number;
  log: Logger;
}

export interface VirtualDeviceServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const MAX_KEYS = 200;
/** Senders remembered (each page load is one); the least recently seen is forgotten first. */
const MAX_CLIENTS = 64;
/** Requests of one sender waiting for an earlier one. */
const MAX_WAITING = 100;
/** Pressed requests remembered per sender, to tell a retry from a reused seq. */
const REMEMBERED = 64;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Machine-readable reason, for the page (e.g. "unknown_client": start numbering again). */
    readonly code?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The body; over MAX_BODY a 413 once the rest has been drained, so the client reads it (not a reset). */
function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return readLimitedBody(req, MAX_BODY).catch((e: unknown) => {
    throw e instanceof BodyTooLarge ? new HttpError(413, `body larger than ${MAX_BODY} bytes`) : e;
  });
}

export interface KeysRequest {
  keys: KeyName[];
  /** For ordered delivery: who sends (any id of the sender's choosing) and this request's number, from 1. */
  client?: string;
  seq?: number;
}

const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Validates a POST /api/keys body; the error names what is wrong. */
export function parseKeysBody(raw: Buffer): KeysRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body must be JSON like {"keys": ["1", "5", "0", "0", "enter"]}');
  }
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new HttpError(400, 'body.keys must be an array of key names');
  if (keys.length > MAX_KEYS) throw new HttpError(400, `at most ${MAX_KEYS} keys per request`);
  const bad = keys.filter((k) => !isKeyName(k));
  if (bad.length) {
    // At most five, each cut short: the message names the mistake without echoing a whole body back.
    const shown = bad.slice(0, 5).map((k) => JSON.stringify(k)?.slice(0, 24) ?? String(k));
    const more = bad.length > 5 ? ` and ${bad.length - 5} more` : '';
    throw new HttpError(400, `unknown key name(s): ${shown.join(', ')}${more}; use digits, "00", ".", "enter", "cancel", "backspace", "clear", "menu"`);
  }
  const { client, seq } = body as { client?: unknown; seq?: unknown };
  if (client === undefined && seq === undefined) return { keys: keys as KeyName[] };
  if (typeof client !== 'string' || !CLIENT_ID.test(client)) throw new HttpError(400, 'body.client must be 1-64 letters, digits, "_" or "-" (and comes with body.seq)');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw new HttpError(400, 'body.seq must be a whole number from 1 (and comes with body.client)');
  return { keys: keys as KeyName[], client, seq };
}

interface Waiting {
  keys: KeyName[];
  resolve: (r: { accepted: number }) => void;
  reject: (e: HttpError) => void;
  timer: NodeJS.Timeout;
}

interface ClientStream {
  /** The seq to press next. */
  next: number;
  waiting: Map<number, Waiting>;
  /** seq → the keys pressed for it (the last REMEMBERED), to answer retries. */
  pressed: Map<number, string>;
}

/**
 * Presses each sender's requests in their seq order, whatever order they arrive in: one ahead of
 * its turn waits for the ones before it (or fails with 409 after holdMs, nothing pressed), a
 * retry of one already pressed presses nothing, and a seq used again for other keys is refused.
 */
export class KeySequencer {
  private readonly clients = new Map<string, ClientStream>();

  constructor(
    private readonly press: (keys: KeyName[]) => void,
    private readonly holdMs = 5000,
  ) {}

  submit(client: string, seq: number, keys: KeyName[]): Promise<{ accepted: number; duplicate?: true }> {
    let c = this.clients.get(client);
    if (c) {
      // Most recently seen last: the first in the map is the one to forget.
      this.clients.delete(client);
      this.clients.set(client, c);
    } else {
      c = { next: 1, waiting: new Map(), pressed: new Map() };
      this.clients.set(client, c);
      this.forgetOldest();
    }
    const stream = c;
    const fingerprint = keys.join(' ');
    if (seq < stream.next) {
      const before = stream.pressed.get(seq);
      if (before === fingerprint) return Promise.resolve({ accepted: 0, duplicate: true });
      return Promise.reject(
        new HttpError(409, before === undefined ? `seq ${seq} is too old` : `seq ${seq} was already pressed with other keys`, 'seq_used', { expected: stream.next }),
      );
    }
    if (seq === stream.next) {
      this.apply(stream, seq, keys);
      return Promise.resolve({ accepted: keys.length });
    }
    const already = stream.waiting.get(seq);
    if (already) {
      if (fingerprint !== already.keys.join(' ')) return Promise.reject(new HttpError(409, `seq ${seq} is already waiting with other keys`, 'seq_used', { expected: stream.next }));
      // A retry of one still waiting: answered when that one is.
      return new Promise((resolve, reject) => {
        const prev = { resolve: already.resolve, reject: already.reject };
        already.resolve = (r) => (prev.resolve(r), resolve({ accepted: 0, duplicate: true }));
        already.reject = (e) => (prev.reject(e), reject(e));
      });
    }
    if (stream.waiting.size >= MAX_WAITING) return Promise.reject(new HttpError(409, `too many requests waiting for seq ${stream.next}`, 'gap', { expected: stream.next }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.waiting.delete(seq);
        if (stream.next === 1) {
          // Never a seq 1 from this sender: one this server does not know (the demo restarted
          // under an open page, or the sender was forgotten). It starts again from 1.
          reject(new HttpError(409, `unknown client "${client}": number its requests from 1; nothing pressed`, 'unknown_client', { expected: 1 }));
        } else {
          reject(new HttpError(409, `seq ${seq} waited ${this.holdMs} ms for seq ${stream.next}, which did not come; nothing pressed`, 'gap', { expected: stream.next }));
        }
      }, this.holdMs);
      stream.waiting.set(seq, { keys, resolve, reject, timer });
    });
  }

  /** Refuses everything still waiting (the server stops). */
  close(): void {
    for (const c of this.clients.values()) {
      for (const w of c.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new HttpError(503, 'the demo is stopping; nothing pressed'));
      }
      c.waiting.clear();
    }
    this.clients.clear();
  }

  /** Presses seq's keys, then those of the requests that were waiting for it, in order. */
  private apply(stream: ClientStream, seq: number, keys: KeyName[]): void {
    let n = seq;
    let w: Pick<Waiting, 'keys'> | undefined = { keys };
    while (w) {
      this.press(w.keys);
      stream.pressed.set(n, w.keys.join(' '));
      if (stream.pressed.size > REMEMBERED) stream.pressed.delete(stream.pressed.keys().next().value!);
      stream.next = ++n;
      const waited = stream.waiting.get(n);
      if (waited) {
        stream.waiting.delete(n);
        clearTimeout(waited.timer);
        // Its answer goes out after the loop: pressed first, then answered.
        waited.resolve({ accepted: waited.keys.length });
      }
      w = waited;
    }
  }

  private forgetOldest(): void {
    while (this.clients.size > MAX_CLIENTS) {
      const [id, c] = this.clients.entries().next().value!;
      this.clients.delete(id);
      for (const w of c.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new HttpError(409, `client "${id}" was forgotten (too many senders); number its requests from 1`, 'unknown_client', { expected: 1 }));
      }
    }
  }
}

/** Validates a POST /api/pairing/approve body. */
function parseApproveBody(raw: Buffer): string {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'body must be JSON like {"code": "K7Q-4MX"}');
  }
  const code = (body as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[A-Za-z0-9-]{4,16}$/.test(code)) throw new HttpError(400, 'body.code must be the pairing code the terminal shows');
  return code;
}

export async function startVirtualDevice(opts: VirtualDeviceOptions): Promise<VirtualDeviceServer> {
  const { keypad, display, log } = opts;
  const press = opts.press ?? ((keys: KeyName[]) => keypad.press(...keys));
  const sequencer = new KeySequencer(press, opts.holdMs);
  const instance = crypto.randomBytes(8).toString('hex');
  const sse = new Set<http.ServerResponse>();
  let frame = 0;
  const off = display.onPresent(() => {
    frame++;
    for (const res of sse) res.write(`event: frame\ndata: ${frame}\n\n`);
  });

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    // DNS rebinding: another site's page must not press keys through a name of its own.
    if (!isSafeHostHeader(req.headers.host)) throw new HttpError(403, 'use an address (127.0.0.1) or localhost as the host name');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      throw new HttpError(400, 'the request path is not a valid URL');
    }
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    switch (route) {
      case 'GET /':
      case 'GET /index.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(renderDevicePage({ width: display.width, height: display.height, ...opts.links, pairing: opts.pairing !== undefined }));
        return;
      case 'GET /api/screen.png':
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' });
        res.end(display.png());
        return;
      case 'GET /api/state':
        send(res, 200, opts.state());
        return;
      case 'POST /api/keys': {
        // JSON only: a form or a text/plain fetch from another page (no CORS preflight) must not press keys.
        if (mediaType(req.headers['content-type']) !== 'application/json') {
          throw new HttpError(415, 'send the keys as JSON (Content-Type: application/json)');
        }
        const body = parseKeysBody(await readBody(req));
        if (body.client === undefined || body.seq === undefined) {
          press(body.keys);
          send(res, 200, { accepted: body.keys.length });
        } else {
          send(res, 200, await sequencer.submit(body.client, body.seq, body.keys));
        }
        return;
      }
      case 'GET /api/pairing': {
        if (!opts.pairing) throw new HttpError(404, 'this device has no pairing panel');
        send(res, 200, { pairings: await opts.pairing.pending() });
        return;
      }
      case 'POST /api/pairing/approve': {
        if (!opts.pairing) throw new HttpError(404, 'this device has no pairing panel');
        // As for keys: JSON only, so a form on another site cannot approve a terminal.
        if (mediaType(req.headers['content-type']) !== 'application/json') {
          throw new HttpError(415, 'send the code as JSON (Content-Type: application/json)');
        }
        const code = parseApproveBody(await readBody(req));
        send(res, 200, { approved: await opts.pairing.approve(code) });
        return;
      }
      case 'GET /api/events':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        // This server's instance first: a page open across a demo restart numbers its keys again.
        res.write(`event: hello\ndata: ${instance}\n\nevent: frame\ndata: ${frame}\n\n`);
        sse.add(res);
        req.on('close', () => sse.delete(res));
        return;
      default:
        throw new HttpError(url.pathname.startsWith('/api/') && req.method !== 'GET' && req.method !== 'POST' ? 405 : 404, `no route ${route}`);
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log.error('virtual device request failed', { err });
      if (!res.headersSent) {
        const e = err instanceof HttpError ? err : null;
        send(res, status, { error: { message: e ? e.message : 'internal error', ...(e?.code ? { code: e.code } : {}) }, ...(e?.extra ?? {}) });
      }
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    stop: async () => {
      off();
      sequencer.close();
      for (const res of sse) res.end();
      sse.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
