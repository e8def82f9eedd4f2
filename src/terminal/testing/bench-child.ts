/**
 * The terminal daemon as a device runs it, for scripts/bench/small-pi.ts: the drivers its config
 * names (a framebuffer on a regular file, keys piped to stdin through the tty keypad), the real
 * journal and relay link. What it adds: one line per frame on the display, on fd 3, so the
 * benchmark sees a frame land without asking the daemon anything:
 *   "ready"          startTerminal resolved
 *   "frame <kind>"   a frame is on the display (after the framebuffer write)
 * Usage: node bench-child.js <config.json>. SIGTERM stops it gracefully.
 */
import fs from 'node:fs';
import { createDrivers } from '../../../drivers/index';
import { createLogger, type Level } from '../../shared/log';
import { loadTerminalConfig } from '../config';
import { startTerminal } from '../daemon';

const EVENTS_FD = 3;

function say(line: string): void {
  fs.writeSync(EVENTS_FD, `${line}\n`);
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench-child <config.json>');
  const config = loadTerminalConfig(file);
  const log = createLogger({ level: (process.env.QRPOS_LOG_LEVEL as Level | undefined) ?? 'warn' });
  const drivers = createDrivers(config.drivers, log.child('drivers'));
  const handle = await startTerminal({ config, drivers, log });
  handle.onFrame((f) => say(`frame ${f.model.kind}`));
  say('ready');
  process.once('SIGTERM', () => {
    void handle.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
