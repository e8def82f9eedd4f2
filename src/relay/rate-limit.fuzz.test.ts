/**
 * Fuzz test of the parts of pairing rate limiting that read outside input: trusted-proxy
 * entries from the config (parseCidr) and X-Forwarded-For from the network (clientAddress).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzParams } from '../shared/testing/fuzz';
import { limitKey, parseCidr, ProxyTrust } from './rate-limit';

const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('127.0.0.1', '::1', '10.0.0.7', '::ffff:10.0.0.7', '::ffff:127.0.0.1'));
const hop = fc.oneof({ weight: 4, arbitrary: ip }, { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('unknown', '', ' ', '1.2.3', '300.1.1.1', '::zz', '_hidden')) });

function request(peer: string | undefined, header: string | string[] | undefined): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: header === undefined ? {} : { 'x-forwarded-for': header } } as unknown as IncomingMessage;
}

describe('trusted proxies and X-Forwarded-For (fuzz)', () => {
  it('parseCidr: any text is an address with a prefix in range, or an Error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.tuple(ip, fc.integer({ min: -1, max: 200 })).map(([a, p]) => `${a}/${p}`), ip), (text) => {
        try {
          const c = parseCidr(text);
          expect(net.isIP(c.address)).toBe(c.family === 'ipv4' ? 4 : 6);
          if (c.prefix !== undefined) expect(c.prefix).toBeLessThanOrEqual(c.family === 'ipv4' ? 32 : 128);
        } catch (e) {
          expect(e).toBeInstanceOf(Error);
        }
      }),
      fuzzParams(1000),
    );
  });

  it('clientAddress: the peer, or the right-most hop that is not a trusted proxy; never a made-up value', () => {
    const trust = fc.oneof(fc.boolean(), fc.array(fc.constantFrom('10.0.0.0/8', '127.0.0.1', '::1', 'fd00::/8', '192.168.1.0/24'), { maxLength: 3 }));
    fc.assert(
      fc.property(trust, fc.option(ip, { nil: undefined }), fc.array(hop, { maxLength: 6 }), fc.boolean(), (setting, peer, hops, split) => {
        const t = new ProxyTrust(setting);
        const header = hops.length === 0 ? undefined : split ? hops : hops.join(', ');
        const got = t.clientAddress(request(peer, header));
        const unmapped = (a: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a);
        const p = peer === undefined ? null : unmapped(peer);
        if (p === null) {
          expect(got).toBeNull();
          return;
        }
        if (!t.trusts(p)) {
          expect(got).toBe(p);
          return;
        }
        expect(got).not.toBeNull();
        expect(net.isIP(got!)).not.toBe(0);
        if (got === p) return;
        // A hop was taken: everything right of it is a trusted proxy.
        const list = hops.flatMap((h) => h.split(',')).map((h) => unmapped(h.trim())).filter(Boolean);
        const at = list.lastIndexOf(got!);
        expect(at).toBeGreaterThanOrEqual(0);
        expect(t.trusts(got!)).toBe(false);
        for (const right of list.slice(at + 1)) expect(t.trusts(right)).toBe(true);
      }),
      fuzzParams(1000),
    );
  });

  it('limitKey: two addresses share a key exactly when they are the same IPv4 address or in the same IPv6 /64', () => {
    // b is in a's /64 when a BlockList subnet a/64 holds it (Node's own reading of both addresses).
    const sameSlash64 = (a: string, b: string) => {
      const list = new net.BlockList();
      list.addSubnet(a, 64, 'ipv6');
      return list.check(b, 'ipv6');
    };
    // Half the time b is a with its last group changed: the same /64 written another way.
    const near = (a: string, k: number) => a.replace(/[0-9a-f]+$/i, (g) => (parseInt(g, 16) ^ k).toString(16));
    fc.assert(
      fc.property(fc.ipV6(), fc.ipV6(), fc.integer({ min: 0, max: 3 }), fc.boolean(), (a, other, k, isNear) => {
        const b = isNear ? near(a, k) : other;
        fc.pre(!a.startsWith('::ffff:') && !b.startsWith('::ffff:') && net.isIPv6(b));
        expect(limitKey(a) === limitKey(b), `${a} and ${b}`).toBe(sameSlash64(a, b));
      }),
      fuzzParams(1000),
    );
  });

  it('what the fuzz test found: an IPv4 tail counts as two groups', () => {
    expect(limitKey('::1:0:0:0.0.0.0')).toBe('0:0:0:1::/64');
    expect(limitKey('::1:0:0:0.0.0.0')).not.toBe(limitKey('::'));
    expect(limitKey('1:2:3:4:5:6:1.2.3.4')).toBe('1:2:3:4::/64');
  });
});
