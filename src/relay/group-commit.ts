/**
 * Group commit. With synchronous=FULL every commit waits for the disk, and better-sqlite3 waits
 * on the main thread, so writes from concurrent requests are queued and committed together.
 *
 * With a store that can defer its fsync (SQLite's `batchDeferred`), the disk is never waited for
 * on this thread: a batch is written to the WAL, the WAL is fsynced in the thread pool, and the
 * writes queued meanwhile form the next batch, which starts when that fsync ends (one fsync in
 * flight at a time, as in PostgreSQL's group commit). A slow disk makes batches larger, not the
 * event loop slower. Each item's promise still resolves only once its commit is durable, and the
 * events it published reach the stream only then.
 *
 * A store without it (every commit durable on return) is batched adaptively instead: after a
 * commit that took d ms, the next one starts no sooner than GAP_FACTOR × d later (capped).
 */
import { AsyncResource } from 'node:async_hooks';
import type { Awaitable, RelayStore } from './store';

/** Idle time after a commit, as a multiple of how long it took. */
const GAP_FACTOR = 1;
/** Never hold writes longer than this for batching's sake. */
const MAX_GAP_MS = 4;
/** A checkpoint round that left at most this many log frames behind is followed by the last, holding one. */
const CATCH_UP_FRAMES = 256;
/** After this many rounds alongside the batches, the last round runs anyway. */
const MAX_BACKGROUND_ROUNDS = 4;

interface Item {
  fn: () => Awaitable<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A store that commits without waiting for the disk and says when the commit is durable. */
export interface DeferredSyncStore {
  /** Resolves once committed (items may be async: they run in the batch, one after the other). */
  batchDeferred(items: (() => Awaitable<unknown>)[]): Promise<{ errors: unknown[]; durable: Promise<void> }>;
  /** The log has grown enough to be copied back (checkpointed) before the next batch. */
  checkpointDue(): boolean;
  /** Copies the log back off this thread; resolves when done with what it left (never rejects). */
  checkpoint(): Promise<number>;
}

export class GroupCommit {
  private queue: Item[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private nextAt = 0;
  /** The batch in flight (until durable), if any. */
  private syncing: Promise<void> | undefined;
  /**
   * Batches start in the async context this was made in: a write queued from inside a
   * transaction's context must not make the batch look like part of that transaction (the store
   * would refuse it, or make it wait for itself).
   */
  private readonly scope = new AsyncResource('qrpos.GroupCommit');

  constructor(
    private readonly store: RelayStore & Partial<DeferredSyncStore>,
    /** Told each commit's duration (ms, until durable) and size, for metrics. */
    private readonly observe?: (ms: number, items: number) => void,
  ) {}

  /**
   * Resolves with fn's result once the transaction holding it is durable. fn runs inside the
   * batch's transaction: only store work, never network I/O (the batch waits for it).
   */
  run<T>(fn: () => Awaitable<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled && !this.syncing) this.schedule();
    });
  }

  private schedule(): void {
    this.scheduled = true;
    const wait = this.nextAt - performance.now();
    // Whole milliseconds: Node's timers have no finer resolution.
    this.scope.runInAsyncScope(() => {
      if (wait >= 1) this.timer = setTimeout(() => void this.flush(), Math.round(wait));
      else setImmediate(() => void this.flush());
    });
  }

  /** Commits what is queued now; resolves once it is durable and its items are answered. */
  flush(): Promise<void> {
    this.scheduled = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.syncing) return Promise.resolve(); // the batch after the one in flight takes them
    const items = this.queue;
    this.queue = [];
    if (!items.length) return Promise.resolve();
    const results: unknown[] = new Array<unknown>(items.length);
    const fns = items.map((it, i) => () => {
      const r = it.fn();
      // Synchronous items stay synchronous (no promise per item on SQLite's hot path).
      if (r instanceof Promise) return r.then((v) => void (results[i] = v));
      results[i] = r;
      return undefined;
    });
    const started = performance.now();
    // One batch in flight at a time (set at once): writes queued meanwhile form the next one.
    let done!: () => void;
    this.syncing = new Promise<void>((resolve) => (done = resolve));
    const round = this.store.batchDeferred ? this.deferredRound(items, fns, results, started) : this.plainRound(items, fns, results, started);
    void round.finally(() => {
      done();
      this.syncing = undefined;
      if (this.queue.length && !this.scheduled) this.schedule();
    });
    return round;
  }

  /** A batch whose commit is durable when it returns; the next one starts after a gap. Never rejects. */
  private async plainRound(items: Item[], fns: (() => Awaitable<unknown>)[], results: unknown[], started: number): Promise<void> {
    let errors: unknown[];
    try {
      errors = await this.store.batch(fns);
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

  /** One deferred batch: committed, then durable (items answered), then a checkpoint if due. Never rejects. */
  private async deferredRound(items: Item[], fns: (() => Awaitable<unknown>)[], results: unknown[], started: number): Promise<void> {
    let out: { errors: unknown[]; durable: Promise<void> };
    try {
      out = await this.store.batchDeferred!(fns);
    } catch (err) {
      for (const it of items) it.reject(err);
      return;
    }
    const { errors, durable } = out;
    try {
      await durable;
      this.observe?.(performance.now() - started, items.length);
      items.forEach((it, i) => (errors[i] === undefined ? it.resolve(results[i]) : it.reject(errors[i])));
    } catch (err) {
      // Not known durable: every item fails (a webhook is answered 5xx and sent again).
      items.forEach((it, i) => it.reject(errors[i] ?? err));
    }
    await this.checkpointBetweenBatches();
  }

  /** A checkpoint running alongside the batches, and how many ran in a row without catching up. */
  private background: Promise<number> | undefined;
  private rounds = 0;
  private catchUp = false;

  /**
   * The log is copied back alongside the batches, round after round, until a round leaves only a
   * little behind; then one last round runs between two batches (the next one waits for it), so
   * that it copies everything and the next batch writes the log from its start again.
   */
  private async checkpointBetweenBatches(): Promise<void> {
    const store = this.store;
    if (!store.checkpoint || !store.checkpointDue) return;
    if (this.catchUp) {
      this.catchUp = false;
      this.rounds = 0;
      await store.checkpoint();
      return;
    }
    if (this.background || !store.checkpointDue()) return;
    this.background = store.checkpoint();
    void this.background.then((remaining) => {
      this.background = undefined;
      if (remaining < 0) return;
      if (remaining <= CATCH_UP_FRAMES || ++this.rounds >= MAX_BACKGROUND_ROUNDS) this.catchUp = true;
    });
  }

  /** Commits everything queued and waits until it is durable (shutdown). */
  async drain(): Promise<void> {
    for (;;) {
      if (this.syncing) await this.syncing;
      if (!this.queue.length) return;
      await this.flush();
    }
  }
}
