/**
 * `qrpos upgrade URL`: the bundle is downloaded to a temporary file (0600, in a 0700 folder) with a
 * size cap, then checked exactly as a file is. Only https://, or http:// to this machine (a bundle
 * served on loopback, or through an SSH tunnel): a bundle is verified by its signature either way,
 * but a plain-http download from elsewhere would let anyone on the way swap in an old signed
 * release or stall the device.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export class FetchError extends Error {}

/** Default cap: bundles are ~6 MB; anything near this is not a qrpos bundle. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

const LOOPBACK = (host: string): boolean => {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
};

/** The URL if it may be fetched, else a FetchError saying why. */
export function checkUrl(text: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new FetchError(`not a URL: ${text}`);
  }
  if (u.username || u.password) throw new FetchError('a bundle URL must not carry a user name or password');
  if (u.protocol === 'https:') return u;
  if (u.protocol === 'http:' && LOOPBACK(u.hostname)) return u;
  if (u.protocol === 'http:') throw new FetchError(`refused: ${u.origin} is plain http:// to another machine; use https:// (http:// only to this machine: 127.0.0.1, ::1, localhost)`);
  throw new FetchError(`refused: ${u.protocol} URLs are not fetched (https://, or http:// to this machine)`);
}

export function isUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
}

/** A URL without its query and fragment (they may carry a token), for messages. */
export function redactUrl(u: URL): string {
  return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
}

export interface Downloaded {
  file: string;
  bytes: number;
  /** Removes the file and its folder. */
  cleanup(): void;
}

/**
 * Downloads `url` (following up to 5 redirects, each checked again) into a new temporary file.
 * Refuses more than maxBytes (by Content-Length before, and by counting while reading).
 */
export async function download(url: string, o: { maxBytes?: number; timeoutMs?: number; tmpDir?: string } = {}): Promise<Downloaded> {
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  const signal = AbortSignal.timeout(o.timeoutMs ?? 10 * 60_000);
  let u = checkUrl(url);
  let res: Response | undefined;
  for (let hop = 0; ; hop++) {
    try {
      res = await fetch(u, { redirect: 'manual', signal, headers: { accept: 'application/gzip, application/octet-stream' } });
    } catch (err) {
      throw new FetchError(`cannot download ${redactUrl(u)}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel();
      if (hop >= 5) throw new FetchError(`too many redirects from ${redactUrl(u)}`);
      u = checkUrl(new URL(res.headers.get('location')!, u).toString());
      continue;
    }
    break;
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new FetchError(`cannot download ${redactUrl(u)}: HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel();
    throw new FetchError(`refused: ${redactUrl(u)} is ${declared} bytes, more than the ${maxBytes}-byte limit for a bundle`);
  }
  const dir = fs.mkdtempSync(path.join(o.tmpDir ?? os.tmpdir(), 'qrpos-download-'));
  fs.chmodSync(dir, 0o700);
  const base = path.basename(u.pathname).replace(/[^A-Za-z0-9._+-]/g, '_');
  const file = path.join(dir, /\.tar\.gz$/.test(base) ? base : 'bundle.tar.gz');
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) cb(new FetchError(`refused: ${redactUrl(u)} sent more than the ${maxBytes}-byte limit for a bundle`));
      else cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body), counter, fs.createWriteStream(file, { mode: 0o600, flags: 'wx' }));
  } catch (err) {
    cleanup();
    if (err instanceof FetchError) throw err;
    throw new FetchError(`download of ${redactUrl(u)} failed: ${(err as Error).message}`);
  }
  return { file, bytes, cleanup };
}
