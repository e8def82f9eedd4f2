/**
 * A terminal daemon in its own process, for tests that kill it with SIGKILL at random moments.
 * It runs the real daemon with a FakeKeypad and a MemoryDisplay and, on SIGUSR1, plays a key
 * script from QRPOS_CHILD_KEYS:
 *   digits / key names   pressed on the keypad
 *   @online              wait until the relay link is up
 *   @qr / @idle          wait until the QR / the idle screen shows (at most 5 s)
 *   @wait:<ms>           pause
 * Usage: node child.js <config.json>. SIGTERM stops it gracefully.
 */
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
    play(handle, keypad, process.env.QRPOS_CHILD_KEYS ?? '').catch((err: unknown) => log.error('script failed', { error: (err as Error).message }));
  });
  process.once('SIGTERM', () => {
    void handle.stop().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
