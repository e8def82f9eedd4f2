/**
 * A zone's offset from UTC read from the system's tz database (/usr/share/zoneinfo, Debian's
 * tzdata), without ICU. time.ts uses it before Intl.DateTimeFormat: creating any
 * Intl.DateTimeFormat makes V8 load ICU's locale, calendar and zone data and code, ~7.5 MB of
 * the node executable's pages resident in the process for good, for what is a table lookup.
 * A zone without a readable file (no tzdata, a name only ICU knows) returns null and time.ts
 * falls back to Intl, so nothing is refused that was accepted before.
 *
 * The format is RFC 8536 (TZif): the version 2+ block (64-bit transition times) and its footer,
 * a POSIX TZ string for the instants after the last transition (most zones now have only the
 * footer for the future: "<+07>-7", or "GMT0BST,M3.5.0/1,M10.5.0" for London).
 */
import fs from 'node:fs';
import path from 'node:path';

export const ZONEINFO_DIR = '/usr/share/zoneinfo';

export interface ZoneRules {
  /** Offset of local time from UTC at the instant `ms`, in ms (+7 h for Asia/Bangkok). */
  offsetAt(ms: number): number;
}

/** Names of real zones only: no paths out of the folder, none of its non-zone files and copies. */
function plausibleName(name: string): boolean {
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(name) || name.length > 64) return false;
  return !/^(posix|right)\//.test(name) && !['posixrules', 'localtime', 'Factory'].includes(name);
}

const cache = new Map<string, ZoneRules | null>();

/** The rules of the zone `name` from `dir`, or null when there is no such zone file (or it cannot be read). */
export function zoneRules(name: string, dir = ZONEINFO_DIR): ZoneRules | null {
  const key = `${dir}\0${name}`;
  let r = cache.get(key);
  if (r === undefined) {
    r = null;
    if (plausibleName(name)) {
      try {
        r = parseTzif(fs.readFileSync(path.join(dir, name)));
      } catch {
        r = null;
      }
    }
    cache.set(key, r);
  }
  return r;
}

/** Parses a TZif file (version 2 or later); null for what this reader does not take (v1 only, leap seconds). */
export function parseTzif(buf: Buffer): ZoneRules | null {
  const header = (at: number) => {
    if (buf.toString('latin1', at, at + 4) !== 'TZif') throw new Error('not a TZif file');
    const n = (i: number) => buf.readUInt32BE(at + 20 + 4 * i);
    return { version: buf[at + 4], isut: n(0), isstd: n(1), leap: n(2), time: n(3), type: n(4), char: n(5) };
  };
  const h1 = header(0);
  // Version 1 has no 64-bit block or footer; none of tzdata's files has been v1 for years.
  if (h1.version < 0x32) return null;
  const v1Size = h1.time * 5 + h1.type * 6 + h1.char + h1.leap * 8 + h1.isstd + h1.isut;
  const at = 44 + v1Size;
  const h = header(at);
  // The right/ zones count leap seconds: not what a wall clock shows.
  if (h.leap > 0 || h.type === 0) return null;
  let p = at + 44;
  const times: number[] = [];
  for (let i = 0; i < h.time; i++, p += 8) times.push(Number(buf.readBigInt64BE(p)));
  const idx: number[] = [];
  for (let i = 0; i < h.time; i++, p++) idx.push(buf[p]);
  const offsets: number[] = [];
  for (let i = 0; i < h.type; i++, p += 6) offsets.push(buf.readInt32BE(p));
  p += h.char + h.leap * 12 + h.isstd + h.isut;
  if (idx.some((i) => i >= offsets.length)) return null;
  let footer: PosixRule | null = null;
  if (buf[p] === 0x0a) {
    const end = buf.indexOf(0x0a, p + 1);
    const text = buf.toString('latin1', p + 1, end < 0 ? buf.length : end);
    if (text) {
      footer = parsePosixTz(text);
      // A footer this reader cannot follow: let ICU answer for this zone instead.
      if (!footer) return null;
    }
  }
  return {
    offsetAt(ms: number): number {
      const t = Math.floor(ms / 1000);
      if (!times.length || t < times[0]) {
        if (!times.length && footer) return footer.offsetAt(t) * 1000;
        return offsets[0] * 1000;
      }
      if (footer && t >= times[times.length - 1]) return footer.offsetAt(t) * 1000;
      // The last transition at or before t.
      let lo = 0;
      let hi = times.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (times[mid] <= t) lo = mid;
        else hi = mid - 1;
      }
      return offsets[idx[lo]] * 1000;
    },
  };
}

interface PosixRule {
  /** Offset from UTC in seconds at `t` (seconds since the epoch). */
  offsetAt(t: number): number;
}

