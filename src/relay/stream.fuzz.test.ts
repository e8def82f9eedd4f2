/**
 * Fuzz test of the link's stream messages (src/link/protocol.ts ClientMessageSchema) as the relay
 * reads them from a real WebSocket: garbage frames are dropped, the connection stays up and
 * answers a ping, and no garbage acknowledges an event the terminal has not acknowledged.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientMessageSchema, ServerMessageSchema, type SaleView } from '../link/protocol';
import { fuzzParams } from '../shared/testing/fuzz';
import { connectStream, newSaleId, startRig, until, type Rig, type TestTerminal } from './testing/testkit';

let rig: Rig;
let terminalId: string;
let t: TestTerminal;

beforeAll(async () => {
  rig = await startRig();
  const paired = await rig.pair();
  terminalId = paired.terminalId;
  t = await connectStream(rig.relay.url, paired.credential);
  const created = await rig.api<SaleView>('POST', '/v1/sales', paired.credential, { saleId: newSaleId(), amount: 15000, currency: 'THB' });
  rig.sim.markAsPaid(created.body.chargeId!);
  // The paid sale reaches the terminal as an event it does not acknowledge.
  await t.waitFor(() => t.events().some((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'the paid event');
});
afterAll(async () => {
  await t?.close();
  await rig?.close();
});

/** Client frames: near-valid messages with garbage fields, any JSON, any text. */
const frame = fc.oneof(
  fc
    .record({
      type: fc.oneof(fc.constantFrom('ack', 'ping', 'pong', 'ACK', 'event', 'hello'), fc.jsonValue({ maxDepth: 1 })),
      seq: fc.oneof(fc.constantFrom(-1, 0.5, 1e21, Number.MAX_SAFE_INTEGER + 2, '1', '1e3', null, [1]), fc.jsonValue({ maxDepth: 1 })),
      at: fc.jsonValue({ maxDepth: 1 }),
    }, { requiredKeys: ['type'] })
    .map((m) => JSON.stringify(m)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 100, unit: 'binary' }),
  fc.constantFrom('{"type":"ack","seq":1e3}', '{"type":"ack","seq":01}', '{"type":"ack","seq":-0}', '{"type":"ack","seq":"1"}', '{"type":"ack","seq":1} ', '{"type":"ack","seq":1,"type":"x"}'),
);

describe('relay stream messages (fuzz, real WebSocket)', () => {
  it('garbage frames are dropped: the connection stays, nothing is acknowledged', async () => {
    const acked = async () => (await rig.relay.store.terminalById(terminalId))!.ackedSeq;
    expect(await acked()).toBe(0);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(frame, async (text) => {
        // A valid ack (or one the fast path takes) is no garbage.
        fc.pre(!(/"ack"/.test(text) && (ClientMessageSchema.safeParse(tryJson(text)).success || /^\{"type":"ack","seq":\d+\}$/.test(text))));
        t.ws.send(text);
        sent++;
        if (sent % 50 === 0) await pingPong();
      }),
      fuzzParams(400),
    );
    await pingPong();
    await new Promise((r) => setTimeout(r, 300));
    expect(t.closed).toBeUndefined();
    expect(await acked(), 'a garbage frame acknowledged an event').toBe(0);
    // The measure works: a real ack is seen.
    const last = Math.max(...t.events().map((e) => e.seq));
    t.ack(last);
    await until(async () => (await acked()) === last, 'the real ack to be stored', 3000);
  });

  it('the terminal side: any JSON is a ServerMessage or refused, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const r = ServerMessageSchema.safeParse(v);
        if (r.success) expect(['hello', 'event', 'ping', 'pong']).toContain(r.data.type);
      }),
      fuzzParams(500),
    );
  });
});

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A ping answered with a pong: the connection and the relay's reader are alive. */
async function pingPong(): Promise<void> {
  const before = t.messages.filter((m) => m.type === 'pong').length;
  t.ws.send(JSON.stringify({ type: 'ping', at: new Date().toISOString() }));
  await until(() => t.messages.filter((m) => m.type === 'pong').length > before || t.closed, 'a pong', 3000);
  expect(t.closed).toBeUndefined();
}
