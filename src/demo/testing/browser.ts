/**
 * What the demo's browser tests share: the real demo (simulator, relay, terminal) on loopback in
 * a temp folder, Debian's chromium driven by playwright-core (never a downloaded browser), and a
 * wait-until helper.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { silentLogger } from '../../shared/log';
import { startDemo, type DemoHandle, type DemoOptions } from '../demo';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Polls fn until it gives a value (every `everyMs`); throws naming `what` after timeoutMs. */
export async function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Headless chromium. The suite's second run fakes the clock with libfaketime (LD_PRELOAD); Chromium hangs under it, and only the programs under test need it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME'))),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The demo as a test starts it: all ports free ones, no keyboard, a fresh temp data folder. */
export function demoOptions(over: Partial<DemoOptions> & { dataDir: string }): DemoOptions {
  return {
    country: 'TH',
    merchantName: 'Test Shop',
    width: 480,
    height: 320,
    port: 0,
    simulatorPort: 0,
    relayPort: 0,
    host: '127.0.0.1',
    keyboard: null,
    qrTimeoutSeconds: 120,
    log: silentLogger,
    ...over,
  };
}

export interface TestDemo {
  demo: DemoHandle;
  dir: string;
  stop(): Promise<void>;
}

/** Starts the demo in a temp folder and waits until the terminal is paired and takes keys. */
export async function startTestDemo(over: Partial<DemoOptions> = {}): Promise<TestDemo> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-demo-test-'));
  const demo = await startDemo(demoOptions({ ...over, dataDir: dir }));
  await demo.ready;
  return {
    demo,
    dir,
    async stop() {
      await demo.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
