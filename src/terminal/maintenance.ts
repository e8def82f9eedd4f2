/**
 * The terminal while its journal waits for an operator: the damaged journal is set aside, no sale
 * can start, the screen says so and what to run, the status endpoint answers "not ready" with the
 * reason. It ends by itself once `qrpos terminal journal recover` has put a recovered journal in
 * place (the maintenance file is gone), so the service neither exits nor restarts in a loop.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Display } from '../../drivers/display/contract';
import type { Logger } from '../shared/log';
import type { RendererFactory, ScreenRendererLike } from './daemon';
import { isStorageError, JOURNAL_MIN_FREE_BYTES, JournalDamagedError, maintenanceMarker, type JournalDamage } from './journal';
import type { ScreenModel } from './screens/model';
import { ScreenRenderer } from './screens/renderer';
import { startStatusServer, type StatusServer, type TerminalStatus } from './status-server';

export interface MaintenanceOptions {
  display: Display;
  journalFile: string;
  damage: JournalDamage;
  log: Logger;
  version: string;
  merchantName: string;
  /** Status endpoint (host:port on loopback or a socket path); null for none. */
  statusListen: string | null;
  /** How often to look for the recovered journal. */
  pollMs?: number;
  renderer?: RendererFactory;
}

export interface Maintenance {
  readonly statusAddress: string | null;
  readonly screen: ScreenModel;
  status(): TerminalStatus;
  /** Resolves once the journal has been recovered (the maintenance file is gone). */
  readonly recovered: Promise<void>;
  /** Close the screen and the status endpoint (the terminal then starts on the same display). */
  stop(): Promise<void>;
}

export function maintenanceScreen(damage: JournalDamage): ScreenModel {
  return {
    kind: 'error',
    title: 'Maintenance: sales paused',
    lines: [
      'The sales journal on this terminal is damaged.',
      `It was kept aside as ${path.basename(damage.damagedFile)}.`,
      'No new sale can start until an operator runs:',
      'qrpos terminal journal recover',
      `(${damage.reason.slice(0, 80)})`,
    ],
  };
}

export async function startMaintenance(opts: MaintenanceOptions): Promise<Maintenance> {
  const { log, damage } = opts;
  log.error('journal needs an operator: sales paused until it is recovered', { file: opts.journalFile, ...damage });
  return startWaiting({
    ...opts,
    state: 'maintenance',
    screen: maintenanceScreen(damage),
    reason: `journal maintenance: ${damage.reason}; damaged file kept as ${damage.damagedFile}; run 'qrpos terminal journal recover'`,
    done: () => !fs.existsSync(maintenanceMarker(opts.journalFile)),
    doneMessage: 'journal recovered: leaving maintenance',
  });
}

/** No journal can even be created (the disk is full): wait with sales paused until there is room. */
export async function startStorageWait(opts: Omit<MaintenanceOptions, 'damage'> & { error: string }): Promise<Maintenance> {
  opts.log.error('cannot open the journal: the disk is full; waiting for space', { file: opts.journalFile, error: opts.error });
  return startWaiting({
    ...opts,
    state: 'storage_full',
    screen: {
      kind: 'error',
      title: 'Storage full: sales paused',
      lines: ['This terminal cannot open its sales journal:', 'its disk is full.', 'It starts by itself once space is freed.', opts.error.slice(0, 80)],
    },
    reason: `storage full, sales paused: cannot open the journal (${opts.error})`,
    done: () => {
      try {
        const st = fs.statfsSync(path.dirname(opts.journalFile));
        return st.bavail * st.bsize >= JOURNAL_MIN_FREE_BYTES;
      } catch {
        return false;
      }
    },
    doneMessage: 'disk has room again: starting',
  });
}

async function startWaiting(
  opts: Omit<MaintenanceOptions, 'damage'> & { state: string; screen: ScreenModel; reason: string; done: () => boolean; doneMessage: string },
): Promise<Maintenance> {
  const { display, log, screen, reason } = opts;
  await display.open();
  try {
    const renderer: ScreenRendererLike = (opts.renderer ?? ((o) => new ScreenRenderer(o)))({ width: display.width, height: display.height, log: log.child('screen') });
    const rects = renderer.render(screen);
    await display.present(renderer.canvas, rects);
  } catch (err) {
    log.error('could not draw the maintenance screen', { error: (err as Error).message });
  }
  const status = (): TerminalStatus => ({
    state: opts.state,
    screen: screen.kind,
    ready: false,
    reason,
    currentSale: null,
    link: { online: false, paired: false, lastEventSeq: 0, lastError: null, pairingCode: null },
    unsynced: 0,
    latePayments: 0,
    version: opts.version,
    terminalId: null,
    merchantName: opts.merchantName,
    journal: { path: opts.journalFile, resetFrom: null },
  });
  let server: StatusServer | null = null;
  if (opts.statusListen) {
    try {
      server = await startStatusServer({ listen: opts.statusListen, status, log: log.child('status') });
    } catch (err) {
      log.error('status endpoint not available', { listen: opts.statusListen, error: (err as Error).message });
    }
  }
  let timer: NodeJS.Timeout | undefined;
  const recovered = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      if (!opts.done()) return;
      clearInterval(timer);
      log.info(opts.doneMessage, { file: opts.journalFile });
      resolve();
    }, opts.pollMs ?? 2000);
  });
  return {
    statusAddress: server?.address ?? null,
    screen,
    status,
    recovered,
    async stop() {
      clearInterval(timer);
      await server?.stop();
      await display.close();
    },
  };
}

export type WaitOptions = Omit<MaintenanceOptions, 'damage'> & {
  /** Told when the terminal waits in maintenance (e.g. to tell systemd it is up, with this status). */
  onWaiting?: (status: string, m: Maintenance) => void;
};

/**
 * Start the terminal; while its journal is damaged, wait on the maintenance screen instead, and
 * while no journal can be opened for a full disk, on the storage-full screen (for as long as it
 * takes, without exiting), then start it. Resolves null when `stop` comes first.
 */
export async function startWhenJournalReady<T>(start: () => Promise<T>, opts: WaitOptions, stop: Promise<unknown>): Promise<T | null> {
  for (;;) {
    try {
      return await start();
    } catch (err) {
      let m: Maintenance;
      if (err instanceof JournalDamagedError) {
        m = await startMaintenance({ ...opts, damage: err.damage });
        opts.onWaiting?.(`journal maintenance: run 'qrpos terminal journal recover'`, m);
      } else if (isStorageError(err)) {
        const e = err as { code: string; message?: string };
        m = await startStorageWait({ ...opts, error: `${e.code}: ${e.message ?? ''}` });
        opts.onWaiting?.('storage full: waiting for space', m);
      } else throw err;
      const outcome = await Promise.race([m.recovered.then(() => 'recovered' as const), stop.then(() => 'stop' as const)]);
      await m.stop();
      if (outcome === 'stop') return null;
    }
  }
}
