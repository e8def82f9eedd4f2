/**
 * Fuzz test of how the terminal reads the relay's answers (a relay is on another host; a broken
 * one or whatever sits in between can answer anything): each call gives a schema-checked value
 * or a RelayError whose message is short and printable (it reaches the log and the screen).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasUnsafeChars } from '../shared/printable';
import { fuzzParams } from '../shared/testing/fuzz';
import { RelayError, RelayHttp } from './relay-http';

let server: http.Server;
let next: { status: number; body: string } = { status: 200, body: '{}' };
let relay: RelayHttp;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(next.status, { 'content-type': 'application/json' });
      res.end(next.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay = new RelayHttp({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credential: () => 'tc_fuzz', timeoutMs: 2000 });
});
afterAll(async () => {
  relay?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const text = fc.oneof(fc.string({ maxLength: 60, unit: 'binary' }), fc.constantFrom('\x1b[2J\x1b[H', 'a\r\nFAKE LOG LINE', '\u202eevil', 'x'.repeat(5000)));
const answer = fc.record({
  status: fc.oneof(fc.constantFrom(200, 400, 401, 404, 409, 422, 429, 500, 503), fc.integer({ min: 200, max: 599 }).filter((s) => ![204, 205, 304].includes(s))),
  body: fc.oneof(
    fc.string({ maxLength: 200, unit: 'binary' }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.record({ code: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })), message: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })) }).map((error) => JSON.stringify({ error })),
    fc.dictionary(fc.constantFrom('terminalId', 'name', 'currency', 'serverTime', 'sales', 'accepted', 'duplicates', 'pairingId', 'code'), fc.oneof(text, fc.jsonValue({ maxDepth: 2 }))).map((o) => JSON.stringify(o)),
  ),
});

describe('relay answers read by the terminal (fuzz)', () => {
  it('any answer: a checked value or a RelayError with a short printable message', async () => {
    await fc.assert(
      fc.asyncProperty(answer, fc.constantFrom('me', 'pair', 'list', 'records'), async (a, op) => {
        next = a;
        try {
          if (op === 'me') await relay.me();
          else if (op === 'pair') await relay.pairStart({ name: 'till', version: '1' });
          else if (op === 'list') await relay.listSales(new Date(0).toISOString());
          else await relay.postRecords([]);
          expect(a.status).toBeLessThan(300);
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(RelayError);
          const err = e as RelayError;
          expect(err.message.length, 'a relay answer made a long error').toBeLessThan(600);
          expect(hasUnsafeChars(err.message), `control characters in ${JSON.stringify(err.message).slice(0, 80)}`).toBe(false);
          expect(hasUnsafeChars(err.code)).toBe(false);
          expect(err.code.length).toBeLessThanOrEqual(64);
        }
      }),
      fuzzParams(500),
    );
  });
});
