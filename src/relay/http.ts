/** Small HTTP helpers on node:http: bounded bodies, JSON answers, zod-validated input. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { BodyTooLarge, drainBody as drain, hasRequestBody, isJsonContentType, readBody } from '../shared/http-body';
import { LinkError } from './errors';

export { BodyTooLarge, readBody } from '../shared/http-body';

export function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, err: LinkError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.status === 413);
}

/** Parses a JSON body against a schema; the error names the field that is wrong. */
export async function jsonBody<S extends z.ZodType>(req: IncomingMessage, limit: number, schema: S): Promise<z.infer<S>> {
  if (hasRequestBody(req) && !isJsonContentType(req.headers['content-type'])) {
    await drain(req);
    throw new LinkError('unsupported_media_type', 'request bodies must be JSON (Content-Type: application/json)');
  }
  let raw: Buffer;
  try {
    raw = await readBody(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new LinkError('too_large', `request bodies are limited to ${limit} bytes`);
    throw err;
  }
  let value: unknown;
  try {
    value = raw.length ? JSON.parse(raw.toString('utf8')) : {};
  } catch {
    throw new LinkError('bad_request', 'body is not valid JSON');
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const msg = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.map(String).join('.') : 'body'}: ${i.message}`)
      .join('; ');
    throw new LinkError('bad_request', msg);
  }
  return r.data;
}
