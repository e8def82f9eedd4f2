/**
 * The terminal daemon as a device runs it, for scripts/bench/small-pi.ts: the drivers its config
 * names (a framebuffer on a regular file, keys piped to stdin through the tty keypad), the real
 * journal and relay link. What it adds: one line per frame on the display, on fd 3, so the
 * benchmark sees a frame land without asking the daemon anything:
 *   "ready"          startTerminal resolved
 *   "frame <kind>"   a frame is on the display (after the framebuffer write)
 *   "relay-create <ms>"  a POST /v1/sales (a sale's create) from its request's start to the
 *                    relay's answer (diagnostics_channel: nothing in the daemon changes), so the
 *                    benchmark can tell the relay's part of each Enter → QR from the terminal's
 * Usage: node bench-child.js <config.json>. SIGTERM stops it gracefully.
 */
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createDrivers } from '../../../drivers/index';
import { createLogger, type Level } from '../../shared/log';
import { loadTerminalConfig } from '../config';
import { startTerminal } from '../daemon';

const EVENTS_FD = 3;

function say(line: string): void {
  fs.writeSync(EVENTS_FD, `${line}\n`);
}

/** Times each sale create the link sends, request start → the relay's answer (its head). */
function timeCreates(): void {
  const started = new WeakMap<object, number>();
  diagnostics.subscribe('http.client.request.start', (m) => {
    const { request } = m as { request: { method: string; path: string } };
    if (request.method === 'POST' && /\/v1\/sales$/.test(request.path)) started.set(request, performance.now());
  });
  diagnostics.subscribe('http.client.response.finish', (m) => {
    const { request } = m as { request: object };
    const t = started.get(request);
    if (t !== undefined) say(`relay-create ${(performance.now() - t).toFixed(2)}`);
  });
}

async function main(): Promise<void> {
  timeCreates();
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
