import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCanvas } from 'canvas';
import { FakeKeypad } from '../../drivers/keypad/fake';
import type { KeyName } from '../../drivers/keypad/contract';
import { MemoryDisplay } from '../../drivers/display/memory';
import { silentLogger } from '../shared/log';
import { rawRequest } from '../shared/testing/raw-http';
import { KeySequencer, parseKeysBody, startVirtualDevice, type VirtualDeviceServer } from './virtual-device';

describe('virtual device server', () => {
  let keypad: FakeKeypad;
  let display: MemoryDisplay;
  let server: VirtualDeviceServer;
  const pressed: KeyName[] = [];

  beforeEach(async () => {
    pressed.length = 0;
    keypad = new FakeKeypad();
    await keypad.start();
    keypad.on('key', (e) => pressed.push(e.key));
    display = new MemoryDisplay(320, 240);
    server = await startVirtualDevice({ keypad, display, state: () => ({ state: 'idle' }), links: { simulatorDashboard: 'http://127.0.0.1:1/', relay: 'http://127.0.0.1:2' }, holdMs: 300, log: silentLogger });
  });
  afterEach(async () => {
    await server.stop();
  });

  it('presses keys posted as JSON, in order', async () => {
    const r = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: ['1', '5', '0', '0', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu'] }) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ accepted: 11 });
    expect(pressed).toEqual(['1', '5', '0', '0', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu']);
  });

  const post = async (body: unknown) => {
    const r = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { accepted?: number; duplicate?: boolean; expected?: number; error?: { code?: string; message: string } } };
  };

  it('presses numbered requests in seq order whatever order they arrive in, each once', async () => {
    // 40 requests of one sender, sent all at once, highest seq first.
    const batches = Array.from({ length: 40 }, (_, i) => String(i % 10) as KeyName).map((k, i) => [k, i % 3 === 0 ? 'enter' : 'clear'] as KeyName[]);
    const answers = await Promise.all(batches.map((keys, i) => ({ keys, seq: i + 1 })).reverse().map((b) => post({ client: 'burst', ...b })));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(pressed).toEqual(batches.flat());
    // A retry of a request already pressed presses nothing; the same seq with other keys is refused.
    expect(await post({ client: 'burst', seq: 40, keys: batches[39] })).toEqual({ status: 200, body: { accepted: 0, duplicate: true } });
    expect(await post({ client: 'burst', seq: 40, keys: ['9', '9'] })).toMatchObject({ status: 409, body: { error: { code: 'seq_used' }, expected: 41 } });
    // Another sender has its own numbering.
    expect(await post({ client: 'other', seq: 1, keys: ['menu'] })).toMatchObject({ status: 200, body: { accepted: 1 } });
    expect(pressed).toEqual([...batches.flat(), 'menu']);
  });

  it('makes a request ahead of its turn wait for the missing one, and refuses it if that never comes', async () => {
    const second = post({ client: 'gap', seq: 2, keys: ['2'] });
    await new Promise((r) => setTimeout(r, 50));
    expect(pressed).toEqual([]);
    expect(await post({ client: 'gap', seq: 1, keys: ['1'] })).toMatchObject({ status: 200 });
    expect(await second).toMatchObject({ status: 200, body: { accepted: 1 } });
    expect(pressed).toEqual(['1', '2']);

    // seq 4 without 3: refused after the hold time (this server's is 300 ms), nothing pressed.
    const t0 = Date.now();
    expect(await post({ client: 'gap', seq: 4, keys: ['4'] })).toMatchObject({ status: 409, body: { error: { code: 'gap' }, expected: 3 } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(pressed).toEqual(['1', '2']);
    // A sender this server does not know (the demo restarted under an open page) is told to number from 1.
    expect(await post({ client: 'unknown', seq: 7, keys: ['7'] })).toMatchObject({ status: 409, body: { error: { code: 'unknown_client' }, expected: 1 } });
    // The SSE stream names this server's instance first, so a page sees a restart before its keys do.
    const events = await fetch(`${server.url}/api/events`);
    const reader = events.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(first).toMatch(/^event: hello\ndata: [0-9a-f]{16}\n\n/);
    expect(pressed).toEqual(['1', '2']);
  });

  it('sequencer: a retry of a request still waiting is answered when it is pressed, and pressed once', async () => {
    const got: KeyName[][] = [];
    const seq = new KeySequencer((keys) => got.push(keys), 1000);
    const a = seq.submit('c', 2, ['2']);
    const b = seq.submit('c', 2, ['2']);
    await expect(seq.submit('c', 2, ['3'])).rejects.toMatchObject({ status: 409 });
    await expect(seq.submit('c', 1, ['1'])).resolves.toEqual({ accepted: 1 });
    await expect(a).resolves.toEqual({ accepted: 1 });
    await expect(b).resolves.toEqual({ accepted: 0, duplicate: true });
    expect(got).toEqual([['1'], ['2']]);
    const left = seq.submit('c', 5, ['5']);
    seq.close();
    await expect(left).rejects.toMatchObject({ status: 503 });
  });

  it('refuses bad bodies with a message and presses nothing', async () => {
    for (const body of ['not json', '{"keys": "1"}', '{"keys": ["1", "x", "ENTER"]}', '[]']) {
      const r = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(r.status).toBe(400);
      const j = (await r.json()) as { error: { message: string } };
      expect(j.error.message.length).toBeGreaterThan(5);
    }
    const r = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: Array(1000).fill('1') }) });
    expect(r.status).toBe(400);
    expect(pressed).toEqual([]);
    expect(() => parseKeysBody(Buffer.from('{"keys":["1","x"]}'))).toThrow(/"x"/);
    // A numbered request needs both its client and a seq from 1.
    for (const body of [{ keys: ['1'], client: 'a' }, { keys: ['1'], seq: 1 }, { keys: ['1'], client: 'a', seq: 0 }, { keys: ['1'], client: 'a b', seq: 1 }, { keys: ['1'], client: 'a', seq: 1.5 }]) {
      const r = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    expect(pressed).toEqual([]);
  });

  it('serves the screen as PNG, the state and the page', async () => {
    const frame = createCanvas(320, 240);
    const ctx = frame.getContext('2d');
    ctx.fillStyle = '#ff0000';
    ctx.fillRect(0, 0, 320, 240);
    await display.present(frame, []);
    const png = Buffer.from(await (await fetch(`${server.url}/api/screen.png`)).arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png).toEqual(display.png());
    expect(await (await fetch(`${server.url}/api/state`)).json()).toEqual({ state: 'idle' });
    const page = await (await fetch(`${server.url}/`)).text();
    expect(page).toContain('data-key="enter"');
    expect(page).toContain('http://127.0.0.1:1/');
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  /** fetch cannot set Host: a raw request to this server. */
  const raw = (opts: { method: string; path: string; headers: Record<string, string>; body?: Buffer }) => rawRequest(server.url, opts);

  it('refuses what a web page on another site could send: a foreign Host (DNS rebinding) and non-JSON bodies', async () => {
    const keys = Buffer.from(JSON.stringify({ keys: ['1', 'enter'] }));
    for (const host of ['evil.example', 'evil.example:8080', 'localhost.evil.example']) {
      expect(await raw({ method: 'POST', path: '/api/keys', headers: { host, 'content-type': 'application/json' }, body: keys }), host).toMatchObject({ status: 403 });
      expect(await raw({ method: 'GET', path: '/api/state', headers: { host } }), host).toMatchObject({ status: 403 });
    }
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expect(await raw({ method: 'POST', path: '/api/keys', headers: { host: `127.0.0.1:${server.port}`, 'content-type': type }, body: keys }), type).toMatchObject({ status: 415 });
    }
    expect(pressed).toEqual([]);
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`, '192.168.1.20:8080']) {
      expect(await raw({ method: 'GET', path: '/api/state', headers: { host } }), host).toMatchObject({ status: 200 });
    }
  });

  it('answers a body over the limit with a 413 the client can read, and a broken path with 400', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024, 0x20);
    const r = await raw({ method: 'POST', path: '/api/keys', headers: { host: '127.0.0.1', 'content-type': 'application/json', 'content-length': String(big.length) }, body: big });
    expect(r).toMatchObject({ status: 413 });
    expect(await raw({ method: 'GET', path: '//%zz', headers: { host: '127.0.0.1' } })).toMatchObject({ status: 400 });
    expect(pressed).toEqual([]);
  });
});
