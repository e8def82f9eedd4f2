/**
 * One sale through the whole app in this process: the demo's Omise simulator, relay and terminal
 * on loopback (SQLite journal and relay database, the screen drawn with canvas, the QR document
 * rasterised and decoded by the relay), keys pressed, the charge marked paid, PAID on the
 * terminal and its record back at the relay. Used to show that a bundle runs on another
 * architecture under emulation (src/release/emulated.ts runs it with that architecture's Node.js):
 *
 *   node <release>/dist/src/release/smoke-sale.js [--data-dir DIR]
 *
 * Prints one JSON line ({"ok": true, "arch": ..., "seconds": {...}, ...}); exit 0 when the sale
 * ended PAID, 1 with the step that did not happen and the terminal's status.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDemo, type DemoHandle } from '../demo/demo';
import { silentLogger } from '../shared/log';

export interface SmokeResult {
  ok: boolean;
  arch: string;
  node: string;
  /** Seconds from the start: the three programs up, paired, QR shown, PAID, record synced. */
  seconds: { started: number; paired: number; qr: number; paid: number; synced: number };
  saleId: string;
  chargeId: string;
  amount: number;
  /** The last screen the terminal drew, as PNG bytes written by the demo. */
  screenPngBytes: number;
}

export class SmokeError extends Error {}

async function until<T>(what: string, fn: () => T | null | undefined | false, ms: number, status: () => unknown): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new SmokeError(`no ${what} within ${ms / 1000} s; terminal status: ${JSON.stringify(status())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the sale; `timeoutMs` bounds each step (emulated CPUs are 5-20 times slower). */
export async function smokeSale(o: { dataDir?: string; timeoutMs?: number } = {}): Promise<SmokeResult> {
  const ms = o.timeoutMs ?? 120_000;
  const t0 = Date.now();
  const at = () => (Date.now() - t0) / 1000;
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-smoke-'));
  let demo: DemoHandle | undefined;
  try {
    demo = await startDemo({
      dataDir,
      country: 'TH',
      merchantName: 'Smoke Test',
      width: 320,
      height: 240,
      port: 0,
      simulatorPort: 0,
      relayPort: 0,
      host: '127.0.0.1',
      keyboard: null,
      qrTimeoutSeconds: 300,
      // Generous: under emulation the simulator, the relay (rasterising and decoding the QR
      // document) and the terminal share one emulated CPU.
      timeoutMs: 60_000,
      log: silentLogger,
    });
    const d = demo;
    const status = () => d.terminal.status();
    const started = at();
    await Promise.race([
      d.ready,
      new Promise((_, reject) => setTimeout(() => reject(new SmokeError(`not paired within ${ms / 1000} s; terminal status: ${JSON.stringify(status())}`)), ms).unref()),
    ]);
    const paired = at();
    for (const k of ['2', '5', '0', '0', 'enter'] as const) d.keypad.press(k);
    const sale = await until('QR on the terminal', () => (status().state === 'showing_qr' ? status().currentSale : null), ms, status);
    const qr = at();
    const charge = await until('charge at the simulator', () => d.simulator.charges().find((c) => c.metadata.qrpos_sale_id === sale.saleId), ms, status);
    d.simulator.markAsPaid(charge.id);
    await until('PAID on the terminal', () => status().state === 'paid', ms, status);
    const paid = at();
    await until('the sale record synced to the relay', () => status().unsynced === 0, ms, status);
    const synced = at();
    const png = await until('the screen PNG', () => (fs.existsSync(d.screenPng) ? fs.readFileSync(d.screenPng) : null), ms, status);
    if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new SmokeError(`${d.screenPng} is not a PNG`);
    return {
      ok: true,
      arch: process.arch,
      node: process.version,
      seconds: { started, paired, qr, paid, synced },
      saleId: sale.saleId,
      chargeId: charge.id,
      amount: charge.amount,
      screenPngBytes: png.length,
    };
  } finally {
    await demo?.stop();
    if (!o.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const i = process.argv.indexOf('--data-dir');
  smokeSale({ dataDir: i > 0 ? process.argv[i + 1] : undefined }).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stdout.write(`${JSON.stringify({ ok: false, arch: process.arch, error: err instanceof Error ? err.message : String(err) })}\n`);
      process.exit(1);
    },
  );
}
