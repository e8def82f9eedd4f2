/**
 * The Keypad contract (contract.ts), one suite run against every implementation: the fake, the
 * HID driver fed through a fake hidraw, the GPIO matrix driver on a fake GPIO matrix, and the
 * terminal keypad on a stream. Real USB / GPIO runs happen in the QEMU device test.
 */
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import { FakeGpioBackend, FakeKeyMatrix } from '../gpio/fake';
import type { DeviceStatus, KeyEvent, KeyName, Keypad } from './contract';
import { FakeKeypad } from './fake';
import { GpioMatrixKeypad } from './gpio-matrix';
import { HidKeypad } from './hid';
import { FakeHidBackend } from './hid-fake';
import { KEYMAPS } from './keymaps';
import { MATRIX_LAYOUTS } from './matrix-layouts';
import { TtyKeypad } from './tty';

interface Harness {
  keypad: Keypad;
  /** Physically press and release one key. */
  press(key: KeyName): Promise<void>;
  /** Let pending device work and timers run. */
  settle(): Promise<void>;
  unplug?(): Promise<void>;
  replug?(): Promise<void>;
}

interface Impl {
  /** Keys this keypad can produce (a 4x4 matrix has no "00"). */
  keys: KeyName[];
  make(opts: { missing: boolean }): Harness;
  canBeMissing: boolean;
}

const settleTimers = async (ms = 200) => {
  await vi.advanceTimersByTimeAsync(ms);
  await new Promise((r) => setImmediate(r));
  await vi.advanceTimersByTimeAsync(0);
};

const HID_PATH = '/dev/hidraw0';
const usageOf = (key: KeyName) => [...KEYMAPS['standard-numpad'].entries()].find(([, k]) => k === key)![0];

