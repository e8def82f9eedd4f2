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

export function textLine(id: string, r: Rect, text: string, style: TextStyle, bg: string = THEME.background): Region {
  return {
    id,
    rect: r,
    key: `${text}|${style.px}|${style.minPx ?? ''}|${style.colour}|${style.weight ?? ''}|${style.align ?? ''}|${bg}`,
    bg,
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
  bg: string = THEME.background,
): Region {
  return {
    id,
    rect: r,
    key: `${paragraphs.join('\u0001')}|${style.px}|${style.minPx ?? ''}|${style.colour}|${style.weight ?? ''}|${style.align ?? ''}|${style.lineHeight ?? ''}|${valign}|${bg}`,
    bg,
    draw: (p, box) => p.block(paragraphs, box, style, valign, more),
  };
}

/**
 * An amount (or any digits-first line) as large as `px`, shrunk to the box's width. `prefix` (a
 * currency code) is drawn smaller in front of it.
 */
export function amountRegion(
  id: string,
  r: Rect,
  prefix: string,
  amount: string,
  px: number,
  g: Geometry,
  align: Align = 'center',
  colour: string = THEME.text,
  bg: string = THEME.background,
): Region {
  return {
    id,
    rect: r,
    key: `${prefix}|${amount}|${px}|${align}|${colour}|${bg}`,
    bg,
    draw: (p, box) =>
      p.figure(prefix, amount, box, { px, minPx: Math.min(px, g.minPx), weight: 'bold', colour, prefixColour: colour === THEME.text ? THEME.muted : colour, align }),
  };
}

/** Text style helper: centred unless told otherwise. */
export function style(px: number, minPx: number, colour: string, weight: 'normal' | 'bold' = 'normal', align: Align = 'center'): TextStyle {
  return { px, minPx, colour, weight, align };
}
