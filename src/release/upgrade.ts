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
import os from 'node:os';
import path from 'node:path';
import { backup, describeLoss, journalNewerThan, listBackups, restore, snapshot, userVersion, type Backup, type BackupFile } from './databases';
import { download, isUrl, redactUrl } from './fetch';
import { Install, M, type PublicKey } from './lib';
import { statusClient, type EndpointAnswer, type StatusClient } from './status-client';
import type { ServiceManager, UnitState } from './systemd';

export const EXIT = { ok: 0, refused: 1, usage: 2, rolledBack: 3, failed: 4 } as const;

export interface DeviceOptions {
  /** /opt/qrpos */
  app: string;
  /** /etc/qrpos/terminal.json */
  config: string;
  /** qrpos-terminal */
  unit: string;
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
  /** Seconds: service stopped → new release READY and healthy (sales interrupted). */
  downtime?: number;
  /** Seconds: failure seen → previous release READY and healthy. */
  rollback?: number;
}

export class Refused extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface TerminalSide {
  statusListen: string;
  dataDir: string;
  journal: string;
  backups: string;
}

/** The terminal's paths from its config (read as JSON: the switch must not depend on parsing it the new way). */
export function terminalSide(configFile: string): TerminalSide | null {
  let raw: { statusListen?: unknown; dataDir?: unknown };
  try {
    raw = JSON.parse(fs.readFileSync(configFile, 'utf8').replace(/^\uFEFF/, '')) as typeof raw;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Refused(`cannot read ${configFile}: ${(err as Error).message}`);
  }
  const dataDir = typeof raw.dataDir === 'string' ? raw.dataDir : '/var/lib/qrpos';
  return {
    statusListen: typeof raw.statusListen === 'string' ? raw.statusListen : '127.0.0.1:7601',
    dataDir,
    journal: path.join(dataDir, 'journal.sqlite'),
    backups: path.join(dataDir, 'backups'),
  };
}

export interface SelfTestReport {
  ok: boolean;
  results: { name: string; ok: boolean; detail: string; code?: string; schema?: { found: number; supports: number; after?: number } }[];
  raw: string;
}

/**
 * Runs <release>/scripts/release/selftest.cjs with that release's own code against copies of the
 * config and journal in a scratch folder: the live files are only read (a consistent snapshot).
 */
