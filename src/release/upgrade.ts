/**
 * `qrpos upgrade FILE|URL` and `qrpos rollback` on a device: a new release is checked (signature,
 * every file), unpacked, and self-tested with its own code against copies of the live config and
 * journal (migrations run on the copy); then new sales are held until no sale is on screen, the
 * service is stopped, the journal backed up, `current` switched, the service started, and the
 * upgrade waits for READY and a healthy status endpoint reporting the new version. If that does
 * not come within the time limit, or the service fails, it switches back, puts the journal back
 * when the new release had migrated it (and only when that loses nothing), starts the previous
 * release and waits for it the same way. Every step is printed; the outcome is a line in
 * /opt/qrpos/history.
 *
 * Money safety (why putting a journal backup back is allowed, and when it is not):
 * - The backup is taken with the service stopped and no sale on screen (the hold made sure of
 *   that), so it is exactly the journal as the old release left it.
 * - Migrations only go forward; the old release refuses a journal with a newer schema. After a
 *   failed start of a release that migrated the journal, the old release can only run on the
 *   backup. Putting it back forgets what the new release wrote in the meantime. That is safe
 *   when nothing it wrote is money only the terminal knows of: the backup is restored only if
 *   the new release never reached READY (systemd's active state, sent once the daemon is up: a
 *   terminal that never got there never showed the idle screen to a cashier) AND the journal
 *   holds no sale, no refund and no Z report the backup lacks (compared on the files after the
 *   stop: this also covers a key pressed in the instant between the keypad starting and READY).
 *   What else a short-lived start can write comes back from the relay: the stream cursor goes
 *   back with the backup, so the relay sends its events again, and outbox requests are sent
 *   again under the same idempotency keys. The replaced journal is kept beside the backups.
 * - If either condition fails, nothing is restored and the new release is NOT switched away
 *   from (the old one could not open the journal): it is started again and the command says so
 *   and exits 4 (an operator decides; the journal is intact).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { backup, describeLoss, listBackups, MONEY_TABLES, newerThan, restore, snapshot, userVersion, type Backup, type BackupFile } from './databases';
import { download, FetchError, isUrl, redactUrl } from './fetch';
import { Install, M, type PublicKey } from './lib';
import { statusClient, type EndpointAnswer, type StatusClient } from './status-client';
import type { ServiceManager, UnitState } from './systemd';

export const EXIT = { ok: 0, refused: 1, usage: 2, rolledBack: 3, failed: 4 } as const;

export interface DeviceOptions {
  /** /opt/qrpos */
  app: string;
  /** /etc/qrpos/terminal.json (absent on a relay server) */
  config: string;
  /** qrpos-terminal */
  unit: string;
  /** /etc/qrpos/relay.json (absent on a terminal) */
  relayConfig?: string;
  /** qrpos-relay */
  relayUnit?: string;
  keys: PublicKey[];
  sm: ServiceManager;
  /** How long the new release has to be READY and healthy (default 60 s). */
  readyTimeoutMs?: number;
  /** How long to wait for the sale on screen to finish (default 5 min). */
  holdWaitMs?: number;
  keep?: number;
  /** Node.js that runs the self-test (default this one). */
  node?: string;
  maxDownloadBytes?: number;
  /** Each step, as a line. */
  say?: (line: string) => void;
  /** Skip holding sales (a terminal whose endpoint cannot hold; see --help). */
  noHold?: boolean;
}

export interface Outcome {
  outcome: 'upgraded' | 'unchanged' | 'refused' | 'rolled back' | 'failed';
  code: number;
  message: string;
  version?: string;
  from?: string;
  /** Seconds: services stopped → the new release READY and healthy (sales interrupted). */
  downtime?: number;
  /** Seconds: failure seen → the previous release READY and healthy. */
  rollback?: number;
}

export class Refused extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A database an upgrade backs up, dry-runs (its self-test flag) and may put back. */
export interface Db {
  /** The self-test's name for it: "journal" or "relay-db". */
  key: 'journal' | 'relay-db';
  label: string;
  live: string;
  backups: string;
  /** Backup file prefix: journal-<schema>-<time>.sqlite, relay-<schema>-<time>.sqlite */
  prefix: 'journal' | 'relay';
  tables: Record<string, readonly [string, string]>;
}

