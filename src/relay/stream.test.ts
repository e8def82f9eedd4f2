import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SaleView } from '../link/protocol';
import { command } from './cli';
import { call, connectStream, newSaleId, operatorConfig, startRig, until, ADMIN_TOKEN, type Rig } from './testing/testkit';
import fs from 'node:fs';
import path from 'node:path';

describe('relay: event stream, pairing and revocation', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  it('pairs a terminal: pending until approved, credential only with the pairing secret', async () => {
    const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'front-till', version: '1.2.3' } });
    expect(started.status).toBe(201);
    expect(started.body.code).toMatch(/^[A-Z2-9]{3}-[A-Z2-9]{3}$/);
    const poll = (secret: string) => call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': secret } });
    expect((await poll(started.body.pairingSecret)).body).toMatchObject({ status: 'pending' });
    expect((await poll('qrt_wrong')).status).toBe(404);

    const pending = await call(rig.relay.url, 'GET', '/admin/pairings', { token: ADMIN_TOKEN });
    expect(pending.body.pairings.map((p: { code: string }) => p.code)).toContain(started.body.code);
    expect((await call(rig.relay.url, 'GET', '/admin/pairings', { token: 'nope' })).status).toBe(401);

    const approved = await call(rig.relay.url, 'POST', '/admin/pairings/approve', {
      token: ADMIN_TOKEN,
      body: { code: started.body.code.toLowerCase().replace('-', ''), name: 'Till 1' },
    });
    expect(approved.status).toBe(200);
    const got = await poll(started.body.pairingSecret);
    expect(got.body).toMatchObject({ status: 'approved', name: 'Till 1' });
    // A lost answer is not a problem: polling again yields the same credential.
    expect((await poll(started.body.pairingSecret)).body.credential).toBe(got.body.credential);
    const me = await rig.api('GET', '/v1/me', got.body.credential);
    expect(me.body).toMatchObject({ terminalId: got.body.terminalId, name: 'Till 1', currency: 'THB' });
    // The relay stores only hashes.
    const row = (await rig.relay.store.terminalById(got.body.terminalId))!;
    expect(row.credentialHash).not.toContain(got.body.credential);
    const dbText = fs.readFileSync(path.join(rig.config.dataDir, 'relay.db')).toString('latin1');
    expect(dbText).not.toContain(got.body.credential);
    expect(dbText).not.toContain(started.body.pairingSecret);
  });

  it('delivers a result that happened while the terminal was offline, on reconnect', async () => {
    const { credential } = await rig.pair('offline-till');
    const t1 = await connectStream(rig.relay.url, credential, 0);
    const saleId = newSaleId();
    const sale = (await rig.api<SaleView>('POST', '/v1/sales', credential, { saleId, amount: 2000, currency: 'THB' })).body;
    const pendingEv = await t1.waitFor(() => t1.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId), 'pending event');
    t1.ack(pendingEv.seq);
    await until(async () => (await rig.relay.store.pendingEventCount(sale.terminalId)) === 0, 'ack stored');
    await t1.close();

    rig.sim.markAsPaid(sale.chargeId!);
    await until(async () => (await rig.relay.store.pendingEventCount(sale.terminalId)) === 1, 'event stored for the offline terminal');

    const t2 = await connectStream(rig.relay.url, credential, pendingEv.seq);
    const paid = await t2.waitFor(() => t2.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'paid on reconnect');
    expect(paid.seq).toBe(pendingEv.seq + 1);
    expect(t2.messages[0]).toMatchObject({ type: 'hello', lastSeq: pendingEv.seq + 1 });
    t2.ack(paid.seq);
    await until(async () => (await rig.relay.store.pendingEventCount(sale.terminalId)) === 0, 'acked');
    await t2.close();
  });

  it('a failed read of the waiting events is tried again: the terminal still gets them, with no new event to wake it', async () => {
    const { credential, terminalId } = await rig.pair('read-fails-till');
    const saleId = newSaleId();
    const sale = (await rig.api<SaleView>('POST', '/v1/sales', credential, { saleId, amount: 2100, currency: 'THB' })).body;
    rig.sim.markAsPaid(sale.chargeId!);
    await until(async () => (await rig.relay.store.sale(terminalId, saleId))?.status === 'successful', 'the sale paid while the terminal is away');
    // The store cannot be read at the moment the terminal comes back (a busy database, a pool
    // waiting for a connection): the first read after the hello fails.
    const read = vi.spyOn(rig.relay.store, 'eventsAfter').mockImplementationOnce(() => {
      throw new Error('timeout exceeded when trying to connect');
    });
    try {
      const t = await connectStream(rig.relay.url, credential, 0);
      const paid = await t.waitFor(() => t.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'the paid sale after the failed read', 5000);
      // Each event once, in order, from the start.
      expect(t.events().map((e) => e.seq)).toEqual([1, 2]);
      expect(paid.event.kind === 'sale.updated' && paid.event.sale.saleId).toBe(saleId);
      expect(read.mock.calls.length).toBeGreaterThanOrEqual(2);
      expect(rig.log.records().some((l) => l.msg === 'stream: reading events failed; trying again')).toBe(true);
      await t.close();
    } finally {
      read.mockRestore();
    }
  });

  it('an event stored while an earlier one waits for its fsync is sent right after it, with no later event to wake the stream', async () => {
    const { credential, terminalId } = await rig.pair('held-sync-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    const saleId = newSaleId();
    const sale = (await rig.api<SaleView>('POST', '/v1/sales', credential, { saleId, amount: 2150, currency: 'THB' })).body;
    const pending = await t.waitFor(() => t.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId), 'the pending sale');
    t.ack(pending.seq);
    await until(async () => (await rig.relay.store.pendingEventCount(terminalId)) === 0, 'ack stored');
    // The paid result's group commit waits 400 ms for its fsync (a slow disk); meanwhile the
    // terminal is renamed, in a transaction of its own that commits durably at once.
    const store = rig.relay.store as unknown as { syncWal: () => Promise<void> };
    const sync = vi.spyOn(store, 'syncWal');
    const real = sync.getMockImplementation() ?? Object.getPrototypeOf(store).syncWal;
    sync.mockImplementation(function (this: unknown) {
      return (real as () => Promise<void>).call(this).then(() => new Promise<void>((r) => setTimeout(r, 400)));
    });
    try {
      rig.sim.markAsPaid(sale.chargeId!);
      await until(async () => (await rig.relay.store.sale(terminalId, saleId))?.status === 'successful', 'the paid result committed, not yet durable');
      const renamed = await call(rig.relay.url, 'POST', `/admin/terminals/${terminalId}/rename`, { token: ADMIN_TOKEN, body: { name: 'held-sync-renamed' } });
      expect(renamed.status).toBe(200);
      sync.mockRestore();
      const updated = await t.waitFor(() => t.events().find((e) => e.event.kind === 'terminal.updated'), 'the rename, after the paid result', 3000);
      const paid = t.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful')!;
      expect(paid.seq).toBe(updated.seq - 1);
      expect(t.events().map((e) => e.seq)).toEqual([...t.events().map((e) => e.seq)].sort((a, b) => a - b));
    } finally {
      sync.mockRestore();
      await t.close();
    }
  });

  it('writes the acks of several terminals in one order, by terminal id, whatever order they came in (no lock-order deadlocks on PostgreSQL)', async () => {
    const tills = await Promise.all(['order-a', 'order-b', 'order-c', 'order-d'].map((n) => rig.pair(n)));
    const streams = await Promise.all(tills.map((t) => connectStream(rig.relay.url, t.credential, 0)));
    for (const t of tills) await rig.api('POST', '/v1/sales', t.credential, { saleId: newSaleId(), amount: 2300, currency: 'THB' });
    const pending = await Promise.all(streams.map((st) => st.waitFor(() => st.events()[0], 'the pending sale')));
    const written: string[] = [];
    const store = rig.relay.store;
    const real = store.ack.bind(store);
    const ack = vi.spyOn(store, 'ack').mockImplementation((terminalId: string, seq: number) => {
      written.push(terminalId);
      return real(terminalId, seq);
    });
    try {
      // Acked in the opposite order to the ids, all within one flush.
      const order = tills.map((t, i) => ({ id: t.terminalId, i })).sort((x, y) => (x.id < y.id ? 1 : -1));
      for (const { i } of order) streams[i].ack(pending[i].seq);
      await until(() => written.length === tills.length, 'the acks written');
      expect(written).toEqual([...written].sort());
      for (const t of tills) await until(async () => (await rig.relay.store.pendingEventCount(t.terminalId)) === 0, 'acked');
    } finally {
      ack.mockRestore();
      await Promise.all(streams.map((st) => st.close()));
    }
  });

  it('resumes exactly after a relay restart, in order, at least once', async () => {
    const { credential, terminalId } = await rig.pair('restart-till');
    const t1 = await connectStream(rig.relay.url, credential, 0);
    const sales: SaleView[] = [];
    for (let i = 0; i < 5; i++) {
      sales.push((await rig.api<SaleView>('POST', '/v1/sales', credential, { saleId: newSaleId(), amount: 2000 + i, currency: 'THB' })).body);
    }
    await t1.waitFor(() => t1.events().length >= 5, 'five pending events');
    t1.ack(t1.events()[2].seq);
    await until(async () => (await rig.relay.store.terminalById(terminalId))!.ackedSeq === t1.events()[2].seq, 'ack of 3 stored');
    const lastAcked = t1.events()[2].seq;

    rig.sim.setWebhookUrl(null); // the relay is down: Omise's webhooks queue up (here: are held back)
    await rig.relay.stop();
    await until(() => t1.closed, 'stream closed by shutdown');
    for (const s of sales) rig.sim.markAsPaid(s.chargeId!);

    await rig.restartRelay();
    // The lost webhooks are made up for by the reconciler.
    await rig.relay.reconcile();

    const t2 = await connectStream(rig.relay.url, credential, lastAcked);
    await t2.waitFor(() => t2.events().filter((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful').length === 5, 'five paid');
    const seqs = t2.events().map((e) => e.seq);
    expect(seqs[0]).toBe(lastAcked + 1);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Unacked pending events (4 and 5) come again: at least once.
    expect(t2.events().filter((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'pending')).toHaveLength(2);
    await t2.close();
  });

  it('refuses a revoked terminal at once, over HTTP and on its open stream', async () => {
    const { credential, terminalId } = await rig.pair('stolen-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    const res = await call(rig.relay.url, 'POST', `/admin/terminals/${terminalId}/revoke`, { token: ADMIN_TOKEN });
    expect(res.body.terminal).toMatchObject({ revoked: true });
    await until(() => t.closed, 'stream closed');
    expect(t.closed?.code).toBe(4401);
    expect((await rig.api('GET', '/v1/me', credential)).status).toBe(401);
    await expect(connectStream(rig.relay.url, credential, 0)).rejects.toThrow(/401/);
  });

  it('applies approve, rename and revoke made by the CLI (through the admin API) while running', async () => {
    const started = await call(rig.relay.url, 'POST', '/v1/pair', { body: { name: 'cli-till', version: '1' } });
    const cfgFile = operatorConfig(rig);
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (out.push(String(s)), true));
    try {
      expect(await command.run(['terminals', 'approve', started.body.code, '--config', cfgFile])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    const got = await call(rig.relay.url, 'GET', `/v1/pair/${started.body.pairingId}`, { headers: { 'x-pairing-secret': started.body.pairingSecret } });
    expect(got.body.status).toBe('approved');
    const t = await connectStream(rig.relay.url, got.body.credential, 0);
    process.stdout.write = ((s: string) => (out.push(String(s)), true));
    try {
      expect(await command.run(['terminals', 'rename', got.body.terminalId, 'Back till', '--config', cfgFile])).toBe(0);
      await t.waitFor(() => t.events().find((e) => e.event.kind === 'terminal.updated' && e.event.name === 'Back till'), 'rename event');
      expect(await command.run(['terminals', 'list', '--config', cfgFile])).toBe(0);
      expect(out.join('')).toMatch(/Back till\s+online/);
      expect(await command.run(['terminals', 'revoke', got.body.terminalId, '--config', cfgFile])).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    await until(() => t.closed, 'stream closed after CLI revoke', 3000);
    expect(t.closed?.code).toBe(4401);
  });

  it('acks of a terminal that has everything cost no event reads, and later events still flow', async () => {
    const { credential, terminalId } = await rig.pair('acking-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    const reads = vi.spyOn(rig.relay.store, 'eventsAfter');
    try {
      for (let i = 0; i < 3; i++) {
        const saleId = newSaleId();
        await rig.api('POST', '/v1/sales', credential, { saleId, amount: 2000 + i, currency: 'THB' });
        const ev = await t.waitFor(() => t.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId), `event ${i}`);
        t.ack(ev.seq);
      }
      await until(async () => (await rig.relay.store.pendingEventCount(terminalId)) === 0, 'acks stored');
      expect(reads).not.toHaveBeenCalled();
    } finally {
      reads.mockRestore();
      await t.close();
    }
  });

  it('drops a silent connection within two heartbeat intervals', async () => {
    const { credential, terminalId } = await rig.pair('silent-till');
    // A raw socket that completes the upgrade and then never answers a ping.
    const u = new URL(rig.relay.url);
    const sock = net.connect(Number(u.port), u.hostname);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(
      `GET /v1/stream?after=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${credential}\r\n\r\n`,
    );
    const opened = Date.now();
    await until(async () => (await rig.relay.listTerminals()).find((t) => t.id === terminalId)?.online, 'online');
    let closedAt = 0;
    sock.on('close', () => (closedAt = Date.now()));
    sock.on('data', () => undefined);
    await until(() => closedAt, 'dropped', 5000);
    expect(closedAt - opened).toBeLessThanOrEqual(2 * rig.config.heartbeatMs + 300);
    expect((await rig.relay.listTerminals()).find((t) => t.id === terminalId)?.online).toBe(false);
  });

  it('takes acks in any JSON form, and ignores frames that only look like one', async () => {
    const { credential, terminalId } = await rig.pair('ack-forms-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    try {
      const saleId = newSaleId();
      await rig.api('POST', '/v1/sales', credential, { saleId, amount: 2100, currency: 'THB' });
      const ev = await t.waitFor(() => t.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.saleId === saleId), 'event');
      // Not JSON (a leading zero), so not an ack: the event stays.
      t.ws.send(`{"type":"ack","seq":0${ev.seq}}`);
      await new Promise((r) => setTimeout(r, 100));
      expect(await rig.relay.store.pendingEventCount(terminalId)).toBe(1);
      // Other key order and spacing: valid JSON, taken through the schema.
      t.ws.send(`{ "seq": ${ev.seq}, "type": "ack" }`);
      await until(async () => (await rig.relay.store.pendingEventCount(terminalId)) === 0, 'ack stored');
    } finally {
      await t.close();
    }
  });

  it('probes only connections that have been silent for half an interval, and keeps those that answer', async () => {
    const chatty = await connectStream(rig.relay.url, (await rig.pair('chatty-till')).credential, 0);
    const quiet = await connectStream(rig.relay.url, (await rig.pair('quiet-till')).credential, 0);
    const pings = { chatty: 0, quiet: 0 };
    chatty.ws.on('ping', () => pings.chatty++);
    quiet.ws.on('ping', () => pings.quiet++);
    // The chatty terminal sends a protocol ping every quarter interval, as the terminal daemon does
    // when it has heard nothing for a while; the quiet one only answers ping frames (its ws stack
    // does that by itself).
    const timer = setInterval(() => chatty.ws.send(JSON.stringify({ type: 'ping', at: new Date().toISOString() })), rig.config.heartbeatMs / 4);
    try {
      await new Promise((r) => setTimeout(r, 3 * rig.config.heartbeatMs));
      expect(pings.chatty).toBe(0);
      // Once or twice an interval (half an interval of silence, not more often than that).
      expect(pings.quiet).toBeGreaterThanOrEqual(2);
      expect(pings.quiet).toBeLessThanOrEqual(7);
      // Nobody sent a protocol ping frame down: WebSocket pings carry the heartbeat.
      expect(quiet.messages.filter((m) => m.type === 'ping')).toEqual([]);
      expect(chatty.ws.readyState).toBe(chatty.ws.OPEN);
      expect(quiet.ws.readyState).toBe(quiet.ws.OPEN);
    } finally {
      clearInterval(timer);
      await chatty.close();
      await quiet.close();
    }
  });

  it('never drops a live connection when a busy relay runs its heartbeat late', async () => {
    // Six terminals that speak once, each at another moment, and afterwards only answer ping
    // frames; meanwhile the relay's thread is kept busy 28 ms of every 33, so its heartbeat ticks
    // (and the pongs) run late, as under heavy load: a round over all connections takes about a
    // third longer than planned.
    const terms = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => connectStream(rig.relay.url, (await rig.pair(`busy-till-${i}`)).credential, 0)),
    );
    const closed: number[] = [];
    terms.forEach((t, i) => t.ws.on('close', () => closed.push(i)));
    const spoke = terms.map((t, i) =>
      setTimeout(() => t.ws.send(JSON.stringify({ type: 'ping', at: new Date().toISOString() })), ((i + 1) * rig.config.heartbeatMs) / 7),
    );
    const busy = setInterval(() => {
      const until = performance.now() + 28;
      while (performance.now() < until);
    }, 33);
    try {
      await new Promise((r) => setTimeout(r, 5 * rig.config.heartbeatMs));
      expect(closed).toEqual([]);
    } finally {
      clearInterval(busy);
      spoke.forEach(clearTimeout);
      await Promise.all(terms.map((t) => t.close()));
    }
  });

  it('answers protocol pings and ignores junk frames', async () => {
    const { credential } = await rig.pair('ping-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    t.ws.send('not json');
    t.ws.send(JSON.stringify({ type: 'bogus' }));
    t.ws.send(JSON.stringify({ type: 'ping', at: new Date().toISOString() }));
    await t.waitFor(() => t.messages.find((m) => m.type === 'pong'), 'pong');
    await t.close();
  });
  it('lets a request in flight finish when stopping', async () => {
    const { credential, terminalId } = await rig.pair('drain-till');
    rig.sim.faults.set({ endpoints: { 'POST /charges': { latencyMs: 250 } } });
    try {
      const saleId = newSaleId();
      const pending = rig.api<SaleView>('POST', '/v1/sales', credential, { saleId, amount: 2000, currency: 'THB' });
      // The attempt is recorded just before the call to Omise, which then takes 250 ms.
      await until(async () => ((await rig.relay.store.sale(terminalId, saleId))?.createAttempts ?? 0) > 0, 'charge request at Omise', 5000, 2);
      const stopping = rig.relay.stop();
      const res = await pending;
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('pending');
      await stopping;
      expect((await fetch(rig.relay.url + '/healthz').catch(() => undefined))?.status).toBeUndefined();
    } finally {
      rig.sim.faults.reset();
      await rig.restartRelay();
    }
  });
});
