import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import type { Command } from '../cli/command';
import { waitForStopSignal } from '../shared/service';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from '../shared/args';
import { createLogger, type Level } from '../shared/log';
import { currencyOf, formatMoney, isCountry, type Country } from '../domain/money';
import { DEFAULT_METHOD, isPaymentMethod, methodName, methodsFor, methodWorksIn, PAYMENT_METHODS, widestLimits, type PaymentMethod } from '../domain/methods';
import { exampleAmount, startDemo, type DemoHandle } from './demo';

const FLAGS: Record<string, FlagSpec> = {
  port: { type: 'number', description: 'port of the terminal page (0 = any free port)', default: 8080 },
  host: { description: 'address to listen on (keep it on loopback: the dashboard has no login)', default: '127.0.0.1' },
  'simulator-port': { type: 'number', description: 'port of the Omise simulator (0 = any)', default: 0 },
  'relay-port': { type: 'number', description: 'port of the relay (0 = any)', default: 0 },
  country: { description: 'TH, SG or MY (sets the currency)', default: 'TH' },
  method: {
    description: `payment methods the terminal offers, comma-separated, in key order (${PAYMENT_METHODS.join(', ')}), or "all" for every one of the country`,
    default: 'alipayplus_mpm',
  },
  merchant: { description: 'merchant name on the screen', default: 'qrpos demo shop' },
  size: { description: 'screen size of the virtual terminal, WxH (240x240, 320x240, 480x320, 800x480, 1920x1080)', default: '480x320' },
  'data-dir': { description: 'where the demo keeps its journal, databases and keys', default: path.join(os.tmpdir(), 'qrpos-demo') },
  fresh: { type: 'boolean', description: 'start from an empty data dir (forget earlier sales)' },
  'qr-timeout': { type: 'number', description: 'seconds a QR stays on screen before the sale is expired', default: 120 },
  'no-keyboard': { type: 'boolean', description: "do not read keys from this terminal's keyboard" },
  'log-level': { description: 'debug, info, warn or error', default: 'warn' },
};

const HELP = `usage: qrpos demo [flags]

Starts an Omise simulator, a relay and a terminal wired together on loopback, with a virtual
keypad and screen. Open the printed terminal URL, key an amount, press Enter, and mark the charge
paid in the simulator dashboard shown beside it. Without a browser: type keys here (digits, Enter,
Esc = cancel) and watch the screen PNG file it prints.

Scriptable: POST <terminal>/api/keys {"keys": ["2","5","0","0","enter"]} (pressed in order; to send
requests without waiting for each answer, add "client": "<any id>" and "seq": 1, 2, 3… and the
demo presses them in seq order), GET <terminal>/api/screen.png, GET <terminal>/api/state,
GET <terminal>/api/pairing and POST <terminal>/api/pairing/approve {"code": "<code>"} (after the
supervisor menu's "Pair again": the page shows the request with an Approve button).

flags:
${flagHelp(FLAGS)}
`;

function parseSize(s: string): { width: number; height: number } {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(s);
  if (!m) throw new UsageError(`--size must look like 480x320, got "${s}"`);
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width < 128 || height < 128 || width > 4096 || height > 4096) throw new UsageError(`--size must be between 128x128 and 4096x4096, got "${s}"`);
  return { width, height };
}

/** What the demo prints once its terminal is paired and takes keys. */
/** `--method`: a comma-separated list of methods the country has, or "all". */
export function parseMethods(text: string, country: Country): PaymentMethod[] {
  const words = text.split(',').map((w) => w.trim().toLowerCase()).filter(Boolean);
  if (words.length === 1 && words[0] === 'all') return methodsFor(country);
  if (!words.length) throw new UsageError('--method needs at least one method');
  const out: PaymentMethod[] = [];
  for (const w of words) {
    if (!isPaymentMethod(w)) throw new UsageError(`--method: "${w}" is not a payment method (${PAYMENT_METHODS.join(', ')}, or all)`);
    if (!methodWorksIn(w, country)) throw new UsageError(`--method: ${w} (${methodName(w)}) is not offered in ${country}; there: ${methodsFor(country).join(', ')}`);
    if (!out.includes(w)) out.push(w);
  }
  return out;
}

