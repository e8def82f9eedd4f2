import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import type { DeviceStatus, KeyName } from './contract';
import { HidKeypad, pickDevice } from './hid';
import type { HidKeypadConfig, HidKeypadDeps } from './hid';
import { FakeHidBackend } from './hid-fake';
import { parseCapture } from './hid-report';
import type { RecordedReport } from './hid-report';

const DEV = '/dev/hidraw0';

function config(over: Partial<HidKeypadConfig> = {}): HidKeypadConfig {
  return { driver: 'hid', vendorId: 0x05a4, productId: 0x9881, keymap: 'standard-numpad', doubleZeroWindowMs: 0, inhibitConsole: false, ...over };
}

function fixture(name: string): RecordedReport[] {
  return parseCapture(readFileSync(path.join(__dirname, 'fixtures', name), 'utf8'));
}

function setup(cfg: Partial<HidKeypadConfig> = {}, deps: HidKeypadDeps = {}) {
  const hid = new FakeHidBackend();
  const log = memoryLogger();
  const keypad = new HidKeypad(config(cfg), log, { hid, devDir: null, retry: { minMs: 1000, maxMs: 8000 }, ...deps });
  const keys: KeyName[] = [];
  const statuses: DeviceStatus[] = [];
  keypad.on('key', (e) => keys.push(e.key));
  keypad.on('status', (s) => statuses.push(s));
  return { hid, log, keypad, keys, statuses };
}

/** Replays a recording with its timing, on fake timers. */
async function replayTimed(hid: FakeHidBackend, p: string, reports: RecordedReport[]): Promise<void> {
  let t = 0;
  for (const r of reports) {
    await vi.advanceTimersByTimeAsync(r.atMs - t);
    t = r.atMs;
    expect(hid.send(p, r.bytes)).toBe(true);
  }
  await vi.advanceTimersByTimeAsync(1000);
}

describe('HidKeypad with recorded reports', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const cases: { file: string; cfg?: Partial<HidKeypadConfig>; keys: KeyName[]; malformed: number }[] = [
    { file: 'qemu-usb-kbd.hex', cfg: { vendorId: 0x0627, productId: 0x0001 }, keys: ['1', '2', 'enter'], malformed: 0 },
    { file: 'numpad-12.50-enter.hex', keys: ['1', '2', '.', '5', '0', 'enter'], malformed: 0 },
    { file: 'numpad-double-kp0.hex', cfg: { doubleZeroWindowMs: 20 }, keys: ['00', '1', '0', 'backspace', 'cancel'], malformed: 0 },
    { file: 'numpad-double-kp0.hex', cfg: { doubleZeroWindowMs: 0 }, keys: ['0', '0', '1', '0', 'backspace', 'cancel'], malformed: 0 },
    { file: 'report-id-keypad.hex', cfg: { reportId: 1 }, keys: ['7', '00', 'enter'], malformed: 0 },
    { file: 'report-id-keypad.hex', keys: ['7', '00', 'enter'], malformed: 2 },
    { file: 'rollover-and-noise.hex', keys: ['4', '5', '6', 'backspace'], malformed: 3 },
  ];

  for (const c of cases) {
    it(`${c.file} ${JSON.stringify(c.cfg ?? {})} → ${c.keys.join(' ')}`, async () => {
      const vid = c.cfg?.vendorId ?? 0x05a4;
      const pid = c.cfg?.productId ?? 0x9881;
      const { hid, keypad, keys, log } = setup(c.cfg);
      hid.plug({ path: DEV, vendorId: vid, productId: pid });
      await keypad.start();
      await replayTimed(hid, DEV, fixture(c.file));
      expect(keys).toEqual(c.keys);
      expect(keypad.stats.malformed).toBe(c.malformed);
      // The first malformed report is a warning; the rest only debug lines (no log flood).
      const warns = log.records().filter((r) => r.level === 'warn' && r.msg === 'malformed HID report ignored');
      expect(warns.length).toBe(c.malformed > 0 ? 1 : 0);
      await keypad.stop();
    });
  }

  it('a lone 0 within the double-zero window comes out after the window, and before a following key', async () => {
    const { hid, keypad, keys } = setup({ doubleZeroWindowMs: 50 });
    hid.plug({ path: DEV });
    await keypad.start();
    hid.send(DEV, [0, 0, 0x62, 0, 0, 0, 0, 0]);
    hid.send(DEV, [0, 0, 0, 0, 0, 0, 0, 0]);
    await vi.advanceTimersByTimeAsync(49);
    expect(keys).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(keys).toEqual(['0']);
    hid.send(DEV, [0, 0, 0x62, 0, 0, 0, 0, 0]);
    hid.send(DEV, [0, 0, 0x59, 0, 0, 0, 0, 0]);
    expect(keys).toEqual(['0', '0', '1']);
    await keypad.stop();
  });

  it('inline key maps from config replace the named ones', async () => {
    const { hid, keypad, keys } = setup({ keymap: { '0x59': 'f1', '0x5a': 'menu' } });
    hid.plug({ path: DEV });
    await keypad.start();
    for (const u of [0x59, 0, 0x5a, 0, 0x5b, 0]) hid.send(DEV, [0, 0, u, 0, 0, 0, 0, 0]);
    expect(keys).toEqual(['f1', 'menu']);
    await keypad.stop();
  });
});

