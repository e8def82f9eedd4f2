/**
 * WAL checkpoints off the relay's thread. A checkpoint copies the WAL's pages into the database
 * file and fsyncs both; done by SQLite's automatic checkpoint, it runs inside whichever commit
 * crosses 1,000 pages and stalls the event loop for as long as the disk takes. Here a worker
 * thread with its own connection to the same file runs a PASSIVE checkpoint (it never blocks a
 * writer) when the group commit asks (group-commit.ts). Under a steady stream of commits a
 * checkpoint running alongside them never quite catches up, and the WAL, which SQLite writes
 * from its start again only once all of it was copied, would grow without bound; so once a
 * checkpoint alongside the commits has left only a little behind, the group commit holds the
 * next batch (its writes queue; the event loop does not wait) for one last short checkpoint.
 *
 * When the worker cannot run (it failed to start, or its checkpoints keep failing), `fallback`
 * is called once: the store turns SQLite's own automatic checkpoint back on.
 */
import { Worker } from 'node:worker_threads';

/** Checkpoint when the WAL is larger than this. */
export const CHECKPOINT_WAL_BYTES = 4 * 1024 * 1024;
/** How long stop() waits for the worker to close its connection. */
const STOP_WAIT_MS = 5000;

// Plain CommonJS so it runs the same from the TypeScript sources (tests, tsx) and from dist.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
let failures = 0;
parentPort.on('message', (m) => {
  if (m === 'checkpoint') {
    try {
      const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
      failures = 0;
      parentPort.postMessage({ kind: 'checkpoint', remaining: r.busy ? -1 : r.log - r.checkpointed });
    } catch (err) {
      parentPort.postMessage({ kind: ++failures >= 3 ? 'failed' : 'error', message: String((err && err.message) || err) });
    }
  } else if (m === 'stop') {
    try { db.close(); } finally {
      Atomics.store(workerData.closed, 0, 1);
      Atomics.notify(workerData.closed, 0);
      parentPort.close();
    }
  }
});
`;

export class Checkpointer {
  private readonly worker: Worker | undefined;
  private fellBack = false;
  private stopped = false;
  /** Set to 1 by the worker once its connection is closed. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));
  private waiting: ((remaining: number) => void)[] = [];
  /** Checkpoints the worker has run, and how many of them copied the whole WAL. */
  checkpoints = 0;
  complete = 0;

  constructor(
    file: string,
    private readonly fallback: () => void,
  ) {
    try {
      this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { closed: this.closed, file, driver: require.resolve('better-sqlite3') } });
    } catch {
      this.fallBack();
      return;
    }
    this.worker.unref();
    this.worker.on('message', (m: { kind: string; remaining?: number }) => {
      if (m.kind === 'checkpoint') {
        this.checkpoints++;
        if (m.remaining === 0) this.complete++;
      } else if (m.kind === 'failed') this.fallBack();
      this.waiting.shift()?.(m.kind === 'checkpoint' ? m.remaining! : -1);
    });
    this.worker.on('error', () => this.fallBack());
  }

  /** Whether checkpoints run in the worker (false: SQLite's automatic ones on the writer). */
  get active(): boolean {
    return !!this.worker && !this.fellBack && !this.stopped;
  }

  /**
   * Runs one checkpoint in the worker; resolves when it is done with the WAL frames it could not
   * copy (written meanwhile; 0: all copied, -1: it could not run). Never rejects.
   */
  run(): Promise<number> {
    if (!this.active) return Promise.resolve(-1);
    return new Promise<number>((resolve) => {
      this.waiting.push(resolve);
      this.worker!.postMessage('checkpoint');
    });
  }

  private fallBack(): void {
    for (const w of this.waiting.splice(0)) w(-1);
    if (this.fellBack || this.stopped) return;
    this.fellBack = true;
    this.fallback();
  }

  /** Closes the worker's connection before returning (a checkpoint in progress ends first). */
  stop(): void {
    if (this.stopped || !this.worker) return;
    this.stopped = true;
    for (const w of this.waiting.splice(0)) w(-1);
    if (this.fellBack) {
      void this.worker.terminate();
      return;
    }
    this.worker.postMessage('stop');
    Atomics.wait(this.closed, 0, 0, STOP_WAIT_MS);
  }
}
