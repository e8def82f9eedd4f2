/**
 * The relay's Omise transport on a thread of its own. Every webhook costs the relay a
 * `GET /charges/:id`; writing that request and parsing its answer on node:http was about a fifth
 * of the main thread, which also serves the webhooks, the terminals' API and 5,000 streams. Here
 * the exchange runs in a worker thread (its own event loop and keep-alive sockets) and only the
 * answer's bytes come back; the Omise client on the main thread is unchanged (it takes a fetch).
 *
 * If the thread dies, the calls in flight fail as network errors (the relay's callers retry or
 * look the charge up, as for any network error) and the next call starts a new one.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type http from 'node:http';
import { abortError, HttpTransportError } from '../shared/http-request';
import { asFetch, leanResponse, requestOf, type LeanRequest, type LeanResponse } from './http-fetch';

export type ThreadCall = { type: 'request'; id: number; request: LeanRequest } | { type: 'abort'; id: number } | { type: 'close' };
export type ThreadAnswer =
  | { id: number; status: number; headers: http.IncomingHttpHeaders; body: ArrayBuffer }
  | { id: number; error: { name: string; message: string; code?: string; staleSocket: boolean } };

function startWorker(): Worker {
  const file = path.join(__dirname, `omise-thread-worker${path.extname(__filename)}`);
  // From the TypeScript sources (tests, benchmarks) the thread loads them through tsx.
  if (file.endsWith('.ts')) return new Worker(`require('tsx/cjs/api').register();\nrequire(${JSON.stringify(file)});`, { eval: true });
  return new Worker(file);
}

/** The thread's error as the caller would have seen it on this thread (class, name, code). */
function rebuild(e: Extract<ThreadAnswer, { error: unknown }>['error']): Error {
  if (e.name === 'HttpTransportError') return new HttpTransportError(e.message, e.code ?? 'EIO', e.staleSocket);
  const err = e.name === 'TypeError' ? new TypeError(e.message) : new Error(e.message);
  err.name = e.name;
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}

interface Pending {
  resolve: (r: LeanResponse) => void;
  reject: (e: Error) => void;
}

export function threadedFetch(): typeof fetch & { close(): void; thread(): Worker | undefined } {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  // The thread keeps the process alive only while a call waits for it.
  const idle = () => (pending.size ? worker?.ref() : worker?.unref());

  const failAll = (message: string) => {
    const all = [...pending.values()];
    pending.clear();
    for (const p of all) p.reject(new HttpTransportError(`Omise transport thread: ${message}`, 'ETHREAD'));
  };
  const ensure = (): Worker => {
    if (worker) return worker;
    const w = startWorker();
    w.on('message', (a: ThreadAnswer) => {
      const p = pending.get(a.id);
      if (!p) return; // aborted meanwhile
      pending.delete(a.id);
      idle();
      if ('error' in a) {
        return p.reject(rebuild(a.error));
      }
      p.resolve(leanResponse({ status: a.status, headers: a.headers, body: Buffer.from(a.body) }));
    });
    const gone = (why: string) => {
      if (worker !== w) return;
      worker = undefined;
      failAll(why);
    };
    w.on('error', (err) => gone(err.message));
    w.on('exit', (code) => gone(`exited (${code})`));
    worker = w;
    return w;
  };

  const call = (input: string | URL | Request, init: { signal?: AbortSignal | null } & Parameters<typeof requestOf>[1] = {}) =>
    new Promise<LeanResponse>((resolve, reject) => {
      const signal = init.signal ?? undefined;
      if (signal?.aborted) return reject(abortError(signal));
      const w = ensure();
      const id = nextId++;
      const onAbort = () => {
        if (!pending.delete(id)) return;
        idle();
        w.postMessage({ type: 'abort', id } satisfies ThreadCall);
        reject(abortError(signal!));
      };
      pending.set(id, {
        resolve: (r) => (signal?.removeEventListener('abort', onAbort), resolve(r)),
        reject: (e) => (signal?.removeEventListener('abort', onAbort), reject(e)),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      idle();
      w.postMessage({ type: 'request', id, request: requestOf(input, init) } satisfies ThreadCall);
    });

  const f = asFetch(call, () => {
    const w = worker;
    worker = undefined;
    failAll('closed');
    if (w) {
      w.postMessage({ type: 'close' } satisfies ThreadCall);
      w.unref();
    }
  });
  /** The thread now serving calls (for tests and diagnostics). */
  return Object.assign(f, { thread: () => worker });
}
