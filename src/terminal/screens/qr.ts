/**
 * The payment QR: the relay's QR text encoded locally (error correction M) and drawn with
 * whole-pixel modules. Scaling a bitmap by a non-integer factor blurs module edges, which
 * phone decoders tolerate badly at 240 pixels, so modules are always scale×scale squares on
 * integer coordinates, inside a white quiet zone of at least 4 modules.
 */
import { createCanvas, type Canvas, type CanvasRenderingContext2D } from 'canvas';
import * as QRCode from 'qrcode';
import { THEME } from './theme';

/** Quiet zone on each side, in modules (the QR specification's minimum). */
export const QUIET_ZONE = 4;

export interface QrSymbol {
  readonly text: string;
  /** Modules per side, without the quiet zone. */
  readonly size: number;
  isDark(row: number, col: number): boolean;
}

export function qrSymbol(text: string): QrSymbol {
  if (!text) throw new Error('QR text is empty');
  const code = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const m = code.modules;
  return { text, size: m.size, isDark: (r, c) => m.get(r, c) !== 0 };
}

/** Where the QR sits on screen; `box` is the white square including the quiet zone. */
export interface QrPlacement {
  x: number;
  y: number;
  scale: number;
  modules: number;
  quiet: number;
  box: number;
}

export function boxSide(modules: number, scale: number): number {
  return (modules + 2 * QUIET_ZONE) * scale;
}

/** Largest integer module scale whose box fits a w×h area (0 when even 1 does not fit). */
export function scaleFor(modules: number, w: number, h: number): number {
  return Math.max(0, Math.floor(Math.min(w, h) / (modules + 2 * QUIET_ZONE)));
}

/**
 * Keeps the last symbol and its drawing: countdown ticks and re-renders of the same sale reuse
 * them, so encoding and module drawing happen once per QR.
 */
export class QrCache {
  private symbol: QrSymbol | undefined;
  private bitmap: { key: string; canvas: Canvas } | undefined;

  symbolFor(text: string): QrSymbol {
    if (this.symbol?.text !== text) this.symbol = qrSymbol(text);
    return this.symbol;
  }

  draw(ctx: CanvasRenderingContext2D, text: string, p: QrPlacement): void {
    const key = `${p.scale}\u0000${text}`;
    if (this.bitmap?.key !== key) this.bitmap = { key, canvas: renderSymbol(this.symbolFor(text), p.scale) };
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.bitmap.canvas, p.x, p.y);
  }
}

function renderSymbol(sym: QrSymbol, scale: number): Canvas {
  const side = boxSide(sym.size, scale);
  const canvas = createCanvas(side, side);
  const ctx = canvas.getContext('2d');
  ctx.antialias = 'none';
  ctx.fillStyle = THEME.qrLight;
  ctx.fillRect(0, 0, side, side);
  ctx.fillStyle = THEME.qrDark;
  const offset = QUIET_ZONE * scale;
  for (let r = 0; r < sym.size; r++) {
    // One rectangle per run of dark modules: fewer cairo calls, identical pixels.
    let c = 0;
    while (c < sym.size) {
      if (!sym.isDark(r, c)) {
        c++;
        continue;
      }
      const start = c;
      while (c < sym.size && sym.isDark(r, c)) c++;
      ctx.fillRect(offset + start * scale, offset + r * scale, (c - start) * scale, scale);
    }
  }
  return canvas;
}
