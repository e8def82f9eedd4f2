/**
 * Frames to the display: the latest screen model wins, drawn on the next turn of the event loop
 * (a request queued by the same event, such as the create at Enter, goes out first, and several
 * models produced in one turn are drawn once), one frame at a time, dirty rectangles only.
 */
import type { Canvas } from 'canvas';
import type { Display, Rect } from '../../drivers/display/contract';
import type { Logger } from '../shared/log';
import type { ScreenModel } from './screens/model';

/** What the frame queue needs from the screen renderer (src/terminal/screens/renderer.ts). */
export interface ScreenRendererLike {
  readonly canvas: Canvas;
  render(model: ScreenModel): Rect[];
}

export interface Frame {
  model: ScreenModel;
  rects: Rect[];
  /** When the key that led to this frame was pressed (performance.now()), if one did. */
  keyAt: number | null;
}

export class FrameQueue {
  private pendingModel: ScreenModel | null = null;
  private pendingKeyAt: number | null = null;
  private rendering: Promise<void> | null = null;
  /** Cleared synchronously when the loop ends, so a model queued right after is never stranded. */
  private active = false;
  /** Set by drop(): the display belongs to someone else now, nothing more is drawn. */
  private dropped = false;
  private last: ScreenModel;
  private readonly listeners = new Set<(f: Frame) => void>();

  constructor(
    private readonly display: Display,
    private readonly renderer: ScreenRendererLike,
    private readonly log: Logger,
    first: ScreenModel,
  ) {
    this.last = first;
  }

  /** The model on the display now (the last one drawn). */
  get lastModel(): ScreenModel {
    return this.last;
  }

  /** Whether a frame is queued or being drawn. */
  get busy(): boolean {
    return this.active;
  }

  show(model: ScreenModel, keyAt: number | null = null): void {
    if (this.dropped) return;
    this.pendingModel = model;
    if (keyAt !== null) this.pendingKeyAt = keyAt;
    if (!this.active) {
      this.active = true;
      this.rendering = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop());
    }
  }

  /** Called after each frame is on the display. */
  onFrame(listener: (f: Frame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the frame being drawn (if any) is on the display. */
  async settled(): Promise<void> {
    await this.rendering;
  }

  /**
   * Drops what is queued, refuses what comes later (a timer of a failed start may still ask for a
   * frame) and waits for the frame in progress: nothing of this queue lands after.
   */
  async drop(): Promise<void> {
    this.dropped = true;
    this.pendingModel = null;
    await this.rendering;
  }

  private async loop(): Promise<void> {
    this.active = true;
    try {
      while (this.pendingModel) {
        const model = this.pendingModel;
        const keyAt = this.pendingKeyAt;
        this.pendingModel = null;
        this.pendingKeyAt = null;
        let rects: Rect[] = [];
        try {
          rects = this.renderer.render(model);
          if (rects.length) await this.display.present(this.renderer.canvas, rects);
        } catch (err) {
          this.log.error('drawing the screen failed; the next frame retries', { error: (err as Error).message, screen: model.kind });
        }
        this.last = model;
        for (const l of this.listeners) l({ model, rects, keyAt });
      }
    } finally {
      // In the same tick as the last check of pendingModel: a show() right after starts a new loop.
      this.active = false;
    }
  }
}
