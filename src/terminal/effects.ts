/**
 * Carries out what the state machine asks for, in the order it asks: journal writes first (a
 * sale is durable before anything about it is sent), then the relay (the link's outbox), the
 * screen and the peripherals. What follows from an effect (the recorded sale, an answer, a new
 * count) goes back to the machine as an event, queued behind the current one.
 */
import type { Logger } from '../shared/log';
import { answerQuery, type AnswerContext } from './answers';
import type { Journal, SaleRow } from './journal';
import type { Link } from './link';
import type { Presenter } from './presenter';
import type { Effect, MachineEvent } from './sale-machine';

export interface EffectContext {
  journal: Journal;
  link: Pick<Link, 'kickOutbox' | 'repair' | 'status'>;
  presenter: Presenter;
  answers: Omit<AnswerContext, 'journal' | 'link' | 'canPrint'>;
  log: Logger;
  clock: () => number;
  /** Queue an event for the state machine (after the one being handled). */
  enqueue(ev: MachineEvent): void;
  /** Whether the link is up (the LED). */
  online(): boolean;
}

export function effectRunner(ctx: EffectContext): (eff: Effect, keyAt: number | null) => void {
  const { journal, link, presenter, log, clock } = ctx;
  const enqueue = (ev: MachineEvent): void => ctx.enqueue(ev);
  return (eff, keyAt) => {
    switch (eff.type) {
      case 'record-sale': {
        let row: SaleRow;
        try {
          const st = journal.storage();
          if (!st.ok) throw new Error(`storage: ${st.reason}`);
          row = journal.recordSale({ saleId: eff.sale.saleId, amount: eff.sale.amount, currency: eff.sale.currency, ...(eff.sale.method ? { method: eff.sale.method } : {}), at: eff.at });
        } catch (err) {
          // Nothing was sent: without a durable record there is no charge.
          log.error('could not record the sale; not sending it', { saleId: eff.sale.saleId, error: (err as Error).message });
          enqueue({ type: 'sale', now: clock(), sale: { ...eff.sale, status: 'create_failed', error: { code: 'journal', message: 'Could not save the sale on this terminal' } } });
          return;
        }
        log.info('sale recorded', { saleId: row.saleId, ref: row.ref, amount: row.amount, currency: row.currency, method: row.method });
        enqueue({ type: 'sale', now: clock(), sale: { saleId: row.saleId, amount: row.amount, currency: row.currency, ref: row.ref, status: row.status } });
        link.kickOutbox();
        enqueue({ type: 'unsynced', count: journal.unsyncedCount(), now: clock() });
        return;
      }
      // A full disk never stops these: they wait in memory and are written when space returns.
      case 'expire':
        journal.writeOrDefer(`expire ${eff.saleId}`, () => journal.requestExpire(eff.saleId, eff.reason));
        log.info('expire queued', { saleId: eff.saleId, reason: eff.reason });
        link.kickOutbox();
        return;
      case 'refund':
        journal.writeOrDefer(`refund ${eff.refundId}`, () => journal.queueRefund({ saleId: eff.saleId, refundId: eff.refundId, amount: eff.amount, currency: eff.currency }));
        link.kickOutbox();
        return;
      case 'audit':
        journal.writeOrDefer(`audit ${eff.kind}`, () => journal.audit(eff.kind, eff.saleId, eff.data));
        return;
      case 'resolve-late':
        journal.writeOrDefer(`late ${eff.saleId}`, () => journal.resolveLate(eff.saleId, eff.resolution));
        log.info('late payment settled', { saleId: eff.saleId, resolution: eff.resolution });
        enqueue({ type: 'late-count', count: journal.lateCount(), now: clock() });
        return;
      case 'screen':
        presenter.present(eff.model, keyAt, ctx.online());
        return;
      case 'beep':
        presenter.beep(eff.kind);
        return;
      case 'query': {
        const a = answerQuery(eff.query, { ...ctx.answers, journal, link, canPrint: presenter.canPrint });
        if (a.closedDay) log.info('business day closed', a.closedDay);
        if (a.printNow) presenter.printLines(a.printNow.title, a.printNow.lines);
        enqueue({ type: 'answer', answer: a.answer, now: clock() });
        return;
      }
      case 'repair':
        link.repair().catch((err: unknown) => log.warn('re-pairing failed', { error: (err as Error).message }));
        return;
      case 'reprint': {
        const sale = journal.getSale(eff.saleId);
        if (sale) presenter.printReceipt(sale, 'COPY');
        return;
      }
      case 'print':
        presenter.printLines(eff.title, eff.lines);
        return;
      case 'remember-method':
        journal.writeOrDefer('default payment method', () => journal.setDefaultMethod(eff.method));
        return;
      case 'paid': {
        const sale = journal.getSale(eff.sale.saleId);
        log.info('sale paid', { saleId: eff.sale.saleId, ref: sale?.ref, chargeId: sale?.chargeId });
        if (sale && presenter.printsOnSuccess) presenter.printReceipt(sale, 'PAID');
        return;
      }
    }
  };
}
