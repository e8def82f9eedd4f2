import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../shared/args';
import { memoryLogger } from '../shared/log';
import { command } from './cli';
import { ConfigError, loadTerminalConfig, parseTerminalConfig } from './config';
import { readSecrets, SecretsError, writeSecrets } from './secrets';
import { parseListen, startStatusServer } from './status-server';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-tcfg-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const MIN = {
  version: 1,
  relayUrl: 'https://relay.example.com',
  merchantName: 'Noodles',
  currency: 'THB',
  drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 480, height: 320 } },
};

function problems(raw: unknown, dirs: string[] = []): { field: string; message: string }[] {
  try {
    parseTerminalConfig(raw, 'test.json', dirs);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('terminal config', () => {
  it('fills the documented defaults', () => {
    const c = parseTerminalConfig(MIN);
    expect(c).toMatchObject({
      dataDir: '/var/lib/qrpos',
      secretsFile: '/etc/qrpos/terminal.secrets.json',
      statusListen: '127.0.0.1:7601',
      sale: { entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 8 },
      link: { heartbeatMs: 15000, requestTimeoutMs: 10000 },
    });
  });

  it('names every wrong field and what is expected', () => {
    const p = problems({ ...MIN, relayUrl: 'ftp://x', currency: 'USD', sale: { entryMode: 'abacus' }, surprise: 1 });
    const fields = p.map((x) => x.field);
    expect(fields).toEqual(expect.arrayContaining(['relayUrl', 'currency', 'sale.entryMode']));
    expect(p.find((x) => x.field === 'relayUrl')?.message).toMatch(/http/);
    expect(p.find((x) => x.field === 'currency')?.message).toMatch(/THB/);
    expect(p.some((x) => /surprise/.test(x.message))).toBe(true);
  });

  it('refuses a plain http:// relay on another host unless allowed, and takes it on loopback', () => {
    const p = problems({ ...MIN, relayUrl: 'http://relay.example.com:8787' });
    expect(p).toEqual([{ field: 'relayUrl', message: expect.stringMatching(/must be https:\/\/.*in clear/) }]);
    expect(problems({ ...MIN, relayUrl: 'http://10.0.0.5' }).map((x) => x.field)).toEqual(['relayUrl']);
    for (const ok of ['http://127.0.0.1:8787', 'http://localhost:8787', 'http://[::1]:8787', 'https://relay.example.com']) {
      expect(parseTerminalConfig({ ...MIN, relayUrl: ok }, 'test.json', []).relayUrl, ok).toBe(ok);
    }
    expect(parseTerminalConfig({ ...MIN, relayUrl: 'http://relay.lan:8787', allowPlainHttp: true }, 'test.json', []).allowPlainHttp).toBe(true);
  });

  it('country: the currency\'s unless stated, and a stated one must agree with the currency', () => {
    expect(parseTerminalConfig(MIN).country).toBe('TH');
    expect(parseTerminalConfig({ ...MIN, currency: 'SGD' }).country).toBe('SG');
    expect(parseTerminalConfig({ ...MIN, currency: 'MYR' }).country).toBe('MY');
    expect(parseTerminalConfig({ ...MIN, currency: 'MYR', country: 'MY' }).country).toBe('MY');
    expect(problems({ ...MIN, currency: 'SGD', country: 'TH' })).toEqual([
      { field: 'country', message: 'TH does not match currency SGD (the currency of SG): set country to SG or leave it out' },
    ]);
    const p = problems({ ...MIN, country: 'JP' });
    expect(p.map((x) => x.field)).toEqual(['country']);
    expect(p[0].message).toMatch(/TH.*SG.*MY/);
  });

  it("timeZone: an IANA name checked with Intl, the country's zone when absent (never the system's)", () => {
    expect(parseTerminalConfig({ ...MIN, timeZone: 'Europe/London' }).timeZone).toBe('Europe/London');
    expect(parseTerminalConfig({ ...MIN, currency: 'THB' }).timeZone).toBe('Asia/Bangkok');
    expect(parseTerminalConfig({ ...MIN, currency: 'SGD' }).timeZone).toBe('Asia/Singapore');
    expect(parseTerminalConfig({ ...MIN, currency: 'MYR', country: 'MY' }).timeZone).toBe('Asia/Kuala_Lumpur');
    for (const bad of ['Bangkok', 'Asia/Nowhere', '', 'GMT+7 Bangkok']) {
      const p = problems({ ...MIN, timeZone: bad });
      expect(p.map((x) => x.field), bad).toEqual(['timeZone']);
      expect(p[0].message).toMatch(/IANA time zone.*Asia\/Bangkok/);
    }
    expect(problems({ ...MIN, timeZone: 7 }).map((x) => x.field)).toEqual(['timeZone']);
  });

  it('businessDayStartHour: a whole hour 0–23, midnight by default', () => {
    expect(parseTerminalConfig(MIN).businessDayStartHour).toBe(0);
    expect(parseTerminalConfig({ ...MIN, businessDayStartHour: 4 }).businessDayStartHour).toBe(4);
    expect(parseTerminalConfig({ ...MIN, businessDayStartHour: 23 }).businessDayStartHour).toBe(23);
    for (const bad of [24, -1, 1.5, '4']) expect(problems({ ...MIN, businessDayStartHour: bad }).map((x) => x.field), String(bad)).toEqual(['businessDayStartHour']);
  });

  it('updates: checkMs and quietMs default to 5 min and 30 s, and out-of-range values name the field', () => {
    expect(parseTerminalConfig(MIN).updates).toEqual({ enabled: true, checkMs: 300_000, quietMs: 30_000 });
    expect(parseTerminalConfig({ ...MIN, updates: { quietMs: 2000 } }).updates.quietMs).toBe(2000);
    expect(problems({ ...MIN, updates: { quietMs: 5 } }).map((p) => p.field)).toEqual(['updates.quietMs']);
  });

  it('takes drivers from a device profile when the config has none', () => {
    fs.writeFileSync(path.join(dir, 'pi-test.json'), JSON.stringify({ drivers: { keypad: { driver: 'tty' }, display: { driver: 'virtual', width: 320, height: 240 } } }));
    const { drivers: _d, ...noDrivers } = MIN;
    const c = parseTerminalConfig({ ...noDrivers, profile: 'pi-test' }, 'x', [dir]);
    expect(c.drivers.keypad.driver).toBe('tty');
    expect(problems({ ...noDrivers, profile: 'missing' }, [dir])[0].field).toBe('profile');
    expect(problems(noDrivers)[0].field).toBe('drivers');
  });

  it('the example profiles of the repo load', () => {
    const examples = path.resolve(__dirname, '..', '..', 'device', 'examples');
    for (const f of ['terminal.json', 'terminal-profile-only.json']) {
      // Both files are part of the repository: a missing one fails here (readFileSync), it is not skipped.
      expect(loadTerminalConfig(path.join(examples, f)).version).toBe(1);
    }
  });

  it('unreadable and non-JSON files are ConfigErrors, not crashes', () => {
    expect(() => loadTerminalConfig(path.join(dir, 'nope.json'))).toThrow(ConfigError);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ nope');
    expect(() => loadTerminalConfig(path.join(dir, 'bad.json'))).toThrow(/not valid JSON/);
  });
});

describe('secrets file', () => {
  it('is written 0600 atomically and read back; a loose mode is tightened', () => {
    const f = path.join(dir, 'sub', 'secrets.json');
    writeSecrets(f, { credential: 'c', terminalId: 't', supervisorPin: '1234' });
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(readSecrets(f).secrets).toEqual({ credential: 'c', terminalId: 't', supervisorPin: '1234' });
    fs.chmodSync(f, 0o644);
    expect(readSecrets(f).warning).toMatch(/set to 600/);
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(f))).toEqual(['secrets.json']);
  });

  it('a missing file means "not paired"; a bad PIN is an error naming the field', () => {
    expect(readSecrets(path.join(dir, 'none.json')).secrets).toEqual({});
    const f = path.join(dir, 's.json');
    fs.writeFileSync(f, JSON.stringify({ supervisorPin: '12' }), { mode: 0o600 });
    expect(() => readSecrets(f)).toThrow(SecretsError);
    expect(() => readSecrets(f)).toThrow(/supervisorPin/);
  });
});

