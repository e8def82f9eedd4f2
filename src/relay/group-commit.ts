/**
 * Group commit. With synchronous=FULL every commit waits for the disk (milliseconds), so writes
 * from concurrent requests are queued and committed together: everything that arrived in one
 * event-loop turn shares one fsync. At low load a write waits for nothing but its own commit.
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

  constructor(private readonly store: RelayStore) {}

  /** Resolves with fn's result once the transaction holding it is durable. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  flush(): void {
    this.scheduled = false;
    const items = this.queue;
    this.queue = [];
    if (!items.length) return;
    const results: unknown[] = new Array<unknown>(items.length);
    let errors: unknown[];
    try {
      errors = this.store.batch(items.map((it, i) => () => void (results[i] = it.fn())));
    } catch (err) {
      for (const it of items) it.reject(err);
      return;
    }
    items.forEach((it, i) => (errors[i] === undefined ? it.resolve(results[i]) : it.reject(errors[i])));
  }
}
