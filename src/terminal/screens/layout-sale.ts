/**
 * Layouts of the screens the customer sees around a sale: idle, entry, creating, offline. The QR
 * screen is in ./layout-qr.ts, the result in ./layout-result.ts. Customer texts are in the
 * model's country's languages (src/domain/locale.ts).
 */
import { inLanguages, languagesOf } from '../../domain/locale';
import { DEFAULT_COUNTRY, type ScreenModel } from './model';
import { amountRegion, band, style, textBlock, textLine } from './parts';
import { inset, rect, share, stack, type LayoutContext, type Screen } from './region';
import { statusRegions } from './status';
import { AMOUNT_LABEL, CHOOSE_METHOD, CREATING, OFFLINE, OFFLINE_DETAIL } from './strings';
import { itemsRegion } from './layout-admin';
import { lineBox } from './text';
import { THEME } from './theme';
import type { Geometry } from './geometry';

export { qrScreen } from './layout-qr';
export { resultScreen } from './layout-result';

type Of<K extends ScreenModel['kind']> = Extract<ScreenModel, { kind: K }>;

/** The area under the status strip, inset by the padding. */
function body(g: Geometry): ReturnType<typeof rect> {
  return inset(rect(0, g.statusH, g.width, g.height - g.statusH), g.pad);
}

export function idleScreen({ g }: LayoutContext, m: Of<'idle'>): Screen {
  const area = body(g);
  const gap = g.pad;
  const hintH = lineBox(g.bodyPx);
  const noticeH = lineBox(g.bodyPx) * 2;
  const [merchant, hint, notice] = stack(area, [Math.max(0, area.h - hintH - noticeH - 2 * gap), hintH, noticeH], gap);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      textBlock('merchant', merchant, [m.merchantName], style(Math.round(g.unit * 0.12), g.minPx, THEME.text, 'bold')),
      textLine('hint', hint, m.currencyHint, style(g.bodyPx, g.minPx, THEME.muted)),
      textBlock('notice', notice, m.notice ? [m.notice] : [], style(g.bodyPx, g.minPx, THEME.warn)),
    ],
  };
}

export function entryScreen({ g }: LayoutContext, m: Of<'entry'>): Screen {
  const area = body(g);
  const gap = g.pad;
  const wanted = [lineBox(g.bodyPx), Math.round(g.amountPx * 1.3), lineBox(g.bodyPx) * 2];
  const heights = share(area.h - 2 * gap, wanted, [lineBox(g.minPx), lineBox(g.minPx), lineBox(g.minPx)]);
  const used = heights.reduce((a, b) => a + b, 0) + 2 * gap;
  const top = area.y + Math.max(0, Math.floor((area.h - used) / 3));
  const [label, amount, error] = stack(rect(area.x, top, area.w, area.h), heights, gap);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      textLine('label', label, inLanguages(AMOUNT_LABEL, m.country ?? DEFAULT_COUNTRY).join(' · '), style(g.bodyPx, g.minPx, THEME.muted)),
      // The code goes in front of a bare number; an amount already carrying its symbol stands alone.
      amountRegion('amount', amount, /^\d/.test(m.amountText) ? m.currency : '', m.amountText, g.amountPx, g),
      textBlock('error', error, m.error ? [m.error] : [], style(g.bodyPx, g.minPx, THEME.error)),
    ],
  };
}

export function creatingScreen({ g }: LayoutContext, m: Of<'creating'>): Screen {
  const area = body(g);
  const gap = g.pad;
  const heights = share(area.h - gap, [Math.round(g.amountPx * 0.8), lineBox(g.bodyPx) * 3], [lineBox(g.minPx), 3 * lineBox(g.minPx)]);
  const top = area.y + Math.max(0, Math.floor((area.h - heights[0] - heights[1] - gap) / 2));
  const [amount, text] = stack(rect(area.x, top, area.w, area.h), heights, gap);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      amountRegion('amount', amount, '', m.amountText, Math.round(g.amountPx * 0.6), g),
      textBlock('creating', text, inLanguages(CREATING, m.country ?? DEFAULT_COUNTRY), style(g.bodyPx, g.minPx, THEME.muted)),
    ],
  };
}

export function offlineScreen({ g }: LayoutContext, m: Of<'offline'>): Screen {
  const country = m.country ?? DEFAULT_COUNTRY;
  // The operator's message stands for English; the other languages get the fixed customer text.
  const lines = languagesOf(country).map((l) => (l === 'en' ? m.message : OFFLINE_DETAIL[l]));
  const headerH = Math.round(g.unit * 0.2);
  const header = rect(0, g.statusH, g.width, headerH);
  const area = inset(rect(0, g.statusH + headerH, g.width, g.height - g.statusH - headerH), g.pad);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      band('header', g, header, THEME.error, inLanguages(OFFLINE, country).join(' · '), 'alert'),
      textBlock('message', area, lines, style(g.bodyPx, g.minPx, THEME.text)),
    ],
  };
}

/** Screens at least this wide on their short side ask the customer; smaller ones are the cashier's. */
const CUSTOMER_PICKER_UNIT = 400;

/**
 * How to pay: the amount, then one line per method with its key (the remembered one marked).
 * Small panels (240–320 px) keep it short for the cashier; larger screens ask the customer in
 * the country's languages.
 */
export function methodsScreen({ g }: LayoutContext, m: Of<'methods'>): Screen {
  const area = body(g);
  const gap = g.pad;
  const customer = g.unit >= CUSTOMER_PICKER_UNIT;
  const country = m.country ?? DEFAULT_COUNTRY;
  const prompt = customer ? inLanguages(CHOOSE_METHOD, country) : ['Pay with? (key)'];
  const items = m.choices.map((c) => ({ key: c.key, label: c.isDefault ? `${c.label}  (Enter)` : c.label }));
  const promptH = lineBox(g.bodyPx) * prompt.length;
  const amountH = Math.round(g.amountPx * 0.8);
  const errorH = m.error ? lineBox(g.minPx) : 0;
  const itemsH = Math.max(lineBox(g.minPx), area.h - promptH - amountH - errorH - 3 * gap);
  const [label, amount, list, error] = stack(area, [promptH, amountH, itemsH, errorH], gap);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      textBlock('prompt', label, prompt, style(g.bodyPx, g.minPx, THEME.text, 'bold')),
      amountRegion('amount', amount, '', m.amountText, Math.round(g.amountPx * 0.6), g),
      itemsRegion(list, items, g),
      textBlock('error', error, m.error ? [m.error] : [], style(g.minPx, g.minPx, THEME.warn)),
    ],
  };
}
