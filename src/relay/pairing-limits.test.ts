import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRelayConfig } from './config';
import { startRig, TestClock, type Rig } from './testing/testkit';

interface Answer {
  status: number;
  body: { code?: string; pairingId?: string; pairingSecret?: string; error?: { code: string } };
  retryAfter: string | undefined;
}

/** One request to the relay, sent from a chosen loopback address (127.0.0.2 and so on). */
function from(rig: Rig, localAddress: string, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const u = new URL(rig.relay.url);
  const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        localAddress,
        agent: false,
        headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...opts.headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const ra = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Answer['body']) : {}, retryAfter: typeof ra === 'string' ? ra : undefined });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The relay's defaults (the rig raises them for tests that pair many terminals). */
const DEFAULT_LIMITS = parseRelayConfig({ version: 1, country: 'TH', dataDir: '/nonexistent' }).pairing;

const pairBody = (name: string) => ({ name, version: '0.1.0', device: 'test' });

/** `n` pairing requests one after the other; returns how many got a code. */
async function flood(rig: Rig, localAddress: string, n: number, headers?: Record<string, string>): Promise<{ created: number; last: Answer }> {
  let created = 0;
  let last!: Answer;
  for (let i = 0; i < n; i++) {
    last = await from(rig, localAddress, 'POST', '/v1/pair', { body: pairBody(`flood-${i}`), headers });
    if (last.status === 201) created++;
  }
  return { created, last };
}

