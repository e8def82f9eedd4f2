/**
 * Group commit. With synchronous=FULL every commit waits for the disk, and better-sqlite3 waits
 * on the main thread, so writes from concurrent requests are queued and committed together.
 *
 * The batching adapts to the disk: after a commit that took d ms, the next one starts no sooner
 * than GAP_FACTOR × d later (capped). At low load writes are far apart and nothing waits; under
 * load the fsyncs cannot take more than about 1 / (1 + GAP_FACTOR) of the thread, and the writes
 * that arrive meanwhile share the next one. Before this, at 500 webhooks/s each webhook had its
 * own fsync and the disk waits alone kept the thread busy half of the time.
 */
import type { RelayStore } from './store';

/** Idle time after a commit, as a multiple of how long it took. */
const GAP_FACTOR = 1;
/** Never hold writes longer than this for batching's sake. */
const MAX_GAP_MS = 4;

interface Item {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class GroupCommit {
  private queue: Item[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private nextAt = 0;

  constructor(
    private readonly store: RelayStore,
    /** Told each commit's duration (ms) and size, for metrics. */
    private readonly observe?: (ms: number, items: number) => void,
  ) {}

  /** Resolves with fn's result once the transaction holding it is durable. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        const wait = this.nextAt - performance.now();
        // Whole milliseconds: Node's timers have no finer resolution.
        if (wait >= 1) this.timer = setTimeout(() => this.flush(), Math.round(wait));
        else setImmediate(() => this.flush());
      }
    });
  }

  flush(): void {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    const items = this.queue;
    this.queue = [];
    if (!items.length) return;
    const results: unknown[] = new Array<unknown>(items.length);
    let errors: unknown[];
    const started = performance.now();
    try {
      errors = this.store.batch(items.map((it, i) => () => void (results[i] = it.fn())));
    } catch (err) {
      for (const it of items) it.reject(err);
      return;
    } finally {
      const ended = performance.now();
      this.nextAt = ended + Math.min(MAX_GAP_MS, GAP_FACTOR * (ended - started));
    }
    this.observe?.(performance.now() - started, items.length);
    items.forEach((it, i) => (errors[i] === undefined ? it.resolve(results[i]) : it.reject(errors[i])));
  }
}
