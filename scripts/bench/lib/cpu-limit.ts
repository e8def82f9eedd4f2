/**
 * Runs a process with a share of one CPU core, to stand in for a small Pi on a bigger machine.
 * Tried in this order (or the one named by `prefer`):
 *   v2       cgroup v2: a child cgroup with `cpu.max` (needs the cpu controller delegated there)
 *   systemd  `systemd-run --scope -p CPUQuota=N%` (needs a running systemd)
 *   v1       cgroup v1 cpu controller: a child cgroup with cpu.cfs_quota_us / cpu.cfs_period_us
 *   duty     no cgroups: the process is stopped and continued (SIGSTOP / SIGCONT) so it runs
 *            N ms of every 100 ms of wall time; coarser than the kernel's throttling
 * The same `spawn` without a limit (`unlimited()`) is the reference the limited run is compared with.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type LimiterKind = 'v2' | 'systemd' | 'v1' | 'duty';

export interface Limiter {
  kind: LimiterKind | 'none';
  /** How the limit is applied, for the benchmark's output. */
  describe: string;
  spawn(cmd: string, args: string[], opts: SpawnOptions): ChildProcess;
  /** Removes what the limiter made (its cgroup); the processes must have exited. */
  close(): void;
  /**
   * Lifts the limit (false) or puts it back (true) for what runs in it, where the limiter can
   * (the cgroup kinds): a benchmark's set-up need not crawl at the measured limit.
   */
  enable?(on: boolean): void;
}

const PERIOD_US = 100_000;

/** The CPU time, in µs, that `percent` of one core allows per `period` µs. */
function quotaOf(percent: number, period: number): number {
  return Math.round((percent / 100) * period);
}

/** `sh -c` puts itself into the cgroup, then execs the command: the command starts inside it. */
function spawnInCgroup(procsFile: string, cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  return spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', procsFile, cmd, ...args], opts);
}

function writable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cgroup v2 mount: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid one. */
function cgroup2Root(): string | null {
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2') return dir;
  }
  return null;
}

function tryV2(percent: number, tag: string, period: number): Limiter | null {
  const root = cgroup2Root();
  if (!root) return null;
  // Our own cgroup (0::/path), where a child may be made when the cpu controller is delegated.
  const own = /^0::(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  const parent = path.join(root, own);
  try {
    if (!fs.readFileSync(path.join(parent, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('cpu')) return null;
    const sub = path.join(parent, 'cgroup.subtree_control');
    if (!fs.readFileSync(sub, 'utf8').split(/\s+/).includes('cpu')) fs.writeFileSync(sub, '+cpu');
    const dir = path.join(parent, tag);
    fs.mkdirSync(dir);
    const limit = `${quotaOf(percent, period)} ${period}`;
    fs.writeFileSync(path.join(dir, 'cpu.max'), limit);
    return {
      kind: 'v2',
      describe: `cgroup v2 ${dir}/cpu.max = ${limit}`,
      spawn: (cmd, args, opts) => spawnInCgroup(path.join(dir, 'cgroup.procs'), cmd, args, opts),
      close: () => fs.rmdirSync(dir),
      enable: (on) => fs.writeFileSync(path.join(dir, 'cpu.max'), on ? limit : `max ${period}`),
    };
  } catch {
    return null;
  }
}

function trySystemd(percent: number, period: number): Limiter | null {
  const r = spawnSync('systemctl', ['is-system-running'], { encoding: 'utf8' });
  if (r.error || !/^(running|degraded|starting)/.test(r.stdout ?? '')) return null;
  const probe = spawnSync('systemd-run', ['--scope', '--quiet', `-p`, `CPUQuota=${percent}%`, '--', 'true']);
  if (probe.status !== 0) return null;
  return {
    kind: 'systemd',
    describe: `systemd-run --scope -p CPUQuota=${percent}% -p CPUQuotaPeriodSec=${period / 1000}ms`,
    // The scope's command is exec'd by systemd-run itself: the child's pid is the command's.
    spawn: (cmd, args, opts) => spawn('systemd-run', ['--scope', '--quiet', '--collect', '-p', `CPUQuota=${percent}%`, '-p', `CPUQuotaPeriodSec=${period / 1000}ms`, '--', cmd, ...args], opts),
    close: () => undefined,
  };
}

function tryV1(percent: number, tag: string, period: number): Limiter | null {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n');
  const mount = mounts.map((l) => l.split(' ')).find(([, , type, options]) => type === 'cgroup' && (options ?? '').split(',').includes('cpu'));
  if (!mount) return null;
  const own = /^\d+:(?:[^:]*,)?cpu(?:,[^:]*)?:(.*)$/m.exec(fs.readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  const parent = path.join(mount[1], own);
  if (!writable(parent)) return null;
  const dir = path.join(parent, tag);
  const quota = String(quotaOf(percent, period));
  try {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(period));
    fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), quota);
  } catch {
    return null;
  }
  return {
    kind: 'v1',
    describe: `cgroup v1 cpu controller ${dir}: cpu.cfs_quota_us ${quota} per cpu.cfs_period_us ${period}`,
    spawn: (cmd, args, opts) => spawnInCgroup(path.join(dir, 'cgroup.procs'), cmd, args, opts),
    close: () => fs.rmdirSync(dir),
    enable: (on) => fs.writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), on ? quota : '-1'),
  };
}

