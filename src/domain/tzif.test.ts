import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parsePosixTz, zoneRules, ZONEINFO_DIR } from './tzif';

const H = 3_600_000;

/** The offset ICU gives (what time.ts used before it read the tz database itself). */
const formats = new Map<string, Intl.DateTimeFormat>();
function intlOffset(ms: number, zone: string): number {
  const f = formats.get(zone) ?? new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  formats.set(zone, f);
  const o: Record<string, number> = {};
  for (const p of f.formatToParts(new Date(ms))) if (p.type !== 'literal') o[p.type] = Number(p.value);
  return Date.UTC(o.year, o.month - 1, o.day, o.hour % 24, o.minute, o.second) - (ms - (((ms % 1000) + 1000) % 1000));
}

const haveTzdata = fs.existsSync(`${ZONEINFO_DIR}/Europe/London`);

describe('tz database reader', () => {
  it.skipIf(!haveTzdata)('gives the offsets ICU gives, across DST changes, past the last transition and before the first', () => {
    const zones = ['Asia/Bangkok', 'Asia/Singapore', 'Asia/Kuala_Lumpur', 'Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Australia/Sydney', 'America/Santiago', 'Pacific/Chatham', 'UTC', 'Etc/GMT+7'];
    const from = Date.UTC(1975, 0, 1);
    const to = Date.UTC(2080, 0, 1);
    for (const z of zones) {
      const r = zoneRules(z);
      expect(r, z).not.toBeNull();
      // Every 197 hours for 105 years lands on both sides of every change many times.
      for (let ms = from; ms < to; ms += 197 * H + 17_000) expect(r!.offsetAt(ms), `${z} at ${new Date(ms).toISOString()}`).toBe(intlOffset(ms, z));
    }
  });

  it.skipIf(!haveTzdata)('at the instant of a change', () => {
    const london = zoneRules('Europe/London')!;
    expect(london.offsetAt(Date.parse('2025-03-30T00:59:59.999Z'))).toBe(0);
    expect(london.offsetAt(Date.parse('2025-03-30T01:00:00Z'))).toBe(H);
    expect(london.offsetAt(Date.parse('2040-10-28T00:59:59Z'))).toBe(H);
    expect(london.offsetAt(Date.parse('2040-10-28T01:00:00Z'))).toBe(0);
    expect(zoneRules('Asia/Bangkok')!.offsetAt(Date.parse('2099-01-01T00:00:00Z'))).toBe(7 * H);
  });

  it('no zone for names that are not zones, paths, or where there is no tz database', () => {
    for (const n of ['Asia/Nowhere', '../../etc/passwd', '/etc/localtime', 'posix/Asia/Bangkok', 'right/Asia/Bangkok', 'localtime', 'posixrules', 'Factory', 'zone.tab', 'Asia', '']) expect(zoneRules(n), n).toBeNull();
    expect(zoneRules('Asia/Bangkok', '/nonexistent-zoneinfo')).toBeNull();
  });

  it('POSIX TZ footers', () => {
    const t = (iso: string) => Date.parse(iso) / 1000;
    expect(parsePosixTz('<+07>-7')!.offsetAt(0)).toBe(7 * 3600);
    expect(parsePosixTz('<-0330>3:30')!.offsetAt(0)).toBe(-3.5 * 3600);
    const ny = parsePosixTz('EST5EDT,M3.2.0,M11.1.0')!;
    expect(ny.offsetAt(t('2031-03-09T06:59:59Z'))).toBe(-5 * 3600);
    expect(ny.offsetAt(t('2031-03-09T07:00:00Z'))).toBe(-4 * 3600);
    expect(ny.offsetAt(t('2031-11-02T05:59:59Z'))).toBe(-4 * 3600);
    expect(ny.offsetAt(t('2031-11-02T06:00:00Z'))).toBe(-5 * 3600);
    // Southern hemisphere: daylight time across the new year.
    const syd = parsePosixTz('AEST-10AEDT,M10.1.0,M4.1.0/3')!;
    expect(syd.offsetAt(t('2031-01-01T00:00:00Z'))).toBe(11 * 3600);
    expect(syd.offsetAt(t('2031-07-01T00:00:00Z'))).toBe(10 * 3600);
    // Julian days (no February 29) and zero-based days.
    const j = parsePosixTz('AAA0BBB,J60/0,J300/0')!;
    expect(j.offsetAt(t('2032-03-01T00:00:00Z'))).toBe(3600);
    expect(j.offsetAt(t('2032-02-29T23:59:59Z'))).toBe(0);
    expect(parsePosixTz('AAA0BBB,59/0,300/0')!.offsetAt(t('2032-02-29T00:00:00Z'))).toBe(3600);
    // What it does not follow (ICU answers for such a zone instead).
    for (const s of ['EST5EDT', 'E5', '<+07', 'EST5EDT,M3.2.0', 'EST5EDT,M13.2.0,M11.1.0', 'EST5EDT,M3.2.0,M11.1.0x']) expect(parsePosixTz(s), s).toBeNull();
  });
});
