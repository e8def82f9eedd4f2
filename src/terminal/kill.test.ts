/**
 * kill -9 at random moments: terminals run as child processes against one real relay and
 * simulator, are killed with SIGKILL while selling (customers paying at random), restarted,
 * and after each restart the money invariants (docs/architecture.md) are checked against the journal, the
 * relay and the simulator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaleView } from '../link/protocol';
import { FINAL_SALE_STATUSES } from '../domain/status';
import { createLogger } from '../shared/log';
import { writeSecrets } from './secrets';
import { bundleChild, childEnv } from './testing/bundle';
import { startRig, terminalConfig, waitFor, type Rig } from './testing/rig';
import { rng } from './testing/rng';

const SLOTS = Number(process.env.QRPOS_KILL_SLOTS ?? 10);
const KILLS_PER_SLOT = Number(process.env.QRPOS_KILL_ROUNDS ?? 5);

let rig: Rig;
let childJs: string;

beforeAll(async () => {
  const relayLog = process.env.QRPOS_KILL_RELAY_LOG;
  rig = await startRig({ heartbeatMs: 2000, omiseTimeoutMs: 8000, ...(relayLog ? { log: createLogger({ level: 'debug', write: (l) => fs.appendFileSync(relayLog, l + '\n') }) } : {}) });
  // One bundle, so each of the ~60 child starts costs a plain `node` start, not a TypeScript compile.
  childJs = await bundleChild(path.join(rig.dir, 'child.js'));
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (process.env.QRPOS_KILL_KEEP) {
    await rig?.stopRelay();
    return;
  }
  await rig?.close();
});


function statusOf(sock: string): Promise<{ state: string; unsynced: number; link: { online: boolean } } | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: sock, path: '/status', timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as { state: string; unsynced: number; link: { online: boolean } });
        } catch {
          resolve(null);
        }
      });
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

interface JournalSale {
  sale_id: string;
  status: string;
  expire_requested: number;
  late: number;
  amount: number;
}

function readJournal(file: string): { sales: JournalSale[]; pendingOutbox: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      sales: db.prepare('SELECT sale_id, status, expire_requested, late, amount FROM sales').all() as JournalSale[],
      pendingOutbox: (db.prepare("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

async function relaySales(credential: string): Promise<SaleView[]> {
  const res = await fetch(`${rig.relay.url}/v1/sales?since=1970-01-01T00:00:00.000Z&limit=500`, { headers: { authorization: `Bearer ${credential}` } });
  return ((await res.json()) as { sales: SaleView[] }).sales;
}

function script(rand: () => number): string {
  const parts = ['@online'];
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const amount = 2000 + Math.floor(rand() * 50_000);
    parts.push(...String(amount).split(''), 'enter', '@qr', `@wait:${Math.floor(rand() * 400)}`);
    if (rand() < 0.5) parts.push('cancel', `@wait:${Math.floor(rand() * 200)}`);
    parts.push('@idle');
  }
  return parts.join(' ');
}

const children = new Set<ChildProcess>();

function spawnChild(configFile: string, keys: string): ChildProcess {
  // The child's log goes next to its config: the first place to look when a round fails.
  const out = fs.openSync(path.join(path.dirname(configFile), 'child.log'), 'a');
  const child = spawn(process.execPath, [childJs, configFile], {
    env: childEnv({ QRPOS_CHILD_KEYS: keys, QRPOS_LOG_LEVEL: process.env.QRPOS_KILL_LOG ?? 'warn' }),
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

interface SlotResult {
  kills: number;
  sales: number;
  problems: string[];
}

async function runSlot(slot: number): Promise<SlotResult> {
  const rand = rng(1000 + slot * 7);
  const cred = await rig.pair(`kill-${slot}`);
  const dir = fs.mkdtempSync(path.join(rig.dir, `slot${slot}-`));
  const sock = path.join(dir, 'status.sock');
  const cfg = terminalConfig(dir, rig.relay.url, { statusListen: sock, link: { heartbeatMs: 2000, requestTimeoutMs: 5000 } });
  const configFile = path.join(dir, 'terminal.json');
  fs.writeFileSync(configFile, JSON.stringify(cfg));
  writeSecrets(cfg.secretsFile, cred);
  const journalFile = path.join(cfg.dataDir, 'journal.sqlite');
  const problems: string[] = [];
  const everSeen = new Set<string>();
  let kills = 0;

  // A customer who pays some of this terminal's pending charges at random moments.
  let paying = false;
  const payer = setInterval(() => {
    if (!paying) return;
    for (const c of rig.sim.charges()) {
      if (c.status !== 'pending' || c.metadata?.qrpos_terminal_id !== cred.terminalId) continue;
      if (rand() < 0.15) {
        try {
          rig.sim.markAsPaid(c.id);
        } catch {
          /* expired meanwhile */
        }
      }
    }
  }, 150);

  const check = async (round: number): Promise<void> => {
    // Reconciliation done: nothing left unfinished, nothing queued, and the journal agrees with the relay.
    let last = '';
    const settled = await waitFor(
      async () => {
        const j = readJournal(journalFile);
        const relay = await relaySales(cred.credential);
        const byId = new Map(j.sales.map((s) => [s.sale_id, s]));
        const lagging = relay.filter((v) => {
          const s = byId.get(v.saleId);
          return !s || ((FINAL_SALE_STATUSES as readonly string[]).includes(v.status) && s.status !== v.status);
        });
        const unfinished = j.sales.filter((s) => !(FINAL_SALE_STATUSES as readonly string[]).includes(s.status));
        last = `lagging ${lagging.map((v) => `${v.saleId}:${v.status}/${byId.get(v.saleId)?.status}`).join(',')} unfinished ${unfinished.map((s) => `${s.sale_id}:${s.status}`).join(',')} outbox ${j.pendingOutbox}`;
        return lagging.length === 0 && unfinished.length === 0 && j.pendingOutbox === 0 ? { j, relay } : null;
      },
      `slot ${slot} round ${round} to settle`,
      15_000,
      200,
    ).catch((err: Error) => {
      problems.push(`${err.message}: ${last}`);
      return null;
    });
    if (!settled) return;
    const { j, relay } = settled;
    const byId = new Map(j.sales.map((s) => [s.sale_id, s]));
    // No recorded sale is ever lost.
    for (const id of everSeen) if (!byId.has(id)) problems.push(`round ${round}: sale ${id} vanished from the journal`);
    for (const s of j.sales) everSeen.add(s.sale_id);
    // Every charge the relay created for this terminal is known to the journal, with its final status.
    for (const v of relay) {
      const s = byId.get(v.saleId);
      if (!s) problems.push(`round ${round}: relay sale ${v.saleId} unknown to the journal`);
      else if (s.status !== v.status) problems.push(`round ${round}: ${v.saleId} is ${v.status} at the relay, ${s.status} in the journal`);
    }
    // One sale → at most one charge at Omise.
    const perSale = new Map<string, number>();
    for (const c of rig.sim.charges()) {
      if (c.metadata?.qrpos_terminal_id !== cred.terminalId) continue;
      const id = String(c.metadata.qrpos_sale_id);
      perSale.set(id, (perSale.get(id) ?? 0) + 1);
      const s = byId.get(id);
      if (!s) problems.push(`round ${round}: charge ${c.id} for unknown sale ${id}`);
      // A cancelled or interrupted sale's charge ends expired, or is reported as a late payment.
      if (s && s.expire_requested && !(c.status === 'expired' || (c.status === 'successful' && s.late))) {
        problems.push(`round ${round}: sale ${id} was cancelled but its charge is ${c.status} (late=${s.late})`);
      }
    }
    for (const [id, n] of perSale) if (n > 1) problems.push(`round ${round}: sale ${id} has ${n} charges`);
    for (const s of j.sales) if (!Number.isSafeInteger(s.amount) || s.amount < 2000 || s.amount > 15_000_000) problems.push(`bad amount ${s.amount}`);
  };

  try {
    for (let round = 0; round < KILLS_PER_SLOT; round++) {
      const child = spawnChild(configFile, script(rand));
      await waitFor(() => statusOf(sock).then((s) => s?.link.online), `slot ${slot} child up`, 15_000, 100);
      if (round > 0) await check(round);
      paying = true;
      child.kill('SIGUSR1');
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 1500)));
      child.kill('SIGKILL');
      await exited(child);
      paying = false;
      kills++;
    }
    // A last, gentle start: recover, check, stop.
    const child = spawnChild(configFile, '');
    await waitFor(() => statusOf(sock).then((s) => s?.link.online), `slot ${slot} final child up`, 15_000, 100);
    await check(KILLS_PER_SLOT);
    child.kill('SIGTERM');
    await exited(child);
    if (child.exitCode !== 0) problems.push(`slot ${slot}: graceful stop exited with ${child.exitCode ?? child.signalCode}`);
  } finally {
    clearInterval(payer);
  }
  return { kills, sales: everSeen.size, problems };
}

describe('SIGKILL at random moments', () => {
  it(`${SLOTS * KILLS_PER_SLOT} kills, each followed by a restart and the money invariants`, { timeout: 120_000 }, async () => {
    const results = await Promise.all(Array.from({ length: SLOTS }, (_, i) => runSlot(i)));
    const kills = results.reduce((n, r) => n + r.kills, 0);
    const sales = results.reduce((n, r) => n + r.sales, 0);
    const problems = results.flatMap((r) => r.problems);
    expect(problems).toEqual([]);
    expect(kills).toBe(SLOTS * KILLS_PER_SLOT);
    // The runs did real work: sales were recorded, some paid, some expired.
    const statuses = rig.sim.charges().map((c) => c.status);
    expect(sales, 'sales recorded').toBeGreaterThan(SLOTS * KILLS_PER_SLOT * 0.4);
    expect(statuses, 'some charges paid').toContain('successful');
    expect(statuses, 'some charges expired').toContain('expired');
  });
});
