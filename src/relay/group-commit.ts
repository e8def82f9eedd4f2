/**
 * Group commit. Writes from concurrent requests (webhooks, acks, last-seen times) made in one turn
 * of the event loop share one transaction, and each caller hears back only once that transaction
 * is durable. The store makes it durable off the main thread (see SqliteStore.batch), so the next
 * turn's writes commit while this one's sync runs, and one sync covers every commit made before
 * it started: under load the syncs batch themselves.
 */
import type { RelayStore } from './store';

interface Item {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private queue: Item[] = [];
  private scheduled = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: RelayStore,
    /** Told each commit's time from start to durable (ms) and its size, for metrics. */
    private readonly observe?: (ms: number, items: number) => void,
  ) {}

  /** Resolves with fn's result once the transaction holding it is durable. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Commits what is queued now; the returned promise settles once it is durable. */
  flush(): Promise<void> {
    this.scheduled = false;
    const items = this.queue;
    this.queue = [];
    if (!items.length) return Promise.resolve();
    const results: unknown[] = new Array<unknown>(items.length);
    const started = performance.now();
    let batch: Promise<unknown[]>;
    try {
      batch = this.store.batch(items.map((it, i) => () => void (results[i] = it.fn())));
    } catch (err) {
      for (const it of items) it.reject(err);
      return Promise.resolve();
    }
    const done = batch.then(
      (errors) => {
        this.observe?.(performance.now() - started, items.length);
        items.forEach((it, i) => (errors[i] === undefined ? it.resolve(results[i]) : it.reject(errors[i])));
      },
      (err: unknown) => {
        for (const it of items) it.reject(err);
      },
    );
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return done;
  }

  /** Commits what is queued and waits for every commit to be durable (shutdown). */
  async drain(): Promise<void> {
    await this.flush();
    await Promise.all([...this.inFlight]);
  }
}
