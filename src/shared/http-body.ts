/**
 * Reading what is left of a request body that a server refuses (too large, wrong type), for
 * every listener on node:http. A server that answers and closes while the client is still
 * sending leaves unread data in the socket; the kernel then sends a TCP reset and the client sees
 * "connection reset" instead of the answer. So the rest is read and thrown away first, up to a
 * bound: past it the connection is cut, and a client that sends without end cannot hold the
 * server busy.
 */
import type { IncomingMessage } from 'node:http';

export const DRAIN_LIMIT_BYTES = 8 * 1024 * 1024;
export const DRAIN_LIMIT_MS = 5_000;

/**
 * Resolves once the rest of the body has been read and discarded: true when it ended, false when
 * the byte or time bound was reached first (answer with `connection: close` then).
 */
export function drainBody(req: IncomingMessage, limits: { maxBytes?: number; maxMs?: number } = {}): Promise<boolean> {
  const maxBytes = limits.maxBytes ?? DRAIN_LIMIT_BYTES;
  return new Promise((resolve) => {
    if (req.readableEnded) return resolve(true);
    let seen = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onCut);
      req.off('close', onCut);
      if (!ended) req.pause();
      resolve(ended);
    };
    const onData = (c: Buffer) => {
      seen += c.length;
      if (seen > maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onCut = () => finish(false);
    const timer = setTimeout(onCut, limits.maxMs ?? DRAIN_LIMIT_MS);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onCut);
    req.once('close', onCut);
    req.resume();
  });
}

/** The media type of a Content-Type header, lower case, without parameters ("" when absent). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/**
 * True for `application/json` and `application/<x>+json`. A JSON endpoint that took `text/plain`
 * could be posted to by any web page a browser shows (a form or fetch without a CORS preflight).
 */
export function isJsonContentType(header: string | undefined): boolean {
  const type = mediaType(header);
  return type === 'application/json' || /^application\/[a-z0-9.-]+\+json$/.test(type);
}

/** True when the request says it carries a body (a length above 0, or chunked). */
export function hasRequestBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`body larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}

/**
 * Reads the whole body, refusing anything above `limit` bytes with BodyTooLarge once the rest has
 * been drained (within the bounds above), so the client reads the 413 its server answers.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      void drainBody(req).then(() => reject(new BodyTooLarge(limit)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        void drainBody(req).then(() => reject(new BodyTooLarge(limit)));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
  });
}
