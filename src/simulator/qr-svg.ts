/**
 * The QR document the simulator serves at a charge's download_uri. Omise's exact SVG layout is
 * unknown, so several structures are offered and consumers must rasterise and decode rather
 * than parse elements: one <path>, a <rect> per dark module in module units, and a <rect> per
 * module inside a scaled, translated group.
 */
import zlib from 'node:zlib';
import * as QRCode from 'qrcode';
import { crc32 } from '../shared/crc32';

export const SVG_STYLES = ['path', 'rects', 'rects-transform'] as const;
export type SvgStyle = (typeof SVG_STYLES)[number];
/** 'rotate' picks a different structure per charge. */
export type SvgStyleOption = SvgStyle | 'rotate';

export interface QrMatrix {
  size: number;
  /** Row-major, 1 = dark. */
  dark: Uint8Array;
}

export function qrMatrix(text: string): QrMatrix {
  const q = QRCode.create(text, { errorCorrectionLevel: 'M' });
  return { size: q.modules.size, dark: Uint8Array.from(q.modules.data) };
}

const QUIET = 4;
const PX = 8;

function pathSvg(m: QrMatrix): string {
  const n = m.size + QUIET * 2;
  let d = '';
  for (let y = 0; y < m.size; y++) {
    let x = 0;
    while (x < m.size) {
      if (!m.dark[y * m.size + x]) {
        x++;
        continue;
      }
      const start = x;
      while (x < m.size && m.dark[y * m.size + x]) x++;
      d += `M${start + QUIET} ${y + QUIET}h${x - start}v1h-${x - start}z`;
    }
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${n * PX}" height="${n * PX}" viewBox="0 0 ${n} ${n}" shape-rendering="crispEdges">` +
    `<rect width="${n}" height="${n}" fill="#ffffff"/><path fill="#000000" d="${d}"/></svg>\n`
  );
}

function rectsSvg(m: QrMatrix): string {
  const n = m.size + QUIET * 2;
  const parts: string[] = [];
  for (let y = 0; y < m.size; y++) {
    for (let x = 0; x < m.size; x++) {
      if (m.dark[y * m.size + x]) parts.push(`<rect x="${x + QUIET}" y="${y + QUIET}" width="1" height="1"/>`);
    }
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n * PX}" height="${n * PX}" viewBox="0 0 ${n} ${n}">` +
    `<rect x="0" y="0" width="${n}" height="${n}" style="fill:white"/><g style="fill:black">${parts.join('')}</g></svg>`
  );
}

function rectsTransformSvg(m: QrMatrix): string {
  const scale = 6;
  const quietPx = 30;
  const total = m.size * scale + quietPx * 2;
  const parts: string[] = [];
  for (let y = 0; y < m.size; y++) {
    for (let x = 0; x < m.size; x++) {
      if (m.dark[y * m.size + x]) parts.push(`<rect x="${x}" y="${y}" width="1.02" height="1.02"/>`);
    }
  }
  return (
    `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${total}px" height="${total}px" viewBox="0 0 ${total} ${total}">\n` +
    `  <title>QR code</title>\n  <rect width="100%" height="100%" fill="#FFFFFF"/>\n` +
    `  <g transform="translate(${quietPx},${quietPx}) scale(${scale})" fill="#111111">\n    ${parts.join('\n    ')}\n  </g>\n</svg>\n`
  );
}

export function renderQrSvg(text: string, style: SvgStyle): string {
  const m = qrMatrix(text);
  switch (style) {
    case 'path':
      return pathSvg(m);
    case 'rects':
      return rectsSvg(m);
    case 'rects-transform':
      return rectsTransformSvg(m);
  }
}

// ---- PNG (PayNow's document format) ------------------------------------------------------------


function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** The QR as an 8-bit greyscale PNG: `PX` pixels per module and a four-module quiet zone. */
export function renderQrPng(text: string): Buffer {
  const m = qrMatrix(text);
  const n = (m.size + QUIET * 2) * PX;
  const raw = Buffer.alloc((n + 1) * n, 0xff);
  for (let y = 0; y < n; y++) {
    raw[y * (n + 1)] = 0; // filter: none
    const my = Math.floor(y / PX) - QUIET;
    if (my < 0 || my >= m.size) continue;
    for (let x = 0; x < n; x++) {
      const mx = Math.floor(x / PX) - QUIET;
      if (mx >= 0 && mx < m.size && m.dark[my * m.size + mx]) raw[y * (n + 1) + 1 + x] = 0;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(n, 0);
  ihdr.writeUInt32BE(n, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
