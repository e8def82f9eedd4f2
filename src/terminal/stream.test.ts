/** The stream client against a minimal WebSocket server speaking src/link/protocol.ts. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { RelayEvent } from '../link/protocol';
import { memoryLogger } from '../shared/log';
import { RelayStream } from './stream';
import { waitFor } from './testing/rig';

interface Conn {
  ws: WebSocket;
  url: string;
  auth: string | undefined;
  received: unknown[];
}

async function server(onConn: (c: Conn) => void): Promise<{ url: string; conns: Conn[]; close(): Promise<void> }> {
  const conns: Conn[] = [];
  const srv = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  srv.on('upgrade', (req, socket, head) => {
    if (req.headers.authorization !== 'Bearer good') {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const c: Conn = { ws, url: req.url ?? '', auth: req.headers.authorization, received: [] };
      ws.on('message', (d) => c.received.push(JSON.parse(String(d))));
      conns.push(c);
      onConn(c);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    conns,
    close: async () => {
      for (const c of conns) c.ws.terminate();
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

const hello = (heartbeatMs: number, lastSeq = 0) => JSON.stringify({ type: 'hello', terminalId: 't1', lastSeq, heartbeatMs, serverTime: new Date().toISOString() });
const event = (seq: number) => JSON.stringify({ type: 'event', seq, at: new Date().toISOString(), event: { kind: 'terminal.updated', name: `n${seq}`, revoked: false } });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('relay stream client', () => {
  it('resumes after the committed sequence and acks only after the commit', async () => {
    let committed = 0;
    const applied: number[] = [];
    let failOnce = true;
    const srv = await server((c) => {
      c.ws.send(hello(1000, 3));
      for (const seq of [1, 2, 3]) if (seq > Number(new URL(c.url, 'http://x').searchParams.get('after'))) c.ws.send(event(seq));
    });
    cleanups.push(() => srv.close());
    const stream = new RelayStream({
      baseUrl: srv.url,
      credential: () => 'good',
      heartbeatMs: 1000,
      lastSeq: () => committed,
      onEvent: (seq: number, _ev: RelayEvent) => {
        if (seq === 2 && failOnce) {
          failOnce = false;
          throw new Error('disk full');
        }
        applied.push(seq);
        committed = seq;
      },
      log: memoryLogger(),
      backoff: { baseMs: 10, maxMs: 20 },
    });
    cleanups.push(() => stream.stop());
    stream.start();
    await waitFor(() => committed === 3, 'all events committed');
    // Seq 2 failed: the connection was dropped unacked and the next one resumed after 1.
    expect(srv.conns.map((c) => new URL(c.url, 'http://x').searchParams.get('after'))).toEqual(['0', '1']);
    expect(applied).toEqual([1, 2, 3]);
    expect(srv.conns[0].received.filter((m) => (m as { type: string }).type === 'ack')).toEqual([{ type: 'ack', seq: 1 }]);
    await waitFor(() => srv.conns[1].received.some((m) => (m as { seq?: number }).seq === 3), 'ack 3');
  });

  it('notices a silent link within two heartbeat intervals and reconnects', async () => {
    const hb = 200;
    const srv = await server((c) => c.ws.send(hello(hb)));
    cleanups.push(() => srv.close());
    const stream = new RelayStream({ baseUrl: srv.url, credential: () => 'good', heartbeatMs: hb, lastSeq: () => 0, onEvent: () => undefined, log: memoryLogger(), backoff: { baseMs: 10, maxMs: 20 } });
    cleanups.push(() => stream.stop());
    const changes: { online: boolean; at: number }[] = [];
    stream.on('online', (online) => changes.push({ online, at: Date.now() }));
    stream.start();
    await waitFor(() => changes.some((c) => !c.online), 'offline', 3000);
    const up = changes[0];
    const down = changes.find((c) => !c.online)!;
    expect(up.online).toBe(true);
    // Silence began at hello (the server never answers pings).
    expect(down.at - up.at).toBeLessThanOrEqual(2 * hb + 60);
    await waitFor(() => srv.conns.length >= 2, 'reconnected', 3000);
  });

  it('answers server pings and stays up while the server talks', async () => {
    const hb = 150;
    const srv = await server((c) => {
      c.ws.send(hello(hb));
      c.ws.on('message', (d) => {
        if ((JSON.parse(String(d)) as { type: string }).type === 'ping') c.ws.send(JSON.stringify({ type: 'pong', at: new Date().toISOString() }));
      });
      c.ws.send(JSON.stringify({ type: 'ping', at: new Date().toISOString() }));
    });
    cleanups.push(() => srv.close());
    let offline = 0;
    const stream = new RelayStream({ baseUrl: srv.url, credential: () => 'good', heartbeatMs: hb, lastSeq: () => 0, onEvent: () => undefined, log: memoryLogger() });
    cleanups.push(() => stream.stop());
    stream.on('online', (o) => {
      if (!o) offline++;
    });
    stream.start();
    await waitFor(() => srv.conns[0]?.received.filter((m) => (m as { type: string }).type === 'ping').length >= 5, 'five client pings', 3000);
    expect(srv.conns[0].received).toContainEqual(expect.objectContaining({ type: 'pong' }));
    expect(offline).toBe(0);
    expect(srv.conns).toHaveLength(1);
  });

  it('a refused credential is reported as unauthorized', async () => {
    const srv = await server(() => undefined);
    cleanups.push(() => srv.close());
    const stream = new RelayStream({ baseUrl: srv.url, credential: () => 'bad', heartbeatMs: 1000, lastSeq: () => 0, onEvent: () => undefined, log: memoryLogger(), backoff: { baseMs: 10, maxMs: 50 } });
    cleanups.push(() => stream.stop());
    let unauthorized = 0;
    stream.on('unauthorized', () => unauthorized++);
    stream.start();
    await waitFor(() => unauthorized > 0, 'unauthorized');
    expect(stream.online).toBe(false);
  });
});
