/**
 * The development display: every present() rewrites a PNG file with the whole screen, so an
 * image viewer (or `watch`) can follow what a terminal without a panel shows. The file is
 * written to a temporary name and renamed, so a reader never sees half a picture.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Canvas } from 'canvas';
import type { Logger } from '../../src/shared/log';
import type { DisplayConfig } from '../config';
import type { Display, Rect } from './contract';
import { DisplayError } from './contract';
import { MemoryDisplay } from './memory';

/** Temporary names unique in the process: two displays on one file (a failed start's and the fatal screen's) never share one. */
let tmpSeq = 0;

export type PngFileConfig = Extract<DisplayConfig, { driver: 'png' }>;

export class PngFileDisplay implements Display {
  readonly width: number;
  readonly height: number;
  readonly description: string;
  private readonly screen: MemoryDisplay;

  constructor(
    private readonly cfg: PngFileConfig,
    private readonly log: Logger,
  ) {
    this.width = cfg.width;
    this.height = cfg.height;
    this.description = `png ${cfg.path} ${cfg.width}x${cfg.height}`;
    this.screen = new MemoryDisplay(cfg.width, cfg.height, this.description);
  }

  async open(): Promise<void> {
    try {
      await fsp.mkdir(path.dirname(path.resolve(this.cfg.path)), { recursive: true });
    } catch (err) {
      throw new DisplayError(`cannot create the folder for ${this.cfg.path}: ${(err as Error).message}`);
    }
    this.log.info('png display open', { path: this.cfg.path, width: this.width, height: this.height });
  }

  async present(frame: Canvas, dirty: Rect[]): Promise<void> {
    if (frame.width !== this.width || frame.height !== this.height) {
      throw new DisplayError(`frame is ${frame.width}x${frame.height} but ${this.description} draws at ${this.width}x${this.height}`);
    }
    await this.screen.present(frame, dirty);
    const tmp = `${this.cfg.path}.${process.pid}.${tmpSeq++}.tmp`;
    try {
      await fsp.writeFile(tmp, this.screen.png());
      await fsp.rename(tmp, this.cfg.path);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw new DisplayError(`cannot write ${this.cfg.path}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {}
}
