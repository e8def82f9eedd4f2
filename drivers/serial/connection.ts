/**
 * A serial port that comes back: opened by path (no SerialPort.list(), which needs udev), read
 * continuously so a hang-up is noticed (a port nobody reads only fails on the next write), and
 * reopened with backoff after an unplug. `onOpen` bytes go out after every (re)open, so a pole
 * display shows the current text again after a power cycle.
 *
 * Writes resolve once the bytes are handed to the kernel and drained; they reject with
 * SerialDeviceError while the port is away (nothing is queued for later: a receipt printed
 * minutes late, or a stale amount on the display, is worse than none).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../src/shared/log';
import { Backoff, realTimers } from '../../src/shared/backoff';
import type { Timers } from '../../src/shared/backoff';
import type { DeviceStatus } from '../keypad/contract';
import type { SerialDeviceEvents } from './contract';
import { SerialDeviceError } from './contract';

/** The part of serialport's SerialPort used here. */
export interface PortLike {
  readonly isOpen: boolean;
  write(data: Buffer, cb: (err: Error | null | undefined) => void): unknown;
  drain(cb: (err: Error | null) => void): void;
  close(cb?: (err: Error | null) => void): void;
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'close', listener: (err?: Error & { disconnected?: boolean }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export type PortOpener = (path: string, baudRate: number) => Promise<PortLike>;

/** serialport loaded on first use. */
export const openSerialPort: PortOpener = (path, baudRate) => {
  const { SerialPort } = require('serialport') as typeof import('serialport');
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((err) => (err ? reject(err) : resolve(port)));
  });
};

export interface SerialConnectionOptions {
  /** Device kind for logs and errors, e.g. "pole display". */
  kind: string;
  path: string;
  baudRate: number;
  /** Bytes to send after each open (init sequence, current content); null for none. */
  onOpen?: () => Buffer | null;
}

export interface SerialConnectionDeps {
  open?: PortOpener;
  timers?: Timers;
  retry?: { minMs: number; maxMs: number };
  writeTimeoutMs?: number;
}

export class SerialConnection extends EventEmitter<SerialDeviceEvents> {
  private readonly openPort: PortOpener;
  private readonly timers: Timers;
  private readonly backoff: Backoff;
  private readonly writeTimeoutMs: number;
  private port: PortLike | null = null;
  private running = false;
  private opening: Promise<void> | null = null;
  private lastStatus: DeviceStatus | null = null;
  private warned = false;

  constructor(
    private readonly opts: SerialConnectionOptions,
    private readonly log: Logger,
    deps: SerialConnectionDeps = {},
  ) {
    super();
    this.openPort = deps.open ?? openSerialPort;
    this.timers = deps.timers ?? realTimers;
    this.backoff = new Backoff(deps.retry ?? { minMs: 1000, maxMs: 30_000 }, this.timers);
    this.writeTimeoutMs = deps.writeTimeoutMs ?? 10_000;
  }

  get connected(): boolean {
    return this.port !== null;
  }

  /** Resolves after the first attempt, whether or not the port opened. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.attempt();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.backoff.cancel();
    await this.opening;
    const p = this.port;
    this.port = null;
    if (p?.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()));
  }

  async write(data: Buffer): Promise<void> {
    const p = this.port;
    if (!p) throw new SerialDeviceError(`${this.opts.kind} not connected (${this.opts.path})`);
    try {
      await this.writeTo(p, data);
    } catch (e) {
      this.lost(p, e as Error);
      throw new SerialDeviceError(`${this.opts.kind} write failed (${this.opts.path}): ${(e as Error).message}`);
    }
  }

  private writeTo(p: PortLike, data: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => reject(new Error(`not written within ${this.writeTimeoutMs} ms`)), this.writeTimeoutMs);
      const done = (err: Error | null | undefined) => {
        this.timers.clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      p.write(data, (err) => (err ? done(err) : p.drain(done)));
    });
  }

  private attempt(): Promise<void> {
    this.opening ??= this.tryOpen().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async tryOpen(): Promise<void> {
    if (!this.running || this.port) return;
    let p: PortLike;
    try {
      p = await this.openPort(this.opts.path, this.opts.baudRate);
    } catch (e) {
      this.unavailable(`cannot open ${this.opts.path}: ${(e as Error).message}`);
      return;
    }
    if (!this.running) {
      p.close();
      return;
    }
    this.port = p;
    // Printers answer with status bytes; reading also makes a hang-up show as a 'close'.
    p.on('data', () => undefined);
    p.on('error', (err) => this.lost(p, err));
    p.on('close', (err) => this.lost(p, err ?? new Error('port closed')));
    const hello = this.opts.onOpen?.();
    if (hello?.length) {
      try {
        await this.writeTo(p, hello);
      } catch (e) {
        this.lost(p, e as Error);
        return;
      }
    }
    if (this.port !== p) return;
    this.backoff.reset();
    this.warned = false;
    this.log.info(`${this.opts.kind} connected`, { path: this.opts.path });
    this.setStatus({ connected: true });
  }

  private lost(p: PortLike, err: Error): void {
    if (this.port !== p || !this.running) return;
    this.port = null;
    if (p.isOpen) p.close();
    this.backoff.reset();
    this.unavailable(`${this.opts.kind} lost (unplugged?): ${err.message}`);
  }

  private unavailable(reason: string): void {
    if (!this.running) return;
    if (!this.warned) this.log.warn(`${this.opts.kind} unavailable, retrying in the background: ${reason}`, { path: this.opts.path });
    else this.log.debug(`${this.opts.kind} still unavailable`, { reason });
    this.warned = true;
    this.setStatus({ connected: false, reason });
    this.backoff.schedule(() => void this.attempt());
  }

  private setStatus(s: DeviceStatus): void {
    if (this.lastStatus && this.lastStatus.connected === s.connected) return;
    this.lastStatus = s;
    this.emit('status', s);
  }
}
