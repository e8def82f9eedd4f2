/**
 * The payment QR: the relay's QR text encoded locally (error correction M) and drawn with
 * whole-pixel modules. Scaling a bitmap by a non-integer factor blurs module edges, which
 * phone decoders tolerate badly at 240 pixels, so modules are always scale×scale squares on
 * integer coordinates, inside a white quiet zone of at least 4 modules.
 */
import type { CanvasRenderingContext2D } from 'canvas';
import type * as QRCode from 'qrcode';
import { THEME } from './theme';

/**
 * qrcode's encoder alone, loaded at the first QR: the package's entry (lib/server.js) re-exports
 * this same `create` but also loads its PNG, SVG and terminal renderers (pngjs, zlib), which the
 * screen never uses, at every start of the terminal.
 */
let encode: typeof QRCode.create | undefined;

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
  encode ??= (require('qrcode/lib/core/qrcode') as { create: typeof QRCode.create }).create;
  const code = encode(text, { errorCorrectionLevel: 'M' });
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
 * Keeps the symbol of the QR on screen, so countdown ticks and re-renders of the same sale do
 * not encode it again; a new text replaces it (one symbol held, whatever the number of sales).
 *
 * Modules are drawn straight into the screen's context, never through an offscreen canvas: a
 * canvas's pixels live in cairo's native memory, which V8 does not see, so a canvas per QR text
 * (~320 KB at 480×320) piled up between the rare garbage collections that free them — RSS grew
 * with every sale. Drawing the runs directly costs ~0.2 ms once per QR shown and allocates no
 * native memory.
 */
export class QrCache {
  private symbol: QrSymbol | undefined;

  symbolFor(text: string): QrSymbol {
    if (this.symbol?.text !== text) this.symbol = qrSymbol(text);
    return this.symbol;
  }

  draw(ctx: CanvasRenderingContext2D, text: string, p: QrPlacement): void {
    drawSymbol(ctx, this.symbolFor(text), p);
  }
}

function drawSymbol(ctx: CanvasRenderingContext2D, sym: QrSymbol, p: QrPlacement): void {
  const { scale } = p;
  const side = boxSide(sym.size, scale);
  ctx.fillStyle = THEME.qrLight;
  ctx.fillRect(p.x, p.y, side, side);
  ctx.fillStyle = THEME.qrDark;
  const x0 = p.x + QUIET_ZONE * scale;
  const y0 = p.y + QUIET_ZONE * scale;
  for (let r = 0; r < sym.size; r++) {
    // One rectangle per run of dark modules: fewer cairo calls, identical pixels. Integer
    // rectangles cover whole pixels, so no antialiasing setting is involved.
    let c = 0;
    while (c < sym.size) {
      if (!sym.isDark(r, c)) {
        c++;
        continue;
      }
      const start = c;
      while (c < sym.size && sym.isDark(r, c)) c++;
      ctx.fillRect(x0 + start * scale, y0 + r * scale, (c - start) * scale, scale);
    }
  }
}
