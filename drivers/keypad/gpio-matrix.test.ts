import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import { FakeGpioBackend, FakeKeyMatrix } from '../gpio/fake';
import type { DeviceStatus, KeyName } from './contract';
import { GpioMatrixKeypad } from './gpio-matrix';
import type { GpioMatrixConfig } from './gpio-matrix';
import { resolveMatrixLayout } from './matrix-layouts';
import { MatrixDebouncer } from './matrix-scan';

const ROWS = [5, 6, 13, 19];
const COLS = [12, 16, 20, 21];

function cfg(over: Partial<GpioMatrixConfig> = {}): GpioMatrixConfig {
  return { driver: 'gpio-matrix', rows: ROWS, cols: COLS, layout: '4x4', scanIntervalMs: 8, debounceScans: 3, sysfsRoot: '/nonexistent', ...over };
}

function setup(over: Partial<GpioMatrixConfig> = {}) {
  const gpio = new FakeGpioBackend();
  const c = cfg(over);
  const matrix = new FakeKeyMatrix(gpio, c.rows, c.cols);
  let factoryError: Error | null = null;
  const log = memoryLogger();
  const keypad = new GpioMatrixKeypad(c, log, {
    backend: () => {
      if (factoryError) throw factoryError;
      return gpio;
    },
    retry: { minMs: 1000, maxMs: 4000 },
  });
  const keys: KeyName[] = [];
  const statuses: DeviceStatus[] = [];
  keypad.on('key', (e) => keys.push(e.key));
  keypad.on('status', (s) => statuses.push(s));
  return { gpio, matrix, keypad, keys, statuses, log, setFactoryError: (e: Error | null) => (factoryError = e) };
}

describe('MatrixDebouncer', () => {
  it('accepts a key after N identical scans, once per press', () => {
    const d = new MatrixDebouncer(3);
    expect([5, 5, 5, 5, 5].map((s) => d.feed(s))).toEqual([null, null, 5, null, null]);
    expect([null, null, null, 5, 5, 5].map((s) => d.feed(s))).toEqual([null, null, null, null, null, 5]);
  });
  it('ignores bounce shorter than N scans', () => {
    const d = new MatrixDebouncer(3);
    expect([5, null, 5, 5, null, 5, null].map((s) => d.feed(s))).toEqual([null, null, null, null, null, null, null]);
  });
  it('never reports several keys, and rolling back to the held key is not a new press', () => {
    const d = new MatrixDebouncer(2);
    const out = [1, 1, 'several', 'several', 1, 1, 'several', 'several', 2, 2, null, null, 2, 2].map((s) => d.feed(s as number | 'several' | null));
    expect(out.filter((x) => x !== null)).toEqual([1, 2, 2]);
  });
});

describe('resolveMatrixLayout', () => {
  it('checks the layout against the wiring and names every problem', () => {
    expect(resolveMatrixLayout('4x3', 4, 3)[3]).toEqual(['cancel', '0', 'enter']);
    expect(() => resolveMatrixLayout('4x3', 4, 4)).toThrow(/layout row 1 has 3 keys but 4 column pins/);
    expect(() => resolveMatrixLayout([['1', 'A']], 2, 2)).toThrow(/layout has 1 rows but 2 row pins.*row 1 column 2: "A" is not a key name/);
    expect(resolveMatrixLayout([['1', '']], 1, 2)).toEqual([['1', null]]);
  });
});

describe('GpioMatrixKeypad', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('rows idle high, a press is reported once after the debounce, every key of the 4x4 layout', async () => {
    const { gpio, matrix, keypad, keys } = setup();
    await keypad.start();
    expect(ROWS.map((r) => gpio.levels.get(r))).toEqual([1, 1, 1, 1]);
    const expected: KeyName[] = ['1', '2', '3', 'menu', '4', '5', '6', 'backspace', '7', '8', '9', 'clear', 'cancel', '0', 'enter', '.'];
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        matrix.press(r, c);
        await vi.advanceTimersByTimeAsync(8 * 10); // held for 10 scans: still one press
        matrix.release(r, c);
        await vi.advanceTimersByTimeAsync(8 * 4);
      }
    }
    expect(keys).toEqual(expected);
    expect(ROWS.map((r) => gpio.levels.get(r))).toEqual([1, 1, 1, 1]);
    await keypad.stop();
  });

  it('a press shorter than the debounce is not a key; the 4x3 layout works', async () => {
    const { matrix, keypad, keys } = setup({ cols: [12, 16, 20], layout: '4x3' });
    await keypad.start();
    matrix.press(3, 2);
    await vi.advanceTimersByTimeAsync(8 * 2);
    matrix.release(3, 2);
    await vi.advanceTimersByTimeAsync(8 * 5);
    expect(keys).toEqual([]);
    matrix.press(3, 2);
    await vi.advanceTimersByTimeAsync(8 * 3);
    expect(keys).toEqual(['enter']);
    await keypad.stop();
  });

  it('one key at a time: a second key held with the first is ignored until it is alone', async () => {
    const { matrix, keypad, keys } = setup();
    await keypad.start();
    matrix.press(0, 0);
    await vi.advanceTimersByTimeAsync(40);
    matrix.press(1, 1);
    await vi.advanceTimersByTimeAsync(40);
    expect(keys).toEqual(['1']);
    matrix.release(0, 0);
    await vi.advanceTimersByTimeAsync(40);
    expect(keys).toEqual(['1', '5']);
    await keypad.stop();
  });

  it('GPIO missing at start: start resolves, one warning, retries until it opens', async () => {
    const { keypad, statuses, log, setFactoryError, matrix, keys } = setup();
    setFactoryError(new Error('sysfs GPIO is not accessible here'));
    await keypad.start();
    expect(statuses).toEqual([{ connected: false, reason: 'cannot open GPIO: sysfs GPIO is not accessible here' }]);
    await vi.advanceTimersByTimeAsync(1000 + 2000);
    expect(log.records().filter((r) => r.level === 'warn')).toHaveLength(1);
    setFactoryError(null);
    await vi.advanceTimersByTimeAsync(4000);
    expect(statuses.at(-1)).toEqual({ connected: true });
    matrix.press(2, 1);
    await vi.advanceTimersByTimeAsync(40);
    expect(keys).toEqual(['8']);
    await keypad.stop();
  });

  it('GPIO failing during scans: released, reported, reopened; lines are not leaked', async () => {
    const { gpio, keypad, statuses } = setup();
    await keypad.start();
    gpio.fail = new Error('EIO');
    await vi.advanceTimersByTimeAsync(8 * 3);
    expect(statuses.at(-1)).toEqual({ connected: false, reason: 'GPIO read failed 3 times: EIO' });
    expect(gpio.held.size).toBe(0);
    gpio.fail = null;
    await vi.advanceTimersByTimeAsync(1000);
    expect(statuses.at(-1)).toEqual({ connected: true });
    expect(gpio.held.size).toBe(8);
    await keypad.stop();
    expect(gpio.held.size).toBe(0);
  });

  it('rejects a config with a pin used twice', () => {
    expect(() => new GpioMatrixKeypad(cfg({ cols: [12, 16, 20, 5] }), memoryLogger())).toThrow('GPIO 5 configured as both row and column');
  });
});
