/**
 * USB HID keypad through hidraw (node-hid). See contract.ts for timing and unplug behaviour.
 *
 * - Device: `path` from config, else the first hidraw device matching vendorId/productId
 *   (keyboard collection preferred), else the first keyboard of all.
 * - Reports → keys: hid-report.ts diffs consecutive reports; keymaps.ts names the usages.
 * - Console: the keypad's input device is inhibited through sysfs (inhibit.ts) while we hold it.
 * - Unplug: hidraw has no hot-plug event; the read fails, we report {connected:false} and retry:
 *   immediately when a hidraw* node appears in /dev (fs.watch), and on a slow backoff timer in
 *   case the watch misses it (udev may chmod the node after it appears).
 */
import { EventEmitter } from 'node:events';
import { constants as fsConstants, promises as fs, watch as fsWatch } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { KeypadConfig } from '../config';
import type { Logger } from '../../src/shared/log';
import type { DeviceStatus, KeyName, Keypad, KeypadEvents } from './contract';
import { HidReportParser, bytesToHex } from './hid-report';
import type { KeyMap } from './keymaps';
import { resolveKeymap } from './keymaps';
import { Backoff, realTimers } from '../../src/shared/backoff';
import type { Timers } from '../../src/shared/backoff';
import { inhibitConsoleInput, releaseConsoleInput } from './inhibit';

export type HidKeypadConfig = Extract<KeypadConfig, { driver: 'hid' }>;

/** What node-hid's `devicesAsync()` reports; only the fields we use. */
export interface HidDeviceInfo {
  path?: string;
  vendorId: number;
  productId: number;
  interface: number;
  usagePage?: number;
  usage?: number;
  product?: string;
}

