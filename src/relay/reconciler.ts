/**
 * Webhooks can be lost, expires can fail, answers can be dropped. The reconciler walks what is
 * unfinished and asks Omise, publishing what changed through the same path as a webhook.
 */
import type { Logger } from '../shared/log';
import type { SaleService } from './sales';
import type { RelayStore } from './store';

const BATCH = 100;

export interface ReconcilerOptions {
  store: RelayStore;
  sales: SaleService;
  log: Logger;
  clock: () => Date;
  intervalMs: number;
  webhookOverdueMs: number;
  omiseTimeoutMs: number;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly o: ReconcilerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; overlapping calls share the pass in progress. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async each<T>(what: string, items: T[], fn: (item: T) => Promise<void>): Promise<void> {
    for (const item of items) {
      if (this.stopped) return;
      try {
        await fn(item);
      } catch (err) {
        this.o.log.warn(`reconcile: ${what} failed`, { error: err });
      }
    }
  }

  private async pass(): Promise<void> {
    const { store, sales } = this.o;
    const now = this.o.clock().getTime();
    const overdue = (iso: string | null) => !iso || now - Date.parse(iso) >= this.o.webhookOverdueMs;
    try {
      await sales.readOmiseClock();
    } catch (err) {
      this.o.log.warn('reconcile: could not read Omise\'s clock', { error: err });
    }
    // Omise's expires_at is judged on Omise's clock.
    const omiseNow = sales.omiseNow().getTime();

    // Every pending charge is re-read once no webhook has told us about it for webhookOverdueMs:
    // no outcome waits on a webhook alone.
    await this.each('pending charge', await store.pendingSales(BATCH), async (s) => {
      const pastExpiry = s.chargeExpiresAt !== null && Date.parse(s.chargeExpiresAt) <= omiseNow;
      if (s.expireRequested) await sales.retryExpire(s);
      else if (overdue(s.checkedAt) || pastExpiry) {
        const fresh = await sales.refreshSale(s);
        // Omise should have expired it itself; make sure no charge outlives its expiry.
        if (fresh.status === 'pending' && pastExpiry) await sales.retryExpire(fresh, true);
      }
    });

    const settled = new Date(now - 2 * this.o.omiseTimeoutMs).toISOString();
    await this.each(
      'creating sale',
      // Also a cancelled (e.g. revoked) sale that never sent an attempt: it ends expired.
      (await store.salesByStatus('creating', BATCH)).filter((s) => (s.createAttempts > 0 ? (s.lastAttemptAt ?? '') < settled : s.expireRequested)),
      (s) => sales.resolveCreating(s),
    );
    // Every pass, not once: a late answer can land long after the attempt settled.
    await this.each('orphan scan', await store.uncertainSales(BATCH), (s) => sales.scanForOrphans(s));
    await this.each('extra charge', await store.orphansToExpire(BATCH), (o) => sales.expireOrphan(o.chargeId));
    await this.each(
      'pending refund',
      (await store.pendingRefunds(BATCH)).filter((r) => r.updatedAt < settled),
      (r) => sales.resolveRefund(r),
    );
  }
}
