/**
 * What every long-running qrpos command shares: waiting for SIGINT / SIGTERM, and talking to
 * systemd (Type=notify, WatchdogSec=). Node cannot send AF_UNIX datagrams itself, so messages go
 * through `systemd-notify` (the units set NotifyAccess=all because the sender is a child).
 */
import { spawn } from 'node:child_process';
import type { Logger } from './log';

/** Resolves with the first SIGINT or SIGTERM; the handlers are removed then. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** sd_notify through systemd-notify; does nothing outside systemd (no NOTIFY_SOCKET). */
export function sdNotify(log: Logger, ...args: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  try {
    const child = spawn('systemd-notify', args, { stdio: 'ignore' });
    child.on('error', (err) => log.debug('systemd-notify failed', { error: err.message }));
    child.unref();
  } catch (err) {
    log.debug('systemd-notify failed', { error: (err as Error).message });
  }
}

/**
 * Tells systemd the service is ready and, when the unit has WatchdogSec=, pets the watchdog at
 * half the interval — from the event loop, so a blocked loop gets the service restarted.
 * Returns the function that reports STOPPING and ends the pets.
 */
export function notifyReady(log: Logger, status = 'running'): () => void {
  sdNotify(log, '--ready', `STATUS=${status}`);
  const watchdogUsec = Number(process.env.WATCHDOG_USEC ?? 0);
  const timer = watchdogUsec > 0 ? setInterval(() => sdNotify(log, 'WATCHDOG=1'), Math.max(500, Math.floor(watchdogUsec / 2000))) : undefined;
  return () => {
    if (timer) clearInterval(timer);
    sdNotify(log, 'STOPPING=1');
  };
}