describe('HidKeypad device lifecycle', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a keypad missing at start: start resolves, one clear warning, retries until it appears', async () => {
    const { hid, keypad, keys, statuses, log } = setup();
    await keypad.start();
    expect(statuses).toEqual([{ connected: false, reason: 'no HID device 05a4:9881 connected' }]);
    await vi.advanceTimersByTimeAsync(1000 + 2000 + 4000);
    const warns = log.records().filter((r) => r.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0].msg).toContain('keypad unavailable, retrying in the background: no HID device 05a4:9881 connected');
    hid.plug({ path: DEV });
    await vi.advanceTimersByTimeAsync(8000);
    expect(statuses.at(-1)).toEqual({ connected: true });
    hid.send(DEV, [0, 0, 0x59, 0, 0, 0, 0, 0]);
    expect(keys).toEqual(['1']);
    await keypad.stop();
  });

  it('unplug: status goes false without an exception; replug reconnects with backoff and keys flow again', async () => {
    const { hid, keypad, keys, statuses } = setup();
    hid.plug({ path: DEV });
    await keypad.start();
    hid.send(DEV, [0, 0, 0x59, 0, 0, 0, 0, 0]); // held while unplugged
    hid.unplug(DEV);
    await vi.advanceTimersByTimeAsync(0);
    expect(statuses).toEqual([{ connected: true }, { connected: false, reason: 'keypad read failed (unplugged?): could not read from HID device' }]);
    expect(keypad.connected).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    hid.plug({ path: DEV });
    await vi.advanceTimersByTimeAsync(8000);
    expect(statuses.at(-1)).toEqual({ connected: true });
    expect(keypad.stats.reconnects).toBe(1);
    // The key held across the unplug is pressed again when reported by the new connection.
    hid.send(DEV, [0, 0, 0x59, 0, 0, 0, 0, 0]);
    expect(keys).toEqual(['1', '1']);
    await keypad.stop();
  });

  it('an open that fails (e.g. permissions) is retried, not thrown', async () => {
    const { hid, keypad, statuses } = setup();
    hid.plug({ path: DEV });
    hid.openError = new Error('cannot open device with path /dev/hidraw0');
    await keypad.start();
    expect(statuses).toEqual([{ connected: false, reason: 'cannot open: cannot open device with path /dev/hidraw0' }]);
    hid.openError = null;
    await vi.advanceTimersByTimeAsync(1000);
    expect(statuses.at(-1)).toEqual({ connected: true });
    await keypad.stop();
  });

  it('stop() cancels retries, closes the device, is idempotent, and no events follow', async () => {
    const { hid, keypad, keys, statuses } = setup();
    await keypad.start();
    await keypad.stop();
    await keypad.stop();
    hid.plug({ path: DEV });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(hid.opens).toBe(0);
    expect(statuses).toHaveLength(1);

    const b = setup({ doubleZeroWindowMs: 40 });
    b.hid.plug({ path: DEV });
    await b.keypad.start();
    b.hid.send(DEV, [0, 0, 0x62, 0, 0, 0, 0, 0]); // a held-back "0" must not come out after stop
    await b.keypad.stop();
    expect(b.hid.isOpen(DEV)).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(b.keys).toEqual([]);
    expect(keys).toEqual([]);
  });
});

