/**
 * Issue 12 item 7: a damaged journal is set aside untouched, the terminal stays in maintenance
 * until an operator recovers it, the recovery keeps every row SQLite can read, and receipt
 * references never start again from 1.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../shared/log';
import { Journal, JournalDamagedError, maintenanceMarker } from './journal';
import { checkJournal, recoverJournal, RecoverError } from './journal-recover';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-journal-recover-'));
  file = path.join(dir, 'journal.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const T = Date.parse('2026-11-26T10:00:00Z');
const SALES = 300;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A real journal with SALES sales (refs 1..SALES), closed (checkpointed into the main file). */
function realJournal(): void {
  const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
  for (let i = 1; i <= SALES; i++) journal.recordSale({ saleId: `SALE_${String(i).padStart(9, '0')}`, amount: 2000 + i, currency: 'THB', at: T });
  journal.markRecordsSynced(journal.unsyncedRecords(100).map((r) => r.recordId));
  journal.close();
}

function openFails(): JournalDamagedError {
  try {
    Journal.open(file, { log: memoryLogger(), clock: () => T }).journal.close();
  } catch (err) {
    if (err instanceof JournalDamagedError) return err;
    throw err;
  }
  throw new Error('the damaged journal opened');
}

const damages: [string, (f: string) => void][] = [
  [
    'corrupt pages in the middle',
    (f) => {
      // Two leaf pages of the sales table and one of the history, found with dbstat, scribbled over.
      const db = new Database(f, { readonly: true });
      const leaves = (name: string) => (db.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno").all(name) as { pageno: number }[]).map((r) => r.pageno);
      const sales = leaves('sales');
      const events = leaves('sale_events');
      db.close();
      const buf = fs.readFileSync(f);
      const page = buf.readUInt16BE(16);
      for (const p of [sales[1], sales[Math.floor(sales.length / 2)], events[2]]) buf.fill(0xa5, (p - 1) * page, p * page);
      fs.writeFileSync(f, buf);
    },
  ],
  ['a truncated file', (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size * 0.6))],
  ['a file that is not a database', (f) => fs.writeFileSync(f, Buffer.alloc(64 * 1024, 0x5a))],
];

describe('a damaged journal', () => {
  for (const [what, damage] of damages) {
    it(`${what}: set aside untouched, maintenance until recovered, readable rows kept, references continue above the relay's`, () => {
      realJournal();
      damage(file);
      const damagedSha = sha(file);
      const log = memoryLogger();

      const err = openFails();
      expect(err.damage.damagedFile).toBe(`${file}.damaged-2026-11-26T10-00-00-000Z`);
      expect(fs.existsSync(file)).toBe(false);
      expect(sha(err.damage.damagedFile)).toBe(damagedSha);
      expect(fs.statSync(maintenanceMarker(file)).mode & 0o777).toBe(0o600);
      // Not replaced by a fresh journal: every later start stays in maintenance.
      expect(openFails().damage).toEqual(err.damage);
      expect(fs.existsSync(file)).toBe(false);

      const check = checkJournal(file);
      expect(check.state).toBe('maintenance');
      expect(check.damage).toEqual(err.damage);

      // The relay cannot be asked and the operator gave no floor: refuse rather than guess.
      expect(() => recoverJournal(file, { log, clock: () => T, relayHighestRef: null })).toThrow(RecoverError);
      expect(fs.existsSync(maintenanceMarker(file))).toBe(true);

      const report = recoverJournal(file, { log, clock: () => T, relayHighestRef: 250 });
      expect(fs.existsSync(maintenanceMarker(file))).toBe(false);
      expect(sha(err.damage.damagedFile)).toBe(damagedSha);
      const sales = report.tables.find((t) => t.table === 'sales')!;
      expect(sales.kept).toBe(sales.read);
      expect(check.recoverable.find((t) => t.table === 'sales')?.read).toBe(sales.read);

      const { journal } = Journal.open(file, { log, clock: () => T });
      try {
        const kept = journal.allSales();
        expect(kept.length).toBe(sales.read);
        if (what === 'a file that is not a database') expect(kept).toEqual([]);
        else {
          // Something was saved, the damage cost something, and what was saved is intact.
          expect(kept.length).toBeGreaterThan(0);
          for (const s of kept) expect(s).toMatchObject({ saleId: `SALE_${String(s.ref).padStart(9, '0')}`, amount: 2000 + s.ref, currency: 'THB' });
        }
        if (what === 'corrupt pages in the middle') expect(kept.length).toBeLessThan(SALES);
        expect(report.refFloor).toBe(Math.max(250, report.highestRecoveredRef));
        const next = journal.recordSale({ saleId: 'SALE_after_recovery', amount: 5000, currency: 'THB', at: T });
        expect(next.ref).toBe(report.refFloor + 1);
        expect(next.ref).toBeGreaterThan(250);
        expect(next.ref).toBeGreaterThan(Math.max(0, ...kept.map((s) => s.ref)));
        expect(journal.recoveredFrom()).toBe(err.damage.damagedFile);
      } finally {
        journal.close();
      }
      expect(checkJournal(file).state).toBe('ok');
    });
  }

  it("continues above the operator's --min-ref when the relay could not be asked, and above the references the recovered history names", () => {
    realJournal();
    fs.writeFileSync(file, Buffer.alloc(4096, 0x00));
    openFails();
    const report = recoverJournal(file, { log: memoryLogger(), clock: () => T, relayHighestRef: null, minRef: 900 });
    expect(report.refFloor).toBe(900);
    const { journal } = Journal.open(file, { log: memoryLogger(), clock: () => T });
    expect(journal.recordSale({ saleId: 'SALE_min_ref_01', amount: 5000, currency: 'THB', at: T }).ref).toBe(901);
    journal.close();
  });

  it('check reports a healthy journal as ok, and recover refuses when there is nothing to recover', () => {
    realJournal();
    expect(checkJournal(file)).toMatchObject({ state: 'ok', problems: [], highestRef: SALES });
    expect(() => recoverJournal(file, { log: memoryLogger(), relayHighestRef: 0 })).toThrow(/not in maintenance/);
  });
});
