/** Regions several screens share: a coloured title band, a text line, a paragraph block. */
import type { Rect } from '../../../drivers/display/contract';
import type { Geometry } from './geometry';
import { drawIcon, type Icon } from './icons';
import type { Align, TextStyle } from './painter';
import type { Region } from './region';
import { rect } from './region';
import { THEME } from './theme';

export function band(id: string, g: Geometry, r: Rect, colour: string, title: string, icon?: Icon): Region {
  return {
    id,
    rect: r,
    key: `${colour}|${icon ?? ''}|${title}`,
    bg: colour,
    draw(p, box) {
      let x = box.x + g.pad;
      if (icon) {
        const size = Math.round(box.h * 0.62);
        drawIcon(p.ctx, icon, x + size / 2, box.y + box.h / 2, size, THEME.onColour);
        x += size + g.pad;
      }
      p.line(title, rect(x, box.y, box.x + box.w - g.pad - x, box.h), {
        px: Math.round(box.h * 0.5),
        minPx: g.minPx,
        weight: 'bold',
        colour: THEME.onColour,
        align: icon ? 'left' : 'center',
      });
    },
  };
}

export function textLine(id: string, r: Rect, text: string, style: TextStyle): Region {
  return {
    id,
    rect: r,
    key: `${text}|${style.px}|${style.colour}|${style.weight ?? ''}|${style.align ?? ''}`,
    bg: THEME.background,
    draw: (p, box) => void p.line(text, box, style),
  };
}

export function textBlock(
  id: string,
  r: Rect,
  paragraphs: readonly string[],
  style: TextStyle,
  valign: 'top' | 'middle' = 'middle',
  more?: (hidden: number) => string,
): Region {
  return {
    id,
    rect: r,
    key: `${paragraphs.join('\u0001')}|${style.px}|${style.colour}|${style.weight ?? ''}|${style.align ?? ''}|${valign}`,
    bg: THEME.background,
    draw: (p, box) => p.block(paragraphs, box, style, valign, more),
  };
}

/** Text style helper: centred unless told otherwise. */
export function style(px: number, minPx: number, colour: string, weight: 'normal' | 'bold' = 'normal', align: Align = 'center'): TextStyle {
  return { px, minPx, colour, weight, align };
}
