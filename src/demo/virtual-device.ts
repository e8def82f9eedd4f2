/**
 * The demo's virtual terminal hardware, served over HTTP: a page with the live screen and a
 * clickable keypad (the computer's keyboard works too), plus a small scriptable API:
 *   POST /api/keys   {"keys": ["1","5","0","0","enter"]}  → presses them in order
 *   GET  /api/screen.png                                  → the screen as it is now
 *   GET  /api/state                                       → the terminal's status (as its local status endpoint)
 *   GET  /api/events                                      → server-sent events: "frame" after each redraw
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeKeypad } from '../../drivers/keypad/fake';
import { isKeyName, type KeyName } from '../../drivers/keypad/contract';
import type { MemoryDisplay } from '../../drivers/display/memory';
import type { Logger } from '../shared/log';
import { renderDevicePage } from './page';
import { isSafeHostHeader } from '../shared/loopback';
import { BodyTooLarge, mediaType, readBody as readLimitedBody } from '../shared/http-body';

export interface VirtualDeviceOptions {
  host?: string;
  port?: number;
  keypad: FakeKeypad;
  display: MemoryDisplay;
  state: () => unknown;
  /** Shown on the page: where the simulator dashboard and the relay are. */
  links: { simulatorDashboard: string; relay: string };
  log: Logger;
}

export interface VirtualDeviceServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const MAX_KEYS = 200;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
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

/** Validates a POST /api/keys body; the error names what is wrong. */
export function parseKeysBody(raw: Buffer): KeyName[] {
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
  return keys as KeyName[];
}

export async function startVirtualDevice(opts: VirtualDeviceOptions): Promise<VirtualDeviceServer> {
  const { keypad, display, log } = opts;
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
        res.end(renderDevicePage({ width: display.width, height: display.height, ...opts.links }));
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
        const keys = parseKeysBody(await readBody(req));
        keypad.press(...keys);
        send(res, 200, { accepted: keys.length });
        return;
      }
      case 'GET /api/events':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        res.write(`event: frame\ndata: ${frame}\n\n`);
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
      if (!res.headersSent) send(res, status, { error: { message: err instanceof HttpError ? err.message : 'internal error' } });
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
      for (const res of sse) res.end();
      sse.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
