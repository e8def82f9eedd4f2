/**
 * The device's release commands: `qrpos upgrade FILE|URL`, `qrpos rollback`, `qrpos version`,
 * and `qrpos status` (what the running terminal reports).
 * upgrade and rollback run as root (they switch /opt/qrpos/current and start and stop the
 * service); see upgrade.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli/command';
import { flagHelp, parseFlags, UsageError, type FlagSpec, type FlagValues } from '../shared/args';
import { formatMoneyCode, isCurrency } from '../domain/money';
import { packageVersion } from '../shared/version';
import { DEFAULT_MAX_BYTES } from './fetch';
import { Install, M, RELEASE_DIR } from './lib';
import { systemctl } from './systemd';
import { rollback, terminalService, upgrade, type DeviceOptions } from './upgrade';

const COMMON: Record<string, FlagSpec> = {
  app: { description: 'the app folder with releases/, current, previous, history', default: '/opt/qrpos' },
  config: { description: 'the terminal config (status endpoint, data folder)', default: '/etc/qrpos/terminal.json' },
  unit: { description: "the terminal's systemd unit", default: 'qrpos-terminal' },
  'relay-config': { description: 'the relay config (its database, GET /readyz), on a relay server', default: '/etc/qrpos/relay.json' },
  'relay-unit': { description: "the relay's systemd unit", default: 'qrpos-relay' },
};

const SWITCH: Record<string, FlagSpec> = {
  ...COMMON,
  'ready-timeout': { type: 'number', description: 'seconds the started release has to be READY and healthy before it is rolled back', default: 60 },
  'hold-timeout': { type: 'number', description: 'seconds to wait for the sale on screen to finish', default: 300 },
  keep: { type: 'number', description: 'releases kept in releases/ (at least 2)', default: 3 },
  'no-hold': { type: 'boolean', description: 'do not hold new sales (a terminal whose status endpoint does not answer)' },
};

const UPGRADE_FLAGS: Record<string, FlagSpec> = {
  ...SWITCH,
  key: { type: 'list', description: "a public key file to trust instead of the running release's scripts/release/release-key.pub" },
  'max-size': { type: 'number', description: 'largest bundle a URL may send, in MB', default: DEFAULT_MAX_BYTES / 1024 / 1024 },
};

const UPGRADE_HELP = `usage: sudo qrpos upgrade FILE|URL [flags]

Installs a release bundle (npm run release) and switches to it, with an automatic rollback:
  1. checks the bundle: its signature (the keys the running release trusts), every file's SHA-256,
     this machine's architecture and Node.js ABI; a URL must be https:// (http:// only to this
     machine) and is downloaded to a temporary file first, at most --max-size MB
  2. unpacks it to /opt/qrpos/releases/<version>/ and runs ITS self-test with its own code: native
     modules load, the config parses, a copy of the journal opens (migrations run on the copy);
     a journal newer than it reads is refused, and nothing is changed
  3. holds new sales (the screen says "Updating — one moment") until no sale is on screen
     (at most --hold-timeout s)
  4. stops the service, backs up the journal (<dataDir>/backups/journal-<schema>-<time>.sqlite),
     switches /opt/qrpos/current, starts the service
  5. waits --ready-timeout s for READY and GET /ready 200 with the new version on the status
     endpoint; otherwise (or when the service fails) switches back, puts the journal back if the
     new release migrated it and never reached READY, and starts the previous release
Each step is printed; the outcome is a line in /opt/qrpos/history.
Exit: 0 upgraded (or already current), 1 refused (nothing changed), 3 rolled back, 4 failed.

${flagHelp(UPGRADE_FLAGS)}
`;

const ROLLBACK_HELP = `usage: sudo qrpos rollback [flags]

Goes back to the previous release (/opt/qrpos/previous) by hand, as an upgrade does: its
self-test first, sales held, journal backed up, switch, start, watch (and back again if it does
not come up). When the previous release cannot read the journal (a newer release migrated it),
the newest backup it can read is put back, but only if the journal holds no sale or refund the
backup lacks; otherwise it refuses and changes nothing.
Exit: 3 rolled back, 1 refused (nothing changed), 4 failed.

${flagHelp(SWITCH)}
`;

const VERSION_HELP = `usage: qrpos version [flags]

This program's version, the releases in /opt/qrpos (current, previous), what the terminal's
status endpoint reports running, and the last lines of /opt/qrpos/history.

${flagHelp(COMMON)}
`;

const STATUS_FLAGS: Record<string, FlagSpec> = {
  config: COMMON.config,
  json: { type: 'boolean', description: "print the status endpoint's JSON answer as it is" },
};

const STATUS_HELP = `usage: qrpos status [flags]

What the running terminal reports on its status endpoint (statusListen in the config): the
version it runs, its screen, whether it can take a sale and why not, the relay link, sales not yet
synced, late payments to settle, a held sale for an upgrade, and a start-up problem.
Exit codes: 0 ready for a sale, 1 running but not ready (or waiting on a problem), 3 no answer.

${flagHelp(STATUS_FLAGS)}
`;

function deviceOptions(flags: FlagValues, keys?: string[]): DeviceOptions {
  const keep = Number(flags.keep ?? 3);
  if (!Number.isInteger(keep) || keep < 2) throw new UsageError('--keep: a whole number, at least 2');
  const ready = Number(flags['ready-timeout'] ?? 60);
  const hold = Number(flags['hold-timeout'] ?? 300);
  if (!(ready > 0) || !(hold >= 0)) throw new UsageError('--ready-timeout and --hold-timeout: seconds');
  const keyFiles = keys?.length ? keys : [path.join(RELEASE_DIR, 'release-key.pub')];
  return {
    app: path.resolve(String(flags.app)),
    config: path.resolve(String(flags.config)),
    unit: String(flags.unit),
    relayConfig: path.resolve(String(flags['relay-config'])),
    relayUnit: String(flags['relay-unit']),
    keys: keyFiles.flatMap((f) => M.loadPublicKeys(path.resolve(f))),
    sm: systemctl(),
    readyTimeoutMs: ready * 1000,
    holdWaitMs: hold * 1000,
    keep,
    noHold: flags['no-hold'] === true,
  };
}

/**
 * While an upgrade or rollback runs, Ctrl-C, a dropped SSH session (SIGHUP) or SIGTERM must not
 * leave the terminal stopped half way: they are noted and ignored; it finishes or rolls back by
 * itself. Output to a terminal that went away is dropped instead of ending the process.
 */
