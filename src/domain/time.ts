/**
 * Wall-clock time in the shop's time zone (an IANA name such as "Asia/Bangkok"): the clock on
 * screen, the business day a sale belongs to, and the instants a business day starts and ends.
 *
 * A business day starts at `startHour`:00 local time (0 = midnight; 4 = a bar whose day ends at
 * 04:00). Everything is computed from the zone's wall clock, never by adding 24 hours, so days
 * across a daylight-saving change are 23 or 25 hours long and still tile time exactly: every
 * instant belongs to the one day whose bounds contain it.
 */
import type { Country } from './money';
import { zoneRules } from './tzif';

const formats = new Map<string, Intl.DateTimeFormat>();

function partsFormat(zone: string): Intl.DateTimeFormat {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(zone, f);
  }
  return f;
}

/**
 * The shop's zone when its config names none: each country qrpos serves has one zone. (Not the
 * system's: relay servers run on UTC, and a Pi fresh from the imager on Europe/London.)
 */
export const COUNTRY_TIME_ZONE: Record<Country, string> = { TH: 'Asia/Bangkok', SG: 'Asia/Singapore', MY: 'Asia/Kuala_Lumpur' };

/** The zone's canonical name (e.g. "asia/bangkok" → "Asia/Bangkok"), or null when this runtime does not know it. */
export function canonicalTimeZone(name: unknown): string | null {
  if (typeof name !== 'string' || name.trim() === '' || name.length > 64) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/**
 * True for a time zone name this runtime knows ("Asia/Bangkok", "UTC"): one of the system's tz
 * database (tzif.ts), else one ICU knows (which loads ICU's zone and locale data: ~7.5 MB of
 * resident memory the terminal does without on a device with tzdata).
 */
export function isTimeZone(zone: unknown): zone is string {
  if (typeof zone === 'string' && zoneRules(zone)) return true;
  return canonicalTimeZone(zone) !== null;
}

/** The zone the system is set to. */
export function systemTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallOf(ms: number, zone: string): Wall {
  // The system's tz database where it has the zone (no ICU: see isTimeZone), else ICU.
  const rules = zoneRules(zone);
  if (rules) {
    const d = new Date(ms + rules.offsetAt(ms));
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
  }
  const out: Record<string, number> = {};
  for (const p of partsFormat(zone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  return { year: out.year, month: out.month, day: out.day, hour: out.hour % 24, minute: out.minute, second: out.second };
}

/** The wall clock at `ms` read as if it were UTC, in ms (whole seconds). */
function wallMs(ms: number, zone: string): number {
  const w = wallOf(ms, zone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** Offset of the zone from UTC at the instant `ms`, in ms (+7 h for Asia/Bangkok). */
function offsetAt(ms: number, zone: string): number {
  return wallMs(ms, zone) - (ms - (((ms % 1000) + 1000) % 1000));
}

function assertZone(zone: string): void {
  if (!isTimeZone(zone)) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
}

/** "HH:MM" (24-hour) at the instant `ms` in `zone`. */
export function formatClock(ms: number, zone: string): string {
  assertZone(zone);
  const w = wallOf(ms, zone);
  return `${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
}

function dateText(y: number, m: number, d: number): string {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** "YYYY-MM-DD HH:MM:SS" (24-hour) at the instant `ms` in `zone` (receipts). */
export function formatDateTime(ms: number, zone: string): string {
  assertZone(zone);
  const w = wallOf(ms, zone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${dateText(w.year, w.month, w.day)} ${two(w.hour)}:${two(w.minute)}:${two(w.second)}`;
}

function checkHour(startHour: number): void {
  if (!Number.isInteger(startHour) || startHour < 0 || startHour > 23) throw new RangeError(`business day start hour must be 0–23, got ${startHour}`);
}

/**
 * The business day ("YYYY-MM-DD") the instant `ms` belongs to: the local date, or the date
 * before it while the local clock is still before `startHour`.
 */
export function businessDay(ms: number, zone: string, startHour = 0): string {
  assertZone(zone);
  checkHour(startHour);
  const w = wallOf(ms, zone);
  if (w.hour >= startHour) return dateText(w.year, w.month, w.day);
  const prev = new Date(Date.UTC(w.year, w.month - 1, w.day - 1));
  return dateText(prev.getUTCFullYear(), prev.getUTCMonth() + 1, prev.getUTCDate());
}

const HOUR = 3_600_000;

/**
 * The first instant at which the zone's clock shows `wall` (a wall time read as UTC ms) or
 * later. A wall time the clock shows twice (clocks going back) gives its first occurrence; one
 * it skips (clocks going forward) gives the instant of the jump.
 */
function firstInstantAt(wall: number, zone: string): number {
  // Offsets in force around that wall time: at most two (before and after one change).
  const offsets = [...new Set([offsetAt(wall - 36 * HOUR, zone), offsetAt(wall, zone), offsetAt(wall + 36 * HOUR, zone)])];
  const exact = offsets.map((o) => wall - o).filter((t) => wallMs(t, zone) === wall);
  if (exact.length) return Math.min(...exact);
  // Skipped: the clock jumps over `wall` between these two instants; find the jump.
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallMs(mid, zone) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The instants [start, end) of the business day `date` ("YYYY-MM-DD"): from `startHour`:00
 * local time on that date to `startHour`:00 on the next. businessDay(t) === date exactly when
 * start <= t < end.
 */
export function dayBounds(date: string, zone: string, startHour = 0): [number, number] {
  assertZone(zone);
  checkHour(startHour);
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  const y = Number(m?.[1]);
  const mo = Number(m?.[2]);
  const d = Number(m?.[3]);
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (!m || day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) {
    throw new RangeError(`expected a date "YYYY-MM-DD", got "${date}"`);
  }
  return [firstInstantAt(Date.UTC(y, mo - 1, d, startHour), zone), firstInstantAt(Date.UTC(y, mo - 1, d + 1, startHour), zone)];
}
