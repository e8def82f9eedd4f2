/**
 * The end-of-day report of the shop, or of one terminal: per terminal, payment method and
 * currency, the count and sum of the sales of one business day by outcome, the refunds and voids
 * of those sales, late payments, and the net.
 *
 * Which sales belong to a day: a sale counts on the business day, in the shop's time zone, in
 * which Omise created its charge (the charge's `created_at`, on Omise's clock, as the relay
 * stored it); a sale that never got a charge counts when the relay stored it (the relay's clock).
 * The terminal's own report (src/terminal/journal.ts, dayReport) counts the same way, so the two
 * agree. A refund or void counts on the day of its sale, whenever it was made, so a day's net is
 * what that day's sales finally brought in (a later refund changes the report of its sale's day).
 *
 * Days are [start, next start) where start is `businessDayStartHour`:00 in the shop's zone,
 * computed with Intl's time zone data (src/domain/time.ts, shared with the terminal), so a day is
 * 23 or 25 hours long when the clocks change. A start hour the clocks skip begins the day when
 * they jump past it; one they repeat, the first time.
 *
 * Reading only: the CLI opens the database read-only, the admin API reads through the server's
 * own connection. Nothing here writes.
 */
import { currencyInfo, formatMoney, isCurrency, type Country } from '../domain/money';
import { businessDay, canonicalTimeZone, COUNTRY_TIME_ZONE, dayBounds } from '../domain/time';
import { saleOutcome, type SaleOutcome } from '../domain/status';
import { UsageError } from '../shared/args';
import { jsonForConsole, printable } from '../shared/printable';
import { LinkError } from './errors';
import { openReportReader, type ReportReader } from './sqlite-store';
import type { RelayStore, ReportData, ReportSale, ReportSource, ReportTerminal } from './store';

// ---- time zones and business days ---------------------------------------------------------------

/** How the shop counts its days. */
export interface BusinessDayRule {
  timeZone: string;
  /** 0–23: the hour (shop time) a business day starts. */
  startHour: number;
}

/** The rule of a relay config: its `timeZone` (default: the country's) and `businessDayStartHour`. */
export function reportRule(config: { country: Country; timeZone?: string; businessDayStartHour?: number }): BusinessDayRule {
  const zone = config.timeZone === undefined ? COUNTRY_TIME_ZONE[config.country] : canonicalTimeZone(config.timeZone);
  if (!zone) throw new Error('timeZone: not a time zone this system knows');
  return { timeZone: zone, startHour: config.businessDayStartHour ?? 0 };
}


