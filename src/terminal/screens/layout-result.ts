/**
 * The result of a sale, full screen in the outcome's colour so it reads from across the
 * counter: the title in the country's main language in big type (with the outcome's icon when
 * it fits beside it), the title in the other languages, the amount, the reason and the sale's
 * reference.
 *
 * "Readable from 1 m": the big title's capital height is at least 1/8 of the screen height (30 px
 * on a 240-pixel-high panel, ~6 mm on a 2.8" one) on every screen at least 240 pixels on its
 * short side. Smaller screens get the largest title that still leaves room for the rest.
 */
import { failureMessages } from '../../domain/failure';
import { inLanguages, languagesOf } from '../../domain/locale';
import { namesItem, placeFlow, solveFlow, textItem, type FlowItem } from './flow';
import type { Geometry } from './geometry';
import { drawIcon, type Icon } from './icons';
import { DEFAULT_COUNTRY, type ScreenModel } from './model';
import { amountRegion, textBlock, textLine } from './parts';
import { inset, rect, share, type LayoutContext, type Region, type Screen } from './region';
import { OUTCOME_DETAIL, OUTCOME_TITLE, type Outcome } from './strings';
import { lineBox, lineHeightFor, type TextMeasurer } from './text';
import { THEME } from './theme';

type ResultModel = Extract<ScreenModel, { kind: 'result' }>;

const OUTCOME_LOOK: Record<Outcome, { colour: string; icon: Icon }> = {
  paid: { colour: THEME.ok, icon: 'check' },
  failed: { colour: THEME.error, icon: 'cross' },
  expired: { colour: THEME.warn, icon: 'clock' },
  cancelled: { colour: THEME.muted, icon: 'dash' },
  late_paid: { colour: THEME.warn, icon: 'alert' },
  not_created: { colour: THEME.warn, icon: 'alert' },
};

/** Capital height of the screen font as a share of its size (Noto Sans: 0.714; a little under for safety). */
const CAP_RATIO = 0.7;

/** Smallest title size whose capitals are 1/8 of the screen height. */
export function bigTitlePx(g: Geometry): number {
  return Math.ceil(g.height / 8 / CAP_RATIO);
}

/**
 * Where the 1/8 rule holds: every screen at least 320×240 (all device profiles). On narrower
 * ones a long word ("Pembayaran") at that size is wider than the screen.
 */
export function bigTitleRequired(g: Pick<Geometry, 'width' | 'height'>): boolean {
  return g.width >= 320 && g.height >= 240;
}

/**
 * The big title, with the icon on its left when that costs no extra line and splits no word.
 * Without Thai, its lines sit closer (TIGHT_LINE_HEIGHT).
 */
function titleItem(text: TextMeasurer, title: string, icon: Icon, colour: string, range: [number, number]): FlowItem {
  const lh = lineHeightFor(title);
  const iconW = (px: number) => lineBox(px, lh);
  const gapW = (px: number) => Math.round(px * 0.3);
  const layout = (px: number, w: number) => {
    const plain = text.wrap(title, w, px, 'bold');
    const nw = w - iconW(px) - gapW(px);
    const narrow = text.wrap(title, nw, px, 'bold');
    return narrow.length === plain.length && text.wordsFit(title, nw, px, 'bold') ? { icon: true, lines: narrow } : { icon: false, lines: plain };
  };
  return {
    id: 'title',
    minPx: range[0],
    maxPx: range[1],
    // A size at which a word would have to be split does not fit.
    height: (px, w) => (text.wordsFit(title, w, px, 'bold') ? layout(px, w).lines.length * lineBox(px, lh) : Infinity),
    make(r, px) {
      const l = layout(px, r.w);
      const style = { px, minPx: px, colour: THEME.onColour, weight: 'bold' as const, align: 'left' as const, lineHeight: lh };
      if (!l.icon) return [textBlock('title', r, [title], { ...style, align: 'center' }, 'middle', undefined, colour)];
      // Icon and text centred together; the text box is exactly as wide as its widest line, so
      // it wraps exactly as measured.
      const textW = Math.ceil(Math.max(...l.lines.map((s) => text.width(s, px, 'bold')))) + 1;
      const size = iconW(px);
      const groupW = size + gapW(px) + textW;
      const x = r.x + Math.max(0, Math.floor((r.w - groupW) / 2));
      const iconRegion: Region = {
        id: 'icon',
        rect: rect(x, r.y, size, r.h),
        key: `${icon}|${size}|${colour}`,
        bg: colour,
        draw: (p, box) => drawIcon(p.ctx, icon, box.x + size / 2, box.y + box.h / 2, Math.round(size * 0.8), THEME.onColour),
      };
      const tx = x + size + gapW(px);
      return [iconRegion, textBlock('title', rect(tx, r.y, Math.min(textW, r.x + r.w - tx), r.h), [title], style, 'middle', undefined, colour)];
    },
  };
}

