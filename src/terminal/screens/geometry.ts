/**
 * Sizes derived from the screen. Everything scales with the short side, so 240×240 and
 * 320×240 share text sizes and 1920×1080 is the 480×320 layout scaled up; the long side only
 * decides whether things sit side by side. All values are whole pixels.
 */
export interface Geometry {
  width: number;
  height: number;
  /** Short side. */
  unit: number;
  /** Landscape enough to put the QR beside the text. */
  wide: boolean;
  pad: number;
  statusH: number;
  statusPx: number;
  titlePx: number;
  bodyPx: number;
  /** Smallest text size used anywhere (legibility floor on 240-pixel panels). */
  minPx: number;
  amountPx: number;
  /** Text sizes flowing layouts choose from (./flow.ts): minPx up, ~12% apart. */
  ladder: readonly number[];
}

export function geometryFor(width: number, height: number): Geometry {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 64 || height < 64) {
    throw new RangeError(`screen size must be whole pixels, at least 64×64; got ${width}×${height}`);
  }
  const unit = Math.min(width, height);
  const statusH = Math.round(unit * 0.1);
  const minPx = Math.max(11, Math.round(unit * 0.05));
  return {
    width,
    height,
    unit,
    wide: width >= height * 1.2,
    pad: Math.max(4, Math.round(unit * 0.035)),
    statusH,
    statusPx: Math.max(11, Math.round(statusH * 0.58)),
    titlePx: Math.max(14, Math.round(unit * 0.085)),
    bodyPx: Math.max(12, Math.round(unit * 0.066)),
    minPx,
    amountPx: Math.max(20, Math.round(unit * 0.24)),
    ladder: sizeLadder(minPx, height),
  };
}

/** Text sizes from `minPx` up to `maxPx`, each ~12% larger than the last. */
export function sizeLadder(minPx: number, maxPx: number): number[] {
  const out: number[] = [];
  for (let px = Math.max(1, Math.round(minPx)); px <= maxPx; px = Math.max(px + 1, Math.round(px * 1.12))) out.push(px);
  return out;
}
