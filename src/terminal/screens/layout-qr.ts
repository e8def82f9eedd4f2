/**
 * The QR screen: the QR as large as whole-pixel modules allow next to (or between) what the
 * customer needs to read: whom they pay, the amount, the scan prompt in the country's
 * languages, the wallets that can pay, and the time left (number and bar). While the link to
 * the relay is down a warning banner runs along the bottom, in the same languages; the QR stays
 * (a customer may still pay, and the payment is confirmed when the link is back).
 *
 * Two placements are tried: QR beside a text column, or QR between the amount/countdown band
 * and the prompt. For each, the module scale goes down from the largest that fits until the
 * texts fit at readable sizes (./flow.ts measures them), but never below half the short side;
 * the placement giving the larger QR wins (ties: beside on landscape screens). When nothing fits
 * even then, the merchant name goes first, then the wallet list, then the prompt; the amount,
 * the countdown and the banner always stay.
 *
 * The decision is kept (LayoutContext.memo) for the sale, so countdown ticks do not measure.
 */
import { inLanguages } from '../../domain/locale';
import type { Country } from '../../domain/money';
import { walletsFor } from '../../domain/wallets';
import type { Rect } from '../../../drivers/display/contract';
import { namesItem, placeFlow, solveFlow, textItem, type FlowFit, type FlowItem } from './flow';
import type { Geometry } from './geometry';
import { DEFAULT_COUNTRY, type ScreenModel } from './model';
import { amountRegion, textLine } from './parts';
import { boxSide, QUIET_ZONE, scaleFor, type QrPlacement } from './qr';
import { inset, rect, type LayoutContext, type Region, type Screen } from './region';
import { CONNECTION_LOST, SCAN_PROMPT, SCAN_WITH } from './strings';
import { lineBox } from './text';
import { THEME } from './theme';

type QrModel = Extract<ScreenModel, { kind: 'qr' }>;

function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function barHeight(g: Geometry): number {
  return Math.max(3, Math.round(g.unit * 0.014));
}

