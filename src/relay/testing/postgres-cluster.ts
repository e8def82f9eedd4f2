/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temporary folder, a server on a free
 * 127.0.0.1 port (fsync on, its unix socket inside that folder), one database, a password.
 * initdb and postgres refuse to run as root: as root they run as `nobody`. The server shuts down
 * when the test process dies (setpriv --pdeathsig); stop() removes the folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../shared/testing/free-port';

export interface PostgresBin {
  dir: string;
  initdb: string;
  postgres: string;
  pgCtl: string;
  /** Major version, from the folder name or `postgres --version`. */
  version: number;
}

/** Why there is no cluster for the tests, naming the package to install. */
export const NO_POSTGRES_MESSAGE = 'PostgreSQL server binaries (initdb, postgres) not found: install the `postgresql` package to run these tests';

/** initdb, pg_ctl and postgres of the highest version found on PATH or under /usr/lib/postgresql/N/bin. */
export function findPostgresBin(): PostgresBin | null {
  const dirs = new Set((process.env.PATH ?? '').split(path.delimiter).filter(Boolean));
  const root = '/usr/lib/postgresql';
  try {
    for (const v of fs.readdirSync(root)) dirs.add(path.join(root, v, 'bin'));
  } catch {
    /* not Debian's layout (Debian puts only wrappers such as pg_ctlcluster on PATH) */
  }
  let best: PostgresBin | null = null;
  for (const dir of dirs) {
    const initdb = path.join(dir, 'initdb');
    const postgres = path.join(dir, 'postgres');
    if (!isExecutable(initdb) || !isExecutable(postgres)) continue;
    const fromDir = /\/postgresql\/(\d+)\/bin$/.exec(dir)?.[1];
    const version = Number(fromDir ?? /PostgreSQL\)\s+(\d+)/.exec(spawnSync(postgres, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 0);
    if (!best || version > best.version) best = { dir, initdb, postgres, pgCtl: path.join(dir, 'pg_ctl'), version };
  }
  return best;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export interface PostgresCluster {
  /** postgres://qrpos:<password>@127.0.0.1:<port>/qrpos */
  url: string;
  /** URL of another database of the cluster (created by createDatabase). */
  urlOf(database: string): string;
  createDatabase(name: string): Promise<string>;
  password: string;
  port: number;
  version: number;
  /** The server's process (the postmaster; its backends are its children), for CPU accounting. */
  pid: number;
  /** Fast shutdown, then removes the folder. */
  stop(): Promise<void>;
  /** SIGKILL to the server and its backends (a crash); the folder stays until stop(). */
  kill9(): Promise<void>;
  /** The last lines the server logged (for a test that failed). */
  serverLog(): string;
}

function hasCommand(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * How to run initdb and postgres: as `nobody` when we are root (initdb refuses root), and, with
 * setpriv, told to shut down when the test process dies so no server outlives it.
 */
function runner(): { wrap: (cmd: string, args: string[]) => [string, string[]]; owner: { uid: number; gid: number } | null } {
  const setpriv = hasCommand('setpriv');
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root) return { owner: null, wrap: (cmd, args) => (setpriv ? ['setpriv', ['--pdeathsig', 'SIGINT', cmd, ...args]] : [cmd, args]) };
  const id = (flag: string) => Number(spawnSync('id', [flag, 'nobody'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) throw new Error('running as root and there is no user `nobody` to run PostgreSQL as');
  return {
    owner: { uid, gid },
    wrap: (cmd, args) =>
      setpriv
        ? ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--pdeathsig', 'SIGINT', cmd, ...args]]
        : ['runuser', ['-u', 'nobody', '--', cmd, ...args]],
  };
}

/**
 * The server's environment: the tests' own, less a faked clock. The suite's second run fakes the
 * time of day with libfaketime (LD_PRELOAD) in every process it starts; PostgreSQL stands for a
 * database server on another machine with a clock of its own, and under libfaketime its backends
 * stalled under load (the kill -9 run hung at 500 webhooks/s).
 */
function serverEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k === 'LD_PRELOAD' || k.startsWith('FAKETIME')) delete env[k];
  return env;
}

/** A folder for the cluster that `nobody` can reach when we are root (TMPDIR may be private to root). */
function scratchParent(root: boolean): string {
  const tmp = os.tmpdir();
  if (!root) return tmp;
  for (let dir = tmp; ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return '/tmp';
    if (path.dirname(dir) === dir) return tmp;
  }
}

export async function startPostgresCluster(bin: PostgresBin | null = findPostgresBin()): Promise<PostgresCluster> {
  if (!bin) throw new Error(NO_POSTGRES_MESSAGE);
  const { wrap: run, owner } = runner();
  const dir = fs.mkdtempSync(path.join(scratchParent(owner !== null), 'qrpos-pg-'));
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'sock');
  const password = crypto.randomBytes(12).toString('base64url');
  fs.mkdirSync(sockets);
  fs.writeFileSync(path.join(dir, 'pwfile'), password + '\n');
  if (owner) {
    for (const p of [dir, sockets, path.join(dir, 'pwfile')]) fs.chownSync(p, owner.uid, owner.gid);
  }
  let server: ChildProcess | undefined;
  let log = '';
  const stopServer = async (signal: NodeJS.Signals) => {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const kill = (sig: NodeJS.Signals) => {
      try {
        // The group: setpriv execs postgres, whose backends share its group.
        process.kill(-child.pid!, sig);
      } catch {
        child.kill(sig);
      }
    };
    kill(signal);
    // A fast shutdown that hangs (a stuck backend) ends in SIGKILL.
    const timer = setTimeout(() => kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    // --no-sync: only initdb's own files are not fsynced (a throwaway folder); the server has fsync on.
    const [initCmd, initArgs] = run(bin.initdb, ['-D', data, '-U', 'qrpos', `--pwfile=${path.join(dir, 'pwfile')}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: dir, env: serverEnv() });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr || init.stdout || String(init.error)}`);
    const port = await freePort();
    const [cmd, args] = run(bin.postgres, [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=on',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=16MB',
    ]);
    server = spawn(cmd, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv() });
    const onLog = (b: Buffer) => (log = (log + b.toString()).slice(-8000));
    server.stdout!.on('data', onLog);
    server.stderr!.on('data', onLog);
    const url = (db: string) => `postgres://qrpos:${encodeURIComponent(password)}@127.0.0.1:${port}/${db}`;
    await waitReady(url('postgres'), server, () => log);
    const createDatabase = async (name: string) => {
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await c.end();
      }
      return url(name);
    };
    await createDatabase('qrpos');
    return {
      url: url('qrpos'),
      urlOf: url,
      createDatabase,
      password,
      port,
      version: bin.version,
      pid: server.pid!,
      kill9: () => stopServer('SIGKILL'),
      serverLog: () => log,
      stop: async () => {
        await stopServer('SIGINT');
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopServer('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Until the server takes connections (or has exited: then its log says why). */
async function waitReady(url: string, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`postgres exited at start-up: ${log()}`);
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.end();
      return;
    } catch {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not start in 30 s: ${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
