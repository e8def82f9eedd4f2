import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseRelayConfig } from './config';
import { limitKey, MemoryBuckets, ProxyTrust, refill, secondsUntilToken } from './rate-limit';
import { TestClock } from './testing/testkit';

const req = (peer: string, xff?: string) => ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('relay rate limits', () => {
  it('keys IPv4 by address and IPv6 by /64, IPv4-mapped IPv6 as IPv4', () => {
    expect(limitKey('203.0.113.7')).toBe('203.0.113.7');
    expect(limitKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(limitKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(limitKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(limitKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(limitKey('::1')).toBe('0:0:0:0::/64');
    expect(limitKey(null)).toBe('unknown');
  });

  it('refills a bucket with the clock and says when the next token comes', () => {
    const rule = { burst: 10, perMinute: 1 };
    expect(refill(undefined, rule, 0)).toBe(10);
    expect(refill({ tokens: 0, atMs: 0 }, rule, 30_000)).toBeCloseTo(0.5);
    expect(refill({ tokens: 0, atMs: 0 }, rule, 3_600_000)).toBe(10);
    expect(secondsUntilToken(0.5, rule)).toBe(30);
    expect(secondsUntilToken(1, rule)).toBe(0);
  });

  it('in memory: refuses past the burst, per key, until time passes', () => {
    const clock = TestClock.morning();
    const b = new MemoryBuckets({ burst: 3, perMinute: 60 }, clock.now);
    expect([b.take('a'), b.take('a'), b.take('a')]).toEqual([0, 0, 0]);
    expect(b.take('a')).toBe(1);
    expect(b.take('b')).toBe(0);
    clock.advance(1000);
    expect(b.take('a')).toBe(0);
  });

  it('in memory: the number of keys kept is bounded', () => {
    const clock = TestClock.morning();
    const b = new MemoryBuckets({ burst: 1, perMinute: 1 }, clock.now, 100);
    for (let i = 0; i < 1000; i++) b.take(`k${i}`);
    // The oldest keys were dropped: k0 has a full bucket again, the newest is still empty.
    expect(b.take('k0')).toBe(0);
    expect(b.take('k999')).toBeGreaterThan(0);
  });

  it('reads X-Forwarded-For only from trusted proxies, right to left past trusted hops', () => {
    const none = new ProxyTrust(false);
    expect(none.clientAddress(req('127.0.0.1', '198.51.100.1'))).toBe('127.0.0.1');
    const loop = new ProxyTrust(true);
    expect(loop.clientAddress(req('127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1');
    expect(loop.clientAddress(req('::ffff:127.0.0.1', '198.51.100.1'))).toBe('198.51.100.1');
    expect(loop.clientAddress(req('::1', '2001:db8::5'))).toBe('2001:db8::5');
    expect(loop.clientAddress(req('10.0.0.1', '198.51.100.1'))).toBe('10.0.0.1');
    // The client may write anything left of what the proxy appended.
    expect(loop.clientAddress(req('127.0.0.1', '1.2.3.4, 198.51.100.1'))).toBe('198.51.100.1');
    const list = new ProxyTrust(['10.0.0.0/8', '2001:db8:ffff::/48', '192.0.2.1']);
    expect(list.clientAddress(req('10.1.2.3', '198.51.100.9, 192.0.2.1'))).toBe('198.51.100.9');
    expect(list.clientAddress(req('2001:db8:ffff::7', '198.51.100.9'))).toBe('198.51.100.9');
    expect(list.clientAddress(req('127.0.0.1', '198.51.100.9'))).toBe('127.0.0.1');
    // Junk in the header: the proxy's own address, never the junk.
    expect(list.clientAddress(req('10.1.2.3', 'not-an-ip'))).toBe('10.1.2.3');
    expect(list.clientAddress(req('10.1.2.3', ''))).toBe('10.1.2.3');
  });

  it('config: trustProxy is a boolean or a list of addresses/CIDRs; anything else names the field', () => {
    const base = { version: 1, country: 'TH', dataDir: '/tmp/x' };
    expect(parseRelayConfig({ ...base, trustProxy: ['10.0.0.0/8', '::1'] }).trustProxy).toEqual(['10.0.0.0/8', '::1']);
    expect(parseRelayConfig({ ...base, trustProxy: true }).trustProxy).toBe(true);
    for (const bad of [['10.0.0.0/33'], ['example.com'], ['10.0.0.0/8/1'], ['::/129']]) {
      expect(() => parseRelayConfig({ ...base, trustProxy: bad })).toThrow(/trustProxy\.0/);
    }
  });
});