describe('pickDevice', () => {
  const kb = { vendorId: 1, productId: 2, interface: 0, usagePage: 1, usage: 6 };
  it('prefers the keyboard collection of the matching device, then the lowest interface', () => {
    const devices = [
      { ...kb, path: '/dev/hidraw3', interface: 1, usagePage: 0x0c, usage: 1 },
      { ...kb, path: '/dev/hidraw2', interface: 0 },
      { ...kb, path: '/dev/hidraw1', vendorId: 9 },
    ];
    expect(pickDevice(devices, 1, 2)?.path).toBe('/dev/hidraw2');
    expect(pickDevice(devices, 9)?.path).toBe('/dev/hidraw1');
    expect(pickDevice(devices, 1, 3)).toBeUndefined();
  });
  it('without vendor/product, takes only keyboards', () => {
    expect(pickDevice([{ ...kb, path: '/dev/hidraw5', usagePage: 0xff00, usage: 1 }])).toBeUndefined();
    expect(pickDevice([{ ...kb, path: '/dev/hidraw5' }])?.path).toBe('/dev/hidraw5');
  });
});

describe('HidKeypad on a fake /dev and sysfs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qrpos-hid-'));
    await fs.mkdir(path.join(dir, 'dev'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function sysfsInput(hidraw: string, input: string, withAttr = true): Promise<string> {
    const d = path.join(dir, 'sys/class/hidraw', hidraw, 'device/input', input);
    await fs.mkdir(d, { recursive: true });
    if (withAttr) await fs.writeFile(path.join(d, 'inhibited'), '0\n');
    return path.join(d, 'inhibited');
  }

  it('inhibits the keypad input device while open (found through a symlinked path) and restores it on stop', async () => {
    const attr = await sysfsInput('hidraw0', 'input7');
    await fs.writeFile(path.join(dir, 'dev/hidraw0'), '');
    await fs.symlink(path.join(dir, 'dev/hidraw0'), path.join(dir, 'dev/qrpos-keypad'));
    const devPath = path.join(dir, 'dev/qrpos-keypad');
    const { hid, keypad, log } = setup({ path: devPath, inhibitConsole: true }, { sysfsRoot: path.join(dir, 'sys') });
    hid.plug({ path: devPath });
    await keypad.start();
    expect((await fs.readFile(attr, 'utf8')).trim()).toBe('1');
    expect(log.records().some((r) => r.msg === 'keypad kept off the console')).toBe(true);
    await keypad.stop();
    expect((await fs.readFile(attr, 'utf8')).trim()).toBe('0');
  });

  it('says clearly when the kernel cannot inhibit, and still reads keys', async () => {
    await sysfsInput('hidraw0', 'input3', false);
    const devPath = path.join(dir, 'dev/hidraw0');
    await fs.writeFile(devPath, '');
    const { hid, keypad, log, keys } = setup({ path: devPath, inhibitConsole: true }, { sysfsRoot: path.join(dir, 'sys') });
    hid.plug({ path: devPath });
    await keypad.start();
    const warn = log.records().find((r) => r.level === 'warn');
    expect(warn?.msg).toMatch(/keys may also reach the Linux console: cannot write .*input3\/inhibited: the kernel has no "inhibited" attribute \(needs Linux 5.11 or later\); run no getty/);
    hid.send(devPath, [0, 0, 0x58, 0, 0, 0, 0, 0]);
    expect(keys).toEqual(['enter']);
    await keypad.stop();
  });

  it('a configured path that does not exist is reported by name', async () => {
    const devPath = path.join(dir, 'dev/hidraw9');
    const { keypad, statuses } = setup({ path: devPath });
    await keypad.start();
    expect(statuses).toEqual([{ connected: false, reason: `${devPath} not found` }]);
    await keypad.stop();
  });

  it('reconnects as soon as a hidraw node appears in the watched /dev, without waiting for the slow timer', async () => {
    const devDir = path.join(dir, 'dev');
    const { hid, keypad, statuses } = setup({}, { devDir, retry: { minMs: 60_000, maxMs: 60_000 }, settleMs: 20 });
    hid.plug({ path: DEV });
    await keypad.start();
    hid.unplug(DEV);
    await vi.waitFor(() => expect(statuses.at(-1)?.connected).toBe(false));
    hid.plug({ path: DEV });
    await fs.writeFile(path.join(devDir, 'hidraw0'), '');
    await vi.waitFor(() => expect(statuses.at(-1)).toEqual({ connected: true }), { timeout: 5000, interval: 10 });
    expect(keypad.stats.reconnects).toBe(1);
    await keypad.stop();
  });
});
