/**
 * The terminal service's life under systemd: start, and when the start fails, never exit into a
 * restart loop. A failed start (bad config or secrets, no display, a journal that cannot be
 * opened, the status port taken, anything else) puts the fatal screen on the display when the
 * display works, answers on the status endpoint (state "fatal") and logs the problem once; then
 * it waits, telling systemd it is up (READY=1, STATUS=the problem, watchdog pets) so nothing
 * restarts it, until the config file changes, SIGHUP arrives (`systemctl reload`) or the service
 * is restarted: then it tries again. SIGHUP while running restarts the terminal in-process with
 * the config as it is now.
 */
import fs from 'node:fs';
import type { Display } from '../../drivers/display/contract';
import { DriversConfigSchema, type DriversConfig } from '../../drivers/config';
import { createDisplay } from '../../drivers/index';
import type { Logger } from '../shared/log';
import type { SystemdNotifier } from '../shared/service';
import { ConfigError, DEFAULT_STATUS_LISTEN, defaultProfileDirs, journalPath, loadTerminalConfig, type TerminalConfig } from './config';
import { fatalModel, startStageOf } from './daemon';
import { ScreenRenderer } from './screens/renderer';
import { SecretsError } from './secrets';
import { parseListen, startStatusServer, type StartupProblem, type StatusServer } from './status-server';

export interface RunningTerminal {
  stop(deadlineMs?: number): Promise<void>;
}

export interface SupervisorOptions {
  configFile: string;
  log: Logger;
  notifier: SystemdNotifier;
  version: string;
  /** Starts the terminal from a valid config; throws when it cannot; null: it was stopped while waiting. */
  start: (config: TerminalConfig) => Promise<RunningTerminal | null>;
  /** Resolves on SIGINT / SIGTERM. */
  stopSignal: Promise<NodeJS.Signals>;
  /** How often the config file is looked at while a failed start waits (ms). */
  watchIntervalMs?: number;
  clock?: () => number;
}

const SERVICE = 'qrpos-terminal';
const RELOAD = `sudo systemctl reload ${SERVICE}`;

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The reason and what to do, for each way a start can fail. */
export function describeStartFailure(err: unknown, configFile: string, config: TerminalConfig | null, now: number): StartupProblem {
  const since = new Date(now).toISOString();
  if (err instanceof ConfigError) {
    return {
      stage: 'config',
      title: 'Configuration error',
      reason: [`${configFile}:`, ...err.problems.map((p) => `${p.field}: ${p.message}`)],
      action: [`Fix ${configFile}: the terminal tries again when the file changes.`],
      since,
    };
  }
  if (err instanceof SecretsError) {
    return {
      stage: 'secrets',
      title: 'Secrets file error',
      reason: [err.message],
      action: ['Fix the secrets file (JSON, mode 0600), then: ' + RELOAD],
      since,
    };
  }
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const stage = startStageOf(err) ?? 'start';
  switch (stage) {
    case 'display':
      return {
        stage,
        title: 'Display not available',
        reason: [errText(err)],
        action: ['Check the screen, its cable and overlay, and drivers.display (or the profile) in the config; then: ' + RELOAD],
        since,
      };
    case 'journal':
      if (/is newer than this program/.test(errText(err))) {
        // An older release started on a journal a newer one migrated (a rollback by hand, an old
        // image): nothing was touched; the way out is the newer release or a backup.
        return {
          stage,
          title: 'Journal from a newer release',
          reason: [`${config ? journalPath(config) : 'journal'}: ${errText(err)}`],
          action: ['Go back to the release that wrote it: sudo qrpos upgrade <that bundle> (qrpos version lists them).', 'Nothing was changed; the journal backups are in the data folder.'],
          since,
        };
      }
      return {
        stage,
        title: 'Sales journal unavailable',
        reason: [`${config ? journalPath(config) : 'journal'}: ${errText(err)}`],
        action: [`Make ${config?.dataDir ?? 'the data folder'} a writable folder for the qrpos user, with free space; then: ${RELOAD}`],
        since,
      };
    case 'status':
      return {
        stage,
        title: code === 'EADDRINUSE' ? 'Status port in use' : 'Status endpoint unavailable',
        reason: [`statusListen ${config?.statusListen ?? ''}: ${code === 'EADDRINUSE' ? 'another program (another terminal?) listens there' : errText(err)}`],
        action: [`Stop the other program or change statusListen in ${configFile}; then: ${RELOAD}`],
        since,
      };
    case 'keypad':
      return { stage, title: 'Keypad not available', reason: [errText(err)], action: ['Check drivers.keypad in the config and the keypad; then: ' + RELOAD], since };
    default:
      return { stage, title: 'Cannot start', reason: [errText(err)], action: [`See the log (journalctl -u ${SERVICE}), then: ${RELOAD}`], since };
  }
}