function duty(percent: number, period: number): Limiter {
  const periodMs = period / 1000;
  const runMs = (percent / 100) * periodMs;
  return {
    kind: 'duty',
    describe: `SIGSTOP/SIGCONT duty cycle: runs ${runMs} ms of every ${periodMs} ms (no usable cgroup or systemd here)`,
    spawn(cmd, args, opts) {
      const child = spawn(cmd, args, opts);
      let timer: NodeJS.Timeout | undefined;
      const signal = (s: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(child.pid, s);
        } catch {
          /* exited */
        }
      };
      const run = () => {
        signal('SIGCONT');
        timer = setTimeout(() => {
          signal('SIGSTOP');
          timer = setTimeout(run, periodMs - runMs);
        }, runMs);
      };
      run();
      child.once('exit', () => clearTimeout(timer));
      // A stopped process cannot act on SIGTERM: continue it whenever it is asked to stop.
      const kill = child.kill.bind(child);
      child.kill = (s?: NodeJS.Signals | number) => {
        clearTimeout(timer);
        signal('SIGCONT');
        return kill(s);
      };
      return child;
    },
    close: () => undefined,
  };
}

/**
 * A limit of `percent` of one core per `period` µs: the first limiter that works here (or
 * `prefer`, which must work). `name` makes its cgroup separate from other limiters of this process.
 */
export function cpuLimiter(percent: number, prefer?: LimiterKind, name?: string, period = PERIOD_US): Limiter {
  const tag = `qrpos-bench-${process.pid}${name ? `-${name}` : ''}`;
  const tries: Record<LimiterKind, () => Limiter | null> = {
    v2: () => tryV2(percent, tag, period),
    systemd: () => trySystemd(percent, period),
    v1: () => tryV1(percent, tag, period),
    duty: () => duty(percent, period),
  };
  if (prefer) {
    const l = tries[prefer]();
    if (!l) throw new Error(`CPU limit "${prefer}" is not available on this machine`);
    return l;
  }
  for (const kind of ['v2', 'systemd', 'v1', 'duty'] as const) {
    const l = tries[kind]();
    if (l) return l;
  }
  throw new Error('no CPU limiter');
}

/** The reference: the same start, without a limit (through the same `sh -c … exec` where the limiter uses one). */
export function unlimited(): Limiter {
  return {
    kind: 'none',
    describe: 'no limit',
    spawn: (cmd, args, opts) => spawn('/bin/sh', ['-c', 'exec "$@"', 'sh', cmd, ...args], opts),
    close: () => undefined,
  };
}

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Two consecutive clock-tick fields of /proc/<pid>/stat (the first numbered from the state, 0), summed, in seconds. */
function statSeconds(pid: number, first: number, gone: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name (which may hold spaces), from the state on.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[first]) + Number(rest[first + 1])) / TICKS_PER_SECOND;
  } catch {
    return gone;
  }
}

/** CPU time (user + system, all threads) a process has used so far, in seconds; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  // utime and stime: fields 14 and 15.
  return statSeconds(pid, 11, NaN);
}

/** CPU time (user + system) of a process's children that have exited and been waited for, in seconds; 0 once it is gone. */
export function childrenCpuSeconds(pid: number): number {
  // cutime and cstime: fields 16 and 17.
  return statSeconds(pid, 13, 0);
}