export function selfTest(releaseDir: string, o: { node: string; config?: string; journal?: string }): SelfTestReport {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-selftest-'));
  try {
    fs.chmodSync(work, 0o700);
    const args = [path.join(releaseDir, 'scripts', 'release', 'selftest.cjs'), '--json'];
    if (o.config && fs.existsSync(o.config)) {
      const copy = path.join(work, 'terminal.json');
      fs.copyFileSync(o.config, copy);
      args.push('--config', copy);
    }
    if (o.journal && fs.existsSync(o.journal)) {
      const copy = path.join(work, 'journal.sqlite');
      snapshot(o.journal, copy);
      args.push('--journal', copy);
    }
    const r = spawnSync(o.node, args, { cwd: work, encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: work } });
    const raw = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    try {
      const parsed = JSON.parse(r.stdout) as { ok: boolean; results: SelfTestReport['results'] };
      // The copies are gone when this returns: name the files they were made from.
      const named = (text: string) => text.split(path.join(work, 'terminal.json')).join(`${o.config} (a copy)`).split(path.join(work, 'journal.sqlite')).join(`${o.journal} (a copy)`);
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
  term: TerminalSide | null;
  client: StatusClient | null;
  /** The unit is installed (loaded): known once the switch begins. */
  unitLoaded: boolean;
}

function context(o: DeviceOptions): Ctx {
  const t0 = Date.now();
  const say = (line: string) => (o.say ?? ((l: string) => process.stdout.write(`${l}\n`)))(`[${secs(Date.now() - t0).padStart(6)}] ${line}`);
  const term = terminalSide(o.config);
  return { o, say, term, client: term ? statusClient(term.statusListen) : null, unitLoaded: false };
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
      else canHold = r?.status === 200;
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
 * Waits for the unit to be active (READY), its status endpoint to report `version` and GET /ready
 * to answer 200. Fails early when the service fails, exits (systemd restarts it) or reports a
 * problem it cannot get past (the fatal state), and after timeoutMs.
 */
export async function watchStart(c: Ctx, version: string, timeoutMs: number): Promise<Watch> {
  const { sm, unit } = c.o;
  const start = Date.now();
  let sawReady = false;
  let firstPid = 0;
  let baseRestarts = -1;
  let last = 'not started yet';
  const fail = (why: string): Watch => ({ ok: false, why, sawReady, ms: Date.now() - start });
  while (Date.now() - start < timeoutMs) {
    const st = sm.show(unit);
    if (baseRestarts < 0 && (st.activeState === 'activating' || st.activeState === 'active')) baseRestarts = st.nRestarts;
    if (st.activeState === 'failed') return fail(`the service failed (${st.result}${st.statusText ? `: ${st.statusText}` : ''})`);
    if (st.subState === 'auto-restart' || (baseRestarts >= 0 && st.nRestarts > baseRestarts)) return fail(`the service exited (${st.result}) and systemd is restarting it`);
    if (st.mainPid) {
      if (!firstPid) firstPid = st.mainPid;
      else if (st.mainPid !== firstPid) return fail('the service process exited and another one started');
    }
    if (st.activeState === 'active') {
      sawReady = true;
      if (!c.client) return { ok: true, why: 'READY', sawReady, ms: Date.now() - start };
      try {
        const s = await c.client.get('/status');
        const v = s.body?.version;
        if (v === version && s.body?.state === 'fatal') {
          const p = s.body.problem as { title?: string; reason?: string[] } | undefined;
          return fail(`it started but cannot sell: ${p?.title ?? 'problem'}${p?.reason?.length ? `: ${p.reason.join(' ')}` : ''}`);
        }
        if (v !== version) last = `the status endpoint reports version ${String(v)}`;
        else {
          const r = await c.client.get('/ready');
          if (r.status === 200) return { ok: true, why: 'READY, GET /ready 200', sawReady, ms: Date.now() - start };
          last = `GET /ready: ${r.status} ${String(r.body?.reason ?? '')}`;
        }
      } catch (err) {
        last = `status endpoint: ${(err as Error).message}`;
      }
    } else last = `${st.activeState}/${st.subState}`;
    await sleep(200);
  }
  return fail(`not READY and healthy within ${secs(timeoutMs)} (last: ${last})`);
}

function startUnit(c: Ctx): void {
  c.o.sm.resetFailed(c.o.unit);
  c.o.sm.start(c.o.unit);
}

interface SwitchPlan {
  target: string;
  from: string;
  action: 'upgrade' | 'rollback';
  /** A backup the target needs in place of the live journal (a rollback past a migration). */
  restoreFrom?: BackupFile;
}

/** Hold, stop, back up, switch, start, watch; on failure switch back. */
async function switchRelease(c: Ctx, plan: SwitchPlan): Promise<Outcome> {
  const { o, say, term } = c;
  const readyTimeout = o.readyTimeoutMs ?? 60_000;
  const keep = o.keep ?? 3;
  // The first call to systemd: everything before it (download, checks, self-test) needs none.
  const before = o.sm.show(o.unit);
  c.unitLoaded = before.loadState === 'loaded';
  const running = c.unitLoaded && isUp(before);
  // Started again after the switch when it ran, or is enabled (a stopped terminal stays stopped).
  const startAfter = running || (c.unitLoaded && o.sm.isEnabled(o.unit));

  let releaseHold: () => Promise<void> = async () => undefined;
  if (running && c.client && !o.noHold) releaseHold = await holdSales(c.client, { reason: `${plan.action} to ${plan.target}`, waitMs: o.holdWaitMs ?? 300_000, say });

  const journal = term && fs.existsSync(term.journal) ? term.journal : null;
  let stoppedAt = Date.now();
  let bk: Backup | null = null;
  let schemaBefore: number | null = null;
  try {
    if (c.unitLoaded) {
      say(`stopping ${o.unit}${running ? '' : ' (not running)'}`);
      stoppedAt = Date.now();
      o.sm.stop(o.unit);
    }
    if (journal && term) {
      bk = backup(journal, term.backups, 'journal');
      schemaBefore = bk.schema;
      say(`journal backed up: ${bk.file} (schema ${bk.schema}, ${(bk.bytes / 1024).toFixed(0)} KiB)`);
      if (plan.restoreFrom) {
        const loss = describeLoss(journalNewerThan(journal, plan.restoreFrom.file));
        if (loss) throw new Refused(`the journal now holds ${loss} that ${plan.restoreFrom.file} lacks: not put back, not rolled back`);
        const aside = restore(journal, plan.restoreFrom.file, term.backups, 'journal');
        say(`journal put back from ${plan.restoreFrom.file} (schema ${plan.restoreFrom.schema}); the one replaced is kept as ${aside}`);
      }
    }
  } catch (err) {
    // Nothing switched: the release that ran starts again.
    if (c.unitLoaded && startAfter) startUnit(c);
    await releaseHold();
    throw err;
  }

  const act = Install.activate(o.app, plan.target, { keep });
  say(`switched: current -> releases/${plan.target} (previous -> ${act.was ?? 'none'})${act.removed.length ? `; removed old releases: ${act.removed.join(', ')}` : ''}`);
  if (!startAfter) {
    const msg = `${plan.action === 'upgrade' ? 'upgraded' : 'rolled back'} to ${plan.target}; ${o.unit} ${c.unitLoaded ? 'is not enabled: not started' : 'is not installed'}`;
    history(o.app, plan.action, plan.target, plan.from, msg);
    say(msg);
    return { outcome: plan.action === 'upgrade' ? 'upgraded' : 'rolled back', code: plan.action === 'upgrade' ? EXIT.ok : EXIT.rolledBack, message: msg, version: plan.target, from: plan.from };
  }
  say(`starting ${o.unit}; waiting up to ${secs(readyTimeout)} for READY and a healthy status endpoint reporting ${plan.target}`);
  startUnit(c);
  const w = await watchStart(c, plan.target, readyTimeout);
  const downtime = (Date.now() - stoppedAt) / 1000;
  if (w.ok) {
    const msg = `${plan.action === 'upgrade' ? 'upgraded' : 'rolled back by hand'} to ${plan.target} (from ${plan.from}): ${w.why} ${secs(w.ms)} after the start; sales stopped for ${downtime.toFixed(1)} s`;
    history(o.app, plan.action, plan.target, plan.from, msg);
    say(msg);
    return { outcome: plan.action === 'upgrade' ? 'upgraded' : 'rolled back', code: plan.action === 'upgrade' ? EXIT.ok : EXIT.rolledBack, message: msg, version: plan.target, from: plan.from, downtime };
  }

  // --- the target did not come up: back to what ran --------------------------------------
  const failedAt = Date.now();
  say(`FAILED: ${plan.target} ${w.why}${w.sawReady ? ' (it had reached READY)' : ' (it never reached READY)'}`);
  say(`stopping ${o.unit}`);
  o.sm.stop(o.unit);
  if (journal && term && bk && schemaBefore !== null) {
    const now = userVersion(journal);
    if (now > schemaBefore) {
      const loss = describeLoss(journalNewerThan(journal, bk.file));
      if (w.sawReady || loss) {
        const why = w.sawReady ? `${plan.target} reached READY after migrating the journal to schema ${now}` : `the journal (schema ${now}) holds ${loss} the backup lacks`;
        const msg =
          `NOT rolled back: ${plan.target} failed (${w.why}), but ${why}; ${plan.from} cannot read that journal and putting the backup back could lose money records. ` +
          `${plan.target} stays current and is started again; the journal is untouched. Backup of the journal before the switch: ${bk.file}`;
        history(o.app, `${plan.action}-failed`, plan.target, plan.from, msg);
        say(msg);
        startUnit(c);
        return { outcome: 'failed', code: EXIT.failed, message: msg, version: plan.target, from: plan.from };
      }
      const aside = restore(journal, bk.file, term.backups, 'journal');
      say(`journal: ${plan.target} had migrated it to schema ${now} and never reached READY; no sale or refund since the backup: put back ${bk.file} (schema ${schemaBefore}); the migrated one is kept as ${aside}`);
    } else say(`journal: schema ${now}${now === schemaBefore ? ' as before' : ''}: ${plan.from} reads it`);
  }
  Install.activate(o.app, plan.from, { keep });
  say(`switched back: current -> releases/${plan.from}; starting ${o.unit}`);
  startUnit(c);
  const back = await watchStart(c, plan.from, readyTimeout);
  const rollbackSeconds = (Date.now() - failedAt) / 1000;
  if (back.ok) {
    const msg = `rolled back to ${plan.from}: ${plan.target} ${w.why}; ${plan.from} ${back.why} ${rollbackSeconds.toFixed(1)} s after the failure was seen`;
    history(o.app, 'rollback', plan.from, plan.target, msg);
    say(msg);
    return { outcome: 'rolled back', code: EXIT.rolledBack, message: msg, version: plan.from, from: plan.target, rollback: rollbackSeconds };
  }
  const msg = `rolled back to ${plan.from} after ${plan.target} ${w.why}, but ${plan.from} did not come up either: ${back.why}. See journalctl -u ${o.unit}`;
  history(o.app, 'rollback-failed', plan.from, plan.target, msg);
  say(msg);
  return { outcome: 'failed', code: EXIT.failed, message: msg, version: plan.from, from: plan.target, rollback: rollbackSeconds };
}

function reportSelfTest(say: (l: string) => void, dir: string, rep: SelfTestReport): void {
  for (const r of rep.results) say(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
  if (!rep.ok) say(`self-test of ${path.basename(dir)} failed`);
}

function describeSelfTestFailure(version: string, from: string, rep: SelfTestReport): string {
  const newer = rep.results.find((r) => r.code === 'journal-newer');
  if (newer?.schema) {
    return `${version} reads journal schema ${newer.schema.supports} at most; the journal here is at schema ${newer.schema.found} (written by a newer release than ${version}). Nothing was changed; ${from} keeps running`;
  }
  const failed = rep.results.filter((r) => !r.ok);
  return `the self-test of ${version} failed (${failed.map((r) => `${r.name}: ${r.detail}`).join('; ')}); nothing was switched, ${from} keeps running`;
}

/** `qrpos upgrade FILE|URL`. */
export async function upgrade(source: string, o: DeviceOptions): Promise<Outcome> {
  const node = o.node ?? process.execPath;
  let c: Ctx;
  let unlock: (() => void) | null = null;
  let cleanup: (() => void) | null = null;
  let incoming: string | null = null;
  try {
    c = context(o);
    const { say } = c;
    const current = Install.linkVersion(o.app, 'current');
    if (!current) throw new Refused(`no current release in ${o.app}: install one first (scripts/setup.sh --bundle FILE)`);
    unlock = lock(o.app);
    say(`qrpos upgrade: ${isUrl(source) ? redactUrl(new URL(source)) : source} (current release ${current})`);
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
    say(`self-test of ${version} with its own code: native modules, the config${c.term && fs.existsSync(c.term.journal) ? ', a copy of the journal (migrations run on the copy)' : ''}`);
    const rep = selfTest(r.dir, { node, config: o.config, journal: c.term?.journal });
    reportSelfTest(say, r.dir, rep);
    if (!rep.ok) throw new Refused(describeSelfTestFailure(version, current, rep));
    if (r.status !== 'unchanged') {
      Install.commitRelease(o.app, r.dir, version);
      incoming = null;
      say(`installed: ${path.join(Install.releasesDir(o.app), version)}`);
    }
    return await switchRelease(c, { target: version, from: current, action: 'upgrade' });
  } catch (err) {
    if (err instanceof Refused || err instanceof M.ReleaseError || (err as Error).name === 'FetchError') {
      const msg = `refused: ${(err as Error).message}`;
      (o.say ?? ((l: string) => process.stdout.write(`${l}\n`)))(msg);
      return { outcome: 'refused', code: EXIT.refused, message: msg };
    }
    throw err;
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
    const rep = selfTest(dir, { node, config: o.config, journal: c.term?.journal });
    reportSelfTest(say, dir, rep);
    let restoreFrom: BackupFile | undefined;
    if (!rep.ok) {
      const newer = rep.results.find((r) => r.code === 'journal-newer');
      const others = rep.results.filter((r) => !r.ok && r.code !== 'journal-newer');
      if (!newer?.schema || others.length || !c.term) throw new Refused(describeSelfTestFailure(previous, current, rep));
      const supports = newer.schema.supports;
      const candidates = listBackups(c.term.backups, 'journal').filter((b) => b.schema <= supports);
      if (!candidates.length) {
        throw new Refused(`${previous} reads journal schema ${supports} at most and the journal is at ${newer.schema.found}; there is no backup at schema ≤ ${supports} in ${c.term.backups}. Not rolled back`);
      }
      const b = candidates[0];
      const loss = describeLoss(journalNewerThan(c.term.journal, b.file));
      if (loss) {
        throw new Refused(
          `${previous} reads journal schema ${supports} at most; the journal is at ${newer.schema.found} and holds ${loss} ` +
            `made since the newest backup it could read (${b.file}): putting that back would lose them. Not rolled back, nothing changed`,
        );
      }
      say(`${previous} needs journal schema ≤ ${supports}: ${b.file} will be put back (no sale, refund or Z report since it)`);
      restoreFrom = b;
    }
    return await switchRelease(c, { target: previous, from: current, action: 'rollback', restoreFrom });
  } catch (err) {
    if (err instanceof Refused || err instanceof M.ReleaseError) {
      const msg = `refused: ${(err).message}`;
      (o.say ?? ((l: string) => process.stdout.write(`${l}\n`)))(msg);
      return { outcome: 'refused', code: EXIT.refused, message: msg };
    }
    throw err;
  } finally {
    unlock?.();
  }
}
