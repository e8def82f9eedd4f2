/**
 * Text for single-byte serial devices. Pole displays and ESC/POS printers in their default code
 * page only show ASCII reliably, so accents are dropped (é → e) and anything else becomes "?":
 * a wrong glyph on the customer's display is worse than an obvious placeholder.
 */
export function toAscii(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\r\n\t]/g, ' ')
    .replace(/[^\x20-\x7e]/gu, '?');
}

/** ASCII, cut or padded with spaces to exactly `width` characters. */
export function fitLine(text: string, width: number): string {
  return toAscii(text).slice(0, width).padEnd(width, ' ');
}

export function ascii(text: string): Buffer {
  return Buffer.from(toAscii(text), 'latin1');
}
