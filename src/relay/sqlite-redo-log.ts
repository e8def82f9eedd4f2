/**
 * The SQLite store's redo log (opt-in, `sqlite_commit: redo-log`): the write statements of each
 * group commit are appended to a small log file and made durable there, while the database file
 * itself is committed only every second or so. A paid sale then costs the disk about one log
 * record (under a KiB) instead of ten B-tree pages copied into SQLite's WAL.
 *
 * Two segment files beside the database (`relay.db-redo-a`, `-b`) take turns: after a database
 * commit that is known durable, the next record starts the other segment from its beginning. So
 * a segment is overwritten only once every record it holds is in the database, and the files stop
 * growing once they are as large as a second's records.
 *
 * A record is `[u32 payload length][u32 CRC-32 of seq and payload][f64 seq][payload]`; on disks
 * that take direct I/O it is padded to the device's block, so that an fsync'd append writes that
 * block and not a whole page of the page cache again (a record written through the page cache
 * costs 4 KiB of writes however short it is). Reading stops at the first record that is torn, has
 * a bad checksum or does not follow the one before: what lies beyond is from an earlier round.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from '../shared/crc32';
import { fsyncPath } from '../shared/fsync';

/** Bytes of a record's header. */
const HEADER = 16;
/** Block sizes tried for direct I/O, smallest first. */
const BLOCKS = [512, 4096];
/** Bytes written to find an aligned buffer: across several pages. */
const PROBE_BYTES = 3 * 4096;
/** First size of the buffers that direct I/O writes from, and the largest kept between writes. */
const STAGING_BYTES = 256 * 1024;
const KEEP_STAGING_BYTES = 1024 * 1024;

/** One write statement as it ran: its SQL and the arguments it was given. */
export type Statement = [sql: string, args: unknown[]];

/** A record read back: its number and statements. */
export interface RedoRecord {
  seq: number;
  statements: Statement[];
}

/**
 * A record's payload is JSON `[definitions, statements]`: a statement names its SQL by a number
 * that a record earlier in the same segment (or this one) defined as `[number, sql]`.
 */
type Payload = [defs: [number, string][], stmts: [number, unknown[]][]];

/** Records read from one segment: a run of consecutive numbers from its start, decoded. */
export function readSegment(file: string): RedoRecord[] {
  const sqlById = new Map<number, string>();
  return readRaw(file).map(({ seq, payload }) => {
    const [defs, stmts] = JSON.parse(payload.toString('utf8')) as Payload;
    for (const [id, sql] of defs) sqlById.set(id, sql);
    return {
      seq,
      statements: stmts.map(([id, args]): Statement => {
        const sql = sqlById.get(id);
        if (sql === undefined) throw new Error(`redo log ${file}: record ${seq} names statement ${id}, never defined`);
        return [sql, args];
      }),
    };
  });
}

function readRaw(file: string): { seq: number; payload: Buffer }[] {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { seq: number; payload: Buffer }[] = [];
  let off = 0;
  while (off + HEADER <= data.length) {
    const len = data.readUInt32LE(off);
    if (len === 0 || off + HEADER + len > data.length) break;
    if (crc32(data, off + 8, off + HEADER + len) !== data.readUInt32LE(off + 4)) break;
    const seq = data.readDoubleLE(off + 8);
    if (out.length && seq !== out[out.length - 1].seq + 1) break;
    out.push({ seq, payload: Buffer.from(data.subarray(off + HEADER, off + HEADER + len)) });
    off += HEADER + len;
    // Padded to the block when written with direct I/O: the next record starts on a block.
    const pad = nextRecordOffset(data, off);
    if (pad < 0) break;
    off = pad;
  }
  return out;
}

/** Where the record after one ending at `end` starts: right there, or at the next 512-byte boundary when zeros pad to it. */
function nextRecordOffset(data: Buffer, end: number): number {
  if (end + HEADER <= data.length && data.readUInt32LE(end) !== 0) return end;
  const aligned = Math.ceil(end / 512) * 512;
  for (let b = aligned; b <= data.length - HEADER; b += 512) if (data.readUInt32LE(b) !== 0) return b;
  return -1;
}

