/**
 * Draws ScreenModels into a canvas the size of the display and reports which rectangles
 * changed, so the display driver copies (and an SPI panel transfers) only those.
 *
 * A screen is a list of regions (./region.ts). The first render, a change of screen kind or a
 * change of layout repaints everything; otherwise only regions whose key changed are repainted:
 * the amount while typing, the countdown while the QR shows, the clock on idle. Regions paint
 * their whole rectangle and never overlap, so a partial repaint leaves exactly the pixels a
 * full render of the same model would.
 */
import { createCanvas, type Canvas, type CanvasRenderingContext2D } from 'canvas';
import type { Rect } from '../../../drivers/display/contract';
import type { Logger } from '../../shared/log';
import { registerFonts } from './fonts';
import { geometryFor, type Geometry } from './geometry';
import { layoutScreen } from './layout';
import type { ScreenModel } from './model';
import { Painter, type TextRun } from './painter';
import { QrCache, type QrPlacement } from './qr';
import type { LayoutContext, Region, Screen } from './region';
import { TextMeasurer } from './text';

export { registerFonts } from './fonts';

interface Shown {
  signature: string;
  keys: Map<string, string>;
  qr: QrPlacement | undefined;
}

export class ScreenRenderer {
  readonly canvas: Canvas;
  readonly width: number;
  readonly height: number;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly g: Geometry;
  private readonly painter: Painter;
  private readonly qr = new QrCache();
  private readonly memo = new Map<string, unknown>();
  private readonly log: Logger | undefined;
  private shown: Shown | undefined;

  constructor(opts: { width: number; height: number; log?: Logger }) {
    this.g = geometryFor(opts.width, opts.height);
    this.width = opts.width;
    this.height = opts.height;
    this.log = opts.log;
    // Latin is all the boot screen needs; the other faces are registered at the first other screen.
    registerFonts(opts.log, ['latin']);
    this.canvas = createCanvas(opts.width, opts.height);
    this.ctx = this.canvas.getContext('2d');
    // Text as glyphs from cairo's glyph cache, not as outlines turned into a path and filled at
    // every fillText (node-canvas's default): ~0.02 ms instead of ~0.5 ms a line, most of a full
    // frame's time (the QR screen: ~4 ms → ~1 ms; on a small Pi, ×5 that). Same faces, sizes
    // and positions; edges are the font rasteriser's antialiasing instead of the path filler's.
    this.ctx.textDrawingMode = 'glyph';
    this.painter = new Painter(this.ctx, new TextMeasurer());
  }

  /** Where the QR was drawn by the last render (undefined unless a QR is on screen). */
  get qrPlacement(): QrPlacement | undefined {
    return this.shown?.qr;
  }

  /** Text drawn by the last render (only the repainted regions after a partial render). */
  get textRuns(): readonly TextRun[] {
    return this.painter.runs;
  }

  /**
   * Draws the model into this.canvas; returns the rectangles that changed since the last render
   * (the whole screen on the first render or when the screen kind changes; [] when nothing changed).
   */
  render(model: ScreenModel): Rect[] {
    if (model.kind !== 'boot') registerFonts(this.log);
    try {
      return this.draw(layoutScreen(this.layoutContext(), model), model.kind);
    } catch (err) {
      // A model the layout cannot draw (e.g. text too long for any QR version) must not take
      // the daemon down or leave a half-drawn frame: say so on screen and in the log.
      this.log?.error('screen could not be drawn', { kind: model.kind, err: err instanceof Error ? err.message : String(err) });
      this.shown = undefined;
      const fallback: ScreenModel = {
        kind: 'error',
        title: 'Display error',
        lines: [`The ${model.kind} screen could not be drawn.`, err instanceof Error ? err.message.slice(0, 200) : 'unknown error'],
      };
      return this.draw(layoutScreen(this.layoutContext(), fallback), 'fallback');
    }
  }

  private layoutContext(): LayoutContext {
    // A handful of layouts (the QR screen online and offline, per sale) is all it ever needs.
    if (this.memo.size > 16) this.memo.clear();
    return { g: this.g, qr: this.qr, text: this.painter.text, memo: this.memo };
  }

  private draw(screen: Screen, kind: string): Rect[] {
    const signature = `${kind}|${screen.regions.map((r) => `${r.id}@${r.rect.x},${r.rect.y},${r.rect.w},${r.rect.h}`).join(';')}`;
    const keys = new Map(screen.regions.map((r) => [r.id, r.key]));
    this.painter.reset();
    const prev = this.shown;
    if (!prev || prev.signature !== signature) {
      this.shown = undefined;
      this.ctx.fillStyle = screen.bg;
      this.ctx.fillRect(0, 0, this.width, this.height);
      for (const r of screen.regions) this.paint(r);
      this.shown = { signature, keys, qr: screen.qr };
      return [{ x: 0, y: 0, w: this.width, h: this.height }];
    }
    const dirty: Rect[] = [];
    for (const r of screen.regions) {
      if (prev.keys.get(r.id) === r.key) continue;
      // Forget the screen while painting: if a draw throws, the next render starts afresh.
      this.shown = undefined;
      this.paint(r);
      dirty.push({ ...r.rect });
    }
    this.shown = { signature, keys, qr: screen.qr };
    return dirty;
  }

  private paint(r: Region): void {
    if (r.rect.w <= 0 || r.rect.h <= 0) return;
    this.painter.inRegion(r.id, r.rect, r.bg, () => r.draw(this.painter, r.rect));
  }
}
