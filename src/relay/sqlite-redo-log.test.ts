import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { GroupCommit } from './group-commit';
import { RedoLog, recordsAfter } from './sqlite-redo-log';
import { openSqliteStore, redoLogBase, type SqliteStore } from './sqlite-store';
import { connectStream, newSaleId, startRig, until } from './testing/testkit';

const at = '2026-12-08T01:00:00.000Z';
const terminal = (id: string) => ({ id, name: id, credentialHash: `h-${id}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });
const event = (n: number) => ({ kind: 'terminal.updated', terminal: { id: 't', name: `n${n}` } }) as never;

describe('SQLite store: the redo log (sqliteRedoLog)', () => {
  let dir: string;
  let store: SqliteStore | undefined;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-redo-'));
  });
  afterEach(() => {
    store?.close();
    store = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The database file as a crash would leave it: what it committed, plus the log (copied while open). */
  const crashImage = (): string => {
    const image = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-redo-image-'));
    for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(image, f));
    return image;
  };

  it('a write is durable once its record is in the log: a crash image of the database alone lacks it, and opening it puts it back', async () => {
    // The database's own transaction stays open for the whole test: only the log holds the writes.
    store = openSqliteStore(dir, { redoLog: true, redoCommitMs: 3_600_000, redoIdleMs: 3_600_000 });
    const gc = new GroupCommit(store);
    await gc.run(() => store!.insertTerminal(terminal('t')));
    for (let i = 0; i < 50; i++) await gc.run(() => store!.publish('t', at, event(i)));
    // Another connection sees none of it yet (the database has not committed).
    const reader = new Database(path.join(dir, 'relay.db'), { readonly: true });
    expect(reader.prepare("SELECT count(*) FROM terminals WHERE id = 't'").pluck().get()).toBe(0);
    reader.close();

    const image = crashImage();
    try {
      const copy = openSqliteStore(image);
      expect((await copy.terminalById('t'))?.lastSeq).toBe(50);
      expect((await copy.eventsAfter('t', 0, 100)).map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      // Replayed and committed: the log files are gone (this copy was opened without the redo log).
      expect(fs.existsSync(`${redoLogBase(path.join(image, 'relay.db'))}-a`)).toBe(false);
      copy.close();
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
    }
  });

  it('writes records larger than its buffers, from the event loop and from the thread pool, and reads them back in order', async () => {
    const base = path.join(dir, 'log');
    const log = new RedoLog(base, 0);
    const big = 'q'.repeat(600 * 1024);
    log.append(1, [['INSERT INTO t VALUES (?)', [big]]], true);
    await log.append(2, [['INSERT INTO t VALUES (?)', ['small']]], false);
    await log.append(3, [['INSERT INTO t VALUES (?)', [big + big]]], false);
    log.append(4, [['UPDATE t SET v = ?', [1]]], true);
    const back = recordsAfter([`${base}-a`, `${base}-b`], 1);
    expect(back.map((r) => [r.seq, (r.statements[0][1][0] as string | number).toString().length])).toEqual([
      [2, 5],
      [3, 2 * big.length],
      [4, 1],
    ]);
    expect(back[2].statements[0][0]).toBe('UPDATE t SET v = ?');
    log.close(true);
  });

  it('a torn last record is left out, and everything before it goes in', async () => {
    store = openSqliteStore(dir, { redoLog: true, redoCommitMs: 3_600_000, redoIdleMs: 3_600_000 });
    const gc = new GroupCommit(store);
    await gc.run(() => store!.insertTerminal(terminal('t')));
    for (let i = 0; i < 10; i++) await gc.run(() => store!.publish('t', at, event(i)));
    const image = crashImage();
    try {
      const seg = `${redoLogBase(path.join(image, 'relay.db'))}-a`;
      const records = recordsAfter([seg], 0);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
      // Cut the file in the middle of the last record (a write the power cut short).
      const data = fs.readFileSync(seg);
      let lastStart = 0;
      for (let off = 0; off + 8 <= data.length; off += 512) if (data.readUInt32LE(off) !== 0) lastStart = off;
      fs.truncateSync(seg, lastStart + 20);
      const copy = openSqliteStore(image);
      expect((await copy.terminalById('t'))?.lastSeq).toBe(9);
      copy.close();
    } finally {
      fs.rmSync(image, { recursive: true, force: true });
    }
  });

  it('when SQLite rolls its transaction back (as after an I/O error), the records since its last commit run again', async () => {
    store = openSqliteStore(dir, { redoLog: true, redoCommitMs: 3_600_000, redoIdleMs: 3_600_000 });
    const gc = new GroupCommit(store);
    await gc.run(() => store!.insertTerminal(terminal('t')));
    for (let i = 0; i < 5; i++) await gc.run(() => store!.publish('t', at, event(i)));
    store.db.exec('ROLLBACK');
    await gc.run(() => store!.publish('t', at, event(5)));
    expect((await store.eventsAfter('t', 0, 100)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    store.close();
    store = openSqliteStore(dir);
    expect((await store.terminalById('t'))?.lastSeq).toBe(6);
  });

  it('commits the database once idle, so that a reader (qrpos relay report) sees the writes a moment later; a clean stop empties the log', async () => {
    store = openSqliteStore(dir, { redoLog: true });
    const gc = new GroupCommit(store);
    await gc.run(() => store!.insertTerminal(terminal('t')));
    await gc.run(() => store!.publish('t', at, event(1)));
    const reader = new Database(path.join(dir, 'relay.db'), { readonly: true });
    try {
      await until(() => reader.prepare("SELECT last_seq FROM terminals WHERE id = 't'").pluck().get() === 1, 'the reader sees the write', 2000, 2);
    } finally {
      reader.close();
    }
    store.close();
    store = undefined;
    const base = redoLogBase(path.join(dir, 'relay.db'));
    expect([fs.statSync(`${base}-a`).size, fs.statSync(`${base}-b`).size]).toEqual([0, 0]);
  });

  it('loses no acknowledged write when the process is killed with SIGKILL mid-stream, and numbers every event once', async () => {
    const script = `
      const { openSqliteStore } = require('./src/relay/sqlite-store');
      const { GroupCommit } = require('./src/relay/group-commit');
      const store = openSqliteStore(process.argv[1], { redoLog: true, redoCommitMs: 50, checkpointWalBytes: 256 * 1024 });
      const gc = new GroupCommit(store);
      const at = new Date().toISOString();
      let i = 0;
      gc.run(() => store.insertTerminal({ id: 't', name: 't', credentialHash: 'h', createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null })).then(() => {
        setInterval(() => {
          for (let k = 0; k < 20; k++) {
            const id = 'k' + i++;
            gc.run(() => {
              store.insertTerminal({ id, name: id, credentialHash: 'h' + id, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });
              return store.publish('t', at, { kind: 'terminal.updated', terminal: { id: 't', name: id } });
            }).then((e) => process.stdout.write(id + ' ' + e.seq + '\\n'));
          }
        }, 1);
      });
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Map<string, number>();
    let buf = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          const [id, seq] = l.split(' ');
          acked.set(id, Number(seq));
        }
        if (acked.size >= 3000 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    store = openSqliteStore(dir, { redoLog: true });
    const stored = new Set((await store.listTerminals()).map((t) => t.id));
    expect([...acked.keys()].filter((id) => !stored.has(id))).toEqual([]);
    // Every acknowledged event is there under the number it was acknowledged with, once.
    const events = await store.eventsAfter('t', 0, 1_000_000);
    const seqs = events.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    const bySeq = new Map(events.map((e) => [e.seq, (e.event as unknown as { terminal: { name: string } }).terminal.name]));
    expect([...acked].filter(([id, seq]) => bySeq.get(seq) !== id)).toEqual([]);
  }, 60_000);

  it('a relay with sqliteRedoLog: a sale is paid, the terminal told, and after a restart the stream resumes where it was', async () => {
    const rig = await startRig({ config: { sqliteRedoLog: true } });
    try {
      const { credential } = await rig.pair('redo-till');
      const t1 = await connectStream(rig.relay.url, credential, 0);
      const saleId = newSaleId();
      const sale = (await rig.api<SaleView>('POST', '/v1/sales', credential, { saleId, amount: 2500, currency: 'THB' })).body;
      rig.sim.markAsPaid(sale.chargeId!);
      const paid = await t1.waitFor(() => t1.events().find((e) => e.event.kind === 'sale.updated' && e.event.sale.status === 'successful'), 'paid');
      await t1.close();
      const base = redoLogBase(path.join(rig.config.dataDir, 'relay.db'));
      expect(fs.existsSync(`${base}-a`)).toBe(true);

      await rig.restartRelay();
      const t2 = await connectStream(rig.relay.url, credential, paid.seq - 1);
      const again = await t2.waitFor(() => t2.events().find((e) => e.seq === paid.seq), 'the paid event again');
      expect(again.event).toMatchObject({ kind: 'sale.updated', sale: { saleId, status: 'successful' } });
      await t2.close();
    } finally {
      await rig.close();
    }
  }, 60_000);
});
