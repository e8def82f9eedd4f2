/**
 * `qrpos terminal --config <file>`: runs the daemon with the drivers its config names, until
 * SIGINT/SIGTERM. An invalid config does not crash-loop the service: the problems go to the
 * log and, when a display can be opened, onto the screen, and the process waits for a signal.
 */
import fs from 'node:fs';
import type { Command } from '../cli/command';
import { notifyReady, sdNotify, waitForStopSignal } from '../shared/service';
import { flagHelp, parseFlags, type FlagSpec } from '../shared/args';
import { createLogger, type Level, type Logger } from '../shared/log';
import { DriversConfigSchema, type DriversConfig } from '../../drivers/config';
import { createDisplay, createDrivers } from '../../drivers/index';
import { packageVersion } from '../shared/version';
import { ConfigError, defaultProfileDirs, journalPath, loadTerminalConfig } from './config';
import { startTerminal } from './daemon';
import { JOURNAL_HELP, runJournalCommand } from './journal-cli';
import { startWhenJournalReady } from './maintenance';
import { ScreenRenderer } from './screens/renderer';
import { SecretsError } from './secrets';

const FLAGS: Record<string, FlagSpec> = {
  config: { description: 'terminal config file (JSON)', required: true },
  'log-level': { description: 'debug, info, warn or error', default: 'info' },
};

const HELP = `usage: qrpos terminal --config <file>
       qrpos terminal journal check|recover --config <file>   (see 'qrpos terminal journal --help')

Runs the payment terminal daemon: keypad in, screen out, local journal, link to the relay.
The config names the relay, merchant, currency, data directory, secrets file and drivers
(see src/terminal/README.md). Stops gracefully on SIGINT / SIGTERM.

${flagHelp(FLAGS)}
`;

/** Best effort: the display section of a config that failed validation elsewhere. */
  helpFor: (argv) => (argv[0] === 'journal' ? JOURNAL_HELP : undefined),
function driversForErrorScreen(file: string): DriversConfig | null {
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { drivers?: unknown; profile?: unknown };
    const direct = DriversConfigSchema.safeParse(raw.drivers);
    if (direct.success) return direct.data;
    if (typeof raw.profile === 'string' && /^[A-Za-z0-9._-]+$/.test(raw.profile)) {
      for (const dir of defaultProfileDirs()) {
        const f = `${dir}/${raw.profile}.json`;
        if (!fs.existsSync(f)) continue;
        const p = DriversConfigSchema.safeParse((JSON.parse(fs.readFileSync(f, 'utf8')) as { drivers?: unknown }).drivers);
        if (p.success) return p.data;
      }
    }
  } catch {
    /* nothing to draw on */
  }
  return null;
}

async function showConfigError(file: string, err: ConfigError | SecretsError, log: Logger): Promise<void> {
  const lines = err instanceof ConfigError ? err.problems.map((p) => `${p.field}: ${p.message}`) : [err.message];
  log.error('invalid terminal configuration; fix it and restart the service', { file, problems: lines });
  const drivers = driversForErrorScreen(file);
  if (!drivers) {
    log.warn('no usable display in the config: the error is in the log only');
    return;
  }
  try {
    const display = createDisplay(drivers.display, log.child('display'));
    await display.open();
    const r = new ScreenRenderer({ width: display.width, height: display.height, log: log.child('screen') });
    r.render({ kind: 'error', title: 'Configuration error', lines: [file, ...lines].slice(0, 12) });
    await display.present(r.canvas, []);
  } catch (e) {
    log.warn('could not show the config error on screen', { error: (e as Error).message });
  }
}

export const command: Command = {
  summary: 'run the terminal daemon on the device',
  help: HELP,
  async run(argv: string[]): Promise<number> {
    if (argv[0] === 'journal') {
      if (argv.includes('--help') || argv.includes('-h') || argv.length === 1) {
        process.stdout.write(JOURNAL_HELP);
        return argv.length === 1 ? 2 : 0;
      }
      return runJournalCommand(argv.slice(1));
    }
    const { flags } = parseFlags(argv, FLAGS, { positionals: 0 });
    const file = String(flags.config);
    const log = createLogger({ level: String(flags['log-level']) as Level, component: 'terminal' });
    const signal = waitForStopSignal();

    let config;
    try {
      config = loadTerminalConfig(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      await showConfigError(file, err, log);
      sdNotify(log, '--ready', 'STATUS=invalid configuration');
      await signal;
      return 0;
    }

    let handle;
    let stopping: (() => void) | null = null;
    try {
      const drivers = createDrivers(config.drivers, log.child('drivers'));
      // A damaged journal: the maintenance screen waits (the service is up, not restarting) until
      // an operator runs 'qrpos terminal journal recover'; then the terminal starts.
      handle = await startWhenJournalReady(
        () => startTerminal({ config, drivers, log }),
        {
          display: drivers.display,
          journalFile: journalPath(config),
          log,
          version: packageVersion(),
          merchantName: config.merchantName,
          statusListen: config.statusListen ?? null,
          onWaiting: (status) => (stopping ??= notifyReady(log, status)),
        },
        signal,
      );
    } catch (err) {
      if (err instanceof SecretsError) {
        await showConfigError(file, err, log);
        sdNotify(log, '--ready', 'STATUS=invalid secrets file');
        await signal;
        return 0;
      }
      throw err;
    }
    if (!handle) {
      (stopping as (() => void) | null)?.();
      return 0;
    }
    stopping ??= notifyReady(log);
    const sig = await signal;
    log.info('stopping', { signal: sig });
    stopping();
    await handle.stop(8000);
    return 0;
  },
};