describe('relay: pairing cannot be locked for everyone by one address', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('a flood from one address is slowed with 429 + Retry-After; another address still gets its code', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock, config: { pairing: DEFAULT_LIMITS } });
    const { created, last } = await flood(rig, '127.0.0.2', 120);
    expect(created).toBeLessThanOrEqual(10);
    expect(last.status).toBe(429);
    expect(Number(last.retryAfter)).toBeGreaterThan(0);

    const other = await from(rig, '127.0.0.3', 'POST', '/v1/pair', { body: pairBody('legit') });
    expect(other.status).toBe(201);
    expect(other.body.code).toMatch(/^[A-Z0-9]{3}-[A-Z0-9]{3}$/);
    // The operator can approve it and the terminal collects its credential.
    (await rig.relay.approvePairing(other.body.code!));
    const polled = await from(rig, '127.0.0.3', 'GET', `/v1/pair/${other.body.pairingId}`, { headers: { 'x-pairing-secret': other.body.pairingSecret! } });
    expect(polled.status).toBe(200);

    // Later the flooding address may pair again (slower, not closed).
    clock.advance(16 * 60_000);
    expect((await from(rig, '127.0.0.2', 'POST', '/v1/pair', { body: pairBody('later') })).status).toBe(201);
  });

  it('pending pairings per address are capped even when the rate allows more', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock, config: { pairing: { ...DEFAULT_LIMITS, perAddressBurst: 50, maxPendingPerAddress: 3 } } });
    const { created, last } = await flood(rig, '127.0.0.2', 6);
    expect(created).toBe(3);
    expect(last.status).toBe(429);
    expect(last.body.error?.code).toBe('too_many');
  });

  it('honours X-Forwarded-For only from a trusted proxy', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock, config: { trustProxy: ['127.0.0.4'], pairing: DEFAULT_LIMITS } });
    // Through the trusted proxy: each forwarded client has its own allowance.
    const flooded = await flood(rig, '127.0.0.4', 40, { 'x-forwarded-for': '203.0.113.7' });
    expect(flooded.last.status).toBe(429);
    const legit = await from(rig, '127.0.0.4', 'POST', '/v1/pair', { body: pairBody('legit'), headers: { 'x-forwarded-for': '203.0.113.8' } });
    expect(legit.status).toBe(201);
    // A client that is not the proxy cannot dodge its limit by inventing forwarded addresses.
    let created = 0;
    let status = 0;
    for (let i = 0; i < 40; i++) {
      const r = await from(rig, '127.0.0.5', 'POST', '/v1/pair', { body: pairBody(`spoof-${i}`), headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } });
      if (r.status === 201) created++;
      status = r.status;
    }
    expect(created).toBeLessThanOrEqual(10);
    expect(status).toBe(429);
    const pending = (await rig.relay.store.listPendingPairings(clock.now().toISOString()));
    expect(pending.some((p) => p.address === '203.0.113.8')).toBe(true);
    expect(pending.some((p) => p.address?.startsWith('198.51.100.'))).toBe(false);
  });

  it('a distributed flood that fills every pending slot displaces the busiest address, never locks others out', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock, config: { limits: { maxPendingPairings: 6 }, pairing: { ...DEFAULT_LIMITS, maxPendingPerAddress: 3 } } });
    await flood(rig, '127.0.0.2', 3);
    await flood(rig, '127.0.0.3', 3);
    const legit = await from(rig, '127.0.0.9', 'POST', '/v1/pair', { body: pairBody('legit') });
    expect(legit.status).toBe(201);
    expect(await rig.relay.store.countPendingPairings(clock.now().toISOString())).toBe(6);
  });

  it('polling a pairing is rate-limited per address too', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await from(rig, '127.0.0.2', 'GET', `/v1/pair/pair_nope${i}`, { headers: { 'x-pairing-secret': 'x' } })).status);
    expect(statuses[0]).toBe(404);
    expect(statuses.at(-1)).toBe(429);
    // Another address is not affected.
    expect((await from(rig, '127.0.0.3', 'GET', '/v1/pair/pair_nope', { headers: { 'x-pairing-secret': 'x' } })).status).toBe(404);
  });

  it('unknown credentials from one address are slowed with 429; a good or revoked credential is still answered', async () => {
    const clock = TestClock.morning();
    rig = await startRig({ clock });
    const good = await rig.pair('good');
    const revoked = await rig.pair('revoked');
    (await rig.relay.revokeTerminal(revoked.terminalId));
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      statuses.push((await from(rig, '127.0.0.2', 'GET', '/v1/me', { headers: { authorization: `Bearer qrt_guess${i}` } })).status);
    }
    const admin = await from(rig, '127.0.0.2', 'GET', '/admin/terminals', { headers: { authorization: 'Bearer wrong-admin-token' } });
    expect(statuses[0]).toBe(401);
    expect(statuses.at(-1)).toBe(429);
    expect(admin.status).toBe(429);
    const stream = await from(rig, '127.0.0.2', 'GET', '/v1/stream', { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer qrt_x' } });
    expect(stream.status).toBe(429);
    expect(Number(admin.retryAfter)).toBeGreaterThan(0);
    // The limited address itself is still served with a good credential; a revoked one still hears why.
    expect((await from(rig, '127.0.0.2', 'GET', '/v1/me', { headers: { authorization: `Bearer ${good.credential}` } })).status).toBe(200);
    expect((await from(rig, '127.0.0.3', 'GET', '/v1/me', { headers: { authorization: 'Bearer qrt_other' } })).status).toBe(401);
    for (let i = 0; i < 40; i++) {
      expect((await from(rig, '127.0.0.4', 'GET', '/v1/me', { headers: { authorization: `Bearer ${revoked.credential}` } })).status).toBe(401);
    }
    clock.advance(60_000);
    expect((await from(rig, '127.0.0.2', 'GET', '/v1/me', { headers: { authorization: 'Bearer qrt_later' } })).status).toBe(401);
  });

  it('the limit survives a relay restart: the flooding address is still limited, others are not', async () => {
    const clock = TestClock.morning();
    // Codes waiting per address are not the limit here: the token bucket is.
    rig = await startRig({ clock, config: { pairing: { ...DEFAULT_LIMITS, maxPendingPerAddress: 50 } } });
    const { created, last } = await flood(rig, '127.0.0.2', 30);
    expect(created).toBe(10);
    expect(last.status).toBe(429);
    await rig.restartRelay();
    expect((await from(rig, '127.0.0.2', 'POST', '/v1/pair', { body: pairBody('again') })).status).toBe(429);
    expect((await from(rig, '127.0.0.3', 'POST', '/v1/pair', { body: pairBody('legit') })).status).toBe(201);
  });
});
