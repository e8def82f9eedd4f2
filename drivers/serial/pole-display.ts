/**
 * Customer pole display (20×2 VFD) on a serial port, Epson or CD5220 command set. The last text
 * shown is sent again after every reconnect, so a display that was unplugged or power-cycled
 * catches up with the sale at once.
 */
import { EventEmitter } from 'node:events';
import type { PoleDisplayConfig } from '../config';
import type { Logger } from '../../src/shared/log';
import type { PoleDisplay, SerialDeviceEvents } from './contract';
import { SerialConnection } from './connection';
import type { SerialConnectionDeps } from './connection';
import { poleInit, poleShow } from './pole-commands';

export class SerialPoleDisplay extends EventEmitter<SerialDeviceEvents> implements PoleDisplay {
  readonly description: string;
  private readonly conn: SerialConnection;
  private lines: [string, string] | null = null;

  constructor(
    private readonly cfg: PoleDisplayConfig,
    log: Logger,
    deps: SerialConnectionDeps = {},
  ) {
    super();
    this.description = `pole display ${cfg.commandSet} ${cfg.path}`;
    this.conn = new SerialConnection(
      {
        kind: 'pole display',
        path: cfg.path,
        baudRate: cfg.baudRate,
        onOpen: () => Buffer.concat([poleInit(cfg.commandSet), this.lines ? poleShow(cfg.commandSet, ...this.lines) : Buffer.alloc(0)]),
      },
      log,
      deps,
    );
    this.conn.on('status', (s) => this.emit('status', s));
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  start(): Promise<void> {
    return this.conn.start();
  }

  /** Remembers the text even when the display is away, then rejects; it shows on reconnect. */
  show(line1: string, line2: string): Promise<void> {
    this.lines = [line1, line2];
    return this.conn.write(poleShow(this.cfg.commandSet, line1, line2));
  }

  stop(): Promise<void> {
    return this.conn.stop();
  }
}
