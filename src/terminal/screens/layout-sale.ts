/** Layouts of the screens the customer sees during a sale: idle, entry, creating, QR, result, offline. */
import { failureMessages } from '../../domain/failure';
import type { ScreenModel } from './model';
import { band, style, textBlock, textLine } from './parts';
import { boxSide, QUIET_ZONE, scaleFor, type QrPlacement } from './qr';
import { inset, rect, share, stack, type LayoutContext, type Region, type Screen } from './region';
import { statusRegions } from './status';
import { AMOUNT_LABEL, CREATING, OFFLINE, OFFLINE_DETAIL, OUTCOME_DETAIL, OUTCOME_TITLE, SCAN_PROMPT, languages, type Outcome } from './strings';
import { lineBox } from './text';
import { THEME } from './theme';
import type { Icon } from './icons';
import type { Geometry } from './geometry';

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

function amountRegion(
  id: string,
  r: Region['rect'],
  prefix: string,
  amount: string,
  px: number,
  g: Geometry,
  align: 'left' | 'center' = 'center',
): Region {
  return {
    id,
    rect: r,
    key: `${prefix}|${amount}|${px}|${align}`,
    bg: THEME.background,
    draw: (p, box) => p.figure(prefix, amount, box, { px, minPx: g.minPx, weight: 'bold', colour: THEME.text, prefixColour: THEME.muted, align }),
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
      textLine('label', label, languages(AMOUNT_LABEL).join(' · '), style(g.bodyPx, g.minPx, THEME.muted)),
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
      textBlock('creating', text, languages(CREATING), style(g.bodyPx, g.minPx, THEME.muted)),
    ],
  };
}

function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function countdownRegion(r: Region['rect'], m: Of<'qr'>, g: Geometry, align: 'left' | 'center' | 'right'): Region {
  const left = Math.max(0, Math.floor(m.secondsLeft));
  const total = Math.max(0, Math.floor(m.totalSeconds));
  return {
    id: 'countdown',
    rect: r,
    key: `${left}/${total}`,
    bg: THEME.background,
    draw(p, box) {
      const barH = Math.max(3, Math.round(g.unit * 0.014));
      const urgent = left <= 10;
      p.figure('', formatCountdown(left), rect(box.x, box.y, box.w, box.h - barH - 1), {
        px: Math.round(g.unit * 0.1),
        minPx: g.minPx,
        weight: 'bold',
        colour: urgent ? THEME.error : THEME.text,
        align,
      });
      const bar = rect(box.x, box.y + box.h - barH, box.w, barH);
      p.fill(bar, THEME.dotEmpty);
      const ratio = total > 0 ? Math.min(1, left / total) : 0;
      p.fill(rect(bar.x, bar.y, Math.round(bar.w * ratio), barH), urgent ? THEME.error : THEME.accent);
    },
  };
}

function qrRegion(ctx: LayoutContext, text: string, at: QrPlacement): Region {
  return {
    id: 'qr',
    rect: rect(at.x, at.y, at.box, at.box),
    key: `${at.scale}|${text}`,
    bg: THEME.qrLight,
    draw: (p) => ctx.qr.draw(p.ctx, text, at),
  };
}

/**
 * The QR as large as whole-pixel modules allow. Two candidates: QR beside a text column (wide
 * screens) or between an amount/countdown band and the scan prompt (square screens); the one
 * giving the larger module scale wins, ties going to the screen's natural orientation.
 */
export function qrScreen(ctx: LayoutContext, m: Of<'qr'>): Screen {
  const { g } = ctx;
  const n = ctx.qr.symbolFor(m.qrText).size;
  const scanPx = Math.max(g.minPx, Math.round(g.unit * 0.05));
  const scanH = 3 * lineBox(scanPx);
  // Stacked: the amount band gives up height (down to a small but bold line) when that buys
  // one more pixel per module, then keeps whatever the larger QR leaves.
  const bandMin = Math.round(g.minPx * 1.6);
  const sStack = scaleFor(n, g.width, g.height - bandMin - scanH);
  const bandH = Math.max(bandMin, Math.min(Math.round(g.unit * 0.13), g.height - scanH - boxSide(n, Math.max(1, sStack))));
  const stackH = g.height - bandH - scanH;
  const minTextW = Math.round(g.unit * 0.45);
  const sSide = scaleFor(n, g.width - minTextW, g.height);
  const placement = (scale: number, x: number, y: number): QrPlacement => ({
    x,
    y,
    scale,
    modules: n,
    quiet: QUIET_ZONE,
    box: boxSide(n, scale),
  });
  const prompt = languages(SCAN_PROMPT);

  if (sSide === 0 && sStack === 0) {
    // Text too long for this screen with any text beside it: the QR alone, as large as fits.
    const s = Math.max(1, scaleFor(n, g.width, g.height));
    const box = boxSide(n, s);
    const at = placement(s, Math.floor((g.width - box) / 2), Math.floor((g.height - box) / 2));
    return { bg: THEME.background, regions: [qrRegion(ctx, m.qrText, at)], qr: at };
  }

  if (sSide > sStack || (sSide === sStack && g.wide)) {
    const box = boxSide(n, sSide);
    const y = Math.floor((g.height - box) / 2);
    const x = Math.max(0, Math.min(y, g.width - minTextW - box));
    const at = placement(sSide, x, y);
    const tx = x + box;
    const col = rect(tx, g.pad, g.width - tx - g.pad, g.height - 2 * g.pad);
    const amountH = Math.round(g.unit * 0.2);
    const countdownH = Math.round(g.unit * 0.16);
    const [amount, scan, countdown] = stack(col, [amountH, Math.max(0, col.h - amountH - countdownH - 2 * g.pad), countdownH], g.pad);
    return {
      bg: THEME.background,
      qr: at,
      regions: [
        qrRegion(ctx, m.qrText, at),
        amountRegion('amount', amount, '', m.amountText, Math.round(g.unit * 0.14), g),
        textBlock('scan', scan, prompt, style(g.bodyPx, g.minPx, THEME.text)),
        countdownRegion(countdown, m, g, 'center'),
      ],
    };
  }

  const box = boxSide(n, sStack);
  const at = placement(sStack, Math.floor((g.width - box) / 2), bandH + Math.floor((stackH - box) / 2));
  const cdW = Math.round(g.unit * 0.3);
  return {
    bg: THEME.background,
    qr: at,
    regions: [
      amountRegion('amount', rect(g.pad, 0, g.width - cdW - 2 * g.pad, bandH), '', m.amountText, Math.round(g.unit * 0.1), g, 'left'),
      countdownRegion(rect(g.width - cdW - g.pad, 0, cdW, bandH), m, g, 'right'),
      qrRegion(ctx, m.qrText, at),
      textBlock('scan', rect(g.pad, g.height - scanH, g.width - 2 * g.pad, scanH), prompt, style(scanPx, g.minPx, THEME.text)),
    ],
  };
}

