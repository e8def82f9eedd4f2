/** Layouts of the non-sale screens: boot, pairing, error, supervisor PIN and menu, messages. */
import type { ScreenModel } from './model';
import type { Geometry } from './geometry';
import type { Icon } from './icons';
import { band, style, textBlock, textLine } from './parts';
import { inset, rect, share, stack, type LayoutContext, type Region, type Screen } from './region';
import { lineBox, LINE_HEIGHT } from './text';
import { THEME, toneColour } from './theme';

type Of<K extends ScreenModel['kind']> = Extract<ScreenModel, { kind: K }>;

function headed(g: Geometry): { header: Region['rect']; area: Region['rect'] } {
  const headerH = Math.round(g.unit * 0.18);
  return {
    header: rect(0, 0, g.width, headerH),
    area: inset(rect(0, headerH, g.width, g.height - headerH), g.pad),
  };
}

export function bootScreen({ g }: LayoutContext, m: Of<'boot'>): Screen {
  const area = inset(rect(0, 0, g.width, g.height), g.pad);
  const [mark, message] = stack(area, [Math.round(area.h * 0.55), area.h - Math.round(area.h * 0.55) - g.pad], g.pad);
  return {
    bg: THEME.background,
    regions: [
      textLine('mark', mark, 'qrpos', { px: Math.round(g.unit * 0.2), minPx: g.minPx, weight: 'bold', colour: THEME.accent, align: 'center' }),
      textBlock('message', message, [m.message], style(g.bodyPx, g.minPx, THEME.muted), 'top'),
    ],
  };
}

export function pairingScreen({ g }: LayoutContext, m: Of<'pairing'>): Screen {
  const { header, area } = headed(g);
  const gap = g.pad;
  const min = lineBox(g.minPx);
  const heights = share(area.h - 2 * gap, [Math.round(g.unit * 0.26), 2 * lineBox(g.bodyPx), 3 * lineBox(g.bodyPx)], [min, min, min]);
  const [code, url, message] = stack(area, heights, gap);
  return {
    bg: THEME.background,
    regions: [
      band('header', g, header, THEME.accent, 'Pair this terminal'),
      {
        id: 'code',
        rect: code,
        key: m.code,
        bg: THEME.background,
        draw: (p, r) => p.figure('', m.code, r, { px: Math.round(g.unit * 0.2), minPx: g.minPx, weight: 'bold', colour: THEME.text, align: 'center' }),
      },
      textBlock('url', url, [m.relayUrl], style(g.bodyPx, g.minPx, THEME.accent)),
      textBlock('message', message, m.message ? [m.message] : [], style(g.bodyPx, g.minPx, THEME.muted)),
    ],
  };
}

export function errorScreen({ g }: LayoutContext, m: Of<'error'>): Screen {
  const { header, area } = headed(g);
  return {
    bg: THEME.background,
    regions: [
      band('header', g, header, THEME.error, m.title, 'alert'),
      textBlock(
        'lines',
        area,
        m.lines.map((l) => `• ${l}`),
        style(g.bodyPx, g.minPx, THEME.text, 'normal', 'left'),
        'top',
        (hidden) => `+${hidden} more`,
      ),
    ],
  };
}

/** Why the terminal cannot run (red band, the reason) and, below a rule, what to do (in blue). */
export function fatalScreen({ g }: LayoutContext, m: Of<'fatal'>): Screen {
  const { header, area } = headed(g);
  const min = lineBox(g.minPx);
  const [reason, action] = stack(area, share(area.h - g.pad, [Math.round(area.h * 0.5), area.h - Math.round(area.h * 0.5)], [min, min]), g.pad);
  const left = (colour: string, weight: 'normal' | 'bold' = 'normal') => style(g.bodyPx, g.minPx, colour, weight, 'left');
  return {
    bg: THEME.background,
    regions: [
      band('header', g, header, THEME.error, m.title, 'alert'),
      textBlock('reason', reason, m.reason, left(THEME.text), 'top', (hidden) => `+${hidden} more (see the log)`),
      textBlock('action', action, m.action.length ? ['What to do:', ...m.action] : [], left(THEME.accent), 'top', (hidden) => `+${hidden} more (see the log)`),
    ],
  };
}

