/**
 * Colours. A light theme: the QR needs a white quiet zone anyway, and dark-on-white survives
 * RGB565 and cheap SPI panels best. Every colour is opaque so partial redraws are exact.
 */
export const THEME = {
  background: '#ffffff',
  text: '#111111',
  muted: '#5a6270',
  accent: '#1560d4',
  statusBar: '#eef1f5',
  ok: '#12823a',
  error: '#c3261f',
  warn: '#a65c00',
  info: '#1560d4',
  qrDark: '#000000',
  qrLight: '#ffffff',
  dotEmpty: '#c9ced6',
  onColour: '#ffffff',
} as const;

export type Tone = 'info' | 'ok' | 'warn' | 'error';

export function toneColour(tone: Tone): string {
  return THEME[tone];
}
