/**
 * `qrpos relay --config <file>` runs the relay; `qrpos relay terminals …`, `releases …` and
 * `fleet` manage it through the running relay's admin API with the admin token, so every change
 * goes through the relay's own rules and in-memory state (a revoked terminal's open stream is
 * closed at once). Only `qrpos relay report` opens the database, read-only (a SQLite store; with
 * PostgreSQL it asks the relay), and `qrpos relay store copy` moves a SQLite database to PostgreSQL.
 */
import type { Command } from '../cli/command';
import { notifyReady, waitForStopSignal } from '../shared/service';
import { flagHelp, parseFlags, UsageError, type FlagSpec } from '../shared/args';
import { createLogger } from '../shared/log';
import { jsonForConsole, printable } from '../shared/printable';
import { formatMoney } from '../domain/money';
import type { PendingPairing, TerminalSummary } from './admin';
import { AdminApiError, AdminClient, localRelayUrl } from './admin-client';
import type { FleetRow, ReleaseView } from './releases';
import type { OrphanRow, RolloutRow } from './store';
import { ConfigError, loadRelayConfig, loadRelaySecrets, storeLocation, type RelayConfig } from './config';
import type { SaleView } from '../link/protocol';
import { runReportCommand, type DayReport } from './report';

const RUN_FLAGS: Record<string, FlagSpec> = {
  config: { description: 'relay config file (JSON)', required: true },
};
const TERMINAL_FLAGS: Record<string, FlagSpec> = {
  config: { description: 'relay config file (JSON)', required: true },
  url: { description: "the relay's address for the admin API (default: its listen address on this machine)" },
  name: { description: 'name for the approved terminal (approve)' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
};
const REPORT_FLAGS: Record<string, FlagSpec> = {
  config: { description: 'relay config file (JSON)', required: true },
  url: { description: "the relay's address for the admin API (default: its listen address on this machine)" },
  date: { description: 'business day YYYY-MM-DD in the shop\'s time zone (report; default: today)' },
  terminal: { description: 'one terminal, by id or name (report; default: the whole shop)' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
  csv: { type: 'boolean', description: 'print CSV instead of a table (report)' },
};

const STORE_FLAGS: Record<string, FlagSpec> = {
  config: { description: 'relay config file (JSON)', required: true },
  from: { description: 'store copy: the SQLite relay database to copy (default: relay.sqlite in the config\'s dataDir)' },
};

const RELEASE_FLAGS: Record<string, FlagSpec> = {
  config: { description: 'relay config file (JSON)', required: true },
  url: { description: "the relay's address for the admin API (default: its listen address on this machine)" },
  all: { type: 'boolean', description: 'rollout: every terminal' },
  terminals: { description: 'rollout: these terminals, by id or name, comma-separated' },
  percent: { type: 'number', description: 'rollout: this share of terminals (1-100; the same ones each time, a superset as it grows)' },
  arch: { description: 'remove: only the bundle of this architecture (x64, arm64, arm; default: every one)' },
  force: { type: 'boolean', description: 'remove: even a version a live rollout still targets' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
};

const HELP = `usage:
  qrpos relay --config <file>                               run the relay
  qrpos relay terminals list --config <file> [--json]       terminals, online/offline, last seen, methods
  qrpos relay terminals pending --config <file>             pairing codes waiting for approval
  qrpos relay terminals approve <code> [--name <n>] --config <file>
  qrpos relay terminals reject <code> --config <file>
  qrpos relay terminals rename <id> <name> --config <file>
  qrpos relay terminals revoke <id> --config <file>        revoke; its open sales are expired at Omise
  qrpos relay terminals late-payments --config <file> [--json]
                              payments that came in after their sale was cancelled or its terminal
                              revoked, and paid extra charges of a sale: refund or honour each
  qrpos relay releases add <bundle.tar.gz> --config <file>
                              upload a signed release bundle (npm run release) to the relay; it is
                              refused unless its signature and every file check out
  qrpos relay releases list --config <file> [--json]        bundles on the relay and the rollouts
  qrpos relay releases rollout <version> (--all | --terminals <a,b> | --percent <n>) --config <file>
                              the terminals it targets download it over their link and upgrade when
                              idle; the newest rollout that targets a terminal wins (an older
                              version rolled out again is a fleet rollback)
  qrpos relay releases remove <version> [--arch <a>] [--force] --config <file>
                              delete a bundle from the relay; refused while a live rollout still
                              tells terminals to run it (unless --force). Old versions also go by
                              themselves: the relay keeps the releases.keep newest (default 5) and
                              every version a live rollout targets
  qrpos relay fleet --config <file> [--json]
                              every terminal: the version it runs, what it should run, its last
                              upgrade and how it ended
  (terminals, releases and fleet go through the running relay's admin API with the admin token;
   when the relay is not running they fail and change nothing. report only reads the database)
  qrpos relay report --config <file> [--date YYYY-MM-DD] [--terminal <id|name>] [--json | --csv]
                              end-of-day report: paid, failed, expired, cancelled, refunded, voided
                              and late payments of a business day, per terminal, method and currency
                              (a PostgreSQL store: asked of the running relay's admin API)
  qrpos relay store copy --config <file> [--from <relay.sqlite>]
                              moving to PostgreSQL: copies a SQLite relay database (stop that relay
                              first) into the empty PostgreSQL store this config names (store
                              "postgres" and storeUrl), keeping every id, cursor and sequence number

Secrets come from the file named by secretsFile (mode 0600) or from QRPOS_OMISE_SECRET_KEY,
QRPOS_OMISE_PUBLIC_KEY, QRPOS_WEBHOOK_SECRET, QRPOS_PREVIOUS_WEBHOOK_SECRET, QRPOS_ADMIN_TOKEN.

flags:
${flagHelp({ ...TERMINAL_FLAGS, ...REPORT_FLAGS, ...STORE_FLAGS, ...RELEASE_FLAGS })}
`;

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function table(rows: TerminalSummary[]): string {
  if (!rows.length) return 'no terminals (pair one: the terminal shows a code; approve it here)';
  const head = ['ID', 'NAME', 'STATE', 'LAST SEEN', 'VERSION', 'ADDRESS', 'METHODS'];
  const body = rows.map((t) => [
    t.id,
    printable(t.name),
    t.revoked ? 'revoked' : t.online ? 'online' : 'offline',
    t.lastSeenAt ?? 'never',
    printable(t.version ?? '-'),
    t.address ?? '-',
    t.methods.join(',') || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function loadConfig(file: string): RelayConfig {
  try {
    return loadRelayConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

async function runServer(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, RUN_FLAGS, { positionals: 0 });
  const log = createLogger({ component: 'qrpos' });
  let config: RelayConfig;
  let secrets;
  try {
    config = loadRelayConfig(String(flags.config));
    secrets = loadRelaySecrets(config.secretsFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`qrpos relay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  // Loaded here so `relay terminals …` never pays for the server's modules.
  const { startRelay } = require('./server') as typeof import('./server');
  let relay;
  try {
    relay = await startRelay({ config, secrets, log });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`qrpos relay: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const stopping = notifyReady(log);
  // SIGHUP (systemctl reload): new secrets and a renewed TLS certificate, without a restart.
  const reload = () => {
    try {
      relay.reloadSecrets(loadRelaySecrets(config.secretsFile));
    } catch (err) {
      log.error('secrets not reloaded: the relay keeps the ones it has', { error: err instanceof ConfigError ? err.message : String(err) });
    }
    try {
      relay.reloadTls();
    } catch (err) {
      log.error('TLS certificate not reloaded: the relay keeps the one it has', { error: err instanceof Error ? err.message : String(err) });
    }
  };
  process.on('SIGHUP', reload);
  const sig = await waitForStopSignal();
  process.off('SIGHUP', reload);
  log.info('signal received', { signal: sig });
  stopping();
  await relay.stop();
  return 0;
}

/** `relay terminals …`: through the running relay's admin API; nothing here opens the database. */
async function runTerminals(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, TERMINAL_FLAGS);
  const [sub, a, b] = positionals;
  const config = loadConfig(String(flags.config));
  const need = (v: string | undefined, what: string): string => {
    if (!v) throw new UsageError(`terminals ${sub}: ${what} is required`);
    return v;
  };
  const known = ['list', 'pending', 'approve', 'reject', 'rename', 'revoke', 'late-payments'];
  if (!sub || !known.includes(sub)) {
    throw new UsageError(sub ? `unknown terminals command "${sub}"` : `terminals needs a command: ${known.join(', ')}`);
  }
  // Operator actions answer at once; only a bundle upload needs the long default.
  const client = adminClient(config, flags.url, 30_000);
  const terminalPath = (id: string, action: string) => `/admin/terminals/${encodeURIComponent(id)}/${action}`;
  try {
    switch (sub) {
      case 'list': {
        const { terminals } = await client.request<{ terminals: TerminalSummary[] }>('GET', '/admin/terminals');
        out(flags.json ? jsonForConsole(terminals) : table(terminals));
        return 0;
      }
      case 'pending': {
        const { pairings } = await client.request<{ pairings: PendingPairing[] }>('GET', '/admin/pairings');
        if (flags.json) out(jsonForConsole(pairings));
        else if (!pairings.length) out('no pairing requests waiting');
        else for (const p of pairings) out(`${p.code}  ${printable(p.name)}  ${printable(p.version)}  ${p.address ?? '-'}  expires ${p.expiresAt}`);
        return 0;
      }
      case 'approve': {
        const code = need(a, '<code>');
        const name = typeof flags.name === 'string' ? flags.name : undefined;
        const { terminal: t } = await client.request<{ terminal: TerminalSummary }>('POST', '/admin/pairings/approve', { json: { code, ...(name === undefined ? {} : { name }) } });
        out(`approved: terminal ${t.id} "${printable(t.name)}"; it collects its credential on its next poll`);
        return 0;
      }
      case 'reject':
        await client.request('POST', '/admin/pairings/reject', { json: { code: need(a, '<code>') } });
        out('rejected');
        return 0;
      case 'rename': {
        const id = need(a, '<id>');
        const { terminal: t } = await client.request<{ terminal: TerminalSummary }>('POST', terminalPath(id, 'rename'), { json: { name: need(b, '<name>') } });
        out(`renamed ${t.id} to "${printable(t.name)}"`);
        return 0;
      }
      case 'revoke': {
        const { terminal: t } = await client.request<{ terminal: TerminalSummary }>('POST', terminalPath(need(a, '<id>'), 'revoke'));
        out(`revoked ${t.id} "${printable(t.name)}": its credential no longer works and its stream is closed`);
        return 0;
      }
      default: {
        // late-payments
        const r = await client.request<{ sales: SaleView[]; extraCharges: OrphanRow[] }>('GET', '/admin/late-payments');
        const sales = r.sales.map((s) => ({
          terminalId: s.terminalId,
          saleId: s.saleId,
          amount: s.amount,
          currency: s.currency,
          chargeId: s.chargeId,
          paidAt: s.paidAt,
          refundedAmount: s.refundedAmount,
        }));
        const extraCharges = r.extraCharges;
        if (flags.json) out(jsonForConsole({ sales, extraCharges }));
        else if (!sales.length && !extraCharges.length) out('no late payments');
        else {
          for (const s of sales) {
            out(`${s.terminalId}  sale ${s.saleId}  ${formatMoney(s.amount, s.currency)}  charge ${s.chargeId ?? '-'}  paid ${s.paidAt ?? '?'}  (sale cancelled or terminal revoked)`);
          }
          for (const o of extraCharges) out(`${o.terminalId}  sale ${o.saleId}  extra charge ${o.chargeId} paid  (the sale has another charge)`);
        }
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof AdminApiError) {
      process.stderr.write(`qrpos relay: ${printable(err.message)}\n`);
      return 1;
    }
    throw err;
  }
}

function adminClient(config: RelayConfig, url: unknown, timeoutMs?: number): AdminClient {
  let token: string;
  try {
    token = loadRelaySecrets(config.secretsFile).adminToken;
  } catch (err) {
    const fromEnv = process.env.QRPOS_ADMIN_TOKEN;
    if (!(err instanceof ConfigError) || !fromEnv) throw err instanceof ConfigError ? new UsageError(`the admin token is needed: ${err.message}`) : err;
    token = fromEnv;
  }
  const servername = config.publicUrl ? new URL(config.publicUrl).hostname : undefined;
  return new AdminClient({ baseUrl: typeof url === 'string' ? url : localRelayUrl(config), token, ...(servername ? { servername } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function columns(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

function fleetTable(rows: FleetRow[]): string {
  if (!rows.length) return 'no terminals';
  return columns(
    ['ID', 'NAME', 'STATE', 'VERSION', 'ARCH', 'TARGET', 'LAST UPGRADE'],
    rows.map((t) => [
      t.id,
      printable(t.name),
      t.revoked ? 'revoked' : t.online ? 'online' : 'offline',
      printable(t.version ?? '-'),
      t.arch ?? '-',
      t.target === null ? '-' : t.target === t.version ? `${printable(t.target)} (running)` : printable(t.target),
      t.lastUpgrade ? `${printable(t.lastUpgrade.version)} ${t.lastUpgrade.outcome} ${t.lastUpgrade.at}${t.lastUpgrade.detail ? `: ${printable(t.lastUpgrade.detail).slice(0, 80)}` : ''}` : '-',
    ]),
  );
}

/** `relay releases …` and `relay fleet`: through the running relay's admin API. */
async function runReleases(argv: string[], fleet: boolean): Promise<number> {
  const { flags, positionals } = parseFlags(argv, RELEASE_FLAGS);
  const config = loadConfig(String(flags.config));
  const client = adminClient(config, flags.url);
  const [sub, a] = fleet ? ['fleet'] : positionals;
  try {
    switch (sub) {
      case 'fleet': {
        const { terminals } = await client.request<{ terminals: FleetRow[] }>('GET', '/admin/fleet');
        out(flags.json ? jsonForConsole(terminals) : fleetTable(terminals));
        return 0;
      }
      case 'add': {
        if (!a) throw new UsageError('releases add: <bundle.tar.gz> is required');
        const r = await client.request<{ status: string; release: ReleaseView }>('POST', '/admin/releases', { file: a });
        if (flags.json) out(jsonForConsole(r));
        else out(`${r.status === 'added' ? 'added' : 'already there'}: qrpos ${printable(r.release.version)} for linux-${r.release.arch}, ${mb(r.release.size)}, SHA-256 ${r.release.sha256}, signature good`);
        return 0;
      }
      case 'list': {
        const r = await client.request<{ releases: ReleaseView[]; rollouts: (RolloutRow & { description: string })[] }>('GET', '/admin/releases');
        if (flags.json) {
          out(jsonForConsole(r));
          return 0;
        }
        out(r.releases.length ? columns(['VERSION', 'ARCH', 'SIZE', 'ADDED', 'SHA-256'], r.releases.map((x) => [printable(x.version), x.arch, mb(x.size), x.addedAt, x.sha256])) : 'no releases (add one: qrpos relay releases add <bundle.tar.gz>)');
        if (r.rollouts.length) {
          out('');
          out(columns(['ROLLOUT', 'VERSION', 'TO', 'AT'], r.rollouts.map((x) => [String(x.id), printable(x.version), printable(x.description), x.createdAt])));
        }
        return 0;
      }
      case 'rollout': {
        if (!a) throw new UsageError('releases rollout: <version> is required');
        const chosen = [flags.all === true, typeof flags.terminals === 'string', flags.percent !== undefined].filter(Boolean).length;
        if (chosen !== 1) throw new UsageError('releases rollout: say who gets it: --all, --terminals <a,b> or --percent <n>');
        const target =
          flags.all === true
            ? 'all'
            : typeof flags.terminals === 'string'
              ? { terminals: flags.terminals.split(',').map((x) => x.trim()).filter(Boolean) }
              : { percent: Number(flags.percent) };
        const r = await client.request<{ rollout: RolloutRow; targeted: { id: string; name: string }[] }>('POST', `/admin/releases/${encodeURIComponent(a)}/rollout`, { json: { target } });
        if (flags.json) out(jsonForConsole(r));
        else {
          out(`rollout ${r.rollout.id}: qrpos ${printable(r.rollout.version)} to ${r.targeted.length} terminal(s); they upgrade when idle (qrpos relay fleet shows how it goes)`);
          for (const t of r.targeted) out(`  ${t.id}  ${printable(t.name)}`);
        }
        return 0;
      }
      case 'remove': {
        if (!a) throw new UsageError('releases remove: <version> is required');
        const q = new URLSearchParams();
        if (typeof flags.arch === 'string') q.set('arch', flags.arch);
        if (flags.force === true) q.set('force', '1');
        const qs = q.size ? `?${q.toString()}` : '';
        const r = await client.request<{ removed: ReleaseView[]; wasLive: boolean }>('DELETE', `/admin/releases/${encodeURIComponent(a)}${qs}`);
        if (flags.json) out(jsonForConsole(r));
        else {
          for (const x of r.removed) out(`removed: qrpos ${printable(x.version)} for linux-${x.arch} (${mb(x.size)})`);
          if (r.wasLive) out('a live rollout still targets it: its terminals are offered nothing until another version is rolled out');
        }
        return 0;
      }
      default:
        throw new UsageError(sub ? `unknown releases command "${sub}"` : 'releases needs a command: add, list, rollout, remove');
    }
  } catch (err) {
    if (err instanceof AdminApiError) {
      process.stderr.write(`qrpos relay: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** Reads the database read-only: a report never writes behind the relay's back. */
function runReport(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, REPORT_FLAGS, { positionals: 0 });
  const config = loadConfig(String(flags.config));
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const io = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };
  const f = { date: str(flags.date), terminal: str(flags.terminal), json: flags.json === true, csv: flags.csv === true };
  if ((config.store ?? 'sqlite') === 'sqlite') return runReportCommand(config, f, io);
  // PostgreSQL: the database several relays share, with rules of their own; ask one of them.
  const client = adminClient(config, flags.url, 30_000);
  const fetchReport = (q: { date?: string; terminal?: string }) => {
    const qs = new URLSearchParams({ format: 'json', ...(q.date ? { date: q.date } : {}), ...(q.terminal ? { terminal: q.terminal } : {}) });
    return client.request<DayReport>('GET', `/admin/report?${qs.toString()}`);
  };
  return runReportCommand(config, f, io, new Date(), fetchReport).catch((err: unknown) => {
    if (!(err instanceof AdminApiError)) throw err;
    io.err(`qrpos relay: ${err.message}\n`);
    return 1;
  });
}

/** `relay store copy`: a SQLite relay database into the PostgreSQL store the config names. */
async function runStore(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, STORE_FLAGS, { positionals: 1 });
  if (positionals[0] !== 'copy') throw new UsageError(positionals[0] ? `unknown store command "${positionals[0]}"` : 'store needs a command: copy');
  const config = loadConfig(String(flags.config));
  let where;
  try {
    where = storeLocation(config, loadRelaySecrets(config.secretsFile));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  if (where.kind !== 'postgres') throw new UsageError('store copy: this config\'s store is SQLite; set "store": "postgres" and storeUrl (secrets) to name the PostgreSQL database to copy into');
  const { relayDatabaseFile } = require('./sqlite-store') as typeof import('./sqlite-store');
  const { copySqliteToPostgres } = require('./store-migrate') as typeof import('./store-migrate');
  const from = typeof flags.from === 'string' ? flags.from : relayDatabaseFile(config.dataDir);
  const log = createLogger({ component: 'qrpos', level: 'warn' });
  let counts: Record<string, number>;
  try {
    counts = await copySqliteToPostgres(from, where.url, log);
  } catch (err) {
    process.stderr.write(`qrpos relay: store copy: ${(err as Error).message}\n`);
    return 1;
  }
  out(columns(['TABLE', 'ROWS'], Object.entries(counts).map(([t, n]) => [t, String(n)])));
  out(`copied ${from} to the PostgreSQL store; start the relays with this config`);
  return 0;
}

export const command: Command = {
  summary: "run the relay (merchant server), or manage it: 'relay terminals ...'",
  help: HELP,
  async run(argv: string[]): Promise<number> {
    if (argv[0] === 'terminals') return runTerminals(argv.slice(1));
    if (argv[0] === 'report') return runReport(argv.slice(1));
    if (argv[0] === 'store') return runStore(argv.slice(1));
    if (argv[0] === 'releases') return runReleases(argv.slice(1), false);
    if (argv[0] === 'fleet') return runReleases(argv.slice(1), true);
    return runServer(argv);
  },
};
