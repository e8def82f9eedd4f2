/**
 * End-to-end support for the terminal: a real Omise simulator and a real relay on loopback
 * (restartable on the same port, to take the link down and bring it back), terminals paired
 * through the real pairing API, and terminal configs in a temp directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsQR from 'jsqr';
import type { KeyName } from '../../../drivers/keypad/contract';
import { FakeKeypad } from '../../../drivers/keypad/fake';
import { MemoryDisplay } from '../../../drivers/display/memory';
import { RecordingIndicator } from '../../../drivers/gpio/contract';
import type { ReceiptPrinter } from '../../../drivers/serial/contract';
import { parseRelayConfig, type RelayConfig, type RelayConfigInput, type RelaySecrets } from '../../relay/config';
import type { Country } from '../../domain/money';
import { startRelay, type RelayHandle } from '../../relay/server';
import { memoryLogger, silentLogger, type Logger } from '../../shared/log';
import { startSimulator, type SimulatorHandle } from '../../simulator/server';
import { parseTerminalConfig, type TerminalConfig, type TerminalConfigInput } from '../config';
import { startTerminal, type StartTerminalOptions, type TerminalHandle } from '../daemon';
import { writeSecrets } from '../secrets';

/** Presses space-separated keys ("7 0 0 0 enter") on a test terminal's keypad, in order. */
export function press(t: Pick<TestTerminal, 'keypad'>, keys: string): void {
  for (const k of keys.split(' ')) t.keypad.press(k as KeyName);
}

/**
 * Polls until fn gives a value. The default wait is long enough for a CI host running several
 * suites at once (a relay round trip took over 5 s there); a test that passes waits far less.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 12_000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Rig {
  dir: string;
  sim: SimulatorHandle;
  relay: RelayHandle;
  relayUrl: string;
  /** Pairs a terminal through the relay's HTTP API and the operator's approval. */
  pair(name?: string): Promise<{ terminalId: string; credential: string }>;
  stopRelay(): Promise<void>;
  /** Starts the relay again on the same port with the same database. */
  startRelay(): Promise<void>;
  close(): Promise<void>;
}

export async function startRig(
  opts: { log?: Logger; heartbeatMs?: number; omiseTimeoutMs?: number; country?: Country; methods?: RelayConfigInput['methods'] } = {},
): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-term-e2e-'));
  const country = opts.country ?? 'TH';
  const sim = await startSimulator({ country, log: silentLogger, expirySweepMs: 200, webhookRetryDelaysMs: [100, 300, 1000] });
  const mk = (port: number): RelayConfig =>
    parseRelayConfig({
      version: 1,
      listen: { host: '127.0.0.1', port },
      country,
      ...(opts.methods ? { methods: opts.methods } : {}),
      omise: { baseUrl: sim.url, timeoutMs: opts.omiseTimeoutMs ?? 2000 },
      dataDir: path.join(dir, 'relay'),
      heartbeatMs: opts.heartbeatMs ?? 500,
      statusStaleMs: 0,
      reconcile: { intervalMs: 3_600_000, webhookOverdueMs: 0 },
      shutdownGraceMs: 200,
      // Every test pairs its own terminal from 127.0.0.1: the per-address limit is tested elsewhere.
      pairing: { perAddressBurst: 1000, maxPendingPerAddress: 1000 },
    });
  const secrets: RelaySecrets = { omisePublicKey: sim.publicKey, omiseSecretKey: sim.secretKey, webhookSecret: sim.webhookSecret, adminToken: 'admin-token-for-terminal-tests-0123' };
  let relay = await startRelay({ config: mk(0), secrets, log: opts.log ?? silentLogger });
  const port = relay.port;
  sim.setWebhookUrl(`${relay.url}/webhooks/omise`);
  let running = true;
  const rig: Rig = {
    dir,
    sim,
    get relay() {
      return relay;
    },
    relayUrl: relay.url,
    async pair(name = 'till') {
      const started = (await (await fetch(`${relay.url}/v1/pair`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, version: 'test' }) })).json()) as {
        code: string;
        pairingId: string;
        pairingSecret: string;
      };
      if (!started.code) throw new Error(`pairing refused: ${JSON.stringify(started)}`);
      await relay.approvePairing(started.code);
      const polled = (await (await fetch(`${relay.url}/v1/pair/${started.pairingId}`, { headers: { 'x-pairing-secret': started.pairingSecret } })).json()) as { terminalId: string; credential: string };
      return { terminalId: polled.terminalId, credential: polled.credential };
    },
    async stopRelay() {
      if (!running) return;
      running = false;
      await relay.stop();
    },
    async startRelay() {
      if (running) return;
      relay = await startRelay({ config: mk(port), secrets, log: opts.log ?? silentLogger });
      running = true;
    },
    async close() {
      await rig.stopRelay();
      await sim.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}

export function terminalConfig(dir: string, relayUrl: string, over: Partial<TerminalConfigInput> = {}): TerminalConfig {
  return parseTerminalConfig({
    version: 1,
    relayUrl,
    merchantName: 'Test Noodles',
    currency: 'THB',
    terminalName: 'till-test',
    dataDir: path.join(dir, 'data'),
    secretsFile: path.join(dir, 'secrets.json'),
    statusListen: '127.0.0.1:0',
    sale: { entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 8 },
    link: { heartbeatMs: 400, requestTimeoutMs: 3000 },
    drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 480, height: 320 } },
    ...over,
  });
}

export interface TestTerminal {
  handle: TerminalHandle;
  keypad: FakeKeypad;
  display: MemoryDisplay;
  indicator: RecordingIndicator;
  log: ReturnType<typeof memoryLogger>;
  config: TerminalConfig;
  dir: string;
  /** Decode the QR on the screen (null when none). */
  screenQr(): string | null;
}

export async function startTestTerminal(
  rig: Pick<Rig, 'relayUrl' | 'dir'>,
  opts: {
    credential?: { terminalId: string; credential: string };
    name?: string;
    dir?: string;
    config?: Partial<TerminalConfigInput>;
    supervisorPin?: string;
    printer?: ReceiptPrinter;
    extra?: Partial<StartTerminalOptions>;
  } = {},
): Promise<TestTerminal> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(rig.dir, `${opts.name ?? 'term'}-`));
  const config = terminalConfig(dir, rig.relayUrl, opts.config);
  if (opts.credential && !fs.existsSync(config.secretsFile)) {
    writeSecrets(config.secretsFile, { ...opts.credential, ...(opts.supervisorPin ? { supervisorPin: opts.supervisorPin } : {}) });
  }
  const keypad = new FakeKeypad();
  const display = new MemoryDisplay(config.drivers.display.width as number, (config.drivers.display as { height: number }).height);
  const indicator = new RecordingIndicator();
  const log = memoryLogger('debug');
  const handle = await startTerminal({
    config,
    drivers: { keypad, display, indicator, ...(opts.printer ? { printer: opts.printer } : {}) },
    log,
    linkTuning: { pollMs: 150, pairPollMs: 100, backoff: { baseMs: 50, maxMs: 400 } },
    tickMs: 100,
    ...opts.extra,
  });
  return {
    handle,
    keypad,
    display,
    indicator,
    log,
    config,
    dir,
    screenQr() {
      const { data, width, height } = display.rgba();
      return jsQR(data, width, height)?.data ?? null;
    },
  };
}
