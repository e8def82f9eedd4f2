/**
 * The all-in-one demo: an Omise simulator, a relay and a terminal wired together on loopback,
 * with a virtual keypad and screen (browser page, HTTP API, the computer's keyboard, a PNG file).
 * The three programs are the real ones; only the keypad and the display are virtual.
 */
import type { PaymentMethod } from '../domain/methods';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { currencyOf, formatMoney, limitsOf, type Country, type Currency } from '../domain/money';
import type { Logger } from '../shared/log';
import { FakeKeypad } from '../../drivers/keypad/fake';
import { MemoryDisplay } from '../../drivers/display/memory';
import type { KeyName, Keypad } from '../../drivers/keypad/contract';
import { startSimulator, type SimulatorHandle } from '../simulator/server';
import { startRelay, type RelayHandle } from '../relay/server';
import { parseRelayConfig } from '../relay/config';
import { startTerminal, type TerminalHandle } from '../terminal/daemon';
import { parseTerminalConfig } from '../terminal/config';
import { HttpError, startVirtualDevice, type DemoPairing, type PendingPairing, type VirtualDeviceServer } from './virtual-device';

export interface DemoOptions {
  /** Where the demo keeps its journal, relay database, simulator state and keys. */
  dataDir: string;
  country: Country;
  merchantName: string;
  /** Screen size of the virtual terminal. */
  width: number;
  height: number;
  /** Port of the terminal page; 0 = any free port. Simulator and relay take any free port unless given. */
  port: number;
  simulatorPort: number;
  relayPort: number;
  host: string;
  /** Also take keys from this terminal's keyboard (when it is a TTY or a pipe). */
  keyboard: Keypad | null;
  qrTimeoutSeconds: number;
  /**
   * How long the terminal waits for the relay and the relay for Omise, and their heartbeat
   * (default 5000 ms). Raised where all three programs share a slow CPU: under qemu-user
   * emulation (src/release/smoke-sale.ts) they are 10-20 times slower than natively.
   */
  timeoutMs?: number;
  /** The payment methods the relay enables, in key order (default: Alipay+ alone). */
  methods?: PaymentMethod[];
  log: Logger;
}

export interface DemoKeys {
  publicKey: string;
  secretKey: string;
  webhookSecret: string;
}

