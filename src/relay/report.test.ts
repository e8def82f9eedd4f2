import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../shared/args';
import type { RefundView, SaleView } from '../link/protocol';
import { OmiseClient } from '../omise/client';
import { ConfigError, parseRelayConfig } from './config';
import {
  businessDayOf,
  businessDayWindow,
  CSV_HEADER,
  isBusinessDate,
  reportRule,
  type BusinessDayRule,
  type DayReport,
  type ReportRow,
} from './report';
import { openReportReader } from './sqlite-store';
import { META_SALE, META_TERMINAL } from './sales';
import { command as relayCommand } from './cli';
import { call, logLeaks, newSaleId, relayCli, startRig, TestClock, until, type Rig } from './testing/testkit';

const HOUR = 3_600_000;

/**
 * `qrpos relay …` in this process: exit code and what it printed. A UsageError is exit code 2, as
 * src/cli/main.ts makes it for the installed command.
 */
async function qrpos(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    return await relayCli(argv);
  } catch (err) {
    if (err instanceof UsageError) return { code: 2, out: '', err: err.message };
    throw err;
  }
}

/** The local calendar date of an instant in a zone, straight from Intl (en-CA writes YYYY-MM-DD). */
function intlDate(t: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(t);
}
function intlHour(t: number, timeZone: string): number {
  return Number(new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' }).format(t));
}
function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 24 * HOUR).toISOString().slice(0, 10);
}

describe('report: business days in the shop’s time zone', () => {
  const win = (date: string, timeZone: string, startHour = 0) => {
    const w = businessDayWindow(date, { timeZone, startHour });
    return [w.from.toISOString(), w.to.toISOString(), (w.to.getTime() - w.from.getTime()) / HOUR];
  };

  it('Asia/Bangkok (UTC+7, no DST): midnight to midnight, or 04:00 to 04:00', () => {
    expect(win('2026-02-10', 'Asia/Bangkok')).toEqual(['2026-02-09T17:00:00.000Z', '2026-02-10T17:00:00.000Z', 24]);
    expect(win('2026-02-10', 'Asia/Bangkok', 4)).toEqual(['2026-02-09T21:00:00.000Z', '2026-02-10T21:00:00.000Z', 24]);
    const bkk = { timeZone: 'Asia/Bangkok', startHour: 0 };
    expect(businessDayOf(new Date('2026-02-09T16:59:59.999Z'), bkk)).toBe('2026-02-09');
    expect(businessDayOf(new Date('2026-02-09T17:00:00.000Z'), bkk)).toBe('2026-02-10');
    // 02:00 in Bangkok belongs to the day before when the day starts at 04:00.
    expect(businessDayOf(new Date('2026-02-10T19:00:00Z'), { timeZone: 'Asia/Bangkok', startHour: 4 })).toBe('2026-02-10');
  });

  it('America/New_York: the day the clocks go forward has 23 hours, the day they go back 25', () => {
    expect(win('2026-03-07', 'America/New_York')).toEqual(['2026-03-07T05:00:00.000Z', '2026-03-08T05:00:00.000Z', 24]);
    expect(win('2026-03-08', 'America/New_York')).toEqual(['2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z', 23]);
    expect(win('2026-11-01', 'America/New_York')).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z', 25]);
    // A start hour the clocks skip (02:00 on 8 March) begins the day when they jump (03:00 EDT).
    expect(win('2026-03-08', 'America/New_York', 2)).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:00:00.000Z', 23]);
    // One they show twice (01:00 on 1 November) begins it the first time (01:00 EDT).
    expect(win('2026-11-01', 'America/New_York', 1)).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-02T06:00:00.000Z', 25]);
  });

  it('Europe/London: 23 and 25 hours, also with a 04:00 start', () => {
    expect(win('2026-03-29', 'Europe/London')).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T23:00:00.000Z', 23]);
    expect(win('2026-10-25', 'Europe/London')).toEqual(['2026-10-24T23:00:00.000Z', '2026-10-26T00:00:00.000Z', 25]);
    expect(win('2026-10-24', 'Europe/London', 4)).toEqual(['2026-10-24T03:00:00.000Z', '2026-10-25T04:00:00.000Z', 25]);
  });

  it('a half-hour change (Australia/Lord_Howe) gives a 23.5-hour day', () => {
    expect(win('2026-10-04', 'Australia/Lord_Howe', 2)).toEqual(['2026-10-03T15:30:00.000Z', '2026-10-04T15:00:00.000Z', 23.5]);
  });

  for (const [timeZone, startHour, first] of [
    ['America/New_York', 0, '2026-03-06'],
    ['America/New_York', 2, '2026-03-06'],
    ['America/New_York', 1, '2026-10-30'],
    ['Europe/London', 4, '2026-10-22'],
    ['Europe/London', 0, '2026-03-27'],
    ['Asia/Bangkok', 4, '2026-02-08'],
  ] as const) {
    it(`days tile time exactly, every 10 minutes over six days (${timeZone}, start ${startHour}:00, from ${first})`, () => {
      const rule: BusinessDayRule = { timeZone, startHour };
      const start = businessDayWindow(first, rule).from.getTime();
      let date: string = first;
      let w = businessDayWindow(date, rule);
      for (let t = start; t < start + 6 * 24 * HOUR; t += 10 * 60_000) {
        if (t >= w.to.getTime()) {
          const next = businessDayWindow(nextDate(date), rule);
          expect(next.from.getTime()).toBe(w.to.getTime()); // no gap, no overlap between days
          date = nextDate(date);
          w = next;
        }
        expect(t >= w.from.getTime() && t < w.to.getTime()).toBe(true);
        expect(businessDayOf(new Date(t), rule)).toBe(date);
        // The definition, read from Intl directly: the local date, or the one before before the start hour.
        const local = intlDate(t, timeZone);
        const expected = intlHour(t, timeZone) >= startHour ? local : intlDate(Date.parse(`${local}T12:00:00Z`) - 24 * HOUR, 'UTC');
        expect(date).toBe(expected);
      }
    });
  }

  it('accepts only real calendar dates written YYYY-MM-DD', () => {
    for (const ok of ['2026-02-10', '2028-02-29', '2000-01-01']) expect(isBusinessDate(ok)).toBe(true);
    for (const bad of ['2026-02-30', '2027-02-29', '2026-13-01', '2026-00-10', '2026-2-10', '20260210', '10-02-2026', '2026-02-10T00:00', '', ' 2026-02-10', '1999-12-31']) {
      expect(isBusinessDate(bad)).toBe(false);
      expect(() => businessDayWindow(bad, { timeZone: 'Asia/Bangkok', startHour: 0 })).toThrow(RangeError);
    }
  });
});