/** Best effort, for a config that did not validate: its display section, directly or through its profile. */
function displayFromRawConfig(file: string): DriversConfig['display'] | null {
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { drivers?: { display?: unknown }; profile?: unknown };
    const direct = DriversConfigSchema.shape.display.safeParse(raw.drivers?.display);
    if (direct.success) return direct.data;
    if (typeof raw.profile === 'string' && /^[A-Za-z0-9._-]+$/.test(raw.profile)) {
      for (const dir of defaultProfileDirs()) {
        const f = `${dir}/${raw.profile}.json`;
        if (!fs.existsSync(f)) continue;
        const p = DriversConfigSchema.safeParse((JSON.parse(fs.readFileSync(f, 'utf8')) as { drivers?: unknown }).drivers);
        if (p.success) return p.data.display;
      }
    }
  } catch {
    /* nothing to draw on */
  }
  return null;
}

/** Best effort: the status address of a config that did not validate, or the default. */
function statusListenFromRawConfig(file: string): string {
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as { statusListen?: unknown };
    if (typeof raw.statusListen === 'string') {
      parseListen(raw.statusListen);
      return raw.statusListen;
    }
  } catch {
    /* the default then */
  }
  return DEFAULT_STATUS_LISTEN;
}

/** The fatal screen and status endpoint of one failed start; stop() frees both for the next try. */
async function showProblem(problem: StartupProblem, o: SupervisorOptions, config: TerminalConfig | null): Promise<{ stop(): Promise<void> }> {
  const { log } = o;
  let display: Display | null = null;
  let shown = false;
  const displayCfg = config?.drivers.display ?? displayFromRawConfig(o.configFile);
  if (displayCfg) {
    try {
      display = createDisplay(displayCfg, log.child('display'));
      await display.open();
      const r = new ScreenRenderer({ width: display.width, height: display.height, log: log.child('screen') });
      await display.present(r.canvas, r.render(fatalModel(problem)));
      shown = true;
    } catch (err) {
      log.debug('the fatal screen could not be shown', { error: errText(err) });
      await display?.close().catch(() => undefined);
      display = null;
    }
  }
  let server: StatusServer | null = null;
  if (problem.stage !== 'status') {
    const listen = config?.statusListen ?? statusListenFromRawConfig(o.configFile);
    try {
      server = await startStatusServer({
        listen,
        status: () => ({
          state: 'fatal',
          screen: shown ? 'fatal' : 'none',
          ready: false,
          reason: `${problem.title}: ${problem.reason.join(' ')}`,
          version: o.version,
          configFile: o.configFile,
          problem,
        }),
        log: log.child('status'),
      });
    } catch (err) {
      log.debug('no status endpoint while the start waits', { listen, error: errText(err) });
    }
  }
  return {
    async stop() {
      await server?.stop();
      await display?.close().catch(() => undefined);
    },
  };
}

/** What tells one version of the config file from another (none: the file is missing). */
interface FileState {
  mtimeMs: number;
  size: number;
  ino: number;
}
const fileState = (st: fs.Stats): FileState => ({ mtimeMs: st.mtimeMs, size: st.size, ino: st.ino });
function configFileState(file: string): FileState {
  try {
    return fileState(fs.statSync(file));
  } catch {
    return { mtimeMs: 0, size: -1, ino: 0 };
  }
}
const changed = (a: FileState, b: FileState) => a.mtimeMs !== b.mtimeMs || a.size !== b.size || a.ino !== b.ino;