const impls: Record<string, Impl> = {
  FakeKeypad: {
    keys: ['1', '2', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu'],
    canBeMissing: false,
    make() {
      const keypad = new FakeKeypad();
      // FakeKeypad.setConnected() emits even after stop(); a stopped device has no one to tell,
      // so the simulated unplug only happens while the keypad is started.
      let started = false;
      const start = keypad.start.bind(keypad);
      const stop = keypad.stop.bind(keypad);
      keypad.start = () => ((started = true), start());
      keypad.stop = () => ((started = false), stop());
      return {
        keypad,
        press: async (k) => keypad.press(k),
        settle: () => settleTimers(),
        unplug: async () => {
          if (started) keypad.setConnected({ connected: false, reason: 'unplugged' });
        },
        replug: async () => {
          if (started) keypad.setConnected({ connected: true });
        },
      };
    },
  },
  HidKeypad: {
    keys: ['1', '2', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu'],
    canBeMissing: true,
    make({ missing }) {
      const hid = new FakeHidBackend();
      if (!missing) hid.plug({ path: HID_PATH });
      const keypad = new HidKeypad(
        { driver: 'hid', vendorId: 0x05a4, productId: 0x9881, keymap: 'standard-numpad', doubleZeroWindowMs: 0, inhibitConsole: false },
        memoryLogger(),
        { hid, devDir: null, retry: { minMs: 100, maxMs: 400 } },
      );
      return {
        keypad,
        press: async (k) => {
          hid.send(HID_PATH, [0, 0, usageOf(k), 0, 0, 0, 0, 0]);
          hid.send(HID_PATH, [0, 0, 0, 0, 0, 0, 0, 0]);
        },
        settle: () => settleTimers(500),
        unplug: async () => hid.unplug(HID_PATH),
        replug: async () => hid.plug({ path: HID_PATH }),
      };
    },
  },
  GpioMatrixKeypad: {
    keys: ['1', '2', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu'],
    canBeMissing: true,
    make({ missing }) {
      const rows = [5, 6, 13, 19];
      const cols = [12, 16, 20, 21];
      const gpio = new FakeGpioBackend();
      const matrix = new FakeKeyMatrix(gpio, rows, cols);
      let gpioMissing = missing;
      const keypad = new GpioMatrixKeypad(
        { driver: 'gpio-matrix', rows, cols, layout: '4x4', scanIntervalMs: 8, debounceScans: 3, sysfsRoot: '/nonexistent' },
        memoryLogger(),
        {
          backend: () => {
            if (gpioMissing) throw new Error('no GPIO');
            return gpio;
          },
          retry: { minMs: 100, maxMs: 400 },
        },
      );
      const where = (k: KeyName): [number, number] => {
        const r = MATRIX_LAYOUTS['4x4'].findIndex((row) => row.includes(k));
        return [r, MATRIX_LAYOUTS['4x4'][r].indexOf(k)];
      };
      return {
        keypad,
        press: async (k) => {
          const [r, c] = where(k);
          matrix.press(r, c);
          await vi.advanceTimersByTimeAsync(50);
          matrix.release(r, c);
          await vi.advanceTimersByTimeAsync(50);
        },
        settle: () => settleTimers(500),
        unplug: async () => {
          gpioMissing = true;
          gpio.fail = new Error('EIO');
        },
        replug: async () => {
          gpioMissing = false;
          gpio.fail = null;
        },
      };
    },
  },
  TtyKeypad: {
    keys: ['1', '2', '00', '.', 'enter', 'cancel', 'backspace', 'clear', 'menu'],
    canBeMissing: false,
    make() {
      const input = new PassThrough();
      const keypad = new TtyKeypad(input as unknown as NodeJS.ReadStream, memoryLogger(), { onInterrupt: () => undefined });
      const chars: Partial<Record<KeyName, string>> = { '00': 'z', enter: '\r', cancel: 'x', backspace: '\x7f', clear: 'c', menu: 'm' };
      return {
        keypad,
        press: async (k) => {
          input.write(chars[k] ?? k);
        },
        settle: () => settleTimers(),
        // A terminal does not come back once its input ends.
        unplug: async () => {
          input.end();
        },
      };
    },
  },
};

describe.each(Object.entries(impls))('Keypad contract: %s', (_name, impl) => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function record(h: Harness) {
    const keys: KeyEvent[] = [];
    const statuses: DeviceStatus[] = [];
    h.keypad.on('key', (e) => keys.push(e));
    h.keypad.on('status', (s) => statuses.push(s));
    return { keys, statuses };
  }

  it('one key event per press, in press order, on key-down, with a read time', async () => {
    const h = impl.make({ missing: false });
    const { keys, statuses } = record(h);
    await h.keypad.start();
    expect(statuses).toEqual([{ connected: true }]);
    for (const k of impl.keys) await h.press(k);
    await h.settle();
    expect(keys.map((e) => e.key)).toEqual(impl.keys);
    for (let i = 1; i < keys.length; i++) expect(keys[i].at).toBeGreaterThanOrEqual(keys[i - 1].at);
    expect(h.keypad.description.length).toBeGreaterThan(0);
    await h.keypad.stop();
  });

  it('unplug: status {connected:false, reason}, nothing thrown; replug: connected again and keys flow', async () => {
    const h = impl.make({ missing: false });
    const { keys, statuses } = record(h);
    await h.keypad.start();
    await h.unplug!();
    await h.settle();
    expect(statuses.at(-1)?.connected).toBe(false);
    expect(typeof statuses.at(-1)?.reason).toBe('string');
    if (h.replug) {
      await h.replug();
      await h.settle();
      expect(statuses.at(-1)).toEqual({ connected: true });
      await h.press('2');
      await h.settle();
      expect(keys.map((e) => e.key)).toEqual(['2']);
    }
    await h.keypad.stop();
  });

  it('stop() is idempotent and no events come after it resolves', async () => {
    const h = impl.make({ missing: false });
    const { keys, statuses } = record(h);
    await h.keypad.start();
    await h.keypad.stop();
    await h.keypad.stop();
    const n = statuses.length;
    await h.press('1');
    await h.unplug?.();
    await h.replug?.();
    await h.settle();
    expect(keys).toEqual([]);
    expect(statuses).toHaveLength(n);
  });

  it.runIf(impl.canBeMissing)('a device missing at start: start resolves, {connected:false}, connects when it appears', async () => {
    const h = impl.make({ missing: true });
    const { keys, statuses } = record(h);
    await h.keypad.start();
    expect(statuses).toHaveLength(1);
    expect(statuses[0].connected).toBe(false);
    await h.settle();
    await h.replug!();
    await h.settle();
    expect(statuses.at(-1)).toEqual({ connected: true });
    await h.press('1');
    await h.settle();
    expect(keys.map((e) => e.key)).toEqual(['1']);
    await h.keypad.stop();
  });
});