describe('report: the relay config names the shop’s time zone and day start', () => {
  const base = { version: 1, country: 'TH', dataDir: '/var/lib/qrpos-relay' };
  const problem = (extra: Record<string, unknown>): string => {
    try {
      parseRelayConfig({ ...base, ...extra });
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    throw new Error('the config was accepted');
  };

  it('keeps configs without the new fields valid: the country’s zone (not the host’s), days from midnight', () => {
    expect(reportRule(parseRelayConfig(base))).toEqual({ timeZone: 'Asia/Bangkok', startHour: 0 });
    expect(reportRule(parseRelayConfig({ ...base, country: 'SG' }))).toEqual({ timeZone: 'Asia/Singapore', startHour: 0 });
    expect(reportRule(parseRelayConfig({ ...base, country: 'MY' }))).toEqual({ timeZone: 'Asia/Kuala_Lumpur', startHour: 0 });
  });

  it('takes an IANA zone (in its canonical spelling) and a start hour', () => {
    expect(reportRule(parseRelayConfig({ ...base, timeZone: 'europe/london', businessDayStartHour: 4 }))).toEqual({ timeZone: 'Europe/London', startHour: 4 });
    expect(reportRule(parseRelayConfig({ ...base, timeZone: 'UTC' })).timeZone).toBe('UTC');
  });

  it('refuses an unknown zone and a start hour outside 0–23, naming the field', () => {
    expect(problem({ timeZone: 'Asia/Atlantis' })).toMatch(/timeZone: not a time zone this system knows: an IANA name such as "Asia\/Bangkok"/);
    expect(problem({ timeZone: '' })).toMatch(/timeZone: not a time zone/);
    expect(problem({ timeZone: 7 })).toMatch(/timeZone: /);
    for (const h of [24, -1, 1.5, '4']) expect(problem({ businessDayStartHour: h })).toMatch(/businessDayStartHour: /);
  });
});

/** Zero buckets, with the ones given as [count, amount]. */
function row(given: Partial<Record<Exclude<keyof ReportRow, 'method' | 'currency' | 'net'>, [number, number]>>, net: number): ReportRow {
  const t = (k: keyof typeof given) => ({ count: given[k]?.[0] ?? 0, amount: given[k]?.[1] ?? 0 });
  return {
    method: 'alipayplus_mpm',
    currency: 'THB',
    paid: t('paid'),
    late: t('late'),
    failed: t('failed'),
    expired: t('expired'),
    cancelled: t('cancelled'),
    notCreated: t('notCreated'),
    open: t('open'),
    refunded: t('refunded'),
    voided: t('voided'),
    refundPending: t('refundPending'),
    extraPaid: t('extraPaid'),
    net,
  };
}

async function getCsv(rig: Rig, query: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; disposition: string; text: string }> {
  const res = await fetch(`${rig.relay.url}/admin/report${query}`, { headers: { authorization: `Bearer ${rig.secrets.adminToken}`, ...headers } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', disposition: res.headers.get('content-disposition') ?? '', text: await res.text() };
}

const withoutTime = (r: DayReport) => ({ ...r, generatedAt: '(ignored)' });

/**
 * One shop in Bangkok (the relay's config names no zone: Thailand's is used), two terminals, every
 * kind of outcome, sales on both sides of midnight. All through the real relay and the simulator
 * over HTTP, with one clock for both that the test moves.
 */
describe('report: a Bangkok shop’s day through the real relay and simulator', () => {
  let rig: Rig;
  const clock = new TestClock(new Date('2026-02-09T16:59:00Z'));
  let A: { terminalId: string; credential: string };
  let B: { terminalId: string; credential: string };
  const FRONT = 'Front till';
  // A name that needs CSV quoting and would be a formula in a spreadsheet.
  const BACK = '=Back, "till"';
  const BOGUS_KEY = 'skey_test_notarealkey00000000000';
  let configFile: string;
  let config4File: string;

  const at = (iso: string) => clock.set(new Date(iso));
  async function create(t: { credential: string }, amount: number): Promise<SaleView> {
    const r = await rig.api<SaleView>('POST', '/v1/sales', t.credential, { saleId: newSaleId('rpt'), amount, currency: 'THB' });
    expect(r.status).toBe(200);
    return r.body;
  }
  async function status(t: { credential: string }, saleId: string): Promise<SaleView> {
    const r = await rig.api<SaleView>('GET', `/v1/sales/${saleId}`, t.credential);
    expect(r.status).toBe(200);
    return r.body;
  }
  async function paid(t: { credential: string }, amount: number): Promise<SaleView> {
    const s = await create(t, amount);
    rig.sim.markAsPaid(s.chargeId!);
    expect((await status(t, s.saleId)).status).toBe('successful');
    return s;
  }

  beforeAll(async () => {
    rig = await startRig({ clock });
    A = await rig.pair(FRONT);
    B = await rig.pair(BACK);
    configFile = path.join(rig.dir, 'relay.json');
    fs.writeFileSync(configFile, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, omise: { baseUrl: rig.sim.url } }));
    config4File = path.join(rig.dir, 'relay-4am.json');
    fs.writeFileSync(config4File, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, businessDayStartHour: 4 }));

    // 9 February, 23:59 in Bangkok: the day before.
    await paid(A, 2000);
    // 10 February, 00:00:10 in Bangkok.
    at('2026-02-09T17:00:10Z');
    await paid(A, 2100);

    // 10:00 in Bangkok: one sale of every outcome on the front till.
    at('2026-02-10T03:00:00Z');
    const voided = await paid(A, 5000);
    const v = await rig.api<RefundView>('POST', `/v1/sales/${voided.saleId}/refunds`, A.credential, { refundId: newSaleId('rf'), amount: 5000, mode: 'void' });
    expect(v.body).toMatchObject({ status: 'done', voided: true });

    const failed = await create(A, 3100);
    rig.sim.markAsFailed(failed.chargeId!);
    expect((await status(A, failed.saleId)).status).toBe('failed');

    const expired = await create(A, 3200);
    rig.sim.expire(expired.chargeId!);
    expect(await status(A, expired.saleId)).toMatchObject({ status: 'expired', expireRequested: false });

    const cancelled = await create(A, 3300);
    const c = await rig.api<SaleView>('POST', `/v1/sales/${cancelled.saleId}/expire`, A.credential);
    expect(c.body).toMatchObject({ status: 'expired', expireRequested: true });

    // A late payment: the cashier cancels, Omise cannot be reached for the expiry, the customer pays.
    const late = await create(A, 3400);
    rig.sim.faults.set({ endpoints: { 'POST /charges/:id/expire': { errorRate: 1, errorStatus: 503 } } });
    const l = await rig.api<SaleView>('POST', `/v1/sales/${late.saleId}/expire`, A.credential);
    expect(l.body).toMatchObject({ status: 'pending', expireRequested: true });
    rig.sim.markAsPaid(late.chargeId!);
    rig.sim.faults.reset();
    expect(await status(A, late.saleId)).toMatchObject({ status: 'successful', expireRequested: true });
    // A void Omise refuses (its clock is past the void window, the relay's reading of it minutes
    // old): a failed refund, counted nowhere.
    rig.sim.advanceClock(14 * HOUR);
    const refusedVoid = await rig.api<RefundView>('POST', `/v1/sales/${late.saleId}/refunds`, A.credential, { refundId: newSaleId('rf'), amount: 1000, mode: 'void' });
    rig.sim.advanceClock(-14 * HOUR);
    expect(refusedVoid.body).toMatchObject({ status: 'failed', voided: false });

    // Omise refuses the charge (the relay's key was replaced by a wrong one): none is made.
    rig.relay.reloadSecrets({ ...rig.secrets, omiseSecretKey: BOGUS_KEY });
    const refused = await rig.api<SaleView>('POST', '/v1/sales', A.credential, { saleId: newSaleId('rpt'), amount: 3500, currency: 'THB' });
    rig.relay.reloadSecrets(rig.secrets);
    expect(refused.body).toMatchObject({ status: 'create_failed', chargeId: null });

    // The back till: a sale whose second charge (a stray attempt landing late) was paid too.
    at('2026-02-10T03:06:00Z');
    const doubled = await create(B, 2600);
    rig.sim.faults.set({ endpoints: { 'POST /charges/:id/expire': { errorRate: 1, errorStatus: 503 } } });
    const omise = new OmiseClient({ baseUrl: rig.sim.url, secretKey: rig.secrets.omiseSecretKey, publicKey: rig.secrets.omisePublicKey, timeoutMs: 2000 });
    const stray = await omise.createCharge({
      amount: 2600,
      currency: 'THB',
      source: { type: 'alipayplus_mpm' },
      metadata: { [META_TERMINAL]: B.terminalId, [META_SALE]: doubled.saleId },
    });
    await until(async () => (await rig.relay.store.orphansOfSale(B.terminalId, doubled.saleId)).length === 1, 'the relay to record the extra charge');
    rig.sim.markAsPaid(stray.id);
    rig.sim.markAsPaid(doubled.chargeId!);
    rig.sim.faults.reset();
    await rig.relay.reconcile();
    await until(async () => (await rig.relay.store.orphansOfSale(B.terminalId, doubled.saleId))[0]?.status === 'paid', 'the extra charge recorded as paid');
    expect((await status(B, doubled.saleId)).status).toBe('successful');

    // 23:40 in Bangkok, after the void window (16:15 UTC): refunded in part the next morning.
    at('2026-02-10T16:40:00Z');
    const refunded = await paid(B, 10000);

    // 23:58 on the relay's clock, but 00:03 on the 11th on Omise's: Omise's clock decides.
    at('2026-02-10T16:58:00Z');
    rig.sim.advanceClock(5 * 60_000);
    const omiseNextDay = await paid(B, 2400);
    rig.sim.advanceClock(-5 * 60_000);
    expect(await rig.relay.store.sale(B.terminalId, omiseNextDay.saleId)).toMatchObject({ chargeCreatedAt: '2026-02-10T17:03:00Z' });

    // 23:59:30 in Bangkok.
    at('2026-02-10T16:59:30Z');
    const lastOfDay = await paid(B, 2200);

    // 23:59:50: the charge creation's answer is lost and none was made; cancelled after midnight.
    at('2026-02-10T16:59:50Z');
    rig.sim.faults.set({ endpoints: { 'POST /charges': { failNext: 1, errorStatus: 503 } } });
    const uncertainId = newSaleId('rpt');
    const uncertain = await rig.api('POST', '/v1/sales', A.credential, { saleId: uncertainId, amount: 3600, currency: 'THB' });
    expect(uncertain.status).toBe(503);
    rig.sim.faults.reset();
    clock.advance(15_000);
    const noCharge = await rig.api<SaleView>('POST', `/v1/sales/${uncertainId}/expire`, A.credential);
    expect(noCharge.body).toMatchObject({ status: 'expired', expireRequested: true, chargeId: null });

    // 11 February, 00:00:30 in Bangkok.
    at('2026-02-10T17:00:30Z');
    await paid(B, 2300);

    // The next morning: the partial refund of yesterday's sale, a refund whose answer is lost
    // (still pending), and a sale left waiting for the customer.
    at('2026-02-11T05:00:00Z');
    const r = await rig.api<RefundView>('POST', `/v1/sales/${refunded.saleId}/refunds`, B.credential, { refundId: newSaleId('rf'), amount: 4000, mode: 'auto' });
    expect(r.body).toMatchObject({ status: 'done', voided: false });
    rig.sim.faults.set({ endpoints: { 'POST /charges/:id/refunds': { failNext: 1, errorStatus: 503 } } });
    const lost = await rig.api('POST', `/v1/sales/${lastOfDay.saleId}/refunds`, B.credential, { refundId: newSaleId('rf'), amount: 1000, mode: 'auto' });
    expect(lost.status).toBe(503);
    rig.sim.faults.reset();
    expect((await rig.relay.store.refundsOfSale(B.terminalId, lastOfDay.saleId)).map((x) => x.status)).toEqual(['pending']);
    at('2026-02-11T05:10:00Z');
    expect((await create(A, 2500)).status).toBe('pending');
  }, 60_000);

  afterAll(async () => {
    await rig?.close();
  });

  const frontDay = () => row({ paid: [3, 10500], late: [1, 3400], failed: [1, 3100], expired: [1, 3200], cancelled: [2, 6900], notCreated: [1, 3500], voided: [1, 5000] }, 5500);
  const backDay = () => row({ paid: [3, 14800], refunded: [1, 4000], refundPending: [1, 1000], extraPaid: [1, 2600] }, 10800);

  it('sets up the sale that never got a charge as the cashier cancelled it', async () => {
    const noCharge = (await rig.relay.store.salesSince(A.terminalId, '2026-02-10T16:59:00Z', 100)).find((s) => s.amount === 3600)!;
    expect(noCharge).toMatchObject({ status: 'expired', expireRequested: true, chargeId: null, chargeCreatedAt: null });
    expect(noCharge.createdAt.startsWith('2026-02-10T16:59:5')).toBe(true);
    expect(noCharge.updatedAt > '2026-02-10T17:00:00').toBe(true);
  });

  it('GET /admin/report: the day’s totals per terminal and for the shop, exactly', async () => {
    const r = await call<DayReport>(rig.relay.url, 'GET', '/admin/report?date=2026-02-10', { token: rig.secrets.adminToken });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      businessDay: '2026-02-10',
      timeZone: 'Asia/Bangkok',
      dayStartHour: 0,
      from: '2026-02-09T17:00:00.000Z',
      to: '2026-02-10T17:00:00.000Z',
      terminal: null,
    });
    expect(r.body.terminals).toEqual([
      { terminalId: B.terminalId, name: BACK, revoked: false, rows: [backDay()] },
      { terminalId: A.terminalId, name: FRONT, revoked: false, rows: [frontDay()] },
    ]);
    expect(r.body.totals).toEqual([
      row(
        {
          paid: [6, 25300],
          late: [1, 3400],
          failed: [1, 3100],
          expired: [1, 3200],
          cancelled: [2, 6900],
          notCreated: [1, 3500],
          refunded: [1, 4000],
          voided: [1, 5000],
          refundPending: [1, 1000],
          extraPaid: [1, 2600],
        },
        16300,
      ),
    ]);
  });

  it('the days before and after: what crossed midnight, on Omise’s clock, is there', async () => {
    const before = await call<DayReport>(rig.relay.url, 'GET', '/admin/report?date=2026-02-09', { token: rig.secrets.adminToken });
    expect(before.body.terminals.map((t) => [t.name, t.rows])).toEqual([[FRONT, [row({ paid: [1, 2000] }, 2000)]]]);
    const after = await call<DayReport>(rig.relay.url, 'GET', '/admin/report?date=2026-02-11', { token: rig.secrets.adminToken });
    expect(after.body.terminals.map((t) => [t.name, t.rows])).toEqual([
      [BACK, [row({ paid: [2, 4700] }, 4700)]],
      [FRONT, [row({ open: [1, 2500] }, 0)]],
    ]);
    expect(after.body.totals).toEqual([row({ paid: [2, 4700], open: [1, 2500] }, 4700)]);
    // Without a date: today in Bangkok on the relay's clock (11 February, 12:10).
    const today = await call<DayReport>(rig.relay.url, 'GET', '/admin/report', { token: rig.secrets.adminToken });
    expect(withoutTime(today.body)).toEqual(withoutTime(after.body));
  });

  it('one terminal, by id or by name (any case)', async () => {
    for (const q of [A.terminalId, encodeURIComponent(FRONT), 'FRONT%20TILL']) {
      const r = await call<DayReport>(rig.relay.url, 'GET', `/admin/report?date=2026-02-10&terminal=${q}`, { token: rig.secrets.adminToken });
      expect(r.status).toBe(200);
      expect(r.body.terminals.map((t) => t.terminalId)).toEqual([A.terminalId]);
      expect(r.body.totals).toEqual([frontDay()]);
    }
    const back = await call<DayReport>(rig.relay.url, 'GET', `/admin/report?date=2026-02-10&terminal=${encodeURIComponent(BACK)}`, { token: rig.secrets.adminToken });
    expect(back.body.totals).toEqual([backDay()]);
  });

  it('CSV with format=csv or Accept: text/csv: a header, a row per terminal × method × currency × bucket, RFC 4180 quoting', async () => {
    const csv = await getCsv(rig, '?date=2026-02-10&format=csv');
    expect(csv.status).toBe(200);
    expect(csv.type).toMatch(/^text\/csv; charset=utf-8/);
    expect(csv.disposition).toBe('attachment; filename="qrpos-report-2026-02-10.csv"');
    const lines = csv.text.split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe(CSV_HEADER.join(','));
    expect(lines[0]).toBe('business_day,time_zone,from,to,scope,terminal_id,terminal_name,method,currency,bucket,count,amount_minor,amount');
    expect(lines).toHaveLength(1 + 3 * 12);
    const head = '2026-02-10,Asia/Bangkok,2026-02-09T17:00:00.000Z,2026-02-10T17:00:00.000Z';
    const back = `${head},terminal,${B.terminalId},"'=Back, ""till""",alipayplus_mpm,THB`;
    expect(lines.slice(1, 13)).toEqual([
      `${back},paid,3,14800,148.00`,
      `${back},late,0,0,0.00`,
      `${back},failed,0,0,0.00`,
      `${back},expired,0,0,0.00`,
      `${back},cancelled,0,0,0.00`,
      `${back},not_created,0,0,0.00`,
      `${back},open,0,0,0.00`,
      `${back},refunded,1,4000,40.00`,
      `${back},voided,0,0,0.00`,
      `${back},refund_pending,1,1000,10.00`,
      `${back},extra_paid,1,2600,26.00`,
      `${back},net,,10800,108.00`,
    ]);
    expect(lines).toContain(`${head},terminal,${A.terminalId},Front till,alipayplus_mpm,THB,cancelled,2,6900,69.00`);
    expect(lines).toContain(`${head},terminal,${A.terminalId},Front till,alipayplus_mpm,THB,late,1,3400,34.00`);
    expect(lines.slice(25)).toEqual([
      `${head},total,,,alipayplus_mpm,THB,paid,6,25300,253.00`,
      `${head},total,,,alipayplus_mpm,THB,late,1,3400,34.00`,
      `${head},total,,,alipayplus_mpm,THB,failed,1,3100,31.00`,
      `${head},total,,,alipayplus_mpm,THB,expired,1,3200,32.00`,
      `${head},total,,,alipayplus_mpm,THB,cancelled,2,6900,69.00`,
      `${head},total,,,alipayplus_mpm,THB,not_created,1,3500,35.00`,
      `${head},total,,,alipayplus_mpm,THB,open,0,0,0.00`,
      `${head},total,,,alipayplus_mpm,THB,refunded,1,4000,40.00`,
      `${head},total,,,alipayplus_mpm,THB,voided,1,5000,50.00`,
      `${head},total,,,alipayplus_mpm,THB,refund_pending,1,1000,10.00`,
      `${head},total,,,alipayplus_mpm,THB,extra_paid,1,2600,26.00`,
      `${head},total,,,alipayplus_mpm,THB,net,,16300,163.00`,
    ]);

    const byAccept = await getCsv(rig, '?date=2026-02-10', { accept: 'text/csv' });
    expect(byAccept.type).toMatch(/^text\/csv/);
    expect(byAccept.text).toBe(csv.text);
    const preferred = await getCsv(rig, '?date=2026-02-10', { accept: 'application/json;q=0.5, text/csv' });
    expect(preferred.text).toBe(csv.text);
    // format=json wins over Accept; a browser's Accept gets JSON.
    for (const [q, accept] of [
      ['?date=2026-02-10&format=json', 'text/csv'],
      ['?date=2026-02-10', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
    ]) {
      const j = await getCsv(rig, q, { accept });
      expect(j.type).toMatch(/^application\/json/);
      expect((JSON.parse(j.text) as DayReport).totals[0].net).toBe(16300);
    }
  });

  it('refuses bad parameters with 400 and a readable JSON error; an unknown terminal is 404; no token is 401', async () => {
    const token = rig.secrets.adminToken;
    for (const [q, message] of [
      ['?date=2026-02-30', /date: "2026-02-30" is not a calendar date written YYYY-MM-DD/],
      ['?date=10-02-2026', /date: /],
      ['?date=', /date: /],
      ['?date=2026-02-10&format=xml', /format: json or csv/],
      ['?date=2026-02-10&date=2026-02-11', /date: give it once/],
      ['?day=2026-02-10', /unknown parameter\(s\): day/],
      ['?terminal=', /terminal: give a terminal id or name/],
    ] as const) {
      const r = await call(rig.relay.url, 'GET', `/admin/report${q}`, { token });
      expect(r.status, q).toBe(400);
      expect(r.body.error.code).toBe('bad_request');
      expect(r.body.error.message).toMatch(message);
    }
    const unknown = await call(rig.relay.url, 'GET', '/admin/report?terminal=nobody', { token });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toEqual({ code: 'not_found', message: 'no terminal with the id or name "nobody"' });
    expect((await call(rig.relay.url, 'GET', '/admin/report?date=2026-02-10')).status).toBe(401);
    expect((await call(rig.relay.url, 'GET', '/admin/report?date=2026-02-10', { token: 'not-the-admin-token-0123456789abcdef' })).status).toBe(401);
    expect((await call(rig.relay.url, 'POST', '/admin/report?date=2026-02-10', { token })).status).toBe(404);
  });

  it('qrpos relay report: the same report from the database, read-only, as a table, JSON or CSV', async () => {
    rig.relay.store.externalChange();
    const api = await call<DayReport>(rig.relay.url, 'GET', '/admin/report?date=2026-02-10', { token: rig.secrets.adminToken });

    const json = await qrpos(['report', '--config', configFile, '--date', '2026-02-10', '--json']);
    expect(json).toMatchObject({ code: 0, err: '' });
    expect(withoutTime(JSON.parse(json.out) as DayReport)).toEqual(withoutTime(api.body));

    const csv = await qrpos(['report', '--config', configFile, '--date', '2026-02-10', '--csv']);
    expect(csv.code).toBe(0);
    expect(csv.out).toBe((await getCsv(rig, '?date=2026-02-10&format=csv')).text);

    const text = await qrpos(['report', '--config', configFile, '--date', '2026-02-10']);
    expect(text.code).toBe(0);
    const lines = text.out.split('\n');
    expect(lines[0]).toBe('End-of-day report 2026-02-10 (whole shop)');
    expect(lines[1]).toBe('business day 00:00 to 00:00 Asia/Bangkok: 2026-02-09T17:00:00.000Z to 2026-02-10T17:00:00.000Z');
    expect(lines).toContain(`=Back, "till" (${B.terminalId})`);
    expect(lines).toContain(`Front till (${A.terminalId})`);
    expect(lines).toContain('TOTAL, all terminals');
    const total = lines.slice(lines.indexOf('TOTAL, all terminals'));
    expect(total).toContainEqual(expect.stringMatching(/^ {4}paid +6 +฿253\.00$/));
    expect(total).toContainEqual(expect.stringMatching(/^ {4} {2}of which late +1 +฿34\.00$/));
    expect(total).toContainEqual(expect.stringMatching(/^ {4}cancelled +2 +฿69\.00$/));
    expect(total).toContainEqual(expect.stringMatching(/^ {4}extra charges paid +1 +฿26\.00$/));
    expect(total).toContainEqual(expect.stringMatching(/^ {4}net \(paid - refunded - voided\) +฿163\.00$/));

    const one = await qrpos(['report', '--config', configFile, '--date', '2026-02-10', '--terminal', 'front till', '--json']);
    expect((JSON.parse(one.out) as DayReport).totals).toEqual([frontDay()]);
    expect((JSON.parse(one.out) as DayReport).terminal).toBe('front till');

    // Nothing was written by the CLI: the relay's connection sees no other writer's commit.
    expect(rig.relay.store.externalChange()).toBe(false);
  });

  it('qrpos relay report with businessDayStartHour 4: 04:00 to 04:00 takes in the sales just after midnight', async () => {
    const r = await qrpos(['report', '--config', config4File, '--date', '2026-02-10', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as DayReport;
    expect([report.from, report.to, report.dayStartHour]).toEqual(['2026-02-09T21:00:00.000Z', '2026-02-10T21:00:00.000Z', 4]);
    expect(report.totals[0]).toMatchObject({ paid: { count: 7, amount: 27900 }, cancelled: { count: 2, amount: 6900 }, open: { count: 0, amount: 0 } });
    expect(report.terminals.find((t) => t.terminalId === A.terminalId)?.rows[0].paid).toEqual({ count: 2, amount: 8400 });
  });

  it('qrpos relay report: today by default; usage errors exit 2, an unknown terminal or a missing database 1', async () => {
    const before = intlDate(Date.now(), 'Asia/Bangkok');
    const today = await qrpos(['report', '--config', configFile]);
    const after = intlDate(Date.now(), 'Asia/Bangkok');
    expect(today.code).toBe(0);
    expect([`End-of-day report ${before} (whole shop)`, `End-of-day report ${after} (whole shop)`]).toContain(today.out.split('\n')[0]);

    for (const argv of [
      ['--date', '2026-13-01'],
      ['--date', 'yesterday'],
      ['--date', '2026-02-10', '--json', '--csv'],
      ['--date'],
      ['--since', '2026-02-10'],
      ['extra'],
    ]) {
      const r = await qrpos(['report', '--config', configFile, ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.out).toBe('');
    }
    expect((await qrpos(['report', '--config', configFile, '--date', '2026-13-01'])).err).toMatch(/--date: "2026-13-01" is not a calendar date written YYYY-MM-DD/);
    expect((await qrpos(['report', '--config', configFile, '--csv', '--json'])).err).toMatch(/--json and --csv exclude each other/);
    expect((await qrpos(['report'])).err).toMatch(/--config is required/);

    const unknown = await qrpos(['report', '--config', configFile, '--terminal', 'Nobody\u001b[2J']);
    expect(unknown).toMatchObject({ code: 1, out: '' });
    expect(unknown.err).toBe('qrpos relay: no terminal with the id or name "Nobody\\x1b[2J"\n');

    const badZone = path.join(rig.dir, 'bad-zone.json');
    fs.writeFileSync(badZone, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, timeZone: 'Mars/Olympus' }));
    const z = await qrpos(['report', '--config', badZone]);
    expect(z.code).toBe(2);
    expect(z.err).toMatch(/timeZone: not a time zone this system knows/);

    const empty = path.join(rig.dir, 'empty.json');
    fs.writeFileSync(empty, JSON.stringify({ version: 1, country: 'TH', dataDir: path.join(rig.dir, 'no-data') }));
    const missing = await qrpos(['report', '--config', empty]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no relay database at .*relay\.db \(has the relay run with this dataDir\?\)/);
    expect(fs.existsSync(path.join(rig.dir, 'no-data'))).toBe(false);

    expect(relayCommand.help).toMatch(/qrpos relay report --config <file> \[--date YYYY-MM-DD\] \[--terminal <id\|name>\] \[--json \| --csv\]/);
  });

  it('reads the same sales through the updated_at index (a recent day) as through the whole table (an old one)', async () => {
    const db = openReportReader(rig.config.dataDir);
    try {
      for (const date of ['2026-02-09', '2026-02-10', '2026-02-11']) {
        const window = businessDayWindow(date, reportRule(rig.config));
        const byIndex = await db.reportData(window, new Date(window.to.getTime() + HOUR));
        const byTable = await db.reportData(window, new Date(window.to.getTime() + 400 * 24 * HOUR));
        expect(byIndex.sales.length).toBeGreaterThan(0);
        const sorted = (d: typeof byIndex) => JSON.stringify([d.sales, d.refunds, d.extraPaid].map((l) => l.map((x) => JSON.stringify(x)).sort()));
        expect(sorted(byIndex)).toBe(sorted(byTable));
      }
    } finally {
      db.close();
    }
  });

  it('leaks no secret into the relay’s logs', () => {
    expect(logLeaks(rig, [BOGUS_KEY])).toEqual([]);
  });
});

