/**
 * The status strip along the top: link state and unsynced count on the left, clock on the
 * right, as two regions so a clock tick repaints only the clock.
 */
import type { StatusBar } from './model';
import type { Geometry } from './geometry';
import { rect, type Region } from './region';
import { THEME } from './theme';

export function statusRegions(g: Geometry, s: StatusBar): Region[] {
  const clockW = Math.round(g.statusPx * 3.4) + g.pad;
  const bg = THEME.statusBar;
  const link: Region = {
    id: 'status.link',
    rect: rect(0, 0, g.width - clockW, g.statusH),
    key: `${s.online}|${s.unsynced}`,
    bg,
    draw(p, r) {
      const dot = Math.max(3, Math.round(g.statusPx * 0.32));
      const cx = r.x + g.pad + dot;
      const cy = r.y + Math.round(r.h / 2);
      p.ctx.fillStyle = s.online ? THEME.ok : THEME.error;
      p.ctx.beginPath();
      p.ctx.arc(cx, cy, dot, 0, Math.PI * 2);
      p.ctx.fill();
      const x0 = cx + dot + Math.round(g.pad * 0.75);
      const labelBox = rect(x0, r.y, r.x + r.w - x0, r.h);
      const label = p.line(s.online ? 'Online' : 'Offline', labelBox, {
        px: g.statusPx,
        minPx: g.minPx,
        weight: 'bold',
        colour: s.online ? THEME.text : THEME.error,
      });
      const x1 = x0 + Math.ceil(label.width) + g.pad;
      const unsynced = Math.max(0, Math.floor(s.unsynced));
      p.line(unsynced > 0 ? `${unsynced} unsynced` : 'synced', rect(x1, r.y, r.x + r.w - x1, r.h), {
        px: g.statusPx,
        minPx: g.minPx,
        colour: unsynced > 0 ? THEME.warn : THEME.muted,
      });
    },
  };
  const clock: Region = {
    id: 'status.clock',
    rect: rect(g.width - clockW, 0, clockW, g.statusH),
    key: s.clock,
    bg,
    draw(p, r) {
      p.line(s.clock, rect(r.x, r.y, r.w - g.pad, r.h), { px: g.statusPx, minPx: g.minPx, weight: 'bold', colour: THEME.text, align: 'right' });
    },
  };
  return [link, clock];
}