async function uninterrupted<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const onSignal = (sig: NodeJS.Signals) => {
    try {
      process.stderr.write(`qrpos ${what}: ${sig} ignored: it finishes, or rolls back, by itself (see /opt/qrpos/history)\n`);
    } catch {
      /* no terminal */
    }
  };
  const onOutputError = () => undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  try {
    return await fn();
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
  }
}

function needRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new UsageError(`${what} switches releases and restarts the service: run it as root (sudo qrpos ${what} ...)`);
}

export const upgradeCommand: Command = {
  summary: 'install a release bundle (FILE or https URL) and switch to it, rolling back if it does not come up',
  help: UPGRADE_HELP,
  async run(argv) {
    const { flags, positionals } = parseFlags(argv, UPGRADE_FLAGS, { positionals: 1 });
    if (positionals.length !== 1) throw new UsageError('upgrade needs the bundle: a file or an https:// URL');
    needRoot('upgrade');
    const o = deviceOptions(flags, flags.key as string[] | undefined);
    o.maxDownloadBytes = Number(flags['max-size']) * 1024 * 1024;
    return (await uninterrupted('upgrade', () => upgrade(positionals[0], o))).code;
  },
};

export const rollbackCommand: Command = {
  summary: 'go back to the previous release by hand',
  help: ROLLBACK_HELP,
  async run(argv) {
    const { flags } = parseFlags(argv, SWITCH, { positionals: 0 });
    needRoot('rollback');
    const o = deviceOptions(flags);
    return (await uninterrupted('rollback', () => rollback(o))).code;
  },
};

export const versionCommand: Command = {
  summary: 'the version of this program, the releases installed, and what runs',
  help: VERSION_HELP,
  async run(argv) {
    const { flags } = parseFlags(argv, COMMON, { positionals: 0 });
    const app = path.resolve(String(flags.app));
    const out = (l: string) => process.stdout.write(`${l}\n`);
    out(`this program: qrpos ${packageVersion()}`);
    const current = Install.linkVersion(app, 'current');
    if (!current && !fs.existsSync(path.join(app, 'releases'))) {
      out(`releases: none in ${app} (a checkout, or not installed)`);
    } else {
      out(`current:  ${current ?? '-'}`);
      out(`previous: ${Install.linkVersion(app, 'previous') ?? '-'}`);
      const all = fs.existsSync(Install.releasesDir(app)) ? fs.readdirSync(Install.releasesDir(app)).filter((n) => !n.startsWith('.')) : [];
      out(`installed: ${all.join(', ') || '-'}`);
    }
    try {
      const st = systemctl('systemctl', 5000).show(String(flags.unit));
      if (st.loadState === 'loaded') out(`${String(flags.unit)}: ${st.activeState}/${st.subState}${st.statusText ? ` (${st.statusText})` : ''}`);
    } catch {
      /* no systemd here */
    }
    const term = (() => {
      try {
        return terminalService(path.resolve(String(flags.config)));
      } catch {
        return null;
      }
    })();
    if (term?.client) {
      try {
        const s = await term.client.get('/status');
        const b = s.body ?? {};
        out(`running:  ${String(b.version ?? '?')} (status endpoint ${term.client.address}: ${String(b.state ?? '?')}, ${b.ready ? 'ready' : `not ready${b.reason ? `: ${String(b.reason)}` : ''}`})`);
      } catch (err) {
        out(`running:  unknown (status endpoint ${term.client.address}: ${(err as Error).message})`);
      }
    }
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(path.join(app, 'history'), 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      /* no history yet */
    }
    if (lines.length) {
      out('history (newest last):');
      for (const l of lines.slice(-8)) out(`  ${l.split('\t').filter(Boolean).join('  ')}`);
    }
    return 0;
  },
};

