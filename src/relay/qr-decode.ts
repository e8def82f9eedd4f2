/**
 * Gets the QR text out of Omise's QR document. Omise's SVG layout is undocumented, so nothing
 * here looks at its elements: librsvg (inside canvas) rasterises it onto white at a size that
 * gives every module of even a version-40 code at least 4 pixels, and jsQR reads the pixels.
 */
import { createCanvas, loadImage, type Image } from 'canvas';
import jsQR from 'jsqr';

/**
 * Rasterising and jsQR cost grow with the pixel count, and this sits on every sale's path to the
 * QR on screen: 200 px gives typical Alipay+ codes (version 3–6, under 50 modules with the quiet
 * zone) 4+ px per module, which decodes in ~5 ms instead of ~15 ms at 400. Only when that fails
 * (a larger code, or a layout that rasterises badly small) are 400, 800 and then 1600 tried; 1600
 * covers up to version 40 ((177 + 8) × 4 px ≈ 740).
 */
const SIZES = [200, 400, 800, 1600];

export class QrDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QrDecodeError';
  }
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || /%\s*$/.test(v)) return undefined;
  const n = parseFloat(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * librsvg needs an intrinsic size; Omise's (or anyone's) root <svg> may only have a viewBox, or a
 * size in mm. Give the root element our pixel size and keep its coordinate system in a viewBox.
 */
export function sizeSvg(svg: string, px: number): string {
  const m = /<svg\b([^>]*)>/i.exec(svg);
  if (!m) throw new QrDecodeError('QR document is not an SVG (no <svg> element)');
  let attrs = m[1];
  const attr = (name: string) => new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i').exec(attrs);
  const get = (name: string) => {
    const a = attr(name);
    return a ? (a[2] ?? a[3]) : undefined;
  };
  const viewBox = get('viewBox');
  let w = num(get('width'));
  let h = num(get('height'));
  if (viewBox) {
    // The viewBox is the module grid's coordinate system: size the picture from it.
    const parts = viewBox.trim().split(/[\s,]+/).map(Number);
    if (parts.length === 4 && parts.every(Number.isFinite) && parts[2] > 0 && parts[3] > 0) {
      w = parts[2];
      h = parts[3];
    }
  } else if (w && h) {
    attrs += ` viewBox="0 0 ${w} ${h}"`;
  }
  if (!w || !h) w = h = 1;
  // A whole number of pixels per user unit keeps module edges on pixel boundaries: layouts made
  // of one <rect> per module then show no anti-aliased seams between neighbours.
  const longest = Math.max(w, h);
  const scale = longest <= px ? Math.ceil(px / longest) : px / longest;
  attrs = attrs.replace(/\s(width|height)\s*=\s*("[^"]*"|'[^']*')/gi, '');
  attrs += ` width="${Math.round(w * scale)}" height="${Math.round(h * scale)}"`;
  return svg.slice(0, m.index) + `<svg${attrs}>` + svg.slice(m.index + m[0].length);
}

/** Grey seams and soft edges become clean black or white (jsQR's own threshold is local). */
function binarise(px: Uint8ClampedArray): void {
  for (let i = 0; i < px.length; i += 4) {
    const lum = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    const v = lum < 160 ? 0 : 255;
    px[i] = px[i + 1] = px[i + 2] = v;
    px[i + 3] = 255;
  }
}

async function decodeAt(svg: string, px: number): Promise<string | undefined> {
  const img = await loadImage(Buffer.from(sizeSvg(svg, px), 'utf8'));
  return readQr(img, Math.max(1, Math.round(img.width)), Math.max(1, Math.round(img.height)));
}

/** Draws the picture onto white at w × h (no smoothing), binarises it and lets jsQR read it. */
function readQr(img: Image, w: number, h: number): string | undefined {
  const canvas = createCanvas(w, h);
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h);
  binarise(data.data);
  // Drawn dark-on-white; the inverted pass is only for documents drawn light-on-dark.
  const found = jsQR(data.data, w, h, { inversionAttempts: 'dontInvert' }) ?? jsQR(data.data, w, h, { inversionAttempts: 'onlyInvert' });
  return found?.data || undefined;
}

export async function decodeQrSvg(svg: string): Promise<string> {
  let lastError: unknown;
  for (const px of SIZES) {
    try {
      const text = await decodeAt(svg, px);
      if (text) return text;
    } catch (err) {
      lastError = err;
    }
  }
  const why = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new QrDecodeError(`no QR code found in the QR document${why}`);
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Reads a raster QR document (PNG): drawn onto white at its own size, or at least 400 px. */
async function decodePng(png: Buffer): Promise<string> {
  const img = await loadImage(png);
  const scale = Math.max(1, Math.ceil(400 / Math.max(1, Math.min(img.width, img.height))));
  const text = readQr(img, Math.round(img.width * scale), Math.round(img.height * scale));
  if (!text) throw new QrDecodeError('no QR code found in the PNG QR document');
  return text;
}

/**
 * Any QR document Omise serves: SVG (Alipay+, PromptPay, WeChat Pay) or PNG (PayNow), told apart
 * by its bytes, not its content type. Returns the QR text and the document as SVG (a PNG is
 * wrapped in an <image>, so the fallback the terminal keeps is one format).
 */
export async function decodeQrDocument(body: Buffer): Promise<{ text: string; svg: string }> {
  if (body.subarray(0, 8).equals(PNG_MAGIC)) {
    const text = await decodePng(body);
    const img = await loadImage(body);
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${img.width}" height="${img.height}" viewBox="0 0 ${img.width} ${img.height}">` +
      `<image width="${img.width}" height="${img.height}" xlink:href="data:image/png;base64,${body.toString('base64')}"/></svg>`;
    return { text, svg };
  }
  const svg = body.toString('utf8');
  return { text: await decodeQrSvg(svg), svg };
}