/** A service of this machine that runs from /opt/qrpos/current. */
export interface Service {
  name: 'terminal' | 'relay';
  unit: string;
  /** Its config, copied for the new release's self-test. */
  config: string;
  db: Db;
  /** The terminal's status endpoint (hold, version); none for the relay. */
  client: StatusClient | null;
  /** Whether it serves as version `version` (the terminal's status endpoint; the relay's /readyz). */
  probe(version: string): Promise<{ healthy: boolean; detail: string; fatal?: string }>;
}

function readJson(file: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Refused(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The terminal as its config names it (read as JSON: the switch must not depend on parsing it the new way). */
export function terminalService(configFile: string, unit = 'qrpos-terminal'): Service | null {
  const raw = readJson(configFile);
  if (!raw) return null;
  const dataDir = typeof raw.dataDir === 'string' ? raw.dataDir : '/var/lib/qrpos';
  const statusListen = typeof raw.statusListen === 'string' ? raw.statusListen : '127.0.0.1:7601';
  const client = statusClient(statusListen);
  return {
    name: 'terminal',
    unit,
    config: configFile,
    db: { key: 'journal', label: 'journal', live: path.join(dataDir, 'journal.sqlite'), backups: path.join(dataDir, 'backups'), prefix: 'journal', tables: MONEY_TABLES.journal },
    client,
    async probe(version) {
      const s = await client.get('/status');
      const v = s.body?.version;
      if (v !== version) return { healthy: false, detail: `the status endpoint reports version ${String(v)}` };
      if (s.body?.state === 'fatal') {
        const p = s.body.problem as { title?: string; reason?: string[] } | undefined;
        return { healthy: false, detail: 'fatal', fatal: `it started but cannot sell: ${p?.title ?? 'problem'}${p?.reason?.length ? `: ${p.reason.join(' ')}` : ''}` };
      }
      const r = await client.get('/ready');
      return r.status === 200 ? { healthy: true, detail: `status endpoint: version ${version}, GET /ready 200` } : { healthy: false, detail: `GET /ready: ${r.status} ${String(r.body?.reason ?? '')}` };
    },
  };
}

/** The relay as its config names it: its database, and GET /readyz on its listen address. */
export function relayService(configFile: string, unit = 'qrpos-relay'): Service | null {
  const raw = readJson(configFile);
  if (!raw) return null;
  const dataDir = path.resolve(path.dirname(configFile), typeof raw.dataDir === 'string' ? raw.dataDir : '/var/lib/qrpos-relay');
  const listen = (raw.listen ?? {}) as { host?: unknown; port?: unknown };
  let host = typeof listen.host === 'string' ? listen.host : '127.0.0.1';
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const port = typeof listen.port === 'number' ? listen.port : 8787;
  const tls = Boolean(raw.tls);
  return {
    name: 'relay',
    unit,
    config: configFile,
    db: { key: 'relay-db', label: 'relay database', live: path.join(dataDir, 'relay.db'), backups: path.join(dataDir, 'backups'), prefix: 'relay', tables: MONEY_TABLES.relay },
    client: null,
    probe: (version) =>
      new Promise((resolve) => {
        // Its own certificate names the public host, not this address: only liveness is read here.
        const req = (tls ? https : http).request(
          { host, port, path: '/readyz', method: 'GET', timeout: 3000, ...(tls ? { rejectUnauthorized: false } : {}) },
          (res) => {
            res.resume();
            resolve(res.statusCode === 200 ? { healthy: true, detail: `GET /readyz 200 (started after the switch to ${version})` } : { healthy: false, detail: `GET /readyz: ${res.statusCode}` });
          },
        );
        req.on('timeout', () => req.destroy(new Error('no answer')));
        req.on('error', (err) => resolve({ healthy: false, detail: `GET /readyz: ${err.message}` }));
        req.end();
      }),
  };
}

export interface SelfTestReport {
  ok: boolean;
  results: { name: string; ok: boolean; detail: string; code?: string; schema?: { found: number; supports: number; after?: number } }[];
  raw: string;
}

/**
 * Runs <release>/scripts/release/selftest.cjs with that release's own code against copies of the
 * configs and databases in a scratch folder: the live files are only read (consistent snapshots).
 */
export function selfTest(releaseDir: string, o: { node: string; config?: string; journal?: string; relayDb?: string }): SelfTestReport {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-selftest-'));
  try {
    fs.chmodSync(work, 0o700);
    const args = [path.join(releaseDir, 'scripts', 'release', 'selftest.cjs'), '--json'];
    const copies: [string, string][] = [];
    if (o.config && fs.existsSync(o.config)) {
      const copy = path.join(work, 'terminal.json');
      fs.copyFileSync(o.config, copy);
      args.push('--config', copy);
      copies.push([copy, o.config]);
    }
    if (o.journal && fs.existsSync(o.journal)) {
      const copy = path.join(work, 'journal.sqlite');
      snapshot(o.journal, copy);
      args.push('--journal', copy);
      copies.push([copy, o.journal]);
    }
    if (o.relayDb && fs.existsSync(o.relayDb)) {
      fs.mkdirSync(path.join(work, 'relay'), { mode: 0o700 });
      const copy = path.join(work, 'relay', 'relay.db');
      snapshot(o.relayDb, copy);
      args.push('--relay-db', copy);
      copies.push([copy, o.relayDb]);
    }
    const r = spawnSync(o.node, args, { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: work } });
    const raw = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    try {
      const parsed = JSON.parse(r.stdout) as { ok: boolean; results: SelfTestReport['results'] };
      // The copies are gone when this returns: name the files they were made from.
      const named = (text: string) => copies.reduce((t, [copy, orig]) => t.split(copy).join(`${orig} (a copy)`), text);
      return { ok: parsed.ok && r.status === 0, results: parsed.results.map((x) => ({ ...x, detail: named(x.detail) })), raw };
    } catch {
      return { ok: false, results: [{ name: 'selftest', ok: false, detail: raw.split('\n').slice(-3).join(' | ') || `exit ${r.status ?? r.signal}` }], raw };
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** One upgrade or rollback at a time: <app>/.upgrade.lock holds the pid. */
function lock(app: string): () => void {
  const file = path.join(app, '.upgrade.lock');
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid && fs.existsSync(`/proc/${pid}`)) throw new Refused(`another upgrade or rollback is running (pid ${pid}; ${file})`);
      fs.rmSync(file, { force: true });
    }
  }
  throw new Refused(`cannot take ${file}`);
}

function history(app: string, action: string, version: string, from: string | undefined, text: string): void {
  fs.appendFileSync(path.join(app, 'history'), `${new Date().toISOString()}\t${action}\t${version}\t${from ?? ''}\t${text.replace(/[\t\n]+/g, ' ')}\n`, { mode: 0o644 });
}

const isUp = (s: UnitState) => ['active', 'activating', 'reloading'].includes(s.activeState);

interface Ctx {
  o: DeviceOptions;
  say: (line: string) => void;
  /** The terminal and/or the relay, as their configs on this machine name them. */
  services: Service[];
}

function context(o: DeviceOptions): Ctx {
  const t0 = Date.now();
  const say = (line: string) => (o.say ?? ((l: string) => process.stdout.write(`${l}\n`)))(`[${secs(Date.now() - t0).padStart(6)}] ${line}`);
  const services = [o.relayConfig ? relayService(o.relayConfig, o.relayUnit) : null, terminalService(o.config, o.unit)].filter((s): s is Service => s !== null);
  return { o, say, services };
}

/** The live databases there are, for the self-test's flags. */
function liveDbs(c: Ctx): { journal?: string; relayDb?: string } {
  const out: { journal?: string; relayDb?: string } = {};
  for (const s of c.services) if (fs.existsSync(s.db.live)) out[s.db.key === 'journal' ? 'journal' : 'relayDb'] = s.db.live;
  return out;
}

/**
 * Holds new sales and waits until no sale is on screen. Returns a function that releases the hold
 * (used when the switch does not happen), or throws Refused.
 */
export async function holdSales(client: StatusClient, o: { reason: string; waitMs: number; say: (l: string) => void; ttlSeconds?: number }): Promise<() => Promise<void>> {
  const ttl = o.ttlSeconds ?? 60;
  let answer;
  try {
    answer = await client.hold(ttl, o.reason);
  } catch (err) {
    throw new Refused(`cannot tell whether a sale is on screen: the status endpoint (${client.address}) does not answer (${(err as Error).message}); nothing was changed`);
  }
  let canHold = answer.status === 200;
  const release = async () => {
    if (!canHold) return;
    try {
      await client.release();
    } catch {
      /* it runs out by itself */
    }
  };
  if (!canHold) {
    const st = await client.get('/status').catch(() => null);
    if (st?.body?.state === 'fatal') {
      o.say('the terminal is not selling (it shows a problem): no sale to wait for');
      return release;
    }
    if (answer.status !== 404) throw new Refused(`the terminal refused to hold sales: HTTP ${answer.status} ${JSON.stringify(answer.body?.error ?? answer.body)}`);
    o.say('the running release cannot hold new sales (no POST /hold): waiting for no sale on screen without a hold');
  } else o.say(`new sales held (the screen says "Updating — one moment"; the hold runs out by itself after ${ttl} s unless renewed)`);
  const start = Date.now();
  let renewed = Date.now();
  let told = '';
  for (;;) {
    const st: EndpointAnswer = await client.get('/status').catch((err: Error) => ({ status: 0, body: { error: err.message } }));
    const sale = st.body?.currentSale as { ref?: number; amount?: number; currency?: string; status?: string } | null | undefined;
    if (st.status === 200 && !sale) {
      o.say(`no sale on screen${told ? ` (waited ${secs(Date.now() - start)})` : ''}`);
      return release;
    }
    const now = sale ? `sale #${sale.ref ?? '?'} (${sale.status ?? '?'}) on screen` : `status endpoint: ${String((st.body as { error?: unknown } | null)?.error ?? st.status)}`;
    if (now !== told) {
      o.say(`waiting: ${now}`);
      told = now;
    }
    if (Date.now() - start > o.waitMs) {
      await release();
      throw new Refused(`a sale stayed on screen for ${secs(o.waitMs)} (${now}): not switched; new sales are no longer held. Try again when the counter is quiet`);
    }
    if (canHold && Date.now() - renewed > (ttl * 1000) / 3) {
      const r = await client.hold(ttl, o.reason).catch(() => null);
      if (r?.status === 200) renewed = Date.now();
      else canHold = false;
    }
    await sleep(300);
  }
}

interface Watch {
  ok: boolean;
  why: string;
  /** systemd said active (READY=1 received) at some point. */
  sawReady: boolean;
  /** ms from the start of the watch to healthy. */
  ms: number;
}

/**
 * Waits, until `deadline`, for the unit to be active (READY) and its probe to say it serves as
 * `version` (the terminal: GET /ready 200 and that version on the status endpoint). Fails early
 * when the service fails, exits (systemd restarts it) or reports a problem it cannot get past.
 */
export async function watchStart(sm: ServiceManager, svc: Service, version: string, deadline: number, limitMs: number): Promise<Watch> {
  const start = Date.now();
  let sawReady = false;
  let firstPid = 0;
  let baseRestarts = -1;
  let last = 'not started yet';
  const fail = (why: string): Watch => ({ ok: false, why, sawReady, ms: Date.now() - start });
  while (Date.now() < deadline) {
    const st = sm.show(svc.unit);
    if (baseRestarts < 0 && (st.activeState === 'activating' || st.activeState === 'active')) baseRestarts = st.nRestarts;
    if (st.activeState === 'failed') return fail(`the service failed (${st.result}${st.statusText ? `: ${st.statusText}` : ''})`);
    if (st.subState === 'auto-restart' || (baseRestarts >= 0 && st.nRestarts > baseRestarts)) return fail(`the service exited (${st.result}) and systemd is restarting it`);
    if (st.mainPid) {
      if (!firstPid) firstPid = st.mainPid;
      else if (st.mainPid !== firstPid) return fail('the service process exited and another one started');
    }
    if (st.activeState === 'active') {
      sawReady = true;
      try {
        const p = await svc.probe(version);
        if (p.fatal) return fail(p.fatal);
        if (p.healthy) return { ok: true, why: `READY, ${p.detail}`, sawReady, ms: Date.now() - start };
        last = p.detail;
      } catch (err) {
        last = `${svc.name}: ${(err as Error).message}`;
      }
    } else last = `${st.activeState}/${st.subState}`;
    await sleep(200);
  }
  return fail(`not READY and healthy within ${secs(limitMs)} (last: ${last})`);
}

function startUnit(sm: ServiceManager, unit: string): void {
  sm.resetFailed(unit);
  sm.start(unit);
}

interface SwitchPlan {
  target: string;
  from: string;
  action: 'upgrade' | 'rollback';
  /** Backups the target needs in place of live databases (a rollback past a migration), by Db key. */
  restoreFrom?: Partial<Record<Db['key'], BackupFile>>;
}

interface Running {
  svc: Service;
  loaded: boolean;
  running: boolean;
  /** Started again after the switch: it ran, or it is enabled (a stopped service stays stopped). */
  startAfter: boolean;
  backup: Backup | null;
}

/** Hold, stop, back up, switch, start, watch; on failure switch back. */
async function switchRelease(c: Ctx, plan: SwitchPlan): Promise<Outcome> {
  const { o, say } = c;
  const { sm } = o;
  const readyTimeout = o.readyTimeoutMs ?? 60_000;
  const keep = o.keep ?? 3;
  const done = (d: Omit<Outcome, 'version' | 'from'> & Partial<Outcome>): Outcome => ({ version: plan.target, from: plan.from, ...d });
  // The first calls to systemd: everything before them (download, checks, self-test) needs none.
  const all: Running[] = c.services.map((svc) => {
    const st = sm.show(svc.unit);
    const loaded = st.loadState === 'loaded';
    const running = loaded && isUp(st);
    return { svc, loaded, running, startAfter: running || (loaded && sm.isEnabled(svc.unit)), backup: null };
  });
  const units = all.filter((r) => r.loaded);

  const releases: (() => Promise<void>)[] = [];
  const releaseHolds = async () => {
    for (const r of releases) await r();
  };
  let heldAt: number | null = null;
  for (const r of units) {
    if (r.running && r.svc.client && !o.noHold) {
      releases.push(await holdSales(r.svc.client, { reason: `${plan.action} to ${plan.target}`, waitMs: o.holdWaitMs ?? 300_000, say }));
      // From here no new sale starts (the wait for the sale on screen is not counted: it sold).
      heldAt = Date.now();
    }
  }

  // Stop the terminal first (its link to a relay here goes quiet), start the relay first.
  const stopOrder = [...units].sort((a, b) => (a.svc.name === 'terminal' ? -1 : b.svc.name === 'terminal' ? 1 : 0));
  const startOrder = [...stopOrder].reverse().filter((r) => r.startAfter);
  let stoppedAt = Date.now();
  try {
    for (const r of stopOrder) {
      say(`stopping ${r.svc.unit}${r.running ? '' : ' (not running)'}`);
      if (r === stopOrder[0]) stoppedAt = Date.now();
      sm.stop(r.svc.unit);
    }
    for (const r of all) {
      const db = r.svc.db;
      if (!fs.existsSync(db.live)) continue;
      r.backup = backup(db.live, db.backups, db.prefix);
      say(`${db.label} backed up: ${r.backup.file} (schema ${r.backup.schema}, ${(r.backup.bytes / 1024).toFixed(0)} KiB)`);
      const from = plan.restoreFrom?.[db.key];
      if (from) {
        const loss = describeLoss(newerThan(db.live, from.file, db.tables));
        if (loss) throw new Refused(`the ${db.label} now holds ${loss} that ${from.file} lacks: not put back, not rolled back`);
        const aside = restore(db.live, from.file, db.backups, db.prefix);
        say(`${db.label} put back from ${from.file} (schema ${from.schema}); the one replaced is kept as ${aside}`);
      }
    }
  } catch (err) {
    // Nothing switched: what ran starts again.
    for (const r of startOrder) startUnit(sm, r.svc.unit);
    await releaseHolds();
    throw err;
  }

  const previousBefore = Install.linkVersion(o.app, 'previous');
  const act = Install.activate(o.app, plan.target, { keep });
  say(`switched: current -> releases/${plan.target} (previous -> ${act.was ?? 'none'})${act.removed.length ? `; removed old releases: ${act.removed.join(', ')}` : ''}`);
  const verb = plan.action === 'upgrade' ? 'upgraded' : 'rolled back by hand';
  const okCode = plan.action === 'upgrade' ? EXIT.ok : EXIT.rolledBack;
  const okOutcome = plan.action === 'upgrade' ? 'upgraded' : 'rolled back';
  if (!startOrder.length) {
    const msg = `${verb} to ${plan.target}; ${units.length ? `${units.map((r) => r.svc.unit).join(', ')} not enabled: not started` : 'no qrpos service installed here: nothing to start'}`;
    history(o.app, plan.action, plan.target, plan.from, msg);
    say(msg);
    return done({ outcome: okOutcome, code: okCode, message: msg });
  }

  // --- start and watch ---------------------------------------------------------------------
  const deadline = Date.now() + readyTimeout;
  const watches = new Map<Running, Watch>();
  let failed: { r: Running; w: Watch } | null = null;
  // All start at once (the relay first); then each is watched, under one deadline.
  for (const r of startOrder) {
    say(`starting ${r.svc.unit}; waiting up to ${secs(readyTimeout)} for READY and ${r.svc.name === 'terminal' ? `a healthy status endpoint reporting ${plan.target}` : 'GET /readyz 200'}`);
    startUnit(sm, r.svc.unit);
  }
  for (const r of startOrder) {
    const w = await watchStart(sm, r.svc, plan.target, deadline, readyTimeout);
    watches.set(r, w);
    if (!w.ok) {
      failed = { r, w };
      break;
    }
    say(`${r.svc.unit}: ${w.why} ${secs(w.ms)} after its start`);
  }
  // Sales stopped: from the end of the wait for no sale on screen (or the stop) to healthy.
  const downtime = (Date.now() - (heldAt ?? stoppedAt)) / 1000;
  if (!failed) {
    const msg = `${verb} to ${plan.target} (from ${plan.from}): ${startOrder.map((r) => `${r.svc.unit} ${watches.get(r)!.why}`).join('; ')}; sales stopped for ${downtime.toFixed(1)} s`;
    history(o.app, plan.action, plan.target, plan.from, msg);
    say(msg);
    return done({ outcome: okOutcome, code: okCode, message: msg, downtime });
  }

  // --- the target did not come up: back to what ran --------------------------------------
  const failedAt = Date.now();
  const why = `${failed.r.svc.unit}: ${failed.w.why}`;
  say(`FAILED: ${plan.target}, ${why}${failed.w.sawReady ? ' (it had reached READY)' : ' (it never reached READY)'}`);
  for (const r of stopOrder) {
    say(`stopping ${r.svc.unit}`);
    sm.stop(r.svc.unit);
  }
  // Databases the target migrated: put back only when that loses nothing (see the top of this file).
  const toRestore: { r: Running; schema: number }[] = [];
  for (const r of all) {
    if (!r.backup) continue;
    const now = userVersion(r.svc.db.live);
    if (now <= r.backup.schema) {
      say(`${r.svc.db.label}: schema ${now}${now === r.backup.schema ? ' as before' : ''}: ${plan.from} reads it`);
      continue;
    }
    const reached = watches.get(r)?.sawReady ?? false;
    const loss = describeLoss(newerThan(r.svc.db.live, r.backup.file, r.svc.db.tables));
    if (reached || loss) {
      const because = reached ? `${r.svc.unit} of ${plan.target} reached READY after migrating the ${r.svc.db.label} to schema ${now}` : `the ${r.svc.db.label} (schema ${now}) holds ${loss} the backup lacks`;
      const msg =
        `NOT rolled back: ${plan.target} failed (${why}), but ${because}; ${plan.from} cannot read that ${r.svc.db.label} and putting the backup back could lose money records. ` +
        `${plan.target} stays current and is started again; the ${r.svc.db.label} is untouched. Its backup from before the switch: ${r.backup.file}`;
      history(o.app, `${plan.action}-failed`, plan.target, plan.from, msg);
      say(msg);
      for (const s of startOrder) startUnit(sm, s.svc.unit);
      return done({ outcome: 'failed', code: EXIT.failed, message: msg });
    }
    toRestore.push({ r, schema: now });
  }
  for (const { r, schema } of toRestore) {
    const aside = restore(r.svc.db.live, r.backup!.file, r.svc.db.backups, r.svc.db.prefix);
    const reached = watches.has(r) ? 'never reached READY' : 'was not started';
    say(`${r.svc.db.label}: ${plan.target} had migrated it to schema ${schema} and ${reached}; nothing recorded since the backup: put back ${r.backup!.file} (schema ${r.backup!.schema}); the migrated one is kept as ${aside}`);
  }
  Install.activate(o.app, plan.from, { keep });
  // The failed release is no rollback target: previous points where it did before the switch.
  const prev = previousBefore && previousBefore !== plan.target && fs.existsSync(path.join(Install.releasesDir(o.app), previousBefore)) ? previousBefore : undefined;
  Install.setPrevious(o.app, prev);
  // A new release that failed: nothing runs from it now; kept, it would take the place of a good
  // release when old ones are pruned. (A release rolled back to by hand that failed stays.)
  if (plan.action === 'upgrade') fs.rmSync(path.join(Install.releasesDir(o.app), plan.target), { recursive: true, force: true });
  say(`switched back: current -> releases/${plan.from} (previous -> ${prev ?? 'none'})${plan.action === 'upgrade' ? `; releases/${plan.target} removed (its bundle can be installed again)` : ''}`);
  const backDeadline = Date.now() + readyTimeout;
  const backWhy: string[] = [];
  let backFailed: string | null = null;
  for (const r of startOrder) {
    say(`starting ${r.svc.unit}`);
    startUnit(sm, r.svc.unit);
  }
  for (const r of startOrder) {
    const w = await watchStart(sm, r.svc, plan.from, backDeadline, readyTimeout);
    if (!w.ok) {
      backFailed = `${r.svc.unit}: ${w.why}`;
      break;
    }
    backWhy.push(`${r.svc.unit} ${w.why}`);
  }
  const rollbackSeconds = (Date.now() - failedAt) / 1000;
  if (!backFailed) {
    const msg = `rolled back to ${plan.from}: ${plan.target} failed (${why}); ${backWhy.join('; ')} ${rollbackSeconds.toFixed(1)} s after the failure was seen`;
    history(o.app, 'rollback', plan.from, plan.target, msg);
    say(msg);
    return { outcome: 'rolled back', code: EXIT.rolledBack, message: msg, version: plan.from, from: plan.target, rollback: rollbackSeconds };
  }
  const msg = `rolled back to ${plan.from} after ${plan.target} failed (${why}), but ${plan.from} did not come up either: ${backFailed}. See journalctl -u ${startOrder.map((r) => r.svc.unit).join(' -u ')}`;
  history(o.app, 'rollback-failed', plan.from, plan.target, msg);
  say(msg);
  return { outcome: 'failed', code: EXIT.failed, message: msg, version: plan.from, from: plan.target, rollback: rollbackSeconds };
}

function reportSelfTest(say: (l: string) => void, dir: string, rep: SelfTestReport): void {
  for (const r of rep.results) say(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
  if (!rep.ok) say(`self-test of ${path.basename(dir)} failed`);
}

const NEWER: Record<string, string> = { 'journal-newer': 'journal', 'relay-db-newer': 'relay database' };

function describeSelfTestFailure(version: string, from: string, rep: SelfTestReport): string {
  const newer = rep.results.filter((r) => r.code && NEWER[r.code] && r.schema);
  const others = rep.results.filter((r) => !r.ok && !(r.code && NEWER[r.code]));
  if (newer.length && !others.length) {
    const what = newer.map((r) => `${version} reads ${NEWER[r.code!]} schema ${r.schema!.supports} at most; the ${NEWER[r.code!]} here is at schema ${r.schema!.found}`).join('; ');
    return `${what} (written by a newer release than ${version}). Nothing was changed; ${from} keeps running`;
  }
  const failed = rep.results.filter((r) => !r.ok);
  return `the self-test of ${version} failed (${failed.map((r) => `${r.name}: ${r.detail}`).join('; ')}); nothing was switched, ${from} keeps running`;
}

function refusal(o: DeviceOptions, err: unknown): Outcome {
  if (err instanceof Refused || err instanceof M.ReleaseError || err instanceof FetchError) {
    const msg = `refused: ${err.message}`;
    (o.say ?? ((l: string) => process.stdout.write(`${l}\n`)))(msg);
    return { outcome: 'refused', code: EXIT.refused, message: msg };
  }
  throw err;
}

/** `qrpos upgrade FILE|URL`. */
export async function upgrade(source: string, o: DeviceOptions): Promise<Outcome> {
  const node = o.node ?? process.execPath;
  let unlock: (() => void) | null = null;
  let cleanup: (() => void) | null = null;
  let incoming: string | null = null;
  try {
    const c = context(o);
    const { say } = c;
    const current = Install.linkVersion(o.app, 'current');
    if (!current) throw new Refused(`no current release in ${o.app}: install one first (scripts/setup.sh --bundle FILE)`);
    unlock = lock(o.app);
    say(`qrpos upgrade: ${isUrl(source) ? redactUrl(new URL(source)) : source} (current release ${current}; ${c.services.map((s) => s.name).join(' and ') || 'no terminal or relay config here'})`);
    let file = source;
    if (isUrl(source)) {
      const d = await download(source, { maxBytes: o.maxDownloadBytes });
      cleanup = () => d.cleanup();
      file = d.file;
      say(`downloaded ${(d.bytes / 1e6).toFixed(1)} MB`);
    }
    const here = { arch: process.arch, abi: Number(process.versions.modules), node: process.version };
    const r = await Install.unpackBundle(path.resolve(file), { app: o.app, keys: o.keys, here });
    const version = r.manifest.version;
    if (r.status !== 'unchanged') incoming = r.dir;
    say(`verified: qrpos ${version} for linux-${r.manifest.arch}, signature good, ${r.manifest.count} files as the signed manifest lists them${r.status === 'unchanged' ? ' (already installed, intact)' : ''}`);
    if (version === current) {
      if (r.status === 'unchanged') {
        const msg = `${version} is the current release already: nothing to do`;
        say(msg);
        return { outcome: 'unchanged', code: EXIT.ok, message: msg, version, from: current };
      }
      throw new Refused(`${version} is the current release, but its installed files differ from the bundle: repair it with scripts/setup.sh --bundle ${file}`);
    }
    const dbs = liveDbs(c);
    const copies = [dbs.journal ? 'the journal' : '', dbs.relayDb ? 'the relay database' : ''].filter(Boolean);
    say(`self-test of ${version} with its own code: native modules${c.services.some((s) => s.name === 'terminal') ? ', the terminal config' : ''}${copies.length ? `, a copy of ${copies.join(' and ')} (migrations run on the copy)` : ''}`);
    const rep = selfTest(r.dir, { node, config: c.services.find((s) => s.name === 'terminal')?.config, ...dbs });
    reportSelfTest(say, r.dir, rep);
    if (!rep.ok) throw new Refused(describeSelfTestFailure(version, current, rep));
    if (r.status !== 'unchanged') {
      Install.commitRelease(o.app, r.dir, version);
      incoming = null;
      say(`installed: ${path.join(Install.releasesDir(o.app), version)}`);
    }
    return await switchRelease(c, { target: version, from: current, action: 'upgrade' });
  } catch (err) {
    return refusal(o, err);
  } finally {
    if (incoming) fs.rmSync(incoming, { recursive: true, force: true });
    cleanup?.();
    unlock?.();
  }
}

/** `qrpos rollback`: back to the previous release, by hand, with the same checks and watch. */
export async function rollback(o: DeviceOptions): Promise<Outcome> {
  const node = o.node ?? process.execPath;
  let unlock: (() => void) | null = null;
  try {
    const c = context(o);
    const { say } = c;
    const current = Install.linkVersion(o.app, 'current');
    const previous = Install.linkVersion(o.app, 'previous');
    if (!current) throw new Refused(`no current release in ${o.app}`);
    if (!previous || previous === current) throw new Refused(`no previous release to go back to (${path.join(o.app, 'previous')})`);
    const dir = path.join(Install.releasesDir(o.app), previous);
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) throw new Refused(`the previous release ${previous} is no longer in ${Install.releasesDir(o.app)}`);
    unlock = lock(o.app);
    say(`qrpos rollback: ${current} -> ${previous}`);
    const problems = M.treeProblems(dir, M.parseManifest(fs.readFileSync(path.join(dir, 'manifest.json'))));
    if (problems.length) throw new Refused(`${dir} does not match its manifest (${M.listSome(problems)}): install it again from its bundle`);
    say(`self-test of ${previous} with its own code`);
    const rep = selfTest(dir, { node, config: c.services.find((s) => s.name === 'terminal')?.config, ...liveDbs(c) });
    reportSelfTest(say, dir, rep);
    const restoreFrom: SwitchPlan['restoreFrom'] = {};
    if (!rep.ok) {
      const others = rep.results.filter((r) => !r.ok && !(r.code && NEWER[r.code]));
      if (others.length) throw new Refused(describeSelfTestFailure(previous, current, rep));
      for (const r of rep.results.filter((x) => x.code && NEWER[x.code] && x.schema)) {
        const svc = c.services.find((s) => `${s.db.key}-newer` === r.code)!;
        const supports = r.schema!.supports;
        const b = listBackups(svc.db.backups, svc.db.prefix).find((x) => x.schema <= supports);
        if (!b) throw new Refused(`${previous} reads ${svc.db.label} schema ${supports} at most and it is at ${r.schema!.found}; there is no backup at schema ≤ ${supports} in ${svc.db.backups}. Not rolled back`);
        const loss = describeLoss(newerThan(svc.db.live, b.file, svc.db.tables));
        if (loss) {
          throw new Refused(
            `${previous} reads ${svc.db.label} schema ${supports} at most; it is at ${r.schema!.found} and holds ${loss} made since the newest backup ${previous} could read ` +
              `(${b.file}): putting that back would lose them. Not rolled back, nothing changed`,
          );
        }
        say(`${previous} needs ${svc.db.label} schema ≤ ${supports}: ${b.file} will be put back (nothing recorded since it)`);
        restoreFrom[svc.db.key] = b;
      }
    }
    return await switchRelease(c, { target: previous, from: current, action: 'rollback', restoreFrom });
  } catch (err) {
    return refusal(o, err);
  } finally {
    unlock?.();
  }
}
