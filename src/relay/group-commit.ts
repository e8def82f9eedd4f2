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
      const q0 = performance.now();
      this.queue.push({ fn, resolve: ((v: unknown) => { const g = globalThis as any; g.__q ??= []; g.__q.push(performance.now() - q0); if (g.__q.length % 500 === 0) { const a = [...g.__q.slice(-500)].sort((x: number, y: number) => x - y); process.stderr.write(`commit wait ms p50 ${a[250].toFixed(1)} p99 ${a[495].toFixed(1)}\n`); } (resolve as (v: unknown) => void)(v); }), reject });
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
    const t0 = performance.now();
    try {
      errors = this.store.batch(items.map((it, i) => () => void (results[i] = it.fn())));
    } catch (err) {
      for (const it of items) it.reject(err);
      return;
    }
    const dt = performance.now() - t0; (globalThis as any).__gc ??= []; (globalThis as any).__gc.push([items.length, dt]); if ((globalThis as any).__gc.length % 200 === 0) { const a = (globalThis as any).__gc.slice(-200); process.stderr.write(`batches: avg size ${(a.reduce((x: number, y: number[]) => x + y[0], 0) / 200).toFixed(1)} avg ms ${(a.reduce((x: number, y: number[]) => x + y[1], 0) / 200).toFixed(1)} max ms ${Math.max(...a.map((y: number[]) => y[1])).toFixed(1)}\n`); }
    items.forEach((it, i) => (errors[i] === undefined ? it.resolve(results[i]) : it.reject(errors[i])));
  }
}
