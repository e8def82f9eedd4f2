/**
 * Fuzz test of the terminal's reading of the relay's stream frames (src/link/protocol.ts
 * ServerMessageSchema) on a real WebSocket: garbage frames are dropped, nothing reaches the
 * journal from them, the connection stays up and the next real event is applied and acked.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ServerMessageSchema, type RelayEvent } from '../link/protocol';
import { memoryLogger } from '../shared/log';
import { fuzzParams } from '../shared/testing/fuzz';
import { RelayStream } from './stream';
import { waitFor } from './testing/rig';

let srv: http.Server;
let wss: WebSocketServer;
const conns: WebSocket[] = [];
const received: unknown[] = [];
const applied: { seq: number; event: RelayEvent }[] = [];
let stream: RelayStream;

beforeAll(async () => {
  srv = http.createServer();
  wss = new WebSocketServer({ noServer: true });
  srv.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      conns.push(ws);
      ws.on('message', (d) => received.push(JSON.parse(String(d))));
      ws.send(JSON.stringify({ type: 'hello', terminalId: 't1', lastSeq: 0, heartbeatMs: 60_000, serverTime: new Date().toISOString() }));
    }),
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  stream = new RelayStream({
    baseUrl: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    credential: () => 'good',
    heartbeatMs: 60_000,
    lastSeq: () => applied.at(-1)?.seq ?? 0,
    onEvent: (seq, event) => void applied.push({ seq, event }),
    log: memoryLogger(),
    backoff: { baseMs: 10, maxMs: 20 },
  });
  stream.start();
  await waitFor(() => conns.length === 1, 'the terminal to connect');
});
afterAll(async () => {
  await stream?.stop();
  for (const ws of conns) ws.terminate();
  srv?.closeAllConnections();
  await new Promise<void>((r) => srv?.close(() => r()));
});

const sale = { saleId: 'sale_00000001', terminalId: 't1', amount: 100, currency: 'THB', status: 'successful' };
/** Relay frames: near-valid ones with garbage fields, any JSON, any text. */
const frame = fc.oneof(
  fc
    .record(
      {
        type: fc.oneof(fc.constantFrom('event', 'hello', 'ping', 'pong', 'ack'), fc.jsonValue({ maxDepth: 1 })),
        seq: fc.oneof(fc.constantFrom(0, -1, 1.5, 1e21, '2', null), fc.jsonValue({ maxDepth: 1 })),
        at: fc.oneof(fc.constant('2026-12-06T10:00:00Z'), fc.jsonValue({ maxDepth: 1 })),
        event: fc.oneof(
          fc.record({ kind: fc.constantFrom('sale.updated', 'refund.updated', 'terminal.updated', 'other'), sale: fc.oneof(fc.constant(sale), fc.jsonValue({ maxDepth: 2 })), name: fc.jsonValue({ maxDepth: 1 }), revoked: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ['kind'] }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        heartbeatMs: fc.jsonValue({ maxDepth: 1 }),
      },
      { requiredKeys: ['type'] },
    )
    .map((m) => JSON.stringify(m)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 100, unit: 'binary' }),
);

function parses(text: string): boolean {
  try {
    return ServerMessageSchema.safeParse(JSON.parse(text)).success;
  } catch {
    return false;
  }
}

describe('relay stream frames read by the terminal (fuzz, real WebSocket)', () => {
  it('garbage is dropped: nothing applied, no reconnect; a real event afterwards is applied and acked', async () => {
    let pings = 0;
    await fc.assert(
      fc.asyncProperty(frame, async (text) => {
        fc.pre(!parses(text));
        conns[0].send(text);
        // A ping after it: its pong says the garbage was read (frames are read in order).
        const at = `2026-12-06T10:00:00.${String(++pings % 1000).padStart(3, '0')}Z`;
        conns[0].send(JSON.stringify({ type: 'ping', at }));
        await waitFor(() => received.filter((m) => (m as { type?: string }).type === 'pong').length >= pings, 'a pong');
      }),
      fuzzParams(300),
    );
    expect(pings).toBeGreaterThan(200);
    expect(applied, 'a garbage frame reached the journal').toEqual([]);
    expect(conns.length, 'the terminal reconnected: a frame broke the connection').toBe(1);
    conns[0].send(JSON.stringify({ type: 'event', seq: 1, at: new Date().toISOString(), event: { kind: 'terminal.updated', name: 'till', revoked: false } }));
    await waitFor(() => received.some((m) => (m as { type?: string; seq?: number }).type === 'ack' && (m as { seq: number }).seq === 1), 'the ack of the real event');
    expect(applied.map((a) => a.seq)).toEqual([1]);
  });
});