/**
 * The records after `marker`, in order, from both segments: the run that continues the marker
 * without a gap (a later run that does not join it is from an earlier round and ignored).
 */
export function recordsAfter(files: string[], marker: number): RedoRecord[] {
  // (each segment is decoded whole: a record may use SQL an earlier one of its segment defined)
  const runs = files.map(readSegment).map((run) => run.filter((r) => r.seq > marker)).filter((run) => run.length);
  runs.sort((a, b) => a[0].seq - b[0].seq);
  const out: RedoRecord[] = [];
  let next = marker + 1;
  for (const run of runs) {
    if (run[0].seq !== next) break;
    out.push(...run);
    next = run[run.length - 1].seq + 1;
  }
  return out;
}

interface Segment {
  file: string;
  fd: number;
  /** Bytes appended this round (the next record goes there). */
  end: number;
  /** Bytes known on disk this round. */
  durableEnd: number;
  /** Records appended this round and not yet known on disk, as bytes (padded under direct I/O). */
  pending: Buffer[];
  /** The highest record number this round put in it (0: none). */
  maxSeq: number;
  /** The SQL texts records of this round have defined, and their numbers. */
  dict: Map<string, number>;
}

/** A buffer direct I/O can write from (its start aligned for the device), and its size. */
interface Staging {
  buf: Buffer;
  off: number;
  size: number;
}

export class RedoLog {
  private readonly segments: [Segment, Segment];
  private active = 0;
  /** The block records are padded to (direct I/O), or 0 (writes through the page cache). */
  readonly block: number;
  private staging: Staging[] = [];
  /** The write in flight from the thread pool, if any. */
  private inFlight: Promise<void> | undefined;
  /** The highest record number the database holds durably: segments holding only records up to it can be reused. */
  private durableMarker = 0;
  /** A turn to the other segment is wanted (the database caught up since this one started). */
  private turnWanted = false;
  private closed = false;
  /** Records appended, and bytes written to the segments (a record written again with a later one counts again). */
  records = 0;
  bytesWritten = 0;

  /** Opens (creating) the two segments of `base` (`base-a`, `base-b`), empty. Read them with recordsAfter() first. */
  constructor(base: string, marker: number) {
    this.durableMarker = marker;
    const files = [`${base}-a`, `${base}-b`];
    let block = 0;
    const fds: number[] = [];
    for (const f of files) fds.push(this.openSegment(f));
    fsyncPath(path.dirname(base));
    // Direct I/O when the filesystem takes it (not tmpfs): find the block and an aligned buffer.
    const direct = this.tryDirect(files[0]);
    if (direct) {
      for (const fd of fds) fs.closeSync(fd);
      fds.length = 0;
      for (const f of files) fds.push(fs.openSync(f, fs.constants.O_RDWR | fs.constants.O_DSYNC | fs.constants.O_DIRECT));
      block = direct.block;
      this.staging = [direct.staging];
    }
    this.block = block;
    const segment = (i: number): Segment => ({ file: files[i], fd: fds[i], end: 0, durableEnd: 0, pending: [], maxSeq: 0, dict: new Map() });
    this.segments = [segment(0), segment(1)];
  }

  /** The segments' files (for recordsAfter). */
  get files(): string[] {
    return this.segments.map((s) => s.file);
  }

