/** Vector icons drawn with paths (no glyphs, so no font can turn them into boxes). */
import type { CanvasRenderingContext2D } from 'canvas';

export type Icon = 'check' | 'cross' | 'clock' | 'alert' | 'dash';

/** Draws `icon` in a ring of diameter `size` centred on (cx, cy). */
export function drawIcon(ctx: CanvasRenderingContext2D, icon: Icon, cx: number, cy: number, size: number, colour: string): void {
  const r = size / 2;
  const lw = Math.max(2, Math.round(size * 0.09));
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = lw;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.arc(cx, cy, r - lw / 2, 0, Math.PI * 2);
  ctx.stroke();
  ctx.beginPath();
  const k = r * 0.45;
  switch (icon) {
    case 'check':
      ctx.moveTo(cx - k, cy + k * 0.05);
      ctx.lineTo(cx - k * 0.25, cy + k * 0.7);
      ctx.lineTo(cx + k, cy - k * 0.6);
      ctx.stroke();
      break;
    case 'cross':
      ctx.moveTo(cx - k * 0.8, cy - k * 0.8);
      ctx.lineTo(cx + k * 0.8, cy + k * 0.8);
      ctx.moveTo(cx + k * 0.8, cy - k * 0.8);
      ctx.lineTo(cx - k * 0.8, cy + k * 0.8);
      ctx.stroke();
      break;
    case 'clock':
      ctx.moveTo(cx, cy - k * 1.1);
      ctx.lineTo(cx, cy);
      ctx.lineTo(cx + k * 0.8, cy + k * 0.5);
      ctx.stroke();
      break;
    case 'alert':
      ctx.moveTo(cx, cy - k * 1.1);
      ctx.lineTo(cx, cy + k * 0.3);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(cx, cy + k * 0.95, lw * 0.7, 0, Math.PI * 2);
      ctx.fill();
      break;
    case 'dash':
      ctx.moveTo(cx - k, cy);
      ctx.lineTo(cx + k, cy);
      ctx.stroke();
      break;
  }
  ctx.restore();
}
