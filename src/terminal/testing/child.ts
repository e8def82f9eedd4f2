/**
 * A terminal daemon in its own process, for tests that kill it with SIGKILL at random moments.
 * It runs the real daemon with a FakeKeypad and a MemoryDisplay and, on SIGUSR1, plays a key
 * script from QRPOS_CHILD_KEYS:
 *   digits / key names   pressed on the keypad
 *   @online              wait until the relay link is up
 *   @qr / @idle          wait until the QR / the idle screen shows (at most 5 s)
 *   @wait:<ms>           pause
 * QRPOS_CHILD_REPEAT=<n> plays it n times.
 * Usage: node child.js <config.json>. SIGTERM stops it gracefully.
 */
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { FakeKeypad } from '../../../drivers/keypad/fake';
import { MemoryDisplay } from '../../../drivers/display/memory';
import { isKeyName } from '../../../drivers/keypad/contract';
import { createLogger, type Level } from '../../shared/log';
import { loadTerminalConfig } from '../config';
import { startTerminal, type TerminalHandle } from '../daemon';

async function until(fn: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fn() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

async function play(handle: TerminalHandle, keypad: FakeKeypad, script: string): Promise<void> {
  for (const tok of script.split(/\s+/).filter(Boolean)) {
    if (tok === '@online') await until(() => handle.status().link.online, 10_000);
    else if (tok === '@qr') await until(() => handle.status().state === 'showing_qr', 5000);
    else if (tok === '@idle') await until(() => handle.status().state === 'idle', 5000);
    else if (tok.startsWith('@wait:')) await new Promise((r) => setTimeout(r, Number(tok.slice(6))));
    else if (isKeyName(tok)) keypad.press(tok);
    else throw new Error(`unknown script token ${tok}`);
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: child <config.json>');
  const config = loadTerminalConfig(file);
  const d = config.drivers.display as { width?: number; height?: number };
  const keypad = new FakeKeypad('child');
  const display = new MemoryDisplay(d.width ?? 320, d.height ?? 240);
  const log = createLogger({ level: (process.env.QRPOS_LOG_LEVEL as Level | undefined) ?? 'warn' });
  const handle = await startTerminal({
    config,
    drivers: { keypad, display },
    log,
    linkTuning: { pollMs: 200, pairPollMs: 200, backoff: { baseMs: 50, maxMs: 500 } },
    tickMs: 100,
  });
  process.on('SIGUSR1', () => {
    // QRPOS_CHILD_REPEAT plays the script that many times (long benchmark runs would not fit
    // in one environment variable).
    const times = Number(process.env.QRPOS_CHILD_REPEAT ?? 1);
    const script = process.env.QRPOS_CHILD_KEYS ?? '';
    (async () => {
      for (let i = 0; i < times; i++) await play(handle, keypad, script);
    })().catch((err: unknown) => log.error('script failed', { error: (err as Error).message }));
  });
  // Benchmarks: on SIGUSR2, append this process's memory figures (after a full GC when node
  // runs with --expose-gc) to QRPOS_CHILD_MEM_FILE, to tell what is retained from what is garbage.
  const memFile = process.env.QRPOS_CHILD_MEM_FILE;
  if (memFile) {
    process.on('SIGUSR2', () => {
      const before = process.memoryUsage();
      const spacesBefore = v8.getHeapSpaceStatistics().map((x) => ({ name: x.space_name, size: x.space_size, used: x.space_used_size, physical: x.physical_space_size }));
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) gc();
      const after = process.memoryUsage();
      const snapDir = process.env.QRPOS_CHILD_HEAP_SNAPSHOT_DIR;
      const snapshot = snapDir ? v8.writeHeapSnapshot(path.join(snapDir, `terminal-${Date.now()}.heapsnapshot`)) : null;
      fs.appendFileSync(memFile, JSON.stringify({ before, after, gc: Boolean(gc), snapshot, spacesBefore }) + '\n');
    });
  }
  process.once('SIGTERM', () => {
    void handle.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
