/**
 * Fonts for the customer screen: Latin, Thai and Simplified Chinese.
 *
 * The faces come from Debian's fonts-noto-core (Noto Sans, Noto Sans Thai) and fonts-noto-cjk
 * (Noto Sans CJK, a .ttc collection), which the installer puts on every device. They are
 * registered with canvas by path so pango finds them even where fontconfig's cache is stale,
 * and every font string names them explicitly, so the glyphs never depend on fontconfig's
 * fallback order (which differs between machines).
 *
 * A .ttc holds several faces (JP, KR, SC, TC, HK). canvas's registerFont() maps the alias it is
 * given to the family of face 0 (JP), which would draw Chinese with Japanese glyph variants.
 * So the collection is registered under an alias nobody uses (which still adds every face to
 * fontconfig), and font strings name "Noto Sans CJK SC" directly.
 *
 * A font dropped into device/fonts/ with the same file name wins over the system one, so a
 * device without the Debian packages can still be given the faces.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { registerFont } from 'canvas';
import type { Logger } from '../../shared/log';

export type Weight = 'normal' | 'bold';

interface FontFile {
  /** What the face is for, in log lines. */
  role: 'latin' | 'thai' | 'cjk';
  file: string;
  /** Where Debian puts it. */
  systemDir: string;
  /** Name passed to registerFont (an alias for collections, see above). */
  family: string;
  weight: Weight;
}

const NOTO_TTF = '/usr/share/fonts/truetype/noto';
const NOTO_OTF = '/usr/share/fonts/opentype/noto';

const FILES: readonly FontFile[] = [
  { role: 'latin', file: 'NotoSans-Regular.ttf', systemDir: NOTO_TTF, family: 'Noto Sans', weight: 'normal' },
  { role: 'latin', file: 'NotoSans-Bold.ttf', systemDir: NOTO_TTF, family: 'Noto Sans', weight: 'bold' },
  { role: 'thai', file: 'NotoSansThai-Regular.ttf', systemDir: NOTO_TTF, family: 'Noto Sans Thai', weight: 'normal' },
  { role: 'thai', file: 'NotoSansThai-Bold.ttf', systemDir: NOTO_TTF, family: 'Noto Sans Thai', weight: 'bold' },
  { role: 'cjk', file: 'NotoSansCJK-Regular.ttc', systemDir: NOTO_OTF, family: 'qrpos-cjk-collection', weight: 'normal' },
  { role: 'cjk', file: 'NotoSansCJK-Bold.ttc', systemDir: NOTO_OTF, family: 'qrpos-cjk-collection', weight: 'bold' },
];

/** Families in the order pango tries them for each character. */
export const FONT_FAMILIES = ['Noto Sans', 'Noto Sans Thai', 'Noto Sans CJK SC'] as const;
const FAMILY_LIST = FONT_FAMILIES.map((f) => `"${f}"`).join(', ');

/** CSS font string for the screen's font stack. Sizes are whole pixels so output is stable. */
export function fontString(px: number, weight: Weight = 'normal'): string {
  return `${weight === 'bold' ? 'bold ' : ''}${Math.max(1, Math.round(px))}px ${FAMILY_LIST}`;
}

export interface FontReport {
  registered: { role: string; file: string }[];
  missing: { role: string; file: string }[];
}

/** Folder for fonts bundled with the device files (repo: device/fonts). */
export function bundledFontDir(): string {
  // src/terminal/screens → repo root; the same depth holds under dist/.
  const fromSrc = path.resolve(__dirname, '..', '..', '..', 'device', 'fonts');
  const fromDist = path.resolve(__dirname, '..', '..', '..', '..', 'device', 'fonts');
  return existsSync(fromSrc) ? fromSrc : fromDist;
}

// fontconfig's application font set is process-wide, so registration is too: each face once.
let report: FontReport | undefined;
const done = new Set<Role>();

export type Role = FontFile['role'];

/**
 * Registers the screen fonts with canvas: every face, or only those of `roles` (the rest can
 * follow later: canvas picks up faces registered after a canvas was made). Idempotent; the
 * report is the same object until a later call adds faces. Missing faces are logged (pango then
 * falls back to whatever fontconfig has, which may lack Thai or Chinese glyphs); it never
 * throws for a missing file.
 *
 * Latin alone is a few milliseconds; the CJK collections are most of the cost (fontconfig
 * reads every face of each .ttc), which is why the boot screen, Latin only, is drawn first.
 */
export function registerFonts(log?: Logger, roles?: readonly Role[]): FontReport {
  const want = FILES.filter((f) => !done.has(f.role) && (!roles || roles.includes(f.role)));
  if (report && !want.length) return report;
  const found: FontReport = report ? { registered: [...report.registered], missing: [...report.missing] } : { registered: [], missing: [] };
  const bundled = bundledFontDir();
  for (const f of want) {
    const candidates = [path.join(bundled, f.file), path.join(f.systemDir, f.file)];
    const file = candidates.find((c) => existsSync(c));
    if (!file) {
      found.missing.push({ role: f.role, file: f.file });
      continue;
    }
    try {
      registerFont(file, { family: f.family, weight: f.weight });
      found.registered.push({ role: f.role, file });
    } catch (err) {
      log?.warn('font could not be registered', { file, err });
      found.missing.push({ role: f.role, file: f.file });
    }
  }
  for (const f of want) done.add(f.role);
  const missingRoles = [...new Set(found.missing.map((m) => m.role))];
  if (want.some((f) => found.missing.some((m) => m.file === f.file))) {
    log?.warn('screen fonts missing; Thai/Chinese text may show as boxes (install fonts-noto-core and fonts-noto-cjk)', {
      missing: found.missing.map((m) => m.file),
    });
  } else if (!missingRoles.length && done.size === new Set(FILES.map((f) => f.role)).size) {
    log?.debug('screen fonts registered', { files: found.registered.map((r) => r.file) });
  }
  report = found;
  return found;
}
