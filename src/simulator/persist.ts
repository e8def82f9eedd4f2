/**
 * Optional state file: the whole account as JSON, written debounced (tmp → fsync → rename,
 * mode 0600 because it holds QR download tokens) so requests never wait for the disk.
 */
import { promises as fsp, readFileSync, existsSync } from 'node:fs';
import type { Logger } from '../shared/log';
import type { ChargeRec, Engine, EventRec, RefundRec, SourceRec } from './engine';

type StoredCharge = Omit<ChargeRec, 'source'> & { sourceId: string };
type StoredEvent = Omit<EventRec, 'data'> & {
  data: { kind: 'charge'; charge: StoredCharge; atMs: number } | { kind: 'refund'; refundId: string };
};

interface Snapshot {
  version: 1;
  sources: SourceRec[];
  charges: StoredCharge[];
  refunds: RefundRec[];
  events: StoredEvent[];
}

function storeCharge({ source, ...rest }: ChargeRec): StoredCharge {
  return { ...rest, sourceId: source.id };
}

export function snapshot(engine: Engine): Snapshot {
  return {
    version: 1,
    sources: [...engine.sources.values()],
    charges: [...engine.charges.values()].map(storeCharge),
    refunds: [...engine.refunds.values()],
    events: [...engine.events.values()].map((e) => ({
      ...e,
      data: e.data.kind === 'charge' ? { kind: 'charge', charge: storeCharge(e.data.charge), atMs: e.data.atMs } : { kind: 'refund', refundId: e.data.refund.id },
    })),
  };
}

/** Loads a state file written by StateWriter; throws with a clear message if it is not one. */
export function loadState(file: string, engine: Engine): boolean {
  if (!existsSync(file)) return false;
  let snap: Snapshot;
  try {
    snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  } catch (err) {
    throw new Error(`state file ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!snap || snap.version !== 1 || !Array.isArray(snap.charges)) throw new Error(`state file ${file} is not a simulator state file (version 1)`);
  let maxSeq = 0;
  for (const s of snap.sources) engine.sources.set(s.id, s);
  for (const { sourceId, ...c } of snap.charges) {
    const source = engine.sources.get(sourceId);
    if (!source) continue;
    const rec: ChargeRec = { ...c, source };
    engine.charges.set(rec.id, rec);
    if (rec.status === 'pending') engine.pending.add(rec.id);
    maxSeq = Math.max(maxSeq, rec.seq);
  }
  for (const r of snap.refunds) {
    engine.refunds.set(r.id, r);
    maxSeq = Math.max(maxSeq, r.seq);
  }
  for (const e of snap.events) {
    let data: EventRec['data'];
    if (e.data.kind === 'charge') {
      const { sourceId, ...c } = e.data.charge;
      const source = engine.sources.get(sourceId);
      if (!source) continue;
      data = { kind: 'charge', charge: { ...c, source }, atMs: e.data.atMs };
    } else {
      const refund = engine.refunds.get(e.data.refundId);
      if (!refund) continue;
      data = { kind: 'refund', refund };
    }
    engine.events.set(e.id, { ...e, data });
    maxSeq = Math.max(maxSeq, e.seq);
  }
  engine.restoreSeq(maxSeq);
  return true;
}

export class StateWriter {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly file: string,
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly debounceMs = 500,
  ) {}

  markDirty(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.writing = this.writing.then(() => this.write());
    }, this.debounceMs);
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.file}.tmp`;
    try {
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(snapshot(this.engine)));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
    } catch (err) {
      this.log.error('state file write failed', { err });
    }
  }

  /** Writes what is pending now (on stop). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.writing = this.writing.then(() => this.write());
    await this.writing;
  }
}
