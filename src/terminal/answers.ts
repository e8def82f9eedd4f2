/**
 * What the supervisor screens ask for (a `query` effect of the state machine) answered from the
 * journal and the link: a sale to refund, the recent sales, the late payments, the X and Z
 * reports, the network. A Z report closes the business day in the journal (once); everything
 * else only reads.
 */
import { DEFAULT_METHOD, methodName } from '../domain/methods';
import os from 'node:os';
import { formatMoneyCode } from '../domain/money';
import { businessDay, dayBounds, formatClock } from '../domain/time';
import type { TerminalConfig } from './config';
import type { DayReportRow, Journal, SaleRow } from './journal';
import type { LinkStatus } from './link';
import type { Answer, Query, SaleInfo } from './sale-machine';
import { OUTCOME_NAME } from './screens/strings';

export interface AnswerContext {
  journal: Journal;
  link: { status(): LinkStatus };
  config: Pick<TerminalConfig, 'timeZone' | 'businessDayStartHour' | 'relayUrl'>;
  clock: () => number;
  /** Whether reports can be printed (a receipt printer is configured). */
  canPrint: boolean;
}

export interface Answered {
  answer: Answer;
  /** A day just closed: its Z report, to print at once. */
  printNow?: { title: string; lines: string[] };
  /** For the log. */
  closedDay?: { number: number; businessDay: string };
}

export function saleInfo(s: SaleRow | null, zone: string): SaleInfo | null {
  if (!s) return null;
  return {
    saleId: s.saleId,
    ref: s.ref,
    ...(s.method !== DEFAULT_METHOD ? { method: s.method } : {}),
    amount: s.amount,
    currency: s.currency,
    status: s.status,
    refundedAmount: s.refundedAmount,
    canVoid: s.canVoid,
    late: s.late,
    lateResolution: s.lateResolution,
    time: formatClock(Date.parse(s.paidAt ?? s.chargeCreatedAt ?? s.createdAt), zone),
  };
}

/** A day's report as screen and printer lines: one block per payment method and currency. */
export function reportLines(rows: DayReportRow[], heading: string[]): string[] {
  if (!rows.length) return [...heading, 'No sales in this business day.'];
  const lines = [...heading];
  for (const r of rows) {
    const m = (n: number) => formatMoneyCode(n, r.currency);
    lines.push(
      `${methodName(r.method ?? DEFAULT_METHOD)} ${r.currency}: paid ${r.paid.count}  ${m(r.paid.amount)}`,
      `Refunds ${r.refunded.count}  -${m(r.refunded.amount)}; voids ${r.voided.count}  -${m(r.voided.amount)}`,
      `${OUTCOME_NAME.failed} ${r.failed.count}; ${OUTCOME_NAME.expired} ${r.expired.count}; ${OUTCOME_NAME.not_created} ${r.notCreated.count}`,
      `${OUTCOME_NAME.late_paid}s ${r.late.count}  ${m(r.late.amount)}${r.late.unresolved ? ` (${r.late.unresolved} to settle)` : ''}`,
      `Net ${m(r.net)}`,
    );
  }
  return lines;
}

export function answerQuery(q: Query, ctx: AnswerContext): Answered {
  const { journal, config } = ctx;
  const zone = config.timeZone;
  const clockText = (ms: number) => formatClock(ms, zone);
  switch (q.kind) {
    case 'sale-by-ref':
      return { answer: { kind: 'sale-info', sale: saleInfo(journal.saleByRef(q.ref), zone) } };
    case 'recent': {
      const rows = q.purpose === 'late' ? journal.latePayments() : journal.recentSales(20).filter((r) => q.purpose === 'view' || r.status === 'successful');
      return { answer: { kind: 'sales', purpose: q.purpose, sales: rows.map((r) => saleInfo(r, zone)!) } };
    }
    case 'report': {
      const now = ctx.clock();
      const day = businessDay(now, zone, config.businessDayStartHour);
      const [since, until] = dayBounds(day, zone, config.businessDayStartHour).map((t) => new Date(t).toISOString());
      if (!q.close) {
        const lines = reportLines(journal.dayReport(since, until), [`Business day ${day}`, `X report at ${clockText(now)} (${zone})`]);
        return { answer: { kind: 'lines', title: 'X report', lines, printable: ctx.canPrint } };
      }
      const { close, already } = journal.closeDay(day, since, until);
      const title = `Z report #${close.number}`;
      const lines = reportLines(close.rows, [`Business day ${day}`, `${already ? 'Closed earlier at' : 'Closed at'} ${clockText(Date.parse(close.closedAt))} (${zone})`]);
      return {
        answer: { kind: 'lines', title, lines, printable: ctx.canPrint },
        ...(already ? {} : { closedDay: { number: close.number, businessDay: day }, ...(ctx.canPrint ? { printNow: { title, lines } } : {}) }),
      };
    }
    case 'network': {
      const st = ctx.link.status();
      const ips = Object.entries(os.networkInterfaces())
        .flatMap(([name, addrs]) => (addrs ?? []).filter((a) => !a.internal && a.family === 'IPv4').map((a) => `${name} ${a.address}`))
        .slice(0, 3);
      return {
        answer: {
          kind: 'lines',
          title: 'Network',
          lines: [
            `Relay: ${config.relayUrl}`,
            `Link: ${st.online ? 'online' : 'offline'}${st.paired ? '' : ' (not paired)'}`,
            `Terminal: ${st.terminalId ?? '-'}`,
            `Last event: #${st.lastEventSeq}`,
            ...(st.lastError ? [`Last error: ${st.lastError.slice(0, 80)}`] : []),
            ...ips,
          ],
        },
      };
    }
  }
}