/** Runs the terminal until SIGINT/SIGTERM; never exits because a start failed. Returns the exit code. */
export async function superviseTerminal(o: SupervisorOptions): Promise<number> {
  const { log, notifier } = o;
  const clock = o.clock ?? Date.now;
  let stopRequested = false;
  let wake: (() => void) | null = null;
  let reloads = 0;
  const onHup = () => {
    reloads++;
    wake?.();
  };
  process.on('SIGHUP', onHup);
  void o.stopSignal.then((sig) => {
    stopRequested = true;
    log.info('stopping', { signal: sig });
    wake?.();
  });
  /**
   * Until a stop signal, a SIGHUP or (with `readAs`, the config file's state when it was read) a
   * change of the config file. A change made before the watch starts counts too: the file is
   * compared with what was read, so a fix saved while the problem screen was being drawn is seen.
   */
  const waitForWake = (readAs?: FileState): Promise<void> =>
    new Promise<void>((resolve) => {
      if (stopRequested || reloads) return resolve();
      const watchConfig = readAs !== undefined;
      // Signal handlers do not keep Node alive: without a screen or an endpoint (the port was the
      // problem) the process would end here, and systemd would start it again.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const done = () => {
        clearInterval(keepAlive);
        wake = null;
        if (watchConfig) fs.unwatchFile(o.configFile, onChange);
        resolve();
      };
      const onChange = (cur: fs.Stats) => {
        if (changed(readAs!, fileState(cur))) {
          log.info('config file changed: trying again', { file: o.configFile });
          done();
        }
      };
      wake = done;
      if (watchConfig) {
        fs.watchFile(o.configFile, { interval: o.watchIntervalMs ?? 1000, persistent: false }, onChange);
        if (changed(readAs, configFileState(o.configFile))) {
          log.info('config file changed: trying again', { file: o.configFile });
          done();
        }
      }
    });

  let reported: string | null = null;
  let readyOnce = false;
  try {
    for (;;) {
      reloads = 0;
      let config: TerminalConfig | null = null;
      let running: RunningTerminal | null = null;
      let problem: StartupProblem | null = null;
      const readAs = configFileState(o.configFile);
      try {
        config = loadTerminalConfig(o.configFile);
        running = await o.start(config);
        if (!running) {
          notifier.stopping();
          return 0;
        }
      } catch (err) {
        problem = describeStartFailure(err, o.configFile, config, clock());
      }
      if (running) {
        if (reported) log.info('terminal started after the problem was fixed', { was: reported });
        reported = null;
        notifier.ready('running');
        readyOnce = true;
        notifier.startWatchdog();
        await waitForWake();
        if (stopRequested) {
          notifier.stopping();
          await running.stop(8000);
          return 0;
        }
        log.info('reload (SIGHUP): restarting the terminal with the config as it is now');
        notifier.status('reloading');
        await running.stop(8000);
        continue;
      }
      const p = problem as StartupProblem;
      const key = `${p.stage}|${p.title}|${p.reason.join('|')}`;
      if (key !== reported) {
        log.error('the terminal cannot start; waiting for the problem to be fixed', { stage: p.stage, problem: p.title, reason: p.reason, action: p.action });
        reported = key;
      }
      // Up as far as systemd is concerned: no restart loop; `systemctl status` shows why.
      if (!readyOnce) notifier.ready(`cannot start: ${p.title}`);
      else notifier.status(`cannot start: ${p.title}`);
      readyOnce = true;
      notifier.startWatchdog();
      const shown = await showProblem(p, o, config);
      await waitForWake(readAs);
      await shown.stop();
      if (stopRequested) {
        notifier.stopping();
        return 0;
      }
      if (reloads) log.info('reload (SIGHUP): trying again');
    }
  } finally {
    process.off('SIGHUP', onHup);
  }
}
