/**
 * The QR document the simulator serves at a charge's download_uri. Omise's exact SVG layout is
 * unknown, so several structures are offered and consumers must rasterise and decode rather
 * than parse elements: one <path>, a <rect> per dark module in module units, and a <rect> per
 * module inside a scaled, translated group.
 */
import * as QRCode from 'qrcode';

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
