import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OmiseClient } from '../omise/client';
import { verifyWebhookSignature } from '../omise/webhook-signature';
import { startSimulator, type SimulatorHandle } from './server';

interface Received {
  raw: Buffer;
  signature: string | undefined;
  timestamp: string | undefined;
  contentType: string | undefined;
  event: { id: string; key: string; data: { id: string; status?: string } };
}

let receiver: Server;
let receiverUrl: string;
let received: Received[];
/** Status answered per request, in order; 200 once exhausted. */
let answers: number[];
let sim: SimulatorHandle;
let client: OmiseClient;

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeEach(async () => {
  received = [];
  answers = [];
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({
        raw,
        signature: req.headers['omise-signature'] as string | undefined,
        timestamp: req.headers['omise-signature-timestamp'] as string | undefined,
        contentType: req.headers['content-type'],
        event: JSON.parse(raw.toString('utf8')) as Received['event'],
      });
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/omise`;
  sim = await startSimulator({
    publicKey: 'pkey_test_wh',
    secretKey: 'skey_test_wh',
    webhookUrl: receiverUrl,
    webhookSecret: Buffer.from('webhook-secret-for-tests-0123456').toString('base64'),
    webhookRetryDelaysMs: [10, 20, 40],
  });
  client = new OmiseClient({ baseUrl: sim.url, secretKey: 'skey_test_wh' });
});

afterEach(async () => {
  await sim.stop();
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
});

const inline = { type: 'alipayplus_mpm' as const };

describe('webhook deliveries', () => {
  it('sends signed events for create, complete, refund', async () => {
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await client.markAsPaid(ch.id);
    await client.createRefund(ch.id, { amount: 1000 });
    await until(() => received.length === 4, '4 webhooks');
    expect(received.map((r) => r.event.key).sort()).toEqual(['charge.complete', 'charge.create', 'charge.update', 'refund.create']);
    // A POST of the event object as JSON (Omise's webhooks page).
    for (const r of received) expect(r.contentType).toBe('application/json; charset=utf-8');
    for (const r of received) {
      expect(r.signature).toMatch(/^[0-9a-f]{64}$/);
      expect(Math.abs(Number(r.timestamp) - Date.now() / 1000)).toBeLessThan(60);
      expect(verifyWebhookSignature({ rawBody: r.raw, signature: r.signature, timestamp: r.timestamp, secrets: [sim.webhookSecret] })).toEqual({ ok: true });
      expect(verifyWebhookSignature({ rawBody: Buffer.concat([r.raw, Buffer.from(' ')]), signature: r.signature, timestamp: r.timestamp, secrets: [sim.webhookSecret] }).ok).toBe(false);
    }
    const complete = received.find((r) => r.event.key === 'charge.complete')!;
    expect(complete.event.data).toMatchObject({ id: ch.id, status: 'successful' });
    await until(() => sim.events().every((e) => e.webhook_deliveries.length === 1), 'deliveries recorded');
    const ev = await client.retrieveEvent(complete.event.id);
    expect(ev.webhook_deliveries).toEqual([expect.objectContaining({ object: 'webhook_delivery', uri: receiverUrl, status: 200 })]);
  });

  it('retries with backoff until the receiver answers 2xx, recording every attempt', async () => {
    answers = [500, 503];
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await until(() => received.length === 3, '3 attempts');
    expect(new Set(received.map((r) => r.event.id)).size).toBe(1);
    expect(received.every((r) => r.raw.equals(received[0].raw))).toBe(true);
    await until(() => !sim.webhooksBusy(), 'dispatcher idle');
    const ev = sim.events().find((e) => e.key === 'charge.create')!;
    expect(ev.webhook_deliveries.map((d) => d.status)).toEqual([500, 503, 200]);
    expect((ev.data as { id: string }).id).toBe(ch.id);
  });

  it('signs with two secrets during a rotation, and can sign with real time while the clock is moved', async () => {
    await sim.stop();
    const oldSecret = Buffer.from('the-previous-webhook-secret-0001').toString('base64');
    sim = await startSimulator({
      publicKey: 'pkey_test_wh',
      secretKey: 'skey_test_wh',
      webhookUrl: receiverUrl,
      previousWebhookSecret: oldSecret,
      clock: () => new Date('2026-03-10T16:00:00Z'),
      signatureClock: () => new Date(),
    });
    client = new OmiseClient({ baseUrl: sim.url, secretKey: 'skey_test_wh' });
    await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await until(() => received.length === 1, 'webhook');
    const r = received[0];
    expect(r.signature?.split(',')).toHaveLength(2);
    for (const secret of [sim.webhookSecret, oldSecret]) {
      expect(verifyWebhookSignature({ rawBody: r.raw, signature: r.signature, timestamp: r.timestamp, secrets: [secret] })).toEqual({ ok: true });
    }
    expect(verifyWebhookSignature({ rawBody: r.raw, signature: r.signature, timestamp: r.timestamp, secrets: [Buffer.from('x'.repeat(32)).toString('base64')] }).ok).toBe(false);
  });

  it('gives up after the last retry and records connection failures', async () => {
    sim.setWebhookUrl('http://127.0.0.1:1/nothing-listens-here');
    await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await until(() => !sim.webhooksBusy(), 'dispatcher idle');
    const ev = sim.events()[0];
    expect(ev.webhook_deliveries).toHaveLength(4);
    expect(ev.webhook_deliveries.every((d) => d.status === null && typeof d.error === 'string')).toBe(true);
  });

  it('drops, duplicates and reorders on request', async () => {
    sim.faults.update({ webhooks: { dropNext: 1 } });
    await client.createCharge({ amount: 5000, currency: 'THB', source: inline, metadata: { n: 'dropped' } });
    sim.faults.update({ webhooks: { duplicateNext: 1 } });
    const dup = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await until(() => received.length === 2 && !sim.webhooksBusy(), 'duplicate');
    expect(received.map((r) => r.event.data.id)).toEqual([dup.id, dup.id]);
    const dropped = sim.events().find((e) => (e.data as { metadata?: { n?: string } }).metadata?.n === 'dropped')!;
    expect(dropped.webhook_deliveries).toEqual([]);

    received = [];
    // The window must outlast the two calls that make the pair: 50 ms ran out between them on a
    // loaded CI host, and charge.create went out alone, in order.
    sim.faults.update({ webhooks: { reorder: true, reorderWindowMs: 1500 } });
    const ch = await client.createCharge({ amount: 5000, currency: 'THB', source: inline });
    await client.markAsPaid(ch.id);
    await until(() => received.length === 2, 'reordered pair');
    expect(received.map((r) => r.event.key)).toEqual(['charge.complete', 'charge.create']);
  });
});