export interface DemoHandle {
  urls: { terminal: string; simulator: string; dashboard: string; relay: string };
  keys: DemoKeys;
  screenPng: string;
  keypad: FakeKeypad;
  /**
   * Presses keys as the page and the keyboard do: in order, and held until the terminal is first
   * paired (the pairing screen would drop them).
   */
  press(...keys: KeyName[]): void;
  display: MemoryDisplay;
  simulator: SimulatorHandle;
  /** The relay now running (a new handle after relayUp()). */
  readonly relay: RelayHandle;
  terminal: TerminalHandle;
  /** The relay operator's side of pairing, over the relay's admin API (what the page's Approve button calls). */
  pairing: DemoPairing;
  /** Stops the relay (the terminal's link drops: offline), and starts it again on the same port and data. */
  relayDown(): Promise<void>;
  relayUp(): Promise<void>;
  /** Resolves once the terminal is paired with the relay, online, and takes keys (held keys pressed). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/**
 * An amount to suggest in the demo's hints, valid for the currency: the first of a few round
 * amounts inside its Alipay+ limits (THB's minimum is ฿20.00, so 1500 = ฿15.00 would be refused).
 */
export function exampleAmount(currency: Currency): { keys: string; text: string } {
  const { min, max } = limitsOf(currency);
  const amount = [1500, 2500, 5000, 10_000, 50_000].find((a) => a >= min && a <= max) ?? min;
  return { keys: String(amount).split('').join(' '), text: formatMoney(amount, currency) };
}

function writeSecretFile(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

/** Test keys are made once per data dir and kept (0600), as a dashboard keeps an account's keys. */
function demoKeys(dataDir: string): DemoKeys {
  const file = path.join(dataDir, 'demo-keys.json');
  if (fs.existsSync(file)) {
    const k = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoKeys;
    if (k.publicKey && k.secretKey && k.webhookSecret) return k;
  }
  const rnd = () => crypto.randomBytes(12).toString('hex');
  const keys: DemoKeys = {
    publicKey: `pkey_test_${rnd()}`,
    secretKey: `skey_test_${rnd()}`,
    webhookSecret: crypto.randomBytes(32).toString('base64'),
  };
  writeSecretFile(file, keys);
  return keys;
}

export async function startDemo(opts: DemoOptions): Promise<DemoHandle> {
  const { log } = opts;
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const dataDir = path.resolve(opts.dataDir);
  const keys = demoKeys(dataDir);
  const currency = currencyOf(opts.country);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        log.warn('demo stop step failed', { error: (err as Error).message });
      }
    }
    stops.length = 0;
  };

  try {
    const simulator = await startSimulator({
      host: opts.host,
      port: opts.simulatorPort,
      publicKey: keys.publicKey,
      secretKey: keys.secretKey,
      webhookSecret: keys.webhookSecret,
      country: opts.country,
      stateFile: path.join(dataDir, 'simulator-state.json'),
      log: log.child('sim'),
    });
    stops.push(() => simulator.stop());

    const relayDir = path.join(dataDir, 'relay');
    fs.mkdirSync(relayDir, { recursive: true, mode: 0o700 });
    const adminToken = crypto.createHash('sha256').update(keys.secretKey).digest('hex');
    const launchRelay = (port: number) =>
      startRelay({
        config: parseRelayConfig({
          version: 1,
          listen: { host: opts.host, port },
          country: opts.country,
          ...(opts.methods ? { methods: { enabled: opts.methods } } : {}),
          omise: { baseUrl: simulator.url, timeoutMs: opts.timeoutMs ?? 5000 },
          dataDir: relayDir,
          heartbeatMs: opts.timeoutMs ?? 5000,
          reconcile: { intervalMs: 5000, webhookOverdueMs: 15000 },
        }),
        secrets: {
          omisePublicKey: keys.publicKey,
          omiseSecretKey: keys.secretKey,
          webhookSecret: keys.webhookSecret,
          adminToken,
        },
        log: log.child('relay'),
      });
    let relay: RelayHandle | null = await launchRelay(opts.relayPort);
    let relayStarting: Promise<void> | null = null;
    const relayPort = relay.port;
    const relayUrl = relay.url;
    stops.push(async () => {
      const r = relay;
      relay = null;
      await r?.stop();
    });
    simulator.setWebhookUrl(`${relayUrl}/webhooks/omise`);

    const keypad = new FakeKeypad('virtual (browser, API, keyboard)');
    const display = new MemoryDisplay(opts.width, opts.height, `virtual ${opts.width}x${opts.height}`);
    const screenPng = path.join(dataDir, 'screen.png');
    const terminalDir = path.join(dataDir, 'terminal');
    fs.mkdirSync(terminalDir, { recursive: true, mode: 0o700 });
    const secretsFile = path.join(terminalDir, 'terminal.secrets.json');
    if (!fs.existsSync(secretsFile)) writeSecretFile(secretsFile, { supervisorPin: '1234' });

    const terminal = await startTerminal({
      config: parseTerminalConfig({
        version: 1,
        relayUrl,
        merchantName: opts.merchantName,
        currency,
        terminalName: 'demo terminal',
        dataDir: terminalDir,
        secretsFile,
        sale: { qrTimeoutSeconds: opts.qrTimeoutSeconds },
        link: { heartbeatMs: opts.timeoutMs ?? 5000, requestTimeoutMs: opts.timeoutMs ?? 5000 },
        drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: opts.width, height: opts.height } },
      }),
      drivers: { keypad, display },
      statusListen: null,
      log: log.child('terminal'),
    });
    stops.push(() => terminal.stop());

    // The screen as a PNG file too, for machines without a browser (written tmp → rename).
    let pngTimer: NodeJS.Timeout | null = null;
    const writePng = () => {
      pngTimer = null;
      const tmp = `${screenPng}.tmp`;
      fs.writeFile(tmp, display.png(), (err) => {
        if (err) log.warn('could not write the screen PNG', { error: err.message });
        else fs.rename(tmp, screenPng, () => undefined);
      });
    };
    const offPng = display.onPresent(() => {
      pngTimer ??= setTimeout(writePng, 50);
    });
    stops.push(async () => {
      offPng();
      if (pngTimer) clearTimeout(pngTimer);
    });

    // Keys typed before the terminal is paired would be dropped by the pairing screen: they are
    // held and pressed, in order, once it is ready. Keyboard, page and API keys all come through here.
    let held: KeyName[] | null = [];
    const press = (...ks: KeyName[]) => {
      if (held) held.push(...ks);
      else keypad.press(...ks);
    };
    if (opts.keyboard) {
      const kb = opts.keyboard;
      kb.on('key', (e) => press(e.key));
      await kb.start();
      stops.push(() => kb.stop());
    }

    // The relay's operator, as the demo plays it: its admin API, with the admin token kept here.
    const admin = async <T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> => {
      let res: Response;
      try {
        res = await fetch(`${relayUrl}${route}`, {
          method,
          headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(5000),
        });
      } catch (err) {
        throw new HttpError(502, `the relay does not answer: ${(err as Error).message}`);
      }
      const answer = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
      if (!res.ok) throw new HttpError(res.status === 404 ? 404 : 502, `the relay refused: ${answer.error?.message ?? `HTTP ${res.status}`}`);
      return answer as T;
    };
    const pairing: DemoPairing = {
      pending: async () => (await admin<{ pairings: PendingPairing[] }>('GET', '/admin/pairings')).pairings.map(({ code, name, device, expiresAt }) => ({ code, name, device, expiresAt })),
      approve: async (code) => {
        const { terminal: t } = await admin<{ terminal: { id: string; name: string } }>('POST', '/admin/pairings/approve', { code, name: 'demo terminal' });
        log.info('demo: pairing approved at the relay', { terminal: t.id });
        return { terminalId: t.id, name: t.name };
      },
    };

    const device: VirtualDeviceServer = await startVirtualDevice({
      host: opts.host,
      port: opts.port,
      keypad,
      press: (ks) => press(...ks),
      display,
      state: () => terminal.status(),
      links: { simulatorDashboard: `${simulator.url}/`, relay: relayUrl },
      pairing,
      log: log.child('device'),
    });
    stops.push(() => device.stop());

    // The first pairing, approved on the operator's behalf: the code the terminal shows is approved at
    // the relay. A later one (supervisor menu → Pair again) waits for the page's Approve button.
    let stopped = false;
    stops.unshift(async () => {
      stopped = true;
    });
    const ready = (async () => {
      while (!stopped) {
        const st = terminal.status();
        // Paired and online: before that, the pairing or offline screen would refuse a sale.
        if (st.link.paired && st.link.online && st.state !== 'pairing' && st.state !== 'offline') {
          const keys = held ?? [];
          held = null;
          keypad.press(...keys);
          return;
        }
        const code = st.link.pairingCode;
        if (code && /^[A-Za-z0-9-]{4,16}$/.test(code)) {
          try {
            await pairing.approve(code);
          } catch (err) {
            log.debug('demo: pairing not approvable yet', { error: (err as Error).message });
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    return {
      urls: { terminal: device.url, simulator: simulator.url, dashboard: `${simulator.url}/`, relay: relayUrl },
      keys,
      screenPng,
      keypad,
      press,
      display,
      simulator,
      get relay(): RelayHandle {
        if (!relay) throw new Error('the demo relay is down (relayDown)');
        return relay;
      },
      terminal,
      pairing,
      relayDown: async () => {
        const r = relay;
        relay = null;
        await r?.stop();
      },
      relayUp: () => {
        if (relay) return Promise.resolve();
        relayStarting ??= launchRelay(relayPort)
          .then((r) => {
            relay = r;
          })
          .finally(() => {
            relayStarting = null;
          });
        return relayStarting;
      },
      ready,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