describe('status endpoint', () => {
  it('only listens on loopback or a unix socket', () => {
    expect(parseListen('127.0.0.1:7601')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7601 });
    expect(parseListen('[::1]:7601')).toEqual({ kind: 'tcp', host: '::1', port: 7601 });
    expect(parseListen('/run/qrpos/status.sock')).toEqual({ kind: 'unix', path: '/run/qrpos/status.sock' });
    expect(() => parseListen('0.0.0.0:7601')).toThrow(/loopback/);
    expect(() => parseListen('192.168.1.4:80')).toThrow(/loopback/);
    expect(() => parseListen('nonsense')).toThrow(/host:port/);
  });

  it('serves GET /status on a unix socket', async () => {
    const sock = path.join(dir, 'status.sock');
    const srv = await startStatusServer({ listen: sock, status: () => ({ state: 'idle', unsynced: 2 }) as never, log: memoryLogger() });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: sock, path: '/status' }, (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c.toString()));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      expect(JSON.parse(body)).toEqual({ state: 'idle', unsynced: 2 });
    } finally {
      await srv.stop();
    }
  });

  it('answers 404 for anything but GET /status', async () => {
    const srv = await startStatusServer({ listen: '127.0.0.1:0', status: () => ({ state: 'idle' }) as never, log: memoryLogger() });
    try {
      expect((await fetch(`${srv.address}/status`)).status).toBe(200);
      expect((await fetch(`${srv.address}/other`)).status).toBe(404);
      expect((await fetch(`${srv.address}/status`, { method: 'POST' })).status).toBe(404);
    } finally {
      await srv.stop();
    }
  });
});

describe('qrpos terminal command line', () => {
  it('a missing --config or an unknown flag is a usage error (exit 2)', async () => {
    await expect(command.run([])).rejects.toBeInstanceOf(UsageError);
    await expect(command.run(['--config', 'x', '--bogus'])).rejects.toBeInstanceOf(UsageError);
  });
});