export function resultScreen(ctx: LayoutContext, m: ResultModel): Screen {
  const { g, text } = ctx;
  const country = m.country ?? DEFAULT_COUNTRY;
  const look = OUTCOME_LOOK[m.outcome];
  const bg = look.colour;
  const [main, ...others] = languagesOf(country);
  const titles = OUTCOME_TITLE[m.outcome];
  const reason = m.reason ?? OUTCOME_DETAIL[m.outcome] ?? (m.outcome === 'failed' ? failureMessages(undefined) : undefined);
  const on = { colour: THEME.onColour, bg };
  const min = g.minPx;
  const big = bigTitlePx(g);

  const items = (titleMin: number, withReference: boolean): FlowItem[] => {
    const out: FlowItem[] = [
      titleItem(text, titles[main], look.icon, bg, [titleMin, Math.max(titleMin, Math.round(g.unit * 0.24))]),
      // The other languages' titles on as few lines as they fit ("Payment failed · 付款失败").
      namesItem(
        text,
        'titles',
        others.map((l) => titles[l]),
        [min, Math.max(min, g.titlePx)],
        { ...on, weight: 'bold' },
      ),
      {
        id: 'amount',
        minPx: min,
        maxPx: Math.round(g.unit * 0.13),
        height: (px) => Math.ceil(px * 1.25),
        make: (r, px) => [amountRegion('amount', r, '', m.amountText, px, g, 'center', THEME.onColour, bg)],
      },
    ];
    if (reason) out.push(textItem(text, 'reason', inLanguages(reason, country), [min, g.bodyPx], on));
    if (m.reference && withReference) {
      const ref = `Ref ${m.reference}`;
      out.push({
        id: 'reference',
        minPx: min,
        maxPx: min,
        height: (px) => lineBox(px),
        make: (r, px) => [textLine('reference', r, ref, { px, minPx: px, colour: THEME.onColour, align: 'center' }, bg)],
      });
    }
    return out;
  };

  const area = inset(rect(0, 0, g.width, g.height), g.pad);
  const gap = Math.max(2, Math.round(g.pad / 2));
  // The big title first; the reference is the first thing to go, then (below 320×240 only) the
  // title's size.
  const strict = bigTitleRequired(g);
  const tries: [number, boolean][] = [
    [big, true],
    [big, false],
  ];
  if (!strict) tries.push([min, true], [min, false]);
  for (const [titleMin, ref] of tries) {
    const list = items(titleMin, ref);
    const fit = solveFlow(list, area.w, area.h, gap, g.ladder);
    if (fit) return { bg, regions: placeFlow(area, list, fit, gap, gap * 3) };
  }
  // Too little room even at the smallest sizes: each item gets a share and its text is cut to fit.
  const list = items(strict ? big : min, false);
  const wanted = list.map((it) => Math.min(area.h, it.height(it.minPx, area.w)));
  const heights = share(area.h - gap * (list.length - 1), wanted, wanted.map(() => lineBox(min)));
  return { bg, regions: placeFlow(area, list, { px: list.map((it) => it.minPx), heights }, gap) };
}