function dotsRegion(r: Region['rect'], entered: number, g: Geometry): Region {
  const filled = Math.max(0, Math.floor(entered));
  const slots = Math.min(12, Math.max(4, filled));
  return {
    id: 'dots',
    rect: r,
    key: `${Math.min(filled, slots)}/${slots}`,
    bg: THEME.background,
    draw(p, box) {
      const d = Math.max(4, Math.min(Math.round(g.unit * 0.07), Math.floor(box.w / (slots * 1.8)), box.h - 2));
      const step = Math.round(d * 1.7);
      const x0 = box.x + Math.round((box.w - (step * (slots - 1) + d)) / 2);
      const cy = box.y + box.h / 2;
      const { ctx } = p;
      ctx.lineWidth = Math.max(1.5, d * 0.12);
      for (let i = 0; i < slots; i++) {
        ctx.beginPath();
        ctx.arc(x0 + i * step + d / 2, cy, d / 2 - ctx.lineWidth / 2, 0, Math.PI * 2);
        if (i < filled) {
          ctx.fillStyle = THEME.accent;
          ctx.fill();
        } else {
          ctx.strokeStyle = THEME.dotEmpty;
          ctx.stroke();
        }
      }
    },
  };
}

export function pinScreen({ g }: LayoutContext, m: Of<'pin'>): Screen {
  const area = inset(rect(0, 0, g.width, g.height), g.pad);
  const min = lineBox(g.minPx);
  const heights = share(area.h - 2 * g.pad, [lineBox(g.titlePx), Math.round(g.unit * 0.16), 2 * lineBox(g.bodyPx)], [min, min, min]);
  const used = heights.reduce((a, b) => a + b, 0) + 2 * g.pad;
  const [title, dots, error] = stack(rect(area.x, area.y + Math.max(0, Math.floor((area.h - used) / 2)), area.w, area.h), heights, g.pad);
  return {
    bg: THEME.background,
    regions: [
      textLine('title', title, m.title, style(g.titlePx, g.minPx, THEME.text, 'bold')),
      dotsRegion(dots, m.entered, g),
      textBlock('error', error, m.error ? [m.error] : [], style(g.bodyPx, g.minPx, THEME.error)),
    ],
  };
}

export function itemsRegion(r: Region['rect'], items: Of<'menu'>['items'], g: Geometry): Region {
  return {
    id: 'items',
    rect: r,
    key: items.map((i) => `${i.key}\u0001${i.label}`).join('\u0002'),
    bg: THEME.background,
    draw(p, box) {
      if (!items.length) return;
      const rowH = Math.min(Math.round(lineBox(g.bodyPx) * 1.15), Math.floor(box.h / items.length));
      let px = Math.min(g.bodyPx, Math.floor(rowH / LINE_HEIGHT));
      let shown = items.map((i) => ({ key: i.key, label: i.label }));
      let step = rowH;
      if (px < g.minPx) {
        // Too many items for the screen: the first ones at the smallest size, then "…".
        px = Math.min(g.minPx, Math.floor(box.h / LINE_HEIGHT));
        step = lineBox(px);
        const room = Math.max(1, Math.floor(box.h / step));
        if (room < shown.length) shown = [...shown.slice(0, room - 1), { key: '', label: '…' }];
      }
      const keyW = Math.ceil(Math.max(...shown.map((i) => p.text.width(i.key, px, 'bold')))) + g.pad;
      shown.forEach((item, i) => {
        const row = rect(box.x, box.y + i * step, box.w, step);
        p.line(item.key, rect(row.x, row.y, keyW, row.h), { px, weight: 'bold', colour: THEME.accent });
        p.line(item.label, rect(row.x + keyW, row.y, row.w - keyW, row.h), { px, minPx: g.minPx, colour: THEME.text });
      });
    },
  };
}

export function menuScreen({ g }: LayoutContext, m: Of<'menu'>): Screen {
  const { header, area } = headed(g);
  const footerH = m.footer ? lineBox(g.minPx) : 0;
  const [items, footer] = stack(area, [area.h - footerH - (footerH ? g.pad : 0), footerH], g.pad);
  const regions: Region[] = [band('header', g, header, THEME.accent, m.title), itemsRegion(items, m.items, g)];
  if (m.footer) regions.push(textLine('footer', footer, m.footer, style(g.minPx, g.minPx, THEME.muted)));
  return { bg: THEME.background, regions };
}

const TONE_ICON: Record<Of<'message'>['tone'], Icon | undefined> = { info: undefined, ok: 'check', warn: 'alert', error: 'cross' };

export function messageScreen({ g }: LayoutContext, m: Of<'message'>): Screen {
  const { header, area } = headed(g);
  return {
    bg: THEME.background,
    regions: [
      band('header', g, header, toneColour(m.tone), m.title, TONE_ICON[m.tone]),
      // A list (totals, network info) reads better left-aligned; a sentence or two centred.
      textBlock('lines', area, m.lines, style(g.bodyPx, g.minPx, THEME.text, 'normal', m.lines.length > 2 ? 'left' : 'center')),
    ],
  };
}
