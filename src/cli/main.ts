import { packageVersion } from '../shared/version';
import type { Command } from './command';
import { UsageError } from '../shared/args';

/**
 * Every command, loaded lazily so `qrpos sim` never pays for canvas or SQLite it does not use.
 * Each entry's module exports `command: Command`.
 */
const COMMANDS: Record<string, { summary: string; load: () => Command }> = {
  sim: { summary: 'run the Omise test-mode simulator (API, webhooks, dashboard)', load: () => (require('../simulator/cli') as { command: Command }).command },
  relay: { summary: "run the relay (merchant server), or manage it: 'relay terminals ...'", load: () => (require('../relay/cli') as { command: Command }).command },
  terminal: { summary: 'run the terminal daemon on the device', load: () => (require('../terminal/cli') as { command: Command }).command },
  demo: { summary: 'all-in-one demo: simulator + relay + terminal with a virtual keypad and screen', load: () => (require('../demo/cli') as { command: Command }).command },
  upgrade: {
    summary: 'install a release bundle (file or https URL) and switch to it, rolled back if it does not come up',
    load: () => (require('../release/device-cli') as typeof import('../release/device-cli')).upgradeCommand,
  },
  rollback: { summary: 'go back to the previous release by hand', load: () => (require('../release/device-cli') as typeof import('../release/device-cli')).rollbackCommand },
  status: {
    summary: 'what the running terminal reports: version, screen, ready or why not, link, unsynced sales',
    load: () => (require('../release/device-cli') as typeof import('../release/device-cli')).statusCommand,
  },
  version: {
    summary: 'this program, the releases installed, and the version the terminal runs',
    load: () => (require('../release/device-cli') as typeof import('../release/device-cli')).versionCommand,
  },
};

export function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    'usage: qrpos <command> [flags]',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${COMMANDS[n].summary}`),
    '',
    "Run 'qrpos <command> --help' for a command's flags.",
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    process.stderr.write(`qrpos: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const command = entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write((command.helpFor?.(rest) ?? command.help).trimEnd() + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`qrpos ${name}: ${err.message}\n\n${command.help.trimEnd()}\n`);
      return 2;
    }
    throw err;
  }
}

export function version(): string {
  return packageVersion();
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const { redactText } = require('../shared/log') as typeof import('../shared/log');
      process.stderr.write(`qrpos: ${redactText(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
      process.exitCode = 1;
    },
  );
}
