import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { businessDay, dayBounds, formatClock, formatDateTime, isTimeZone, systemTimeZone } from './time';

const H = 3_600_000;
const utc = (iso: string) => Date.parse(iso);

describe('shop time', () => {
  it('formatClock: 24-hour HH:MM on the shop clock', () => {
    const t = utc('2025-06-01T16:05:59Z');
    expect(formatClock(t, 'Asia/Bangkok')).toBe('23:05');
    expect(formatClock(t, 'Asia/Singapore')).toBe('00:05');
    expect(formatClock(t, 'Europe/London')).toBe('17:05');
    expect(formatClock(utc('2025-01-01T00:00:00Z'), 'Europe/London')).toBe('00:00');
    expect(formatClock(utc('2025-01-01T00:00:00Z'), 'UTC')).toBe('00:00');
    expect(() => formatClock(t, 'Mars/Olympus')).toThrow(/time zone/);
  });

  it('validates zone names', () => {
    for (const z of ['Asia/Bangkok', 'Asia/Singapore', 'Asia/Kuala_Lumpur', 'Europe/London', 'UTC']) expect(isTimeZone(z), z).toBe(true);
    for (const z of ['', ' ', 'Bangkok', 'Asia/Nowhere', 7, null]) expect(isTimeZone(z), String(z)).toBe(false);
    expect(isTimeZone(systemTimeZone())).toBe(true);
  });

  it('businessDay: the local date, or the day before while the clock is before the start hour', () => {
    // 2025-06-01 23:30 in Bangkok is 16:30 UTC; in Singapore it is already 00:30 on 06-02.
    const t = utc('2025-06-01T16:30:00Z');
    expect(businessDay(t, 'Asia/Bangkok')).toBe('2025-06-01');
    expect(businessDay(t, 'Asia/Singapore')).toBe('2025-06-02');
    expect(businessDay(t, 'Asia/Singapore', 4)).toBe('2025-06-01');
    expect(businessDay(utc('2025-06-01T20:00:00Z'), 'Asia/Singapore', 4)).toBe('2025-06-02'); // 04:00 local
    expect(businessDay(utc('2025-06-01T19:59:59Z'), 'Asia/Singapore', 4)).toBe('2025-06-01');
    // Across a month and a year boundary.
    expect(businessDay(utc('2025-03-01T01:00:00Z'), 'Asia/Bangkok', 9)).toBe('2025-02-28');
    expect(businessDay(utc('2025-01-01T01:00:00Z'), 'Asia/Bangkok', 9)).toBe('2024-12-31');
    expect(() => businessDay(t, 'Asia/Bangkok', 24)).toThrow(/0–23/);
  });

  it('dayBounds: 24 hours where there is no daylight saving', () => {
    expect(dayBounds('2025-06-01', 'Asia/Bangkok')).toEqual([utc('2025-05-31T17:00:00Z'), utc('2025-06-01T17:00:00Z')]);
    expect(dayBounds('2025-06-01', 'Asia/Singapore', 4)).toEqual([utc('2025-05-31T20:00:00Z'), utc('2025-06-01T20:00:00Z')]);
    expect(dayBounds('2024-02-29', 'Asia/Kuala_Lumpur')).toEqual([utc('2024-02-28T16:00:00Z'), utc('2024-02-29T16:00:00Z')]);
    for (const bad of ['2025-02-30', '2025-6-1', 'today', '']) expect(() => dayBounds(bad, 'Asia/Bangkok'), bad).toThrow(/YYYY-MM-DD/);
  });

  it('dayBounds: 23 and 25 hours across London daylight-saving changes', () => {
    // Clocks go forward 2025-03-30 01:00 GMT → 02:00 BST, back 2025-10-26 02:00 BST → 01:00 GMT.
    expect(dayBounds('2025-03-30', 'Europe/London')).toEqual([utc('2025-03-30T00:00:00Z'), utc('2025-03-30T23:00:00Z')]);
    expect(dayBounds('2025-10-26', 'Europe/London')).toEqual([utc('2025-10-25T23:00:00Z'), utc('2025-10-27T00:00:00Z')]);
    // A day starting at 01:00: that hour is skipped in March (the day starts at the jump) and
    // shown twice in October (the day starts at the first one).
    expect(dayBounds('2025-03-30', 'Europe/London', 1)).toEqual([utc('2025-03-30T01:00:00Z'), utc('2025-03-31T00:00:00Z')]);
    expect(dayBounds('2025-10-26', 'Europe/London', 1)).toEqual([utc('2025-10-26T00:00:00Z'), utc('2025-10-27T01:00:00Z')]);
    const [s, e] = dayBounds('2025-10-26', 'Europe/London', 1);
    expect(e - s).toBe(25 * H);
    expect(businessDay(utc('2025-10-26T00:30:00Z'), 'Europe/London', 1)).toBe('2025-10-26'); // 01:30 BST
    expect(businessDay(utc('2025-10-26T01:30:00Z'), 'Europe/London', 1)).toBe('2025-10-26'); // 01:30 GMT
    expect(businessDay(utc('2025-03-30T00:59:59Z'), 'Europe/London', 1)).toBe('2025-03-29'); // 00:59 GMT
    expect(businessDay(utc('2025-03-30T01:00:00Z'), 'Europe/London', 1)).toBe('2025-03-30'); // 02:00 BST
    expect(formatClock(utc('2025-03-30T01:00:00Z'), 'Europe/London')).toBe('02:00');
  });

  it('every instant lies in the bounds of its own business day, and consecutive days meet', () => {
    const zones = ['Asia/Bangkok', 'Asia/Singapore', 'Europe/London'];
    const from = utc('2024-01-01T00:00:00Z');
    const to = utc('2026-12-31T00:00:00Z');
    fc.assert(
      fc.property(fc.integer({ min: from, max: to }), fc.constantFrom(...zones), fc.integer({ min: 0, max: 23 }), (t, zone, hour) => {
        const day = businessDay(t, zone, hour);
        const [start, end] = dayBounds(day, zone, hour);
        expect(start <= t && t < end).toBe(true);
        expect(end - start === 24 * H || (zone === 'Europe/London' && (end - start === 23 * H || end - start === 25 * H))).toBe(true);
        expect(businessDay(start, zone, hour)).toBe(day);
        expect(businessDay(end - 1, zone, hour)).toBe(day);
        expect(businessDay(end, zone, hour)).not.toBe(day);
        expect(businessDay(start - 1, zone, hour)).not.toBe(day);
      }),
      { numRuns: 400, seed: 20251026 },
    );
  });
});

describe('formatDateTime', () => {
  it('is the wall clock to the second in the zone, across a DST change', () => {
    expect(formatDateTime(Date.parse('2026-11-26T04:10:47Z'), 'Asia/Bangkok')).toBe('2026-11-26 11:10:47');
    expect(formatDateTime(Date.parse('2026-11-26T23:59:59Z'), 'Asia/Singapore')).toBe('2026-11-27 07:59:59');
    expect(formatDateTime(Date.parse('2026-03-29T00:59:59Z'), 'Europe/London')).toBe('2026-03-29 00:59:59');
    expect(formatDateTime(Date.parse('2026-03-29T01:00:00Z'), 'Europe/London')).toBe('2026-03-29 02:00:00');
    expect(() => formatDateTime(0, 'Asia/Nowhere')).toThrow(/unknown time zone/);
  });
});
