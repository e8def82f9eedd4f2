/**
 * ESC/POS receipts as bytes. Pure functions, so the exact output is tested byte for byte.
 * The charge reference is printed as a native QR code (GS ( k): the printer renders it, no
 * raster image needed, and it scans better than an image scaled by a cheap print head.
 */
import type { PrintedText, Receipt } from './contract';
import { formatDateTime, systemTimeZone } from '../../src/domain/time';
import { ascii, toAscii } from './text';

const ESC = 0x1b;
const GS = 0x1d;
const LF = 0x0a;

export const escpos = {
  init: () => Buffer.from([ESC, 0x40]),
  /** 0 left, 1 centre, 2 right */
  align: (n: 0 | 1 | 2) => Buffer.from([ESC, 0x61, n]),
  bold: (on: boolean) => Buffer.from([ESC, 0x45, on ? 1 : 0]),
  /** GS ! n: width and height multipliers 1–8. */
  size: (w: number, h: number) => Buffer.from([GS, 0x21, ((w - 1) << 4) | (h - 1)]),
  feed: (lines: number) => Buffer.from([ESC, 0x64, lines]),
  /** GS V 66 n: feed n dots and partial cut. */
  cut: () => Buffer.from([GS, 0x56, 0x42, 0x00]),
  line: (text: string) => Buffer.concat([ascii(text), Buffer.from([LF])]),
};

export type QrErrorCorrection = 'L' | 'M' | 'Q' | 'H';
const EC_BYTE: Record<QrErrorCorrection, number> = { L: 0x30, M: 0x31, Q: 0x32, H: 0x33 };
/** Model 2 at level L holds at most 2953 bytes; more is not a QR. */
export const QR_MAX_BYTES = 2953;

/** GS ( k with cn 0x31: select model 2, module size, error correction, store data, print. */
export function escposQr(data: string, opts: { moduleSize?: number; errorCorrection?: QrErrorCorrection } = {}): Buffer {
  const moduleSize = opts.moduleSize ?? 6;
  if (!Number.isInteger(moduleSize) || moduleSize < 1 || moduleSize > 16) throw new RangeError(`QR module size ${moduleSize} is outside 1–16`);
  const bytes = Buffer.from(data, 'utf8');
  if (bytes.length === 0 || bytes.length > QR_MAX_BYTES) throw new RangeError(`QR data of ${bytes.length} bytes (1–${QR_MAX_BYTES} allowed)`);
  const k = (fn: number, ...params: number[]) => {
    const len = params.length + 2;
    return Buffer.from([GS, 0x28, 0x6b, len & 0xff, len >> 8, 0x31, fn, ...params]);
  };
  const storeLen = bytes.length + 3;
  return Buffer.concat([
    k(0x41, 0x32, 0x00),
    k(0x43, moduleSize),
    k(0x45, EC_BYTE[opts.errorCorrection ?? 'M']),
    Buffer.from([GS, 0x28, 0x6b, storeLen & 0xff, storeLen >> 8, 0x31, 0x50, 0x30]),
    bytes,
    k(0x51, 0x30),
  ]);
}

/** "2026-11-26 18:10:47" in the given zone (default: the process's), or the raw text if unparseable. */
export function formatPaidAt(iso: string, timeZone?: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return formatDateTime(ms, timeZone ?? systemTimeZone());
}

/** "Label        value" across the paper, or label and value on two lines when they do not fit. */
export function labelled(label: string, value: string, width: number): string[] {
  const l = toAscii(label);
  const v = toAscii(value);
  if (l.length + 1 + v.length <= width) return [l + ' '.repeat(width - l.length - v.length) + v];
  return [l, v.length <= width ? ' '.repeat(width - v.length) + v : v];
}

export interface ReceiptLayout {
  /** Characters per line at normal size (58 mm: 32, 80 mm: 48). */
  width: number;
  qrModuleSize?: number;
  timeZone?: string;
}

/** A report: heading centred, then each line left-aligned, wrapped at the paper width, and a cut. */
export function buildText(doc: PrintedText, layout: Pick<ReceiptLayout, 'width'>): Buffer {
  const wrap = (line: string): string[] => {
    const text = toAscii(line);
    const out: string[] = [];
    let rest = text;
    while (rest.length > layout.width) {
      const cut = rest.lastIndexOf(' ', layout.width);
      const at = cut > 0 ? cut : layout.width;
      out.push(rest.slice(0, at).trimEnd());
      rest = rest.slice(at).trimStart();
    }
    out.push(rest);
    return out;
  };
  return Buffer.concat([
    escpos.init(),
    escpos.align(1),
    escpos.bold(true),
    escpos.line(doc.merchantName),
    escpos.bold(false),
    escpos.line(doc.terminalName),
    escpos.line(''),
    escpos.bold(true),
    escpos.line(doc.title),
    escpos.bold(false),
    escpos.line(''),
    escpos.align(0),
    ...doc.lines.flatMap(wrap).map(escpos.line),
    escpos.feed(3),
    escpos.cut(),
  ]);
}

export function buildReceipt(r: Receipt, layout: ReceiptLayout): Buffer {
  const w = layout.width;
  return Buffer.concat([
    escpos.init(),
    escpos.align(1),
    escpos.bold(true),
    escpos.line(r.merchantName),
    escpos.bold(false),
    escpos.line(r.terminalName),
    escpos.line(''),
    escpos.bold(true),
    escpos.line(r.title),
    escpos.size(2, 2),
    escpos.line(r.amountText),
    escpos.size(1, 1),
    escpos.bold(false),
    escpos.line(''),
    escpos.align(0),
    ...labelled('Time', formatPaidAt(r.paidAt, layout.timeZone), w).map(escpos.line),
    ...labelled('Paid with', r.methodName, w).map(escpos.line),
    ...labelled('Sale', r.saleId, w).map(escpos.line),
    ...labelled('Charge', r.chargeId, w).map(escpos.line),
    escpos.line(''),
    escpos.align(1),
    escposQr(r.chargeId, { moduleSize: layout.qrModuleSize }),
    escpos.line(''),
    escpos.line(r.chargeId),
    escpos.feed(3),
    escpos.cut(),
  ]);
}