/**
 * A shop in New York: the relay's config names the zone. Sales on both sides of each midnight
 * around the day the clocks go forward; the same database read by the CLI for a shop in London
 * whose day starts at 04:00, around the day the clocks go back.
 */
describe('report: daylight-saving days through the real relay and simulator', () => {
  let rig: Rig;
  const clock = new TestClock(new Date('2026-03-08T04:59:00Z'));
  let cred: string;
  let terminalId: string;
  let londonConfig: string;

  async function paidAt(iso: string, amount: number): Promise<void> {
    clock.set(new Date(iso));
    const r = await rig.api<SaleView>('POST', '/v1/sales', cred, { saleId: newSaleId('dst'), amount, currency: 'THB' });
    expect(r.status).toBe(200);
    rig.sim.markAsPaid(r.body.chargeId!);
    expect((await rig.api<SaleView>('GET', `/v1/sales/${r.body.saleId}`, cred)).body.status).toBe('successful');
  }

  beforeAll(async () => {
    rig = await startRig({ clock, config: { timeZone: 'America/New_York' } });
    ({ credential: cred, terminalId } = await rig.pair('Till NY'));
    await paidAt('2026-03-08T04:59:00Z', 2000); // 23:59 EST, 7 March
    await paidAt('2026-03-08T05:00:30Z', 2100); // 00:00:30 EST, 8 March
    await paidAt('2026-03-09T03:59:00Z', 2200); // 23:59 EDT, 8 March
    await paidAt('2026-03-09T04:01:00Z', 2300); // 00:01 EDT, 9 March (a 24-hour day from 05:00Z would take it)
    await paidAt('2026-10-24T02:59:00Z', 2600); // London 03:59 BST, 24 October: business day 23 October
    await paidAt('2026-10-24T03:00:00Z', 2700); // London 04:00 BST: 24 October
    await paidAt('2026-10-25T03:30:00Z', 2400); // London 03:30 GMT, after the clocks went back: still 24 October
    await paidAt('2026-10-25T04:00:00Z', 2500); // London 04:00 GMT: 25 October
    londonConfig = path.join(rig.dir, 'london.json');
    fs.writeFileSync(londonConfig, JSON.stringify({ version: 1, country: 'TH', dataDir: rig.config.dataDir, timeZone: 'Europe/London', businessDayStartHour: 4 }));
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
  });

  const paidOn = (r: DayReport) => r.totals.map((t) => [t.paid.count, t.paid.amount]);

  it('the admin API counts 8 March (23 hours in New York) from 05:00Z to 04:00Z', async () => {
    const get = (date: string) => call<DayReport>(rig.relay.url, 'GET', `/admin/report?date=${date}`, { token: rig.secrets.adminToken });
    const day = await get('2026-03-08');
    expect([day.body.timeZone, day.body.from, day.body.to]).toEqual(['America/New_York', '2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z']);
    expect(paidOn(day.body)).toEqual([[2, 4300]]);
    expect(day.body.terminals.map((t) => t.terminalId)).toEqual([terminalId]);
    expect(paidOn((await get('2026-03-07')).body)).toEqual([[1, 2000]]);
    expect(paidOn((await get('2026-03-09')).body)).toEqual([[1, 2300]]);
  });

  it('the CLI with a London config counts 24 October (25 hours from 04:00 BST to 04:00 GMT)', async () => {
    const run = async (date: string) => {
      const r = await qrpos(['report', '--config', londonConfig, '--date', date, '--json']);
      expect(r.code).toBe(0);
      return JSON.parse(r.out) as DayReport;
    };
    const day = await run('2026-10-24');
    expect([day.timeZone, day.from, day.to]).toEqual(['Europe/London', '2026-10-24T03:00:00.000Z', '2026-10-25T04:00:00.000Z']);
    expect(paidOn(day)).toEqual([[2, 5100]]);
    expect(paidOn(await run('2026-10-23'))).toEqual([[1, 2600]]);
    expect(paidOn(await run('2026-10-25'))).toEqual([[1, 2500]]);
  });
});
