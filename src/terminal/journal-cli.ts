/**
 * `qrpos terminal journal check|recover --config <file>`: the operator's side of a damaged journal.
 * check looks and changes nothing; recover builds a new journal from what the damaged one still
 * holds (src/terminal/journal-recover.ts), asking the relay for this terminal's highest receipt
 * reference so no reference is ever issued twice. The daemon, waiting on its maintenance screen,
 * carries on by itself once the recovery is in place.
 */
import { flagHelp, parseFlags, UsageError, type FlagSpec } from '../shared/args';
import { createLogger, type Level, type Logger } from '../shared/log';
import { packageVersion } from '../shared/version';
import { ConfigError, journalPath, loadTerminalConfig, type TerminalConfig } from './config';
import { checkJournal, recoverJournal, RecoverError, type TableRecovery } from './journal-recover';
import { RelayHttp } from './relay-http';
import { readSecrets } from './secrets';

const FLAGS: Record<string, FlagSpec> = {
  config: { description: 'terminal config file (JSON)', required: true },
  'min-ref': { type: 'number', description: 'recover: continue receipt references above this number (when the relay cannot be asked)' },
  'log-level': { description: 'debug, info, warn or error', default: 'warn' },
};

export const JOURNAL_HELP = `usage: qrpos terminal journal check --config <file>
       qrpos terminal journal recover --config <file> [--min-ref <n>]

check    says whether the journal is healthy, damaged, or set aside waiting for recovery, and
         what a recovery would keep (exit 0: healthy; 1: needs recovery).
recover  builds a new journal from every row the damaged one still holds (the damaged file is
         kept as it is), continues receipt references above the highest the relay has seen for
         this terminal (or --min-ref), and lets the waiting terminal start selling again.

${flagHelp(FLAGS)}
`;

function tableLine(t: TableRecovery): string {
  return `  ${t.table.padEnd(14)} ${String(t.kept).padStart(7)} of ${String(t.read).padEnd(7)} rows${t.damagedStretches ? `  (${t.damagedStretches} unreadable stretch${t.damagedStretches > 1 ? 'es' : ''} skipped)` : ''}`;
}

/** The relay's highest receipt reference for this terminal, or null (with the reason) when it cannot be asked. */
async function relayHighestRef(config: TerminalConfig, log: Logger): Promise<{ ref: number | null; why?: string }> {
  const credential = readSecrets(config.secretsFile).secrets.credential;
  if (!credential) return { ref: null, why: 'this terminal has no relay credential (not paired)' };
  const http = new RelayHttp({ baseUrl: config.relayUrl, credential: () => credential, timeoutMs: config.link.requestTimeoutMs, version: packageVersion() });
  try {
    const me = await http.me();
    if (me.highestRef === undefined) return { ref: null, why: 'the relay does not report receipt references (upgrade it)' };
    return { ref: me.highestRef };
  } catch (err) {
    log.debug('relay lookup failed', { error: (err as Error).message });
    return { ref: null, why: `the relay could not be asked: ${(err as Error).message}` };
  } finally {
    http.close();
  }
}

export async function runJournalCommand(argv: string[], out: (line: string) => void = (l) => process.stdout.write(l + '\n'), err: (line: string) => void = (l) => process.stderr.write(l + '\n')): Promise<number> {
  const { flags, positionals } = parseFlags(argv, FLAGS, { positionals: 1 });
  const action = positionals[0];
  if (action !== 'check' && action !== 'recover') throw new UsageError(`expected "check" or "recover", got ${action === undefined ? 'nothing' : `"${action}"`}`);
  const log = createLogger({ level: String(flags['log-level']) as Level, component: 'journal' });
  let config: TerminalConfig;
  try {
    config = loadTerminalConfig(String(flags.config));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`qrpos terminal journal: ${e.message}`);
    return 2;
  }
  const file = journalPath(config);

  if (action === 'check') {
    const c = checkJournal(file);
    switch (c.state) {
      case 'ok':
        out(`journal ${file}: ok (highest receipt reference #${c.highestRef})`);
        return 0;
      case 'absent':
        out(`journal ${file}: not created yet`);
        return 0;
      case 'damaged':
        out(`journal ${file}: DAMAGED (${c.problems.slice(0, 5).join('; ')})`);
        out("The terminal sets it aside at its next start and waits; then run 'qrpos terminal journal recover'.");
        return 1;
      case 'maintenance':
        out(`journal ${file}: set aside as damaged since ${c.damage!.since}, waiting for recovery`);
        out(`  damaged file: ${c.damage!.damagedFile}`);
        out(`  reason:       ${c.damage!.reason}`);
        out('A recovery would keep:');
        for (const t of c.recoverable) out(tableLine(t));
        out(`  highest receipt reference found: #${c.highestRef}`);
        out("Run 'qrpos terminal journal recover' to rebuild the journal and let the terminal sell again.");
        return 1;
    }
  }

  const minRef = flags['min-ref'] as number | undefined;
  if (minRef !== undefined && (!Number.isSafeInteger(minRef) || minRef < 0)) throw new UsageError('--min-ref: a whole number, 0 or more');
  const relay = await relayHighestRef(config, log);
  if (relay.ref === null) err(`note: ${relay.why}`);
  try {
    const r = recoverJournal(file, { log, relayHighestRef: relay.ref, ...(minRef !== undefined ? { minRef } : {}) });
    out(`journal ${file}: recovered from ${r.damagedFile} (kept as it is)`);
    for (const t of r.tables) out(tableLine(t));
    out(`receipt references: highest recovered #${r.highestRecoveredRef}, relay's highest ${r.relayHighestRef === null ? 'unknown' : `#${r.relayHighestRef}`}; the next sale is #${r.refFloor + 1} or above`);
    out('The terminal leaves its maintenance screen by itself (or restart it: systemctl restart qrpos-terminal).');
    return 0;
  } catch (e) {
    if (!(e instanceof RecoverError)) throw e;
    err(`qrpos terminal journal recover: ${e.message}`);
    return 1;
  }
}