const OUTCOME_LOOK: Record<Outcome, { colour: string; icon: Icon }> = {
  paid: { colour: THEME.ok, icon: 'check' },
  failed: { colour: THEME.error, icon: 'cross' },
  expired: { colour: THEME.warn, icon: 'clock' },
  cancelled: { colour: THEME.muted, icon: 'dash' },
  late_paid: { colour: THEME.warn, icon: 'alert' },
  not_created: { colour: THEME.warn, icon: 'alert' },
};

export function resultScreen({ g }: LayoutContext, m: Of<'result'>): Screen {
  const look = OUTCOME_LOOK[m.outcome];
  const title = OUTCOME_TITLE[m.outcome];
  const headerH = Math.round(g.unit * 0.2);
  const header = rect(0, g.statusH, g.width, headerH);
  const area = inset(rect(0, g.statusH + headerH, g.width, g.height - g.statusH - headerH), g.pad);
  const reason = m.reason ?? OUTCOME_DETAIL[m.outcome] ?? (m.outcome === 'failed' ? failureMessages(undefined) : undefined);
  const min = lineBox(g.minPx);
  const parts: { id: string; want: number; floor: number; make: (r: Region['rect']) => Region }[] = [
    {
      id: 'titles',
      want: 2 * lineBox(g.bodyPx),
      floor: 2 * min,
      make: (r) => textBlock('titles', r, [title.th, title.zh], style(g.bodyPx, g.minPx, THEME.text)),
    },
    { id: 'amount', want: Math.round(g.unit * 0.16), floor: min, make: (r) => amountRegion('amount', r, '', m.amountText, Math.round(g.unit * 0.13), g) },
  ];
  if (reason) {
    parts.push({
      id: 'reason',
      want: 3 * lineBox(g.bodyPx),
      floor: 3 * min,
      make: (r) => textBlock('reason', r, languages(reason), style(g.bodyPx, g.minPx, look.colour)),
    });
  }
  if (m.reference) {
    parts.push({
      id: 'reference',
      want: min,
      floor: min,
      make: (r) => textLine('reference', r, `Ref ${m.reference}`, style(g.minPx, g.minPx, THEME.muted)),
    });
  }
  const gap = Math.round(g.pad / 2);
  const heights = share(
    area.h - gap * (parts.length - 1),
    parts.map((p) => p.want),
    parts.map((p) => p.floor),
  );
  const used = heights.reduce((a, b) => a + b, 0) + gap * (parts.length - 1);
  const rects = stack(rect(area.x, area.y + Math.max(0, Math.floor((area.h - used) / 2)), area.w, area.h), heights, gap);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      band('header', g, header, look.colour, title.en, look.icon),
      ...parts.map((p, i) => p.make(rects[i])),
    ],
  };
}

export function offlineScreen({ g }: LayoutContext, m: Of<'offline'>): Screen {
  const headerH = Math.round(g.unit * 0.2);
  const header = rect(0, g.statusH, g.width, headerH);
  const area = inset(rect(0, g.statusH + headerH, g.width, g.height - g.statusH - headerH), g.pad);
  return {
    bg: THEME.background,
    regions: [
      ...statusRegions(g, m.status),
      band('header', g, header, THEME.error, `${OFFLINE.en} · ${OFFLINE.th} · ${OFFLINE.zh}`, 'alert'),
      textBlock('message', area, [m.message, OFFLINE_DETAIL.th, OFFLINE_DETAIL.zh], style(g.bodyPx, g.minPx, THEME.text)),
    ],
  };
}