/** Time left: the number (red in the last 10 s) over a bar that empties. */
function countdownRegion(r: Rect, m: QrModel, g: Geometry, px: number, align: 'left' | 'center' | 'right'): Region {
  const left = Math.max(0, Math.floor(m.secondsLeft));
  const total = Math.max(0, Math.floor(m.totalSeconds));
  const barH = barHeight(g);
  return {
    id: 'countdown',
    rect: r,
    key: `${left}/${total}|${px}|${align}`,
    bg: THEME.background,
    draw(p, box) {
      const urgent = left <= 10;
      p.figure('', formatCountdown(left), rect(box.x, box.y, box.w, box.h - barH - 1), { px, minPx: Math.min(px, g.minPx), weight: 'bold', colour: urgent ? THEME.error : THEME.text, align });
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

/** Height of a digits-first line at `px` once shrunk to `width` (Painter.figure's box is 1.25 em). */
function figureHeight(ctx: LayoutContext, text: string, px: number, width: number): number {
  const w = ctx.text.width(text, px, 'bold');
  const fit = w > width ? Math.max(ctx.g.minPx, Math.floor((px * width) / w)) : px;
  return Math.ceil(Math.min(px, fit) * 1.25);
}

function placement(n: number, scale: number, x: number, y: number): QrPlacement {
  return { x, y, scale, modules: n, quiet: QUIET_ZONE, box: boxSide(n, scale) };
}

/** What can be left out, first to last, when the texts do not fit beside a QR of half the screen. */
const OPTIONAL = ['merchant', 'wallets', 'prompt'] as const;

interface Parts {
  merchant?: FlowItem;
  amount: FlowItem;
  countdown: FlowItem;
  prompt?: FlowItem;
  wallets?: FlowItem;
}

function parts(ctx: LayoutContext, m: QrModel, country: Country, dropped: number): Parts {
  const { g, text } = ctx;
  const omit = new Set<string>(OPTIONAL.slice(0, dropped));
  const min = g.minPx;
  const out: Parts = {
    amount: {
      id: 'amount',
      minPx: Math.round(min * 1.4),
      maxPx: Math.round(g.unit * 0.16),
      height: (px, w) => figureHeight(ctx, m.amountText, px, w),
      make: (r, px) => [amountRegion('amount', r, '', m.amountText, px, g)],
    },
    countdown: {
      id: 'countdown',
      minPx: min,
      maxPx: Math.round(g.unit * 0.1),
      height: (px) => Math.ceil(px * 1.25) + barHeight(g) + 1,
      make: (r, px) => [countdownRegion(r, m, g, px, 'center')],
    },
  };
  if (m.merchantName && !omit.has('merchant')) {
    const name = m.merchantName;
    // One line: a long name shrinks, then is cut short, rather than pushing the QR smaller.
    out.merchant = {
      id: 'merchant',
      minPx: min,
      maxPx: Math.max(min, g.bodyPx),
      height: (px) => lineBox(px),
      make: (r, px) => [textLine('merchant', r, name, { px, minPx: min, colour: THEME.text, weight: 'bold', align: 'center' })],
    };
  }
  if (!omit.has('prompt')) out.prompt = textItem(text, 'scan', inLanguages(m.method && m.method !== 'alipayplus_mpm' ? SCAN_WITH[m.method] : SCAN_PROMPT, country), [min, g.bodyPx], { colour: THEME.text });
  const wallets = m.wallets ?? walletsFor(country);
  if (wallets.length && !omit.has('wallets')) out.wallets = namesItem(text, 'wallets', wallets, [min, Math.max(min, Math.round(g.bodyPx * 0.85))], { colour: THEME.muted });
  return out;
}

const present = (xs: (FlowItem | undefined)[]): FlowItem[] => xs.filter((x): x is FlowItem => x !== undefined);

/**
 * The offline banner along the bottom, edge to edge in the warning colour: its text as large as
 * fits a quarter of the screen (at the smallest size, as tall as it needs, up to half).
 */
function banner(ctx: LayoutContext, country: Country): { h: number; region: (top: number) => Region } {
  const { g, text } = ctx;
  const paras = inLanguages(CONNECTION_LOST, country);
  const padY = Math.max(2, Math.round(g.pad / 2));
  const w = g.width - 2 * g.pad;
  const heightAt = (px: number) => paras.reduce((n, p) => n + text.wrap(p, w, px).length, 0) * lineBox(px) + 2 * padY;
  const key = `qr.banner|${g.width}x${g.height}|${country}`;
  let px = ctx.memo?.get(key) as number | undefined;
  if (px === undefined) {
    px = g.minPx;
    for (const step of g.ladder) if (step <= g.bodyPx && heightAt(step) <= g.height / 4) px = step;
    ctx.memo?.set(key, px);
  }
  // Never more than half the screen: on tiny screens the text is cut short instead.
  const h = Math.min(heightAt(px), Math.floor(g.height / 2));
  const style = { px, minPx: px, colour: THEME.onColour, align: 'center' as const };
  return {
    h,
    region: (top) => ({
      id: 'banner',
      rect: rect(0, top, g.width, h),
      key: `${paras.join('\u0001')}|${px}`,
      bg: THEME.warn,
      draw: (p, box) => p.block(paras, inset(box, g.pad, padY), style),
    }),
  };
}

/** The placements, each as: its column, its items and where the QR goes, for a module scale. */
interface Arrangement {
  col: Rect;
  gap: number;
  items: FlowItem[];
  /** Regions outside the column (beside: the QR). */
  fixed: Region[];
  /** Where the QR is once the items are placed (stacked: known only after placing). */
  qr(): QrPlacement;
}

function beside(ctx: LayoutContext, m: QrModel, p: Parts, n: number, area: Rect, scale: number): Arrangement | null {
  const { g } = ctx;
  const box = boxSide(n, scale);
  if (box > area.h || box > area.w) return null;
  const y = area.y + Math.floor((area.h - box) / 2);
  // The quiet zone is white like the background, so it is the QR's margin: no more than a pad.
  const x = Math.min(y, g.pad);
  const col = rect(x + box, area.y + g.pad, g.width - x - box - g.pad, area.h - 2 * g.pad);
  const at = placement(n, scale, x, y);
  return {
    col,
    gap: Math.max(2, Math.round(g.pad / 2)),
    items: present([p.merchant, p.amount, p.prompt, p.wallets, p.countdown]),
    fixed: [qrRegion(ctx, m.qrText, at)],
    qr: () => at,
  };
}

function stacked(ctx: LayoutContext, m: QrModel, p: Parts, n: number, area: Rect, scale: number): Arrangement | null {
  const { g } = ctx;
  const box = boxSide(n, scale);
  if (box > area.h || box > g.width) return null;
  const col = inset(area, g.pad, 0);
  const cdW = Math.round(g.unit * 0.3);
  const amountW = col.w - cdW - g.pad;
  const band: FlowItem = {
    id: 'band',
    minPx: p.amount.minPx,
    maxPx: Math.round(g.unit * 0.1),
    height: (px) => Math.max(figureHeight(ctx, m.amountText, px, amountW), Math.ceil(px * 1.25) + barHeight(g) + 1),
    make: (r, px) => [
      amountRegion('amount', rect(r.x, r.y, amountW, r.h), '', m.amountText, px, g, 'left'),
      countdownRegion(rect(r.x + r.w - cdW, r.y, cdW, r.h), m, g, px, 'right'),
    ],
  };
  let at = placement(n, scale, Math.floor((g.width - box) / 2), 0);
  const qrItem: FlowItem = {
    id: 'qr',
    minPx: 0,
    maxPx: 0,
    height: () => box,
    make: (r) => {
      at = placement(n, scale, Math.floor((g.width - box) / 2), r.y);
      return [qrRegion(ctx, m.qrText, at)];
    },
  };
  // Tight gaps: on square screens every pixel of height is QR or text.
  return { col, gap: Math.max(2, Math.round(g.pad / 2)), items: present([p.merchant, band, qrItem, p.prompt, p.wallets]), fixed: [], qr: () => at };
}

interface Plan {
  dropped: number;
  side: boolean;
  scale: number;
  fit: FlowFit;
}

function arrange(ctx: LayoutContext, m: QrModel, country: Country, area: Rect, plan: Omit<Plan, 'fit'>): Arrangement | null {
  const p = parts(ctx, m, country, plan.dropped);
  const n = ctx.qr.symbolFor(m.qrText).size;
  return (plan.side ? beside : stacked)(ctx, m, p, n, area, plan.scale);
}

function decide(ctx: LayoutContext, m: QrModel, country: Country, area: Rect): Plan | null {
  const { g } = ctx;
  const n = ctx.qr.symbolFor(m.qrText).size;
  const largest = scaleFor(n, area.w, area.h);
  // Never below half the short side (or the largest that fits, on screens too small for that).
  const floor = Math.min(largest, Math.max(1, Math.ceil((g.unit * 0.5) / (n + 2 * QUIET_ZONE))));
  const tryAt = (dropped: number, side: boolean, scale: number): Plan | null => {
    const a = arrange(ctx, m, country, area, { dropped, side, scale });
    const fit = a && solveFlow(a.items, a.col.w, a.col.h, a.gap, g.ladder);
    return fit ? { dropped, side, scale, fit } : null;
  };
  // The screen's natural placement first; the other only where it gives a strictly larger QR.
  const order = g.wide ? [true, false] : [false, true];
  for (let dropped = 0; dropped <= OPTIONAL.length; dropped++) {
    let win: Plan | null = null;
    for (const side of order) {
      const lowest = win ? win.scale + 1 : floor;
      for (let scale = largest; scale >= lowest && scale >= 1; scale--) {
        const plan = tryAt(dropped, side, scale);
        if (plan) {
          win = plan;
          break;
        }
      }
    }
    if (win) return win;
  }
  return null;
}

export function qrScreen(ctx: LayoutContext, m: QrModel): Screen {
  const { g } = ctx;
  const country = m.country ?? DEFAULT_COUNTRY;
  const warn = m.status.online ? null : banner(ctx, country);
  const area = rect(0, 0, g.width, g.height - (warn?.h ?? 0));
  const withBanner = (regions: Region[]) => (warn ? [...regions, warn.region(area.h)] : regions);

  // Everything the decision depends on (not the seconds left).
  const key = `qr|${g.width}x${g.height}|${country}|${m.status.online}|${m.merchantName ?? ''}|${m.amountText}|${m.qrText}|${m.method ?? ''}|${m.wallets?.join('\u0001') ?? ''}`;
  let plan = ctx.memo?.get(key) as Plan | null | undefined;
  if (plan === undefined) {
    plan = decide(ctx, m, country, area);
    ctx.memo?.set(key, plan);
  }
  const a = plan && arrange(ctx, m, country, area, plan);
  if (plan && a) {
    const regions = [...a.fixed, ...placeFlow(a.col, a.items, plan.fit, a.gap)];
    return { bg: THEME.background, qr: a.qr(), regions: withBanner(regions) };
  }

  // Nothing fits beside or around it (a long text on a small screen): the QR alone, as large as fits.
  const n = ctx.qr.symbolFor(m.qrText).size;
  const s = Math.max(1, scaleFor(n, area.w, area.h));
  const box = boxSide(n, s);
  const at = placement(n, s, Math.floor((g.width - box) / 2), Math.max(0, Math.floor((area.h - box) / 2)));
  return { bg: THEME.background, regions: withBanner([qrRegion(ctx, m.qrText, at)]), qr: at };
}
