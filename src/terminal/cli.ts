/**
 * `qrpos terminal --config <file>`: runs the daemon with the drivers its config names, until
 * SIGINT/SIGTERM; SIGHUP (systemctl reload) restarts it with the config as it is then. A start
 * that fails never crash-loops the service: supervisor.ts shows why and waits.
 */
import type { Command } from '../cli/command';
import { SystemdNotifier, waitForStopSignal } from '../shared/service';
import { flagHelp, parseFlags, type FlagSpec } from '../shared/args';
import { createLogger, type Level } from '../shared/log';
import { createDrivers } from '../../drivers/index';
import { packageVersion } from '../shared/version';
import { journalPath } from './config';
import { startTerminal } from './daemon';
import { JOURNAL_HELP, runJournalCommand } from './journal-cli';
import { startWhenJournalReady } from './maintenance';
import { superviseTerminal } from './supervisor';

const FLAGS: Record<string, FlagSpec> = {
  config: { description: 'terminal config file (JSON)', required: true },
  'log-level': { description: 'debug, info, warn or error', default: 'info' },
};

const HELP = `usage: qrpos terminal --config <file>
       qrpos terminal journal check|recover --config <file>   (see 'qrpos terminal journal --help')

Runs the payment terminal daemon: keypad in, screen out, local journal, link to the relay.
The config names the relay, merchant, currency, data directory, secrets file and drivers
(see src/terminal/README.md). Stops gracefully on SIGINT / SIGTERM; SIGHUP reloads the config.
A start that fails shows why on the screen, the status endpoint and the log, and waits.

${flagHelp(FLAGS)}
`;

export const command: Command = {
  summary: 'run the terminal daemon on the device',
  help: HELP,
  helpFor: (argv) => (argv[0] === 'journal' ? JOURNAL_HELP : undefined),
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
    const notifier = new SystemdNotifier(log);
    const stopSignal = waitForStopSignal();
    // A start that fails waits with the reason on screen, on the status endpoint and in the log
    // (supervisor.ts), instead of exiting into systemd's restart loop.
    return superviseTerminal({
      configFile: file,
      log,
      notifier,
      version: packageVersion(),
      stopSignal,
      start: async (config) => {
        const drivers = createDrivers(config.drivers, log.child('drivers'));
        // A damaged journal: the maintenance screen waits (the service is up, not restarting) until
        // an operator runs 'qrpos terminal journal recover'; then the terminal starts.
        return startWhenJournalReady(
          () => startTerminal({ config, drivers, log }),
          {
            display: drivers.display,
            journalFile: journalPath(config),
            log,
            version: packageVersion(),
            merchantName: config.merchantName,
            statusListen: config.statusListen ?? null,
            onWaiting: (status) => {
              notifier.ready(status);
              notifier.startWatchdog();
            },
          },
          stopSignal,
        );
      },
    });
  },
};
