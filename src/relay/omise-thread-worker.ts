/**
 * The Omise transport thread (see omise-thread.ts): runs the HTTP exchanges the main thread's
 * Omise client asks for and posts each answer back, its body transferred, not copied.
 */
import { parentPort } from 'node:worker_threads';
import { HttpTransportError } from '../shared/http-request';
import { leanExchanger, type LeanRequest } from './http-fetch';
import type { ThreadAnswer, ThreadCall } from './omise-thread';

const port = parentPort!;
const x = leanExchanger();
const inFlight = new Map<number, AbortController>();

port.on('message', (m: ThreadCall) => {
  if (m.type === 'abort') return inFlight.get(m.id)?.abort();
  if (m.type === 'close') {
    for (const c of inFlight.values()) c.abort();
    x.close();
    port.close();
    return;
  }
  const controller = new AbortController();
  inFlight.set(m.id, controller);
  const reply = (a: ThreadAnswer, transfer: ArrayBuffer[] = []) => {
    inFlight.delete(m.id);
    port.postMessage(a, transfer);
  };
  x.exchange(m.request satisfies LeanRequest, controller.signal).then(
    (answer) => {
      // A Buffer may be a view into a shared pool: send an exact copy of its bytes.
      const body = new Uint8Array(answer.body).buffer;
      reply({ id: m.id, status: answer.status, headers: answer.headers, body }, [body]);
    },
    (err: Error & { code?: string }) =>
      reply({
        id: m.id,
        error: { name: err.name, message: err.message, code: err.code, staleSocket: err instanceof HttpTransportError && err.staleSocket },
      }),
  );
});
