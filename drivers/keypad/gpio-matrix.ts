/**
 * Matrix keypad (4×4, 4×3, …) on GPIO lines. See contract.ts for timing and lifecycle.
 *
 * Rows are outputs idling high, columns inputs with pull-ups (set in config.txt, pinctrl or with
 * resistors: sysfs cannot). Every scanIntervalMs one scan drives each row low and reads the
 * columns; a key counts after debounceScans identical scans (3 × 8 ms ≈ 24 ms), one key at a time.
 * GPIO that cannot be opened, or that fails on several scans in a row, gives {connected:false}
 * and a retry with backoff; nothing throws out of the scan loop.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { KeypadConfig } from '../config';
import type { Logger } from '../../src/shared/log';
import type { GpioBackend, GpioBackendFactory, GpioLine } from '../gpio/backend';
import { onoffBackend } from '../gpio/backend';
import type { DeviceStatus, KeyName, Keypad, KeypadEvents } from './contract';
import { Backoff, realTimers } from '../../src/shared/backoff';
import type { Timers } from '../../src/shared/backoff';
import { resolveMatrixLayout } from './matrix-layouts';
import { MatrixDebouncer, scanMatrix } from './matrix-scan';

export type GpioMatrixConfig = Extract<KeypadConfig, { driver: 'gpio-matrix' }>;

export interface GpioMatrixDeps {
  /** Default: onoff over cfg.sysfsRoot, loaded on first use. */
  backend?: GpioBackendFactory;
  timers?: Timers;
  now?: () => number;
  retry?: { minMs: number; maxMs: number };
  /** Consecutive failed scans before the GPIO counts as lost. */
  maxScanErrors?: number;
}

export class GpioMatrixKeypad extends EventEmitter<KeypadEvents> implements Keypad {
  readonly description: string;
  private readonly layout: (KeyName | null)[][];
  private readonly debouncer: MatrixDebouncer;
  private readonly factory: GpioBackendFactory;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly maxScanErrors: number;

  private running = false;
  private gpio: { backend: GpioBackend; rows: GpioLine[]; cols: GpioLine[] } | null = null;
  private scanTimer: unknown = null;
  private scanErrors = 0;
  private lastStatus: DeviceStatus | null = null;
  private warned = false;
  private stats_ = { scans: 0, keys: 0, scanErrors: 0 };

  constructor(
    private readonly cfg: GpioMatrixConfig,
    private readonly log: Logger,
    deps: GpioMatrixDeps = {},
  ) {
    super();
    const overlap = cfg.rows.filter((p) => cfg.cols.includes(p));
    if (overlap.length) throw new Error(`gpio-matrix keypad: GPIO ${overlap.join(', ')} configured as both row and column`);
    this.layout = resolveMatrixLayout(cfg.layout, cfg.rows.length, cfg.cols.length);
    this.debouncer = new MatrixDebouncer(cfg.debounceScans);
    this.factory = deps.backend ?? (() => onoffBackend(cfg.sysfsRoot, cfg.chipLabel));
    this.timers = deps.timers ?? realTimers;
    this.now = deps.now ?? (() => performance.now());
    this.backoff = new Backoff(deps.retry ?? { minMs: 5000, maxMs: 60_000 }, this.timers);
    this.maxScanErrors = deps.maxScanErrors ?? 3;
    this.description = `gpio-matrix ${cfg.rows.length}x${cfg.cols.length} rows ${cfg.rows.join(',')} cols ${cfg.cols.join(',')}`;
  }

  get stats(): Readonly<{ scans: number; keys: number; scanErrors: number }> {
    return { ...this.stats_ };
  }

  start(): Promise<void> {
    if (this.running) return Promise.resolve();
    this.running = true;
    this.open();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    if (!this.running) return Promise.resolve();
    this.running = false;
    this.backoff.cancel();
    this.release();
    return Promise.resolve();
  }

  private open(): void {
    if (!this.running || this.gpio) return;
    let backend: GpioBackend | null = null;
    const rows: GpioLine[] = [];
    const cols: GpioLine[] = [];
    try {
      backend = this.factory();
      for (const p of this.cfg.rows) rows.push(backend.output(p, 1));
      for (const p of this.cfg.cols) cols.push(backend.input(p));
    } catch (e) {
      for (const l of [...rows, ...cols]) l.release();
      backend?.close();
      this.unavailable(`cannot open GPIO: ${(e as Error).message}`);
      return;
    }
    this.gpio = { backend, rows, cols };
    this.scanErrors = 0;
    this.debouncer.reset();
    this.backoff.reset();
    this.warned = false;
    this.log.info('matrix keypad ready', { keypad: this.description, gpio: backend.description });
    this.setStatus({ connected: true });
    this.scheduleScan();
  }

  private unavailable(reason: string): void {
    if (!this.running) return;
    if (!this.warned) this.log.warn(`keypad unavailable, retrying in the background: ${reason}`, { keypad: this.description });
    else this.log.debug('keypad still unavailable', { reason });
    this.warned = true;
    this.setStatus({ connected: false, reason });
    this.backoff.schedule(() => this.open());
  }

  private release(): void {
    if (this.scanTimer !== null) this.timers.clearTimeout(this.scanTimer);
    this.scanTimer = null;
    const g = this.gpio;
    this.gpio = null;
    if (!g) return;
    for (const l of [...g.rows, ...g.cols]) l.release();
    g.backend.close();
  }

  private scheduleScan(): void {
    this.scanTimer = this.timers.setTimeout(() => {
      this.scanTimer = null;
      this.scan();
      if (this.running && this.gpio) this.scheduleScan();
    }, this.cfg.scanIntervalMs);
  }

  private scan(): void {
    const g = this.gpio;
    if (!g || !this.running) return;
    let sample;
    try {
      sample = scanMatrix(g.rows, g.cols);
    } catch (e) {
      this.stats_.scanErrors++;
      if (++this.scanErrors >= this.maxScanErrors) {
        this.release();
        this.unavailable(`GPIO read failed ${this.scanErrors} times: ${(e as Error).message}`);
      }
      return;
    }
    this.scanErrors = 0;
    this.stats_.scans++;
    const index = this.debouncer.feed(sample);
    if (index === null) return;
    const key = this.layout[Math.floor(index / this.cfg.cols.length)][index % this.cfg.cols.length];
    if (!key) return;
    this.stats_.keys++;
    this.emit('key', { key, at: this.now() });
  }

  private setStatus(s: DeviceStatus): void {
    if (this.lastStatus && this.lastStatus.connected === s.connected) return;
    this.lastStatus = s;
    this.emit('status', s);
  }
}
