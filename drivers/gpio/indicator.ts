/**
 * Status LED and buzzer on GPIO. Fire-and-forget like the contract says: nothing here throws
 * or waits; GPIO that cannot be opened or written is logged once and then stays quiet.
 *
 * Buzzer patterns (ms on / off / on …):
 *   key      40                        a tick per key
 *   success  90 70 90                  two short chirps
 *   failure  250 120 250 120 250       three longer beeps
 * A key tick does not cut a success/failure pattern short; a new success/failure replaces one
 * still playing. LED: on, off, or blinking 500 ms on / 500 ms off.
 */
import type { IndicatorConfig } from '../config';
import type { Logger } from '../../src/shared/log';
import { realTimers } from '../../src/shared/backoff';
import type { Timers } from '../../src/shared/backoff';
import type { GpioBackend, GpioBackendFactory, GpioLine, Level } from './backend';
import { onoffBackend } from './backend';
import type { Indicator } from './contract';

export const BUZZER_PATTERNS = {
  key: [40],
  success: [90, 70, 90],
  failure: [250, 120, 250, 120, 250],
} as const;

export const BLINK_MS = 500;

export interface GpioIndicatorDeps {
  backend?: GpioBackendFactory;
  timers?: Timers;
}

export class GpioIndicator implements Indicator {
  readonly description: string;
  private readonly factory: GpioBackendFactory;
  private readonly timers: Timers;
  private readonly on: Level;
  private readonly off: Level;
  private backend: GpioBackend | null = null;
  private led: GpioLine | null = null;
  private buzzer: GpioLine | null = null;
  private running = false;
  private failedOnce = false;
  private pattern: { kind: keyof typeof BUZZER_PATTERNS; timer: unknown } | null = null;
  private blinkTimer: unknown = null;

  constructor(
    private readonly cfg: IndicatorConfig,
    private readonly log: Logger,
    deps: GpioIndicatorDeps = {},
  ) {
    this.factory = deps.backend ?? (() => onoffBackend(cfg.sysfsRoot, cfg.chipLabel));
    this.timers = deps.timers ?? realTimers;
    this.on = cfg.activeLow ? 0 : 1;
    this.off = cfg.activeLow ? 1 : 0;
    const parts = [cfg.ledPin !== undefined ? `led GPIO${cfg.ledPin}` : '', cfg.buzzerPin !== undefined ? `buzzer GPIO${cfg.buzzerPin}` : ''].filter(Boolean);
    this.description = parts.length ? `gpio ${parts.join(', ')}` : 'none';
  }

  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    try {
      this.backend = this.factory();
      if (this.cfg.ledPin !== undefined) this.led = this.backend.output(this.cfg.ledPin, this.off);
      if (this.cfg.buzzerPin !== undefined) this.buzzer = this.backend.output(this.cfg.buzzerPin, this.off);
      this.log.info('indicator ready', { indicator: this.description, gpio: this.backend.description });
    } catch (e) {
      this.fault('cannot open GPIO', e);
      this.releaseLines();
    }
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.stopPattern();
    this.stopBlink();
    this.write(this.buzzer, this.off);
    this.write(this.led, this.off);
    this.running = false;
    this.releaseLines();
    return Promise.resolve();
  }

  private releaseLines(): void {
    this.led?.release();
    this.buzzer?.release();
    this.led = this.buzzer = null;
    this.backend?.close();
    this.backend = null;
  }

  keyBeep(): void {
    if (this.pattern && this.pattern.kind !== 'key') return;
    this.play('key');
  }

  success(): void {
    this.play('success');
  }

  failure(): void {
    this.play('failure');
  }

  setLed(mode: 'on' | 'off' | 'blink'): void {
    if (!this.running || !this.led) return;
    this.stopBlink();
    if (mode !== 'blink') {
      this.write(this.led, mode === 'on' ? this.on : this.off);
      return;
    }
    let lit = true;
    const tick = () => {
      this.write(this.led, lit ? this.on : this.off);
      lit = !lit;
      this.blinkTimer = this.timers.setTimeout(tick, BLINK_MS);
    };
    tick();
  }

  private play(kind: keyof typeof BUZZER_PATTERNS): void {
    if (!this.running || !this.buzzer) return;
    this.stopPattern();
    const steps = BUZZER_PATTERNS[kind];
    const step = (i: number) => {
      if (i >= steps.length) {
        this.write(this.buzzer, this.off);
        this.pattern = null;
        return;
      }
      this.write(this.buzzer, i % 2 === 0 ? this.on : this.off);
      this.pattern = { kind, timer: this.timers.setTimeout(() => step(i + 1), steps[i]) };
    };
    step(0);
  }

  private stopPattern(): void {
    if (this.pattern) this.timers.clearTimeout(this.pattern.timer);
    this.pattern = null;
    this.write(this.buzzer, this.off);
  }

  private stopBlink(): void {
    if (this.blinkTimer !== null) this.timers.clearTimeout(this.blinkTimer);
    this.blinkTimer = null;
  }

  private write(line: GpioLine | null, v: Level): void {
    if (!line) return;
    try {
      line.write(v);
    } catch (e) {
      this.fault(`GPIO${line.offset} write failed`, e);
    }
  }

  private fault(what: string, e: unknown): void {
    if (this.failedOnce) return;
    this.failedOnce = true;
    this.log.warn(`indicator output disabled: ${what}: ${(e as Error).message ?? String(e)}`, { indicator: this.description });
  }
}