export function banner(demo: Pick<DemoHandle, 'urls' | 'screenPng' | 'keys'>, country: Country, methods: PaymentMethod[] = [DEFAULT_METHOD]): string {
  const currency = currencyOf(country);
  const ex = exampleAmount(currency);
  const { min, max } = widestLimits(methods, currency);
  const pick = methods.length > 1 ? `, then a key for how to pay (${methods.map((m, i) => `${i + 1} ${methodName(m)}`).join(', ')})` : '';
  return [
    '',
    'qrpos demo is running: the terminal is paired and takes keys.',
    '',
    `  terminal (screen + keypad):  ${demo.urls.terminal}`,
    `  Omise simulator dashboard:   ${demo.urls.dashboard}`,
    `  Omise simulator API:         ${demo.urls.simulator}`,
    `  relay:                       ${demo.urls.relay}`,
    `  screen as PNG file:          ${demo.screenPng}`,
    '',
    '  simulator test keys (as the Omise dashboard shows them):',
    `    public key  ${demo.keys.publicKey}`,
    `    secret key  ${demo.keys.secretKey}`,
    '',
    `  payment methods: ${methods.map(methodName).join(', ')}`,
    `  1. open the terminal URL, key an amount (e.g. ${ex.keys} = ${ex.text}; ${currency} takes ${formatMoney(min, currency)} to ${formatMoney(max, currency)}), press Enter${pick}`,
    '  2. in the dashboard beside it, mark the charge successful (or failed), and watch the screen',
    `  keys here too: digits, Enter, Esc = cancel, z = 00, m = menu (supervisor PIN 1234); Ctrl-C stops`,
    `  after the supervisor menu's "Pair again", approve the new code on the terminal page`,
    '',
  ].join('\n');
}

export const command: Command = {
  summary: 'all-in-one demo',
  help: HELP,
  async run(argv) {
    const { flags } = parseFlags(argv, FLAGS, { positionals: 0 });
    const country = String(flags.country).toUpperCase();
    if (!isCountry(country)) throw new UsageError(`--country must be TH, SG or MY, got "${String(flags.country)}"`);
    const methods = parseMethods(String(flags.method), country);
    const level = String(flags['log-level']) as Level;
    if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError('--log-level must be debug, info, warn or error');
    const { width, height } = parseSize(String(flags.size));
    for (const p of ['port', 'simulator-port', 'relay-port'] as const) {
      const v = flags[p] as number;
      if (!Number.isInteger(v) || v < 0 || v > 65535) throw new UsageError(`--${p} must be a port number (0-65535)`);
    }
    const dataDir = path.resolve(String(flags['data-dir']));
    if (flags.fresh) fs.rmSync(dataDir, { recursive: true, force: true });
    const log = createLogger({ level, write: (l) => process.stderr.write(l + '\n') });

    let keyboard = null;
    if (!flags['no-keyboard'] && process.stdin.isTTY) {
      const { TtyKeypad } = require('../../drivers/keypad/tty') as typeof import('../../drivers/keypad/tty');
      keyboard = new TtyKeypad(process.stdin, log.child('keyboard'));
    }

    const start = (port: number) =>
      startDemo({
        dataDir,
        country,
        merchantName: String(flags.merchant),
        width,
        height,
        port,
        simulatorPort: flags['simulator-port'] as number,
        relayPort: flags['relay-port'] as number,
        host: String(flags.host),
        keyboard,
        qrTimeoutSeconds: flags['qr-timeout'] as number,
        methods,
        log,
      });
    let demo;
    try {
      demo = await start(flags.port as number);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || flags.port === 0) throw err;
      process.stderr.write(`port ${String(flags.port)} is in use; taking a free one\n`);
      demo = await start(0);
    }
    // The banner only once the terminal is paired: keys typed before it are held until then.
    process.stderr.write('starting: pairing the demo terminal with its relay…\n');
    const stop = waitForStopSignal();
    const first = await Promise.race([demo.ready.then(() => 'ready' as const), stop]);
    if (first === 'ready') {
      process.stdout.write(banner(demo, country, methods) + '\n');
      await stop;
    }
    process.stderr.write('stopping…\n');
    await demo.stop();
    return 0;
  },
};
