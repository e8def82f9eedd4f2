import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_NAMES } from '../../drivers/keypad/contract';
import { fuzzParams } from '../shared/testing/fuzz';
import { parseKeysBody } from './virtual-device';

describe("the demo's key API body (fuzz)", () => {
  it('a list of key names round-trips', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...KEY_NAMES), { maxLength: 200 }), (keys) => {
        expect(parseKeysBody(Buffer.from(JSON.stringify({ keys })))).toEqual({ keys });
      }),
      fuzzParams(300),
    );
  });

  it('any other body: a 400 error with a bounded message, never another exception', () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
      fc.array(fc.oneof(fc.constantFrom(...KEY_NAMES), fc.jsonValue({ maxDepth: 2 })), { maxLength: 250 }).map((keys) => Buffer.from(JSON.stringify({ keys }))),
    );
    fc.assert(
      fc.property(body, (raw) => {
        try {
          const { keys } = parseKeysBody(raw);
          for (const k of keys) expect(KEY_NAMES).toContain(k);
        } catch (e) {
          expect((e as { status?: unknown }).status, String(e)).toBe(400);
          expect((e as Error).message.length).toBeLessThan(2 * raw.length + 300);
        }
      }),
      fuzzParams(500),
    );
  });
});
