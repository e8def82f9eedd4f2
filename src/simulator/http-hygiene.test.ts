import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../shared/testing/raw-http';
import { startSimulator, type SimulatorHandle } from './server';

const SKEY = 'skey_test_hygiene';
const AUTH = `Basic ${Buffer.from(`${SKEY}:`).toString('base64')}`;
const LIMIT = 64 * 1024;
const FORM = 'application/x-www-form-urlencoded';
const CHARGE = 'amount=5000&currency=THB&source[type]=alipayplus_mpm';

/** A raw request with the simulator's secret key. */
const raw = (url: string, opts: Parameters<typeof rawRequest>[1]) => rawRequest(url, { ...opts, headers: { authorization: AUTH, ...opts.headers } });

describe('simulator: HTTP hygiene', () => {
  let sim: SimulatorHandle;
  beforeAll(async () => {
    sim = await startSimulator({ secretKey: SKEY, bodyLimitBytes: LIMIT });
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('answers a broken %-escape in the path or the query with 400', async () => {
    for (const [method, path] of [
      ['GET', '/charges/chrg_test_%zz'],
      ['GET', '/charges/%E0%A4%A'],
      ['GET', '/charges?limit=10&x=%E0%A4%A'],
      ['GET', '/charges?order=%'],
      ['POST', '/charges/chrg_test_abc%2/expire'],
      ['GET', '/_sim/charges/%ff%fe/qr-text'],
    ]) {
      const r = await raw(sim.url, { method, path });
      expect(r, path).toMatchObject({ status: 400 });
      expect((r as { body: string }).body, path).toContain('"bad_request"');
    }
    // Good escapes still work.
    expect(await raw(sim.url, { method: 'GET', path: '/charges?limit=%31%30' })).toMatchObject({ status: 200 });
  });

  it('answers a body over the limit with 413 that the client can read (declared or streamed)', async () => {
    const big = Buffer.alloc(LIMIT + 6_000_000, 0x61);
    const declared = await raw(sim.url, { method: 'POST', path: '/charges', headers: { 'content-type': FORM, 'content-length': String(big.length) }, body: big });
    expect(declared).toMatchObject({ status: 413 });
    expect((declared as { body: string }).body).toContain('"object":"error"');
    const streamed = await raw(sim.url, { method: 'POST', path: '/charges', headers: { 'content-type': FORM }, body: big, chunked: true });
    expect(streamed).toMatchObject({ status: 413 });
    const unknown = await raw(sim.url, { method: 'POST', path: '/nowhere', headers: { 'content-type': FORM }, body: big, chunked: true });
    expect(unknown).toMatchObject({ status: 404 });
    // The simulator still answers afterwards.
    expect(await raw(sim.url, { method: 'GET', path: '/charges' })).toMatchObject({ status: 200 });
  });

  it('stops reading a refused body past a bound: an endless body cannot keep the simulator busy', async () => {
    const u = new URL(sim.url);
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const total = 200;
    const written = await new Promise<number>((resolve) => {
      let mib = 0;
      let over = false;
      const done = () => {
        if (!over) resolve(mib);
        over = true;
      };
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/charges', headers: { authorization: AUTH, 'content-type': FORM }, agent: false });
      req.on('response', (res) => {
        res.resume();
        res.on('close', done);
      });
      req.on('error', done);
      req.on('close', done);
      const pump = () => {
        while (!over && mib < total) {
          mib++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (mib >= total) req.end();
      };
      pump();
    });
    // 8 MiB read and dropped, plus what the sockets buffer: far from all of it.
    expect(written).toBeLessThan(total / 2);
    expect(await raw(sim.url, { method: 'GET', path: '/charges' })).toMatchObject({ status: 200 });
  });

  it('refuses a body that is neither a form nor JSON with 415, and creates nothing', async () => {
    const before = sim.charges().length;
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'multipart/form-data; boundary=x', 'application/xml', '']) {
      const headers: Record<string, string> = type ? { 'content-type': type } : {};
      const r = await raw(sim.url, { method: 'POST', path: '/charges', headers, body: CHARGE });
      expect(r, type || '(none)').toMatchObject({ status: 415 });
      expect((r as { body: string }).body).toContain('"object":"error"');
    }
    // A page in a browser cannot drive the loopback-only routes with text/plain either.
    const faults = await raw(sim.url, { method: 'POST', path: '/_sim/faults', headers: { 'content-type': 'text/plain' }, body: '{"latencyMs":1}' });
    expect(faults).toMatchObject({ status: 415 });
    expect(sim.faults.get()).not.toMatchObject({ latencyMs: 1 });
    expect(sim.charges().length).toBe(before);
    // Both of Omise's body types are taken (with parameters, in any case), and an empty body needs no type.
    expect(await raw(sim.url, { method: 'POST', path: '/charges', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=utf-8' }, body: CHARGE })).toMatchObject({ status: 200 });
    const json = JSON.stringify({ amount: 5000, currency: 'THB', source: { type: 'alipayplus_mpm' } });
    expect(await raw(sim.url, { method: 'POST', path: '/charges', headers: { 'content-type': 'application/json; charset=utf-8' }, body: json })).toMatchObject({ status: 200 });
    const id = sim.charges()[0].id;
    expect(await raw(sim.url, { method: 'POST', path: `/charges/${id}/expire` })).toMatchObject({ status: 200 });
  });
});
