import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryLogger } from '../../src/shared/log';
import { DriversConfigSchema, type IndicatorConfig } from '../config';
import { NoIndicator, RecordingIndicator } from './contract';
import { createDrivers } from '../index';
import type { Indicator } from './contract';
import { FakeGpioBackend } from './fake';
import { BUZZER_PATTERNS, GpioIndicator } from './indicator';

const LED = 17;
const BUZ = 18;

function cfg(over: Partial<IndicatorConfig> = {}): IndicatorConfig {
  return { ledPin: LED, buzzerPin: BUZ, activeLow: false, sysfsRoot: '/nonexistent', ...over };
}

/** on/off durations of the buzzer from its write history (fake clock), from the first "on". */
function buzzes(gpio: FakeGpioBackend, pin: number, from = 0, on = 1): number[] {
  const h = gpio.history.filter((e) => e.offset === pin && e.at >= from);
  const start = h.findIndex((e) => e.value === on);
  const edges = h.slice(start).filter((e, i, a) => i === 0 || e.value !== a[i - 1].value);
  return edges.slice(1).map((e, i) => e.at - edges[i].at);
}

describe('GpioIndicator', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(over: Partial<IndicatorConfig> = {}) {
    const gpio = new FakeGpioBackend(() => Date.now());
    const log = memoryLogger();
    const ind = new GpioIndicator(cfg(over), log, { backend: () => gpio });
    return { gpio, log, ind };
  }

  it('plays distinct buzzer patterns for key, success and failure', async () => {
    const { gpio, ind } = setup();
    await ind.start();
    for (const kind of ['keyBeep', 'success', 'failure'] as const) {
      const t0 = Date.now();
      ind[kind]();
      await vi.advanceTimersByTimeAsync(2000);
      const expected = BUZZER_PATTERNS[kind === 'keyBeep' ? 'key' : kind];
      expect(buzzes(gpio, BUZ, t0)).toEqual([...expected]);
      expect(gpio.levels.get(BUZ)).toBe(0);
    }
    await ind.stop();
  });

  it('a key tick does not cut a success pattern; active-low inverts levels', async () => {
    const { gpio, ind } = setup({ activeLow: true });
    await ind.start();
    expect(gpio.levels.get(BUZ)).toBe(1);
    ind.success();
    await vi.advanceTimersByTimeAsync(50);
    ind.keyBeep();
    await vi.advanceTimersByTimeAsync(2000);
    expect(buzzes(gpio, BUZ, 0, 0)).toEqual([...BUZZER_PATTERNS.success]);
    expect(gpio.levels.get(BUZ)).toBe(1);
    await ind.stop();
  });

  it('LED on, off and blinking', async () => {
    const { gpio, ind } = setup();
    await ind.start();
    ind.setLed('on');
    expect(gpio.levels.get(LED)).toBe(1);
    ind.setLed('blink');
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(gpio.levels.get(LED)!);
      await vi.advanceTimersByTimeAsync(500);
    }
    expect(seen).toEqual([1, 0, 1, 0]);
    ind.setLed('off');
    await vi.advanceTimersByTimeAsync(2000);
    expect(gpio.levels.get(LED)).toBe(0);
    await ind.stop();
    expect(gpio.held.size).toBe(0);
  });

  it('missing or failing GPIO: one warning, no exceptions, nothing written', async () => {
    const { gpio, ind, log } = setup();
    gpio.fail = new Error('EACCES');
    await ind.start();
    ind.keyBeep();
    ind.success();
    ind.setLed('blink');
    await vi.advanceTimersByTimeAsync(5000);
    await ind.stop();
    expect(log.records().filter((r) => r.level === 'warn').map((r) => r.msg)).toEqual(['indicator output disabled: cannot open GPIO: EACCES']);
  });
});

/** The contract: every Indicator accepts every call in any state without throwing. */
const implementations: [string, () => Indicator][] = [
  ['RecordingIndicator', () => new RecordingIndicator()],
  ['NoIndicator', () => new NoIndicator()],
  ['GpioIndicator (fake GPIO)', () => new GpioIndicator(cfg(), memoryLogger(), { backend: () => new FakeGpioBackend() })],
  [
    'GpioIndicator (GPIO failing)',
    () =>
      new GpioIndicator(cfg(), memoryLogger(), {
        backend: () => {
          throw new Error('no GPIO');
        },
      }),
  ],
];
describe.each(implementations)('Indicator contract: %s', (_name, make) => {
  it('never throws, before start, while running, after stop; start/stop idempotent', async () => {
    vi.useFakeTimers();
    try {
      const ind = make();
      const all = () => {
        ind.keyBeep();
        ind.success();
        ind.failure();
        ind.setLed('on');
        ind.setLed('blink');
        ind.setLed('off');
      };
      expect(all).not.toThrow();
      await ind.start();
      await ind.start();
      expect(all).not.toThrow();
      await vi.advanceTimersByTimeAsync(3000);
      await ind.stop();
      await ind.stop();
      expect(all).not.toThrow();
      expect(vi.getTimerCount()).toBe(0);
      expect(typeof ind.description).toBe('string');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('a terminal with no LED or buzzer fitted', () => {
  it('gets an indicator that keeps nothing, however many keys and sales it sees', () => {
    for (const indicator of [undefined, {}, { activeLow: true }]) {
      const config = DriversConfigSchema.parse({ keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 320, height: 240 }, indicator });
      const drivers = createDrivers(config, memoryLogger());
      const ind = drivers.indicator;
      expect(ind.description).toBe('none');
      const before = JSON.stringify(ind);
      // Thousands of sales: each is a dozen keys and a few LED changes.
      for (let i = 0; i < 100_000; i++) {
        ind.keyBeep();
        ind.setLed(i % 2 ? 'blink' : 'on');
        if (i % 10 === 0) ind.success();
      }
      expect(JSON.stringify(ind)).toBe(before);
    }
  });
});
