/**
 * WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside whichever COMMIT
 * pushes the WAL past its limit: copying the WAL into the database and syncing both files there
 * would stall the relay's event loop for milliseconds, several times a second under load. The
 * relay turns that off on its own connection and a worker thread with its own connection runs
 * a PASSIVE checkpoint (never blocks writers or readers) every interval instead.
 */
import { Worker } from 'node:worker_threads';

/** Runs in the worker: a plain script (no TypeScript loader is needed to start it). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
let timer;
const run = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
  timer = setTimeout(run, workerData.intervalMs);
};
timer = setTimeout(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  run();
  clearTimeout(timer);
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

export interface CheckpointResult {
  /** WAL frames at the time, and how many of them are now in the database file. */
  log: number;
  checkpointed: number;
}

export class Checkpointer {
  private readonly worker: Worker;
  private stopped: Promise<void> | undefined;

  constructor(
    file: string,
    intervalMs: number,
    private readonly on: { result?: (r: CheckpointResult) => void; error?: (message: string) => void } = {},
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, driver: require.resolve('better-sqlite3') } });
    this.worker.unref();
    this.worker.on('message', (m: { ok?: boolean; log?: number; checkpointed?: number; error?: string }) => {
      if (m.ok === true) this.on.result?.({ log: m.log!, checkpointed: m.checkpointed! });
      else if (m.ok === false) this.on.error?.(m.error ?? 'checkpoint failed');
    });
    this.worker.on('error', (err) => this.on.error?.(err.message));
  }

  /** Runs a last checkpoint and ends the worker. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      const done = () => resolve();
      this.worker.on('message', (m: { stopped?: boolean }) => {
        if (m.stopped) void this.worker.terminate().then(done, done);
      });
      this.worker.once('exit', done);
      this.worker.postMessage('stop');
    });
    return this.stopped;
  }
}