  private openSegment(file: string): number {
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DSYNC, 0o600);
    // Everything in it is in the database already (the caller replayed it): start empty.
    fs.ftruncateSync(fd, 0);
    fs.fsyncSync(fd);
    return fd;
  }

  /** Whether direct I/O works on `file`'s filesystem: its block and an aligned buffer, or undefined. */
  private tryDirect(file: string): { block: number; staging: Staging } | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_DIRECT);
    } catch {
      return undefined;
    }
    try {
      for (const block of BLOCKS) {
        const staging = findAligned(fd, block, STAGING_BYTES);
        if (staging) return { block, staging };
      }
      return undefined;
    } finally {
      fs.ftruncateSync(fd, 0);
      fs.closeSync(fd);
    }
  }

  /** The database now holds every record up to `marker` durably: their segment may be reused. */
  databaseDurable(marker: number): void {
    if (marker <= this.durableMarker) return;
    this.durableMarker = marker;
    this.turnWanted = true;
  }

  /**
   * Appends record `seq`. With `sync` it is on disk when this returns (or this throws and the log
   * is as before); else the promise says when it is (a failed write is tried again with the next
   * record, which cannot be durable before it).
   */
  append(seq: number, statements: Statement[], sync: true): void;
  append(seq: number, statements: Statement[], sync: false): Promise<void>;
  append(seq: number, statements: Statement[], sync: boolean): Promise<void> | void {
    if (this.closed) throw new Error('the redo log is closed');
    this.maybeTurn();
    const seg = this.segments[this.active];
    const defs: [number, string][] = [];
    const stmts = statements.map(([sql, args]): [number, unknown[]] => {
      let id = seg.dict.get(sql);
      if (id === undefined) {
        id = seg.dict.size + 1;
        seg.dict.set(sql, id);
        defs.push([id, sql]);
      }
      return [id, args];
    });
    const payload = Buffer.from(JSON.stringify([defs, stmts] satisfies Payload), 'utf8');
    const len = HEADER + payload.length;
    const size = this.block ? Math.ceil(len / this.block) * this.block : len;
    const rec = Buffer.alloc(size);
    rec.writeUInt32LE(payload.length, 0);
    rec.writeDoubleLE(seq, 8);
    payload.copy(rec, HEADER);
    rec.writeUInt32LE(crc32(rec, 8, len), 4);
    const before = { end: seg.end, maxSeq: seg.maxSeq };
    this.records++;
    seg.pending.push(rec);
    seg.end += size;
    seg.maxSeq = seq;
    if (!sync) return this.writeAsync(seg);
    try {
      this.writeSync(seg);
    } catch (err) {
      // Not written: the record never was (its caller rolls its statements back).
      if (seg.pending[seg.pending.length - 1] === rec) seg.pending.pop();
      Object.assign(seg, before);
      for (const [, sql] of defs) seg.dict.delete(sql);
      throw err;
    }
  }

  /** Turns to the other segment when it holds nothing the database lacks and nothing is in flight here. */
  private maybeTurn(): void {
    if (!this.turnWanted || this.inFlight) return;
    const cur = this.segments[this.active];
    const other = this.segments[1 - this.active];
    if (cur.pending.length || other.maxSeq > this.durableMarker) return;
    this.turnWanted = false;
    this.active = 1 - this.active;
    Object.assign(other, { end: 0, durableEnd: 0, pending: [], maxSeq: 0, dict: new Map() });
  }

  /** The bytes not yet known on disk, and where they go. */
  private region(seg: Segment, staging: Staging | undefined): { buf: Buffer; at: number; upTo: number; count: number } {
    const bytes = seg.end - seg.durableEnd;
    const count = seg.pending.length;
    if (!staging) return { buf: count === 1 ? seg.pending[0] : Buffer.concat(seg.pending, bytes), at: seg.durableEnd, upTo: seg.end, count };
    let o = staging.off;
    for (const p of seg.pending) o += p.copy(staging.buf, o);
    return { buf: staging.buf.subarray(staging.off, staging.off + bytes), at: seg.durableEnd, upTo: seg.end, count };
  }

  /** An aligned buffer for `bytes` not in use by the write in flight (index 0 is the in-flight one's when there is one). */
  private stagingFor(bytes: number, busy: Staging | undefined, seg: Segment): Staging {
    let s = this.staging.find((x) => x !== busy && x.size >= bytes);
    if (s) return s;
    s = findAligned(seg.fd, this.block, Math.max(bytes, STAGING_BYTES), seg.end);
    if (!s) throw Object.assign(new Error('redo log: no buffer aligned for direct I/O'), { code: 'EIO' });
    // Kept for later writes only while small: a buffer for one huge record is let go after it.
    if (s.size <= KEEP_STAGING_BYTES && this.staging.length < 2) this.staging.push(s);
    return s;
  }

  private busy: Staging | undefined;

  private writeSync(seg: Segment): void {
    const staging = this.block ? this.stagingFor(seg.end - seg.durableEnd, this.busy, seg) : undefined;
    const { buf, at, upTo, count } = this.region(seg, staging);
    writeAllSync(seg.fd, buf, at);
    this.bytesWritten += buf.length;
    this.written(seg, upTo, count);
  }

  private writeAsync(seg: Segment): Promise<void> {
    const prior = this.inFlight;
    const run = async (): Promise<void> => {
      if (prior) await prior.catch(() => undefined);
      if (seg.durableEnd >= seg.end) return; // a later write took it along
      if (this.closed) throw new Error('the redo log was closed before this record was written');
      const staging = this.block ? this.stagingFor(seg.end - seg.durableEnd, undefined, seg) : undefined;
      this.busy = staging;
      const { buf, at, upTo, count } = this.region(seg, staging);
      try {
        await writeAll(seg.fd, buf, at);
        this.bytesWritten += buf.length;
      } finally {
        this.busy = undefined;
      }
      this.written(seg, upTo, count);
    };
    const p = run();
    const tracked: Promise<void> = p.then(
      () => this.settled(tracked),
      () => this.settled(tracked),
    );
    this.inFlight = tracked;
    return p;
  }

  private settled(write: Promise<void>): void {
    if (this.inFlight === write) this.inFlight = undefined;
  }

  /** Bytes up to `upTo` are on disk: the first `count` pending records (those the write held) are done. */
  private written(seg: Segment, upTo: number, count: number): void {
    // A write from the thread pool may end after a later one that took its records along.
    if (upTo <= seg.durableEnd) return;
    seg.pending.splice(0, count);
    seg.durableEnd = upTo;
  }

  /** Waits for the write in flight. */
  async settle(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
  }

  /**
   * Closes the segments, emptied when `empty` (everything is in the database: a clean stop). A
   * write still in flight ends first (its descriptor must not be reused under it).
   */
  close(empty: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const finish = (): void => {
      for (const s of this.segments) {
        try {
          if (empty) fs.ftruncateSync(s.fd, 0);
          fs.closeSync(s.fd);
        } catch {
          /* closing anyway */
        }
      }
    };
    if (this.inFlight) void this.inFlight.then(finish);
    else finish();
  }
}

/**
 * A buffer of at least `size` bytes, from an offset direct I/O accepts with `block`: found by
 * writing zeros at `at` from each candidate offset. JavaScript cannot see a buffer's address, and
 * a device may accept a short write from any address but a write across pages only from an
 * aligned one, so the probe spans several pages.
 */
function findAligned(fd: number, block: number, size: number, at = 0): Staging | undefined {
  const buf = Buffer.allocUnsafeSlow(size + 4096);
  buf.fill(0);
  const probeAt = Math.ceil(at / block) * block;
  const probe = Math.min(size, Math.max(block, PROBE_BYTES));
  for (let off = 0; off < 4096; off += 16) {
    try {
      fs.writeSync(fd, buf, off, probe, probeAt);
      return { buf, off, size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
    }
  }
  return undefined;
}

function writeAllSync(fd: number, buf: Buffer, at: number): void {
  let done = 0;
  while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done, at + done);
}

function writeAll(fd: number, buf: Buffer, at: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= buf.length) return resolve();
      fs.write(fd, buf, done, buf.length - done, at + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}
