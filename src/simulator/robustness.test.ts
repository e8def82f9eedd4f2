import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { startSimulator, type SimulatorHandle } from './server';

const PKEY = 'pkey_test_rb';
const SKEY = 'skey_test_rb';
const AUTH = `Basic ${Buffer.from(`${SKEY}:`).toString('base64')}`;

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ publicKey: PKEY, secretKey: SKEY, bodyLimitBytes: 4096 });
});
afterAll(async () => {
  await sim.stop();
});
beforeEach(() => sim.faults.reset());

interface Res {
  status: number;
  body: string;
  json: Record<string, unknown> | null;
  headers: Record<string, string | string[] | undefined>;
}

function call(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const u = new URL(sim.url);
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { authorization: AUTH, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> | null;
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode ?? 0, body: text, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSONH = { 'content-type': 'application/json' };

function expectError(r: Res, status: number, code: string): void {
  expect(r.status, r.body).toBe(status);
  expect(r.json).toMatchObject({ object: 'error', code, location: expect.stringContaining('https://') as unknown, message: expect.any(String) as unknown });
}

describe('bad input gets Omise error objects', () => {
  it('authentication failures', async () => {
    expectError(await call('GET', '/charges', undefined, { authorization: '' }), 401, 'authentication_failure');
    expectError(await call('GET', '/charges', undefined, { authorization: 'Basic !!!' }), 401, 'authentication_failure');
    expectError(await call('GET', '/charges', undefined, { authorization: `Basic ${Buffer.from(`${PKEY}:`).toString('base64')}` }), 401, 'authentication_failure');
    expectError(await call('POST', '/charges/chrg_test_x/mark_as_paid', '', { authorization: 'Bearer x' }), 401, 'authentication_failure');
  });

  it('malformed bodies, unknown parameters, wrong currency, limits', async () => {
    expectError(await call('POST', '/charges', '{"amount":', JSONH), 400, 'bad_request');
    expectError(await call('POST', '/charges', '[1,2]', JSONH), 400, 'bad_request');
    expectError(await call('POST', '/charges', 'amount=%ZZ', FORM), 400, 'bad_request');
    expectError(await call('POST', '/charges', 'amount=5000&currency=THB&source[type]=alipayplus_mpm&colour=red', FORM), 400, 'bad_request');
    expectError(await call('POST', '/charges', 'amount=5000&currency=USD&source[type]=alipayplus_mpm', FORM), 400, 'invalid_charge');
    expectError(await call('POST', '/charges', 'amount=5000&currency=SGD&source[type]=alipayplus_mpm', FORM), 400, 'invalid_charge');
    expectError(await call('POST', '/charges', 'amount=50.5&currency=THB&source[type]=alipayplus_mpm', FORM), 400, 'bad_request');
    expectError(await call('POST', '/charges', 'amount=1999&currency=THB&source[type]=alipayplus_mpm', FORM), 400, 'invalid_charge');
    // A method of another country (PayNow is Singapore's), and no method at all.
    expectError(await call('POST', '/charges', 'amount=5000&currency=THB&source[type]=paynow', FORM), 400, 'invalid_charge');
    expectError(await call('POST', '/charges', 'amount=5000&currency=THB&source[type]=bitcoin', FORM), 400, 'invalid_charge');
    expectError(await call('POST', '/charges', 'amount=5000&currency=THB', FORM), 400, 'invalid_charge');
    expectError(await call('POST', '/charges', 'amount=5000&currency=THB&source[type]=alipayplus_mpm&metadata=x', FORM), 400, 'bad_request');
    expectError(await call('POST', '/charges', '{"amount":5000,"currency":"THB","source":{"type":"alipayplus_mpm"},"metadata":{"__proto__":{"x":1}}}', JSONH), 400, 'bad_request');
    expectError(await call('GET', '/charges?limit=abc'), 400, 'bad_request');
    expectError(await call('GET', '/charges?order=sideways'), 400, 'bad_request');
    expectError(await call('GET', '/charges?from=yesterday'), 400, 'bad_request');
    expectError(await call('GET', '/charges/chrg_test_missing'), 404, 'not_found');
    expectError(await call('GET', '/nope'), 404, 'not_found');
    expectError(await call('DELETE', '/charges'), 404, 'not_found');
    expectError(await call('POST', '/charges/chrg_test_missing/refunds', 'amount=100', FORM), 404, 'not_found');
  });

  it('accepts JSON bodies with typed values like the official SDK sends', async () => {
    const r = await call('POST', '/charges', JSON.stringify({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' }, metadata: { n: 1, ok: true } }), JSONH);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ object: 'charge', metadata: { n: 1, ok: true } });
  });

  it('refuses bodies over the limit with 413', async () => {
    expectError(await call('POST', '/charges', 'a='.padEnd(5000, 'x'), FORM), 413, 'bad_request');
    expect((await call('GET', '/charges')).status).toBe(200);
  });

  it('survives a fuzz of random bodies and bracket forms', async () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pieces = ['amount', 'currency', 'source', '[type]', '[', ']', '=', '&', 'THB', '5000', 'alipayplus_mpm', 'metadata', '[a]', '%', '%00', '\u00ff', '{', '}', '"', ':', ',', '[]', '__proto__', '9'.repeat(20)];
    const paths = ['/charges', '/sources', '/charges/chrg_test_x/refunds', '/charges/chrg_test_x/mark_as_failed'];
    const statuses = new Set<number>();
    for (let i = 0; i < 250; i++) {
      let body: string | Buffer;
      if (i % 5 === 0) body = Buffer.from(Array.from({ length: rnd(200) }, () => rnd(256)));
      else body = Array.from({ length: rnd(12) }, () => pieces[rnd(pieces.length)]).join('');
      const headers = i % 3 === 0 ? JSONH : FORM;
      const r = await call('POST', paths[rnd(paths.length)], body, headers);
      statuses.add(r.status);
      expect(r.json, r.body).not.toBeNull();
      expect(r.status === 200 || r.json?.object === 'error', r.body).toBe(true);
      expect(r.status).toBeLessThan(500);
    }
    expect(statuses.has(400)).toBe(true);
    expect((await call('GET', '/charges')).status).toBe(200);
  });
});

describe('fault injection over HTTP', () => {
  it('validates, applies and resets faults', async () => {
    const bad = await call('POST', '/_sim/faults', JSON.stringify({ endpoints: { 'POST /nowhere': { hang: true } } }), JSONH);
    expectError(bad, 400, 'bad_request');
    expect(bad.json?.message).toContain('unknown endpoint');
    expectError(await call('POST', '/_sim/faults', JSON.stringify({ latencyMs: -1 }), JSONH), 400, 'bad_request');
    const ok = await call('POST', '/_sim/faults', JSON.stringify({ endpoints: { 'GET /charges': { failNext: 2, errorStatus: 503 } } }), JSONH);
    expect(ok.json).toEqual({ endpoints: { 'GET /charges': { failNext: 2, errorStatus: 503 } } });
    expectError(await call('GET', '/charges'), 503, 'backend_error');
    expectError(await call('GET', '/charges'), 503, 'backend_error');
    expect((await call('GET', '/charges')).status).toBe(200);

    await call('POST', '/_sim/faults', JSON.stringify({ endpoints: { '*': { errorRate: 1 } } }), JSONH);
    expectError(await call('GET', '/events'), 500, 'backend_error');
    await call('DELETE', '/_sim/faults');
    expect((await call('GET', '/events')).status).toBe(200);

    await call('POST', '/_sim/faults', JSON.stringify({ latencyMs: 120 }), JSONH);
    const t0 = Date.now();
    expect((await call('GET', '/events')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
  });

  it('moves the clock and answers the QR text of a charge', async () => {
    const before = Date.parse(((await call('GET', '/_sim/clock')).json as { now: string }).now);
    const moved = await call('POST', '/_sim/clock', JSON.stringify({ advanceMs: 3600_000 }), JSONH);
    expect(Date.parse((moved.json as { now: string }).now) - before).toBeGreaterThanOrEqual(3600_000);
    await call('POST', '/_sim/clock', JSON.stringify({ advanceMs: -3600_000 }), JSONH);
    const ch = await call('POST', '/charges', 'amount=5000&currency=THB&source[type]=alipayplus_mpm', FORM);
    const id = ch.json?.id as string;
    const qr = await call('GET', `/_sim/charges/${id}/qr-text`);
    expect(qr.json).toEqual({ charge: id, text: sim.qrTextOf(id) });
    expect(sim.qrTextOf(id)).toMatch(/^https:\/\/global\.alipay\.com\/281002040090[A-Za-z0-9]{24}$/);
  });
});

describe('dashboard', () => {
  it('lists charges with QR and actions, and its buttons work', async () => {
    const ch = await call('POST', '/charges', 'amount=4321&currency=THB&source[type]=alipayplus_mpm&metadata[sale]=dash', FORM);
    const id = ch.json?.id as string;
    const page = await call('GET', '/', undefined, { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain(id);
    expect(page.body).toContain('฿43.21');
    expect(page.body).toContain(`/_sim/charges/${id}/mark_as_paid`);
    expect(page.body).toContain('<img class="qr"');
    expect(page.body).toContain(SKEY);
    const done = await call('POST', `/_sim/charges/${id}/mark_as_failed`, 'failure_code=payment_rejected', { ...FORM, accept: 'text/html' });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe('/');
    expect(sim.charge(id)).toMatchObject({ status: 'failed', failure_code: 'payment_rejected' });
    const again = await call('POST', `/_sim/charges/${id}/expire`, '', { ...FORM, accept: 'text/html' });
    expect(again.status).toBe(303);
    expect(again.headers.location).toMatch(/^\/\?notice=/);
    const json = await call('POST', `/_sim/charges/${id}/mark_as_paid`, '', FORM);
    expectError(json, 400, 'invalid_charge');
  });
});
