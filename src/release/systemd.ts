/**
 * Every systemctl call of an upgrade or rollback goes through here: one small module, so the
 * same upgrade runs against the device's systemd and, in the tests, against a real systemd booted
 * in a container (scripts/release/upgrade-nspawn.sh).
 */
import { spawnSync } from 'node:child_process';

export interface UnitState {
  /** active, activating, deactivating, inactive, failed, reloading */
  activeState: string;
  /** running, start, auto-restart, dead, failed, ... */
  subState: string;
  /** How often systemd restarted the unit (Restart=) since it was last started by hand. */
  nRestarts: number;
  mainPid: number;
  /** success, exit-code, signal, timeout, watchdog, start-limit-hit, ... */
  result: string;
  /** LoadState: loaded, not-found, masked. */
  loadState: string;
  /** The unit's STATUS= text (sd_notify), if any. */
  statusText: string;
}

export interface ServiceManager {
  show(unit: string): UnitState;
  start(unit: string): void;
  stop(unit: string): void;
  /** Clears the failed state and the start-limit counter (systemctl reset-failed). */
  resetFailed(unit: string): void;
  /** Whether the unit is enabled to start at boot. */
  isEnabled(unit: string): boolean;
}

export class SystemctlError extends Error {}

const PROPS = ['ActiveState', 'SubState', 'NRestarts', 'MainPID', 'Result', 'LoadState', 'StatusText'];

/** Parses `systemctl show -p A -p B ...` output (Key=value lines). */
export function parseShow(text: string): UnitState {
  const v: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) v[line.slice(0, i)] = line.slice(i + 1);
  }
  return {
    activeState: v.ActiveState ?? 'unknown',
    subState: v.SubState ?? 'unknown',
    nRestarts: Number(v.NRestarts ?? 0) || 0,
    mainPid: Number(v.MainPID ?? 0) || 0,
    result: v.Result ?? 'unknown',
    loadState: v.LoadState ?? 'unknown',
    statusText: v.StatusText ?? '',
  };
}

/** The real one: /usr/bin/systemctl (or `bin`), each call bounded in time. */
export function systemctl(bin = 'systemctl', timeoutMs = 30_000): ServiceManager {
  const run = (args: string[], okCodes = [0]): string => {
    const r = spawnSync(bin, args, { encoding: 'utf8', timeout: timeoutMs });
    if (r.error) throw new SystemctlError(`${bin} ${args.join(' ')}: ${r.error.message}`);
    if (!okCodes.includes(r.status ?? -1)) throw new SystemctlError(`${bin} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`);
    return r.stdout;
  };
  return {
    show: (unit) => parseShow(run(['show', ...PROPS.flatMap((p) => ['-p', p]), '--', unit])),
    // --no-block: the upgrade watches the start itself (READY, the status endpoint) with its own deadline.
    start: (unit) => void run(['start', '--no-block', '--', unit]),
    stop: (unit) => void run(['stop', '--', unit]),
    resetFailed: (unit) => void run(['reset-failed', '--', unit], [0, 1]),
    isEnabled: (unit) => spawnSync(bin, ['is-enabled', '--quiet', '--', unit], { timeout: timeoutMs }).status === 0,
  };
}
