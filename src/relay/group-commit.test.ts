import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit';
import { openSqliteStore, type SqliteStore } from './sqlite-store';

describe('GroupCommit', () => {
  let dir: string;
  let store: SqliteStore;
  const at = '2026-01-01T00:00:00.000Z';
  const commits: number[] = [];
  let gc: GroupCommit;
  const addTerminal = (id: string) => () =>
    store.insertTerminal({ id, name: id, credentialHash: `h-${id}`, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-gc-'));
    store = openSqliteStore(dir);
    commits.length = 0;
    gc = new GroupCommit(store, (_ms, items) => commits.push(items));
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('commits the writes of one turn together, and a failing one alone is refused', async () => {
    const results = await Promise.allSettled([gc.run(addTerminal('t1')), gc.run(addTerminal('t1')), gc.run(() => (addTerminal('t2')(), 42))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<number>).value).toBe(42);
    expect(commits).toEqual([3]);
    expect((await store.listTerminals()).map((t) => t.id)).toEqual(['t1', 't2']);
  });

  it('writes that arrive while it waits after a commit share the next one, and all become durable', async () => {
    await gc.run(addTerminal('a'));
    const more = Array.from({ length: 20 }, (_, i) => gc.run(addTerminal(`b${i}`)));
    await Promise.all(more);
    expect(commits.slice(1).reduce((a, b) => a + b, 0)).toBe(20);
    expect(commits.length).toBeLessThanOrEqual(2);
    // Durable means readable from a fresh connection.
    const other = openSqliteStore(dir);
    try {
      expect(await other.listTerminals()).toHaveLength(21);
    } finally {
      other.close();
    }
  });

  it('flush() commits what is queued at once (shutdown)', async () => {
    const p = gc.run(addTerminal('late'));
    const flushed = gc.flush();
    expect(await store.terminalById('late')).toBeDefined();
    await flushed;
    await expect(p).resolves.toBeUndefined();
  });

  it('runs async items in the batch, each alone: a failing one is rolled back without the others', async () => {
    const results = await Promise.allSettled([
      gc.run(async () => {
        await addTerminal('a1')();
        await Promise.resolve();
        return (await store.terminalById('a1'))?.id;
      }),
      gc.run(async () => {
        await addTerminal('a2')();
        await new Promise((r) => setImmediate(r));
        throw new Error('item fails after a write');
      }),
      gc.run(addTerminal('a3')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<string>).value).toBe('a1');
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain('item fails after a write');
    expect(commits).toEqual([3]);
    expect((await store.listTerminals()).map((t) => t.id)).toEqual(['a1', 'a3']);
  });

  it('a write queued from inside a transaction is committed by the next batch, after that transaction, not in it', async () => {
    let queued!: Promise<unknown>;
    await store.transaction(async () => {
      await addTerminal('in-tx')();
      queued = gc.run(addTerminal('queued'));
      // The batch's turn comes while the transaction is still open: it waits for it.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 5));
      expect(await store.terminalById('queued')).toBeUndefined();
    });
    await queued;
    expect((await store.listTerminals()).map((t) => t.id).sort()).toEqual(['in-tx', 'queued']);
  });

  it('hands out neither the events nor the after-commit work of a batch until its fsync is done', async () => {
    await addTerminal('t')();
    let announced = 0;
    const { errors, durable } = await store.batchDeferred([
      async () => {
        const ev = await store.publish('t', at, { kind: 'terminal.updated', terminal: { id: 't', name: 'x' } } as never);
        store.afterCommit(() => (announced = ev.seq));
      },
    ]);
    expect(errors).toEqual([undefined]);
    // Committed (another read sees the row) but not yet known durable: not sent, not announced.
    expect((await store.terminalById('t'))!.lastSeq).toBe(1);
    expect(await store.eventsAfter('t', 0, 10)).toEqual([]);
    expect(announced).toBe(0);
    await durable;
    expect(announced).toBe(1);
    expect((await store.eventsAfter('t', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('a failing item of a deferred batch leaves no event held back', async () => {
    await addTerminal('t')();
    const { errors, durable } = await store.batchDeferred([
      async () => {
        await store.publish('t', at, { kind: 'terminal.updated', terminal: { id: 't', name: 'x' } } as never);
        await Promise.resolve();
        throw new Error('refused');
      },
    ]);
    await durable;
    expect(String(errors[0])).toContain('refused');
    expect((await store.terminalById('t'))!.lastSeq).toBe(0);
    const later = await store.batchDeferred([async () => void (await store.publish('t', at, { kind: 'terminal.updated', terminal: { id: 't', name: 'y' } } as never))]);
    await later.durable;
    expect((await store.eventsAfter('t', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('checkpoints in a worker thread, not in the commits of the relay’s own connection', async () => {
    store.close();
    store = openSqliteStore(dir, { checkpointWalBytes: 64 * 1024 });
    gc = new GroupCommit(store, (_ms, items) => commits.push(items));
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const wal = path.join(dir, 'relay.db-wal');
    for (let i = 0; i < 100; i++) await gc.run(addTerminal(`w${i}`));
    const deadline = Date.now() + 10_000;
    while (store.checkpointer!.checkpoints === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(store.checkpointer!.checkpoints).toBeGreaterThan(0);
    // Once copied, the WAL is written again from its start: it stays near the threshold.
    for (let i = 0; i < 200; i++) await gc.run(addTerminal(`x${i}`));
    expect(fs.statSync(wal).size).toBeLessThan(1024 * 1024);
    expect(await store.listTerminals()).toHaveLength(300);
  });

  it('loses no acknowledged write when the process is killed with SIGKILL mid-stream', async () => {
    store.close();
    // A writer process acknowledges each write on stdout once GroupCommit resolved it.
    const script = `
      const { openSqliteStore } = require('./src/relay/sqlite-store');
      const { GroupCommit } = require('./src/relay/group-commit');
      const store = openSqliteStore(process.argv[1], { checkpointWalBytes: 256 * 1024 });
      const gc = new GroupCommit(store);
      let i = 0;
      const at = new Date().toISOString();
      setInterval(() => {
        for (let k = 0; k < 20; k++) {
          const id = 'k' + i++;
          gc.run(() => store.insertTerminal({ id, name: id, credentialHash: 'h' + id, createdAt: at, revokedAt: null, lastSeenAt: null, version: null, device: null, address: null }))
            .then(() => process.stdout.write(id + '\\n'));
        }
      }, 1);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: string[] = [];
    let buf = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        acked.push(...lines);
        if (acked.length >= 3000 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    store = openSqliteStore(dir);
    const stored = new Set((await store.listTerminals()).map((t) => t.id));
    expect(acked.length).toBeGreaterThanOrEqual(3000);
    expect(acked.filter((id) => !stored.has(id))).toEqual([]);
  }, 60_000);
});
