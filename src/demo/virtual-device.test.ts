import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCanvas } from 'canvas';
import { FakeKeypad } from '../../drivers/keypad/fake';
import type { KeyName } from '../../drivers/keypad/contract';
import { MemoryDisplay } from '../../drivers/display/memory';
import { silentLogger } from '../shared/log';
import { rawRequest } from '../shared/testing/raw-http';
import { parseKeysBody, startVirtualDevice, type VirtualDeviceServer } from './virtual-device';

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
    server = await startVirtualDevice({ keypad, display, state: () => ({ state: 'idle' }), links: { simulatorDashboard: 'http://127.0.0.1:1/', relay: 'http://127.0.0.1:2' }, log: silentLogger });
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