const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a real calendar date written YYYY-MM-DD (years 2000–2999). */
export function isBusinessDate(text: string): boolean {
  const m = DATE_RE.exec(text);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (y < 2000 || y > 2999) return false;
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/**
 * [from, to) of a business day in the shop's zone: dayBounds of src/domain/time.ts, the same
 * days the terminal's own report uses.
 */
export function businessDayWindow(date: string, rule: BusinessDayRule): { from: Date; to: Date } {
  if (!isBusinessDate(date)) throw new RangeError('date: a calendar date written YYYY-MM-DD');
  const [from, to] = dayBounds(date, rule.timeZone, rule.startHour);
  return { from: new Date(from), to: new Date(to) };
}

/** The business day (YYYY-MM-DD) an instant belongs to in the shop's zone. */
export function businessDayOf(at: Date, rule: BusinessDayRule): string {
  return businessDay(at.getTime(), rule.timeZone, rule.startHour);
}

// ---- the data a report is made of ---------------------------------------------------------------


// ---- the report -----------------------------------------------------------------------------------

export interface Tally {
  count: number;
  /** In the currency's smallest unit (satang, cents, sen). */
  amount: number;
}

/** One method and currency of one terminal (or of the whole selection, in `totals`). */
export interface ReportRow {
  method: string;
  currency: string;
  /** Charge paid (successful; a voided charge Omise marks reversed counts too). Includes `late`. */
  paid: Tally;
  /** Of `paid`: paid although the expiry had been asked for (cashier's cancel, terminal revoked). */
  late: Tally;
  /** The customer's payment failed (Omise said failed). */
  failed: Tally;
  /** The QR ran out at Omise with nobody asking. */
  expired: Tally;
  /** Ended expired because its expiry was asked for (cashier's cancel, terminal revoked), charge or not. */
  cancelled: Tally;
  /** Omise refused the charge: none was made. */
  notCreated: Tally;
  /** Not final when the report was made (creating, or waiting for the customer). */
  open: Tally;
  /** Refunds (not voids) of these sales that Omise confirmed, whenever they were made. */
  refunded: Tally;
  /** Voids of these sales that Omise confirmed. */
  voided: Tally;
  /** Refunds and voids sent and not yet confirmed: not in `net`. */
  refundPending: Tally;
  /** Paid extra charges of these sales (a second charge paid as well): to refund by hand; not in `paid` or `net`. */
  extraPaid: Tally;
  /** paid − refunded − voided. */
  net: number;
}

export const SALE_BUCKETS = ['paid', 'late', 'failed', 'expired', 'cancelled', 'notCreated', 'open'] as const;
export const MONEY_BUCKETS = ['refunded', 'voided', 'refundPending', 'extraPaid'] as const;
type Bucket = (typeof SALE_BUCKETS)[number] | (typeof MONEY_BUCKETS)[number];
const BUCKETS: readonly Bucket[] = [...SALE_BUCKETS, ...MONEY_BUCKETS];

export interface TerminalReport {
  terminalId: string;
  name: string;
  revoked: boolean;
  rows: ReportRow[];
}

export interface DayReport {
  businessDay: string;
  timeZone: string;
  dayStartHour: number;
  /** The day's first instant (UTC). */
  from: string;
  /** The next day's first instant (UTC), not part of this day. */
  to: string;
  generatedAt: string;
  /** The --terminal / terminal= asked for, or null for the whole shop. */
  terminal: string | null;
  /** Terminals with sales that day (and every selected one), by name. */
  terminals: TerminalReport[];
  /** Per method and currency, summed over `terminals`. */
  totals: ReportRow[];
}

/** A report request the caller has to correct (bad date, unknown terminal, bad format). */
export class ReportInputError extends Error {
  constructor(
    readonly kind: 'bad_request' | 'unknown_terminal',
    message: string,
  ) {
    super(message);
    this.name = 'ReportInputError';
  }
}

function emptyRow(method: string, currency: string): ReportRow {
  const z = (): Tally => ({ count: 0, amount: 0 });
  return {
    method,
    currency,
    paid: z(),
    late: z(),
    failed: z(),
    expired: z(),
    cancelled: z(),
    notCreated: z(),
    open: z(),
    refunded: z(),
    voided: z(),
    refundPending: z(),
    extraPaid: z(),
    net: 0,
  };
}

function add(t: Tally, amount: number): void {
  t.count += 1;
  t.amount += amount;
}

/** Which outcome bucket a sale is in (late is counted besides paid). */
function outcomeOf(s: ReportSale): SaleOutcome | 'cancelled' {
  const outcome = saleOutcome(s.status);
  return outcome === 'expired' && s.expireRequested ? 'cancelled' : outcome;
}

const shorten = (text: string) => printable(text.length > 64 ? `${text.slice(0, 64)}…` : text);

/**
 * The terminals a `--terminal` names: a terminal id, else every terminal of that name (exactly,
 * else ignoring case); each with the terminals it replaced (the same device paired again), whose
 * sales it inherited.
 */
export function selectTerminals(terminals: ReportTerminal[], query: string): Set<string> {
  const byId = new Map(terminals.map((t) => [t.id, t]));
  let picked = terminals.filter((t) => t.id === query);
  if (!picked.length) picked = terminals.filter((t) => t.name === query);
  if (!picked.length) picked = terminals.filter((t) => t.name.toLowerCase() === query.toLowerCase());
  if (!picked.length) throw new ReportInputError('unknown_terminal', `no terminal with the id or name "${shorten(query)}"`);
  const ids = new Set<string>();
  for (const t of picked) {
    for (let cur: ReportTerminal | undefined = t; cur && !ids.has(cur.id); cur = cur.predecessorId ? byId.get(cur.predecessorId) : undefined) ids.add(cur.id);
  }
  return ids;
}

function sortRows(rows: Iterable<ReportRow>): ReportRow[] {
  return [...rows].sort((a, b) => a.method.localeCompare(b.method) || a.currency.localeCompare(b.currency));
}

/**
 * The report of one business day from the relay's data. Pure: `data` may hold more sales than
 * the day's (they are left out here).
 */
export function computeReport(
  data: ReportData,
  opts: { date: string; rule: BusinessDayRule; terminal?: string | null; generatedAt: Date },
): DayReport {
  const { from, to } = businessDayWindow(opts.date, opts.rule);
  const selected = opts.terminal ? selectTerminals(data.terminals, opts.terminal) : null;
  const inDay = (s: ReportSale) => {
    const t = Date.parse(s.chargeCreatedAt ?? s.createdAt);
    return t >= from.getTime() && t < to.getTime();
  };
  const key = (terminalId: string, saleId: string) => `${terminalId}\u0000${saleId}`;
  const sales = new Map<string, ReportSale>();
  for (const s of data.sales) if (inDay(s) && (!selected || selected.has(s.terminalId))) sales.set(key(s.terminalId, s.saleId), s);

  const perTerminal = new Map<string, Map<string, ReportRow>>();
  const rowOf = (s: ReportSale): ReportRow => {
    let rows = perTerminal.get(s.terminalId);
    if (!rows) perTerminal.set(s.terminalId, (rows = new Map()));
    const k = `${s.method}\u0000${s.currency}`;
    let row = rows.get(k);
    if (!row) rows.set(k, (row = emptyRow(s.method, s.currency)));
    return row;
  };
  for (const s of sales.values()) {
    const row = rowOf(s);
    const outcome = outcomeOf(s);
    add(row[outcome], s.amount);
    if (outcome === 'paid' && s.expireRequested) add(row.late, s.amount);
  }
  for (const r of data.refunds) {
    const s = sales.get(key(r.terminalId, r.saleId));
    if (!s || r.status === 'failed') continue;
    const row = rowOf(s);
    add(r.status === 'pending' ? row.refundPending : r.voided ? row.voided : row.refunded, r.amount);
  }
  for (const o of data.extraPaid) {
    const s = sales.get(key(o.terminalId, o.saleId));
    // The relay makes every charge of a sale for the sale's amount.
    if (s) add(rowOf(s).extraPaid, s.amount);
  }

  const known = new Map(data.terminals.map((t) => [t.id, t]));
  const ids = new Set([...perTerminal.keys(), ...(selected ?? [])]);
  const terminals: TerminalReport[] = [...ids]
    .map((id) => {
      const rows = sortRows(perTerminal.get(id)?.values() ?? []);
      for (const r of rows) r.net = r.paid.amount - r.refunded.amount - r.voided.amount;
      const t = known.get(id);
      return { terminalId: id, name: t?.name ?? '(unknown terminal)', revoked: t?.revoked ?? false, rows };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.terminalId.localeCompare(b.terminalId));

  const totals = new Map<string, ReportRow>();
  for (const t of terminals) {
    for (const r of t.rows) {
      const k = `${r.method}\u0000${r.currency}`;
      let sum = totals.get(k);
      if (!sum) totals.set(k, (sum = emptyRow(r.method, r.currency)));
      for (const b of BUCKETS) {
        sum[b].count += r[b].count;
        sum[b].amount += r[b].amount;
      }
      sum.net += r.net;
    }
  }

  return {
    businessDay: opts.date,
    timeZone: opts.rule.timeZone,
    dayStartHour: opts.rule.startHour,
    from: from.toISOString(),
    to: to.toISOString(),
    generatedAt: opts.generatedAt.toISOString(),
    terminal: opts.terminal ?? null,
    terminals,
    totals: sortRows(totals.values()),
  };
}

/** Reads and computes: the date defaults to the business day of `now`; input errors are ReportInputError. */
export async function buildReport(source: ReportSource, rule: BusinessDayRule, req: { date?: string; terminal?: string }, now: Date): Promise<DayReport> {
  const date = req.date ?? businessDayOf(now, rule);
  if (!isBusinessDate(date)) throw new ReportInputError('bad_request', `date: "${shorten(date)}" is not a calendar date written YYYY-MM-DD`);
  if (req.terminal !== undefined && !req.terminal.trim()) throw new ReportInputError('bad_request', 'terminal: give a terminal id or name');
  const data = await source.reportData(businessDayWindow(date, rule), now);
  return computeReport(data, { date, rule, terminal: req.terminal ?? null, generatedAt: now });
}

// ---- output -----------------------------------------------------------------------------------------

const CSV_BUCKETS: Record<Bucket, string> = {
  paid: 'paid',
  late: 'late',
  failed: 'failed',
  expired: 'expired',
  cancelled: 'cancelled',
  notCreated: 'not_created',
  open: 'open',
  refunded: 'refunded',
  voided: 'voided',
  refundPending: 'refund_pending',
  extraPaid: 'extra_paid',
};

export const CSV_HEADER = [
  'business_day',
  'time_zone',
  'from',
  'to',
  'scope',
  'terminal_id',
  'terminal_name',
  'method',
  'currency',
  'bucket',
  'count',
  'amount_minor',
  'amount',
];

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. Text that a
 * spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a leading apostrophe.
 */
function csvField(value: string | number, text = false): string {
  let v = String(value);
  if (text && /^[=+\-@\t\r]/.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** 123456 → "1234.56" with the currency's decimals, no grouping (for spreadsheets). */
function decimalAmount(amount: number, currency: string): string {
  const exponent = isCurrency(currency) ? currencyInfo(currency).exponent : 0;
  if (exponent === 0) return String(amount);
  const abs = Math.abs(amount);
  const unit = 10 ** exponent;
  return `${amount < 0 ? '-' : ''}${Math.floor(abs / unit)}.${String(abs % unit).padStart(exponent, '0')}`;
}

/**
 * The report as CSV (RFC 4180, CRLF line ends, a header row): one row per terminal × method ×
 * currency × bucket (scope `terminal`), then the same for the selection's totals (scope `total`,
 * no terminal), each ending with a `net` row (count left empty).
 */
export function reportCsv(r: DayReport): string {
  const lines = [CSV_HEADER.join(',')];
  const emit = (scope: 'terminal' | 'total', terminalId: string, name: string, row: ReportRow) => {
    const head = [r.businessDay, r.timeZone, r.from, r.to, scope].map((v) => csvField(v));
    const who = [csvField(terminalId, true), csvField(printable(name), true), csvField(row.method, true), csvField(row.currency, true)];
    for (const b of BUCKETS) {
      lines.push([...head, ...who, CSV_BUCKETS[b], row[b].count, row[b].amount, decimalAmount(row[b].amount, row.currency)].join(','));
    }
    lines.push([...head, ...who, 'net', '', row.net, decimalAmount(row.net, row.currency)].join(','));
  };
  for (const t of r.terminals) for (const row of t.rows) emit('terminal', t.terminalId, t.name, row);
  for (const row of r.totals) emit('total', '', '', row);
  return lines.join('\r\n') + '\r\n';
}

const TEXT_LABELS: Record<Bucket, string> = {
  paid: 'paid',
  late: '  of which late',
  failed: 'failed',
  expired: 'expired (QR ran out)',
  cancelled: 'cancelled',
  notCreated: 'not created',
  open: 'still open',
  refunded: 'refunded',
  voided: 'voided',
  refundPending: 'refunds pending',
  extraPaid: 'extra charges paid',
};

function money(amount: number, currency: string): string {
  return isCurrency(currency) ? formatMoney(amount, currency) : `${amount} ${currency}`;
}

function hhmm(hour: number): string {
  return `${String(hour).padStart(2, '0')}:00`;
}

/** The report as a text table for the operator's console (names escaped). */
export function reportText(r: DayReport): string {
  const out: string[] = [];
  const scope = r.terminal === null ? 'whole shop' : `terminal ${shorten(r.terminal)}`;
  out.push(`End-of-day report ${r.businessDay} (${scope})`);
  out.push(`business day ${hhmm(r.dayStartHour)} to ${hhmm(r.dayStartHour)} ${r.timeZone}: ${r.from} to ${r.to}`);
  out.push('sales count on the day Omise created their charge; refunds and voids on the day of their sale');
  const table = (title: string, rows: ReportRow[]) => {
    out.push('');
    out.push(title);
    if (!rows.length) {
      out.push('  no sales');
      return;
    }
    for (const row of rows) {
      out.push(`  ${row.method}  ${row.currency}`);
      const lines: [string, string, string][] = BUCKETS.map((b) => [TEXT_LABELS[b], String(row[b].count), money(row[b].amount, row.currency)]);
      lines.push(['net (paid - refunded - voided)', '', money(row.net, row.currency)]);
      const w0 = Math.max(...lines.map((l) => l[0].length));
      const w1 = Math.max(5, ...lines.map((l) => l[1].length));
      const w2 = Math.max(...lines.map((l) => l[2].length));
      out.push(`    ${'BUCKET'.padEnd(w0)}  ${'COUNT'.padStart(w1)}  ${'AMOUNT'.padStart(w2)}`);
      for (const [label, count, amount] of lines) out.push(`    ${label.padEnd(w0)}  ${count.padStart(w1)}  ${amount.padStart(w2)}`.trimEnd());
    }
  };
  for (const t of r.terminals) table(`${printable(t.name)} (${t.terminalId}${t.revoked ? ', revoked' : ''})`, t.rows);
  table(r.terminal === null ? 'TOTAL, all terminals' : 'TOTAL, selected terminals', r.totals);
  return out.join('\n');
}

// ---- where the data comes from ---------------------------------------------------------------------

const REPORT_PARAMS = new Set(['date', 'terminal', 'format']);

/** Whether an Accept header prefers text/csv over JSON (a plain "text/csv" or listing it first). */
function wantsCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  const types = accept
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { type: type.trim(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((t) => t.q > 0 && (t.type === 'text/csv' || t.type === 'application/json'))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return types[0]?.type === 'text/csv';
}

/**
 * GET /admin/report?date=YYYY-MM-DD&terminal=<id|name>&format=json|csv (or Accept: text/csv).
 * Bad parameters are LinkErrors (400; 404 for an unknown terminal).
 */
export async function adminReport(
  store: RelayStore,
  rule: BusinessDayRule,
  u: URL,
  accept: string | undefined,
  now: Date,
): Promise<{ type: 'json'; body: DayReport } | { type: 'csv'; body: string; filename: string }> {
  const unknown = [...new Set(u.searchParams.keys())].filter((k) => !REPORT_PARAMS.has(k));
  if (unknown.length) throw new LinkError('bad_request', `unknown parameter(s): ${unknown.slice(0, 5).map(shorten).join(', ')}; the parameters are date, terminal, format`);
  for (const k of REPORT_PARAMS) {
    if (u.searchParams.getAll(k).length > 1) throw new LinkError('bad_request', `${k}: give it once`);
  }
  const format = u.searchParams.get('format');
  if (format !== null && format !== 'json' && format !== 'csv') throw new LinkError('bad_request', 'format: json or csv');
  const csv = format === 'csv' || (format === null && wantsCsv(accept));
  const date = u.searchParams.get('date') ?? undefined;
  const terminal = u.searchParams.get('terminal') ?? undefined;
  let report: DayReport;
  try {
    report = await buildReport(store, rule, { date, terminal }, now);
  } catch (err) {
    if (err instanceof ReportInputError) throw new LinkError(err.kind === 'unknown_terminal' ? 'not_found' : 'bad_request', err.message);
    throw err;
  }
  if (!csv) return { type: 'json', body: report };
  return { type: 'csv', body: reportCsv(report), filename: `qrpos-report-${report.businessDay}${terminal ? '-terminal' : ''}.csv` };
}

/**
 * `qrpos relay report`: reads the database read-only and prints the report. A bad date or
 * format is a UsageError (exit 2); an unknown terminal or a missing database exit 1.
 */
export async function runReportCommand(
  config: { dataDir: string; country: Country; timeZone?: string; businessDayStartHour?: number },
  flags: { date?: string; terminal?: string; json?: boolean; csv?: boolean },
  io: { out: (text: string) => void; err: (text: string) => void },
  now = new Date(),
  /** Where the report comes from instead of the SQLite file (a PostgreSQL store: the running relay's admin API). */
  fetchReport?: (q: { date?: string; terminal?: string }) => Promise<DayReport>,
): Promise<number> {
  if (flags.json && flags.csv) throw new UsageError('report: --json and --csv exclude each other');
  if (flags.date !== undefined && !isBusinessDate(flags.date)) throw new UsageError(`--date: "${shorten(flags.date)}" is not a calendar date written YYYY-MM-DD`);
  let db: ReportReader | undefined;
  if (!fetchReport) {
    try {
      db = openReportReader(config.dataDir);
    } catch (err) {
      io.err(`qrpos relay: ${(err as Error).message}\n`);
      return 1;
    }
  }
  try {
    const q = { date: flags.date, terminal: flags.terminal };
    const report = fetchReport ? await fetchReport(q) : await buildReport(db!, reportRule(config), q, now);
    if (flags.json) io.out(jsonForConsole(report) + '\n');
    else if (flags.csv) io.out(reportCsv(report));
    else io.out(reportText(report) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof ReportInputError) {
      if (err.kind === 'bad_request') throw new UsageError(err.message);
      io.err(`qrpos relay: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    db?.close();
  }
}