/** The lines `qrpos status` prints for a status endpoint's answer (TerminalStatus or FatalStatus). */
export function statusLines(b: Record<string, unknown>): string[] {
  const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '?');
  const lines = [`version:   ${str(b.version)}`];
  lines.push(`state:     ${str(b.state)}${b.screen && b.screen !== b.state ? ` (screen: ${str(b.screen)})` : ''}`);
  lines.push(`ready:     ${b.ready === true ? 'yes' : `no${b.reason ? ` (${str(b.reason)})` : ''}`}`);
  const problem = b.problem as { title?: string; reason?: string[]; action?: string[] } | null | undefined;
  if (problem) {
    lines.push(`problem:   ${problem.title ?? '?'}`);
    for (const r of problem.reason ?? []) lines.push(`           ${r}`);
    for (const a of problem.action ?? []) lines.push(`  to do:   ${a}`);
  }
  const link = b.link as { online?: boolean; paired?: boolean; pairingCode?: string | null; lastError?: string | null } | undefined;
  if (link) {
    const pairing = link.paired ? 'paired' : `not paired${link.pairingCode ? ` (pairing code ${link.pairingCode})` : ''}`;
    lines.push(`relay:     ${link.online ? 'online' : 'offline'}, ${pairing}${!link.online && link.lastError ? `: ${link.lastError}` : ''}`);
  }
  if (typeof b.merchantName === 'string') lines.push(`shop:      ${b.merchantName}${typeof b.terminalId === 'string' ? ` (terminal ${b.terminalId})` : ''}`);
  const sale = b.currentSale as { ref?: number | null; amount?: number; currency?: string; status?: string } | null | undefined;
  if (sale) {
    const amount = typeof sale.amount === 'number' && isCurrency(sale.currency) ? formatMoneyCode(sale.amount, sale.currency) : `${str(sale.amount)} ${str(sale.currency)}`;
    lines.push(`sale:      #${str(sale.ref ?? '-')} ${amount}, ${str(sale.status)}`);
  }
  if (typeof b.unsynced === 'number') lines.push(`unsynced:  ${b.unsynced}`);
  if (typeof b.latePayments === 'number' && b.latePayments > 0) lines.push(`late payments to settle: ${b.latePayments} (supervisor menu → 4)`);
  const hold = b.hold as { reason?: string; until?: string } | null | undefined;
  if (hold) lines.push(`held:      new sales held until ${str(hold.until)}${hold.reason ? ` (${hold.reason})` : ''}`);
  const errors = b.configErrors as { field: string; message: string }[] | undefined;
  for (const e of errors ?? []) lines.push(`config:    ${e.field}: ${e.message}`);
  return lines;
}

export const statusCommand: Command = {
  summary: 'what the running terminal reports: version, screen, ready or why not, link, unsynced sales',
  help: STATUS_HELP,
  async run(argv) {
    const { flags } = parseFlags(argv, STATUS_FLAGS, { positionals: 0 });
    const configFile = path.resolve(String(flags.config));
    const term = terminalService(configFile);
    if (!term?.client) throw new UsageError(`${configFile}: not a readable terminal config (--config)`);
    let answer;
    try {
      answer = await term.client.get('/status');
    } catch (err) {
      process.stderr.write(`qrpos status: the terminal does not answer on ${term.client.address}: ${(err as Error).message}\n`);
      return 3;
    }
    const body = answer.body ?? {};
    if (flags.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    else for (const l of statusLines(body)) process.stdout.write(`${l}\n`);
    return body.ready === true ? 0 : 1;
  },
};