type DateRule = { kind: 'J'; day: number } | { kind: 'n'; day: number } | { kind: 'M'; month: number; week: number; weekday: number };

/** A POSIX TZ string as TZif footers have it (RFC 8536 §3.3.1); null for one it does not follow. */
export function parsePosixTz(s: string): PosixRule | null {
  let i = 0;
  const name = (): boolean => {
    if (s[i] === '<') {
      const end = s.indexOf('>', i);
      if (end < 0) return false;
      i = end + 1;
      return true;
    }
    const start = i;
    while (i < s.length && /[A-Za-z]/.test(s[i])) i++;
    return i - start >= 3;
  };
  /** [+-]hh[:mm[:ss]] in seconds, or null. */
  const time = (maxHours: number): number | null => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(s.slice(i));
    if (!m) return null;
    i += m[0].length;
    const h = Number(m[2]);
    if (h > maxHours) return null;
    const v = h * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    return m[1] === '-' ? 0 - v : v;
  };
  const dateRule = (): DateRule | null => {
    let m: RegExpExecArray | null;
    const rest = s.slice(i);
    if ((m = /^M(\d{1,2})\.(\d)\.(\d)/.exec(rest))) {
      i += m[0].length;
      const r = { kind: 'M' as const, month: Number(m[1]), week: Number(m[2]), weekday: Number(m[3]) };
      return r.month >= 1 && r.month <= 12 && r.week >= 1 && r.week <= 5 && r.weekday <= 6 ? r : null;
    }
    if ((m = /^J(\d{1,3})/.exec(rest))) {
      i += m[0].length;
      const day = Number(m[1]);
      return day >= 1 && day <= 365 ? { kind: 'J', day } : null;
    }
    if ((m = /^(\d{1,3})/.exec(rest))) {
      i += m[0].length;
      const day = Number(m[1]);
      return day <= 365 ? { kind: 'n', day } : null;
    }
    return null;
  };
  if (!name()) return null;
  const stdWest = time(24);
  if (stdWest === null) return null;
  const std = 0 - stdWest;
  if (i === s.length) return { offsetAt: () => std };
  if (!name()) return null;
  let dst = std + 3600;
  if (i < s.length && s[i] !== ',') {
    const w = time(24);
    if (w === null) return null;
    dst = 0 - w;
  }
  // DST with no rule: POSIX leaves the dates to the implementation; leave the zone to ICU.
  if (s[i] !== ',') return null;
  i++;
  const startRule = dateRule();
  if (!startRule) return null;
  let startTime = 7200;
  if (s[i] === '/') {
    i++;
    const t = time(167);
    if (t === null) return null;
    startTime = t;
  }
  if (s[i] !== ',') return null;
  i++;
  const endRule = dateRule();
  if (!endRule) return null;
  let endTime = 7200;
  if (s[i] === '/') {
    i++;
    const t = time(167);
    if (t === null) return null;
    endTime = t;
  }
  if (i !== s.length) return null;
  const DAY = 86_400;
  /** Seconds from the epoch to 00:00 (of the rule's local clock) of the rule's day in `year`. */
  const dayStart = (year: number, r: DateRule): number => {
    const jan1 = Date.UTC(year, 0, 1) / 1000;
    if (r.kind === 'n') return jan1 + r.day * DAY;
    if (r.kind === 'J') {
      // 1–365, February 29 never counted.
      const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
      return jan1 + (r.day - 1 + (leap && r.day >= 60 ? 1 : 0)) * DAY;
    }
    const first = Date.UTC(year, r.month - 1, 1) / 1000;
    const firstWeekday = new Date(first * 1000).getUTCDay();
    let day = 1 + ((r.weekday - firstWeekday + 7) % 7) + (r.week - 1) * 7;
    const days = new Date(Date.UTC(year, r.month, 0)).getUTCDate();
    while (day > days) day -= 7;
    return first + (day - 1) * DAY;
  };
  return {
    offsetAt(t: number): number {
      const year = new Date((t + std) * 1000).getUTCFullYear();
      // The changes of the years around t, in time order; the last one at or before t decides.
      const changes: [number, number][] = [];
      for (const y of [year - 1, year, year + 1]) {
        // Start: the standard-time clock reads startTime; end: the daylight-time clock reads endTime.
        changes.push([dayStart(y, startRule) + startTime - std, dst]);
        changes.push([dayStart(y, endRule) + endTime - dst, std]);
      }
      changes.sort((a, b) => a[0] - b[0]);
      let off = changes[0][1] === dst ? std : dst;
      for (const [at, o] of changes) if (at <= t) off = o;
      return off;
    },
  };
}