/** An open device: node-hid's HIDAsync satisfies this. `data` carries one input report. */
export interface HidHandle {
  on(event: 'data', listener: (report: Buffer) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  close(): Promise<void>;
}

export interface HidBackend {
  devices(): Promise<HidDeviceInfo[]>;
  open(path: string): Promise<HidHandle>;
}

export interface HidKeypadDeps {
  /** Device access; default node-hid (hidraw backend), loaded on first use. */
  hid?: HidBackend;
  /** Root of sysfs, for console inhibition; default /sys. */
  sysfsRoot?: string;
  /** Directory watched for hidraw* nodes while disconnected; default /dev. null disables the watch. */
  devDir?: string | null;
  timers?: Timers;
  /** Clock for KeyEvent.at; default performance.now. */
  now?: () => number;
  /** Retry delays while the device is missing. */
  retry?: { minMs: number; maxMs: number };
  /** Delay between a new hidraw node appearing and the open (udev sets permissions after). */
  settleMs?: number;
}

export interface HidKeypadStats {
  reports: number;
  malformed: number;
  /** Rollover and reports for other collections. */
  ignored: number;
  keys: number;
  reconnects: number;
}

/** node-hid loaded lazily so machines without the native module still run other keypads. */
export function nodeHidBackend(): HidBackend {
  const load = () => require('node-hid') as typeof import('node-hid');
  return {
    devices: async () => load().devicesAsync(),
    open: async (path) => load().HIDAsync.open(path),
  };
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0');

const KEYBOARD_USAGE_PAGE = 0x01;
const KEYBOARD_USAGE = 0x06;

/** The device to open among those enumerated; exported for tests. */
export function pickDevice(devices: HidDeviceInfo[], vendorId?: number, productId?: number): HidDeviceInfo | undefined {
  const isKeyboard = (d: HidDeviceInfo) => d.usagePage === KEYBOARD_USAGE_PAGE && d.usage === KEYBOARD_USAGE;
  const matching = devices.filter(
    (d) => d.path && (vendorId === undefined || d.vendorId === vendorId) && (productId === undefined || d.productId === productId),
  );
  const candidates = vendorId === undefined && productId === undefined ? matching.filter(isKeyboard) : matching;
  return [...candidates].sort((a, b) => Number(isKeyboard(b)) - Number(isKeyboard(a)) || a.interface - b.interface || (a.path ?? '').localeCompare(b.path ?? ''))[0];
}

export class HidKeypad extends EventEmitter<KeypadEvents> implements Keypad {
  readonly description: string;
  private readonly keymap: KeyMap;
  private readonly parser: HidReportParser;
  private readonly hid: HidBackend;
  private readonly sysfsRoot: string;
  private readonly devDir: string | null;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly settleMs: number;
  private readonly backoff: Backoff;
  private readonly stats_: HidKeypadStats = { reports: 0, malformed: 0, ignored: 0, keys: 0, reconnects: 0 };

  private running = false;
  private handle: HidHandle | null = null;
  private openPath: string | null = null;
  private attempting: Promise<void> | null = null;
  private retryAfterAttempt = false;
  private watcher: { close(): void } | null = null;
  private lastStatus: DeviceStatus | null = null;
  private inhibited: string[] = [];
  private missingLogged = false;
  /** A "0" held back for doubleZeroWindowMs, in case a second one makes it "00". */
  private pendingZero: { at: number; timer: unknown } | null = null;

  constructor(
    private readonly cfg: HidKeypadConfig,
    private readonly log: Logger,
    deps: HidKeypadDeps = {},
  ) {
    super();
    this.keymap = resolveKeymap(cfg.keymap);
    this.parser = new HidReportParser({ reportId: cfg.reportId });
    this.hid = deps.hid ?? nodeHidBackend();
    this.sysfsRoot = deps.sysfsRoot ?? '/sys';
    this.devDir = deps.devDir === undefined ? '/dev' : deps.devDir;
    this.timers = deps.timers ?? realTimers;
    this.now = deps.now ?? (() => performance.now());
    this.settleMs = deps.settleMs ?? 300;
    this.backoff = new Backoff(deps.retry ?? { minMs: 1000, maxMs: 15_000 }, this.timers);
    this.description = cfg.path
      ? `hid ${cfg.path}`
      : cfg.vendorId !== undefined || cfg.productId !== undefined
        ? `hid ${cfg.vendorId !== undefined ? hex4(cfg.vendorId) : '*'}:${cfg.productId !== undefined ? hex4(cfg.productId) : '*'}`
        : 'hid (first keyboard)';
  }

  get stats(): Readonly<HidKeypadStats> {
    return { ...this.stats_ };
  }

  get connected(): boolean {
    return this.handle !== null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.attempt();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.backoff.cancel();
    this.stopWatching();
    this.dropPendingZero();
    await this.attempting?.catch(() => undefined);
    const h = this.handle;
    this.handle = null;
    this.openPath = null;
    await releaseConsoleInput(this.inhibited);
    this.inhibited = [];
    if (h) await h.close().catch(() => undefined);
  }

  /** One open attempt; never rejects. Concurrent callers share it. */
  private attempt(): Promise<void> {
    if (this.attempting) {
      this.retryAfterAttempt = true;
      return this.attempting;
    }
    this.attempting = this.tryOpen()
      .catch((e: unknown) => this.failed(`cannot open: ${(e as Error).message ?? String(e)}`))
      .finally(() => {
        this.attempting = null;
        if (this.retryAfterAttempt && this.running && !this.handle) {
          this.retryAfterAttempt = false;
          this.backoff.schedule(() => void this.attempt(), this.settleMs);
        }
        this.retryAfterAttempt = false;
      });
    return this.attempting;
  }

  private async tryOpen(): Promise<void> {
    if (!this.running || this.handle) return;
    const path = await this.findPath();
    if (!path) {
      this.failed(
        this.cfg.path
          ? `${this.cfg.path} not found`
          : this.cfg.vendorId !== undefined || this.cfg.productId !== undefined
            ? `no HID device ${this.description.slice(4)} connected`
            : 'no USB keyboard or keypad connected',
      );
      return;
    }
    let h: HidHandle;
    try {
      h = await this.hid.open(path);
    } catch (e) {
      throw new Error(await this.explainOpenFailure(path, e), { cause: e });
    }
    if (!this.running) {
      await h.close().catch(() => undefined);
      return;
    }
    this.handle = h;
    this.openPath = path;
    this.parser.reset();
    h.on('data', (report) => this.onReport(h, report));
    h.on('error', (err) => void this.onLost(h, err));
    this.backoff.cancel();
    this.backoff.reset();
    this.stopWatching();
    if (this.lastStatus && !this.lastStatus.connected) this.stats_.reconnects++;
    this.missingLogged = false;
    this.log.info('keypad connected', { path, keypad: this.description });
    this.setStatus({ connected: true });
    if (this.cfg.inhibitConsole) await this.inhibit(path);
  }

  private async findPath(): Promise<string | null> {
    if (this.cfg.path) {
      // hidapi would report a missing node as a vague open failure; say plainly what is missing.
      try {
        await fs.access(this.cfg.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      }
      return this.cfg.path;
    }
    const devices = await this.hid.devices();
    const found = pickDevice(devices, this.cfg.vendorId, this.cfg.productId);
    if (found && this.cfg.vendorId === undefined && this.cfg.productId === undefined) {
      this.log.info('no vendorId/productId configured: using the first keyboard', {
        path: found.path,
        device: `${hex4(found.vendorId)}:${hex4(found.productId)}`,
        product: found.product,
      });
    }
    return found?.path ?? null;
  }

  /** hidapi's message does not say why; permissions are the usual reason on a fresh install. */
  private async explainOpenFailure(path: string, e: unknown): Promise<string> {
    const msg = e instanceof Error ? e.message : String(e);
    try {
      await fs.access(path, fsConstants.R_OK | fsConstants.W_OK);
    } catch (ae) {
      const code = (ae as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        return `${msg} (permission denied: hidraw nodes are root-only unless a udev rule gives the service's group read/write; see drivers/README.md)`;
      }
    }
    return msg;
  }

  private failed(reason: string): void {
    if (!this.running) return;
    if (!this.missingLogged) {
      this.log.warn(`keypad unavailable, retrying in the background: ${reason}`, { keypad: this.description });
      this.missingLogged = true;
    } else {
      this.log.debug('keypad still unavailable', { reason });
    }
    this.setStatus({ connected: false, reason });
    this.startWatching();
    this.backoff.schedule(() => void this.attempt());
  }

  private async onLost(h: HidHandle, err: unknown): Promise<void> {
    if (h !== this.handle || !this.running) return;
    this.handle = null;
    this.openPath = null;
    this.parser.reset();
    this.dropPendingZero();
    this.inhibited = [];
    await h.close().catch(() => undefined);
    this.backoff.reset();
    this.failed(`keypad read failed (unplugged?): ${err instanceof Error ? err.message : String(err)}`);
  }

  private setStatus(s: DeviceStatus): void {
    if (this.lastStatus && this.lastStatus.connected === s.connected) return;
    this.lastStatus = s;
    this.emit('status', s);
  }

  private onReport(h: HidHandle, report: Buffer): void {
    if (h !== this.handle || !this.running) return;
    const at = this.now();
    this.stats_.reports++;
    const r = this.parser.parse(report);
    switch (r.kind) {
      case 'malformed':
        this.stats_.malformed++;
        this.log[this.stats_.malformed === 1 ? 'warn' : 'debug']('malformed HID report ignored', {
          reason: r.reason,
          report: bytesToHex(report.subarray(0, 16)),
          malformed: this.stats_.malformed,
        });
        return;
      case 'rollover':
      case 'other':
        this.stats_.ignored++;
        return;
      case 'keys':
        for (const usage of r.down) {
          const key = this.keymap.get(usage);
          if (key) this.onKeyDown(key, at);
          else this.log.debug('unmapped key ignored', { usage: `0x${usage.toString(16).padStart(2, '0')}` });
        }
    }
  }

  private onKeyDown(key: KeyName, at: number): void {
    const windowMs = this.cfg.doubleZeroWindowMs;
    if (this.pendingZero) {
      const first = this.pendingZero;
      this.dropPendingZero();
      if (key === '0') {
        this.emitKey('00', first.at);
        return;
      }
      this.emitKey('0', first.at);
    }
    if (key === '0' && windowMs > 0) {
      const timer = this.timers.setTimeout(() => {
        const p = this.pendingZero;
        this.pendingZero = null;
        if (p && this.running) this.emitKey('0', p.at);
      }, windowMs);
      this.pendingZero = { at, timer };
      return;
    }
    this.emitKey(key, at);
  }

  private dropPendingZero(): void {
    if (this.pendingZero) this.timers.clearTimeout(this.pendingZero.timer);
    this.pendingZero = null;
  }

  private emitKey(key: KeyName, at: number): void {
    this.stats_.keys++;
    this.emit('key', { key, at });
  }

  private async inhibit(path: string): Promise<void> {
    const r = await inhibitConsoleInput(this.sysfsRoot, path);
    if (this.openPath !== path) {
      // Unplugged or stopped while we were writing: put back what we changed.
      await releaseConsoleInput(r.inhibited);
      return;
    }
    this.inhibited = r.inhibited;
    if (r.inhibited.length) this.log.info('keypad kept off the console', { inhibited: r.inhibited });
    for (const p of r.problems) {
      this.log.warn(`keypad keys may also reach the Linux console: ${p}; run no getty on the display's VT (see drivers/README.md)`);
    }
  }

  private startWatching(): void {
    if (this.watcher || !this.devDir || !this.running) return;
    try {
      const w = fsWatch(this.devDir, { persistent: false }, (_event, name) => {
        if (name && String(name).startsWith('hidraw') && this.running && !this.handle) {
          // A node appeared (or went): try soon, from the shortest delay again.
          this.backoff.reset();
          this.backoff.schedule(() => void this.attempt(), this.settleMs);
        }
      });
      w.on('error', () => this.stopWatching());
      this.watcher = w;
    } catch (e) {
      this.log.debug('cannot watch for new hidraw devices; relying on the retry timer', { dir: this.devDir, error: (e as Error).message });
    }
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = null;
  }
}
