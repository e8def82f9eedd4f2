/**
 * Fleet updates on the terminal. Every few minutes (and when asked) it asks its relay which
 * release it should run; when that differs from its own version it downloads the bundle over
 * the authenticated link only (never from an address anyone else names) into its spool, checks
 * the SHA-256 the relay gave and the bundle's signature with the release keys (the code
 * `qrpos upgrade` runs), and, while no sale is on screen, drops it into the spool's ready/
 * folder. The terminal runs unprivileged and sandboxed: systemd's qrpos-upgrade.path sees the
 * file and qrpos-upgrade.service runs `qrpos upgrade` on it as root (which holds sales, switches,
 * restarts and rolls back by itself), then writes the outcome into outcome/. Whichever release
 * runs afterwards (the new one, or the old one after a rollback) reads that file and reports it
 * to the relay.
 *
 * A sale always wins: a download starts only after the counter has been quiet for a while
 * (`quietMs`), and any key or any change of screen stops it at once (and the check of a
 * downloaded bundle, which is heavy on a small Pi's CPU). The part downloaded stays; once the
 * terminal is idle and quiet again it goes on where it stopped (HTTP Range, If-Range naming the
 * bundle's SHA-256, so the rest is of the same bytes), without waiting for the next check.
 *
 * Spool (<dataDir>/upgrades, the terminal user's, 0700):
 *   incoming/<stem>-<sha>.part   a download in progress (or paused), then verified
 *   ready/<stem>.tar.gz      handed to the upgrader (qrpos-upgrade.path watches this folder)
 *   outcome/<name>.txt       written by the upgrader: key=value lines, `---`, then its output
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ReleaseOffer, ReleaseReport, UpgradeOutcome } from '../link/protocol';
import { ReleaseReportSchema, UPGRADE_OUTCOMES } from '../link/protocol';
/**
 * The release verification code (src/release/lib.ts → scripts/release/lib), loaded on first use:
 * it finds its files from where the program runs, and a terminal that never gets an update never
 * pays for loading it at start.
 */
function releaseLib(): Promise<typeof import('../release/lib')> {
  return import('../release/lib.js');
}
import type { Logger } from '../shared/log';
import { printable } from '../shared/printable';
import { RelayError, type RelayHttp } from './relay-http';

export const DEFAULT_CHECK_MS = 5 * 60_000;
/** How often the outcome folder is looked at (a file appears after the upgrader's restart). */
const OUTCOME_SCAN_MS = 15_000;
/** While a sale is on screen, a download or a verified bundle waits; the screen is looked at this often. */
const BUSY_RETRY_MS = 5_000;
const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;
/** How long the counter must be quiet (no key, no change of screen) before a download (re)starts. */
export const DEFAULT_QUIET_MS = 30_000;

/** `paused`: a download (or the check of a downloaded bundle) stopped for a sale; it goes on by itself. */
export type CheckResult = 'unpaired' | 'none' | 'current' | 'ready' | 'busy' | 'paused' | 'refused' | 'failed';

export interface UpdaterOptions {
  http: Pick<RelayHttp, 'releaseOffer' | 'reportRelease' | 'downloadBundle'>;
  /** <dataDir>/upgrades */
  spoolDir: string;
  /** This program's version (what the relay's offer is compared with). */
  version: string;
  /** Node's name of this machine's architecture (default process.arch). */
  arch?: string;
  /** Release public keys (default: the running release's scripts/release/release-key.pub). */
  keysFile?: string;
  /** No sale on screen and sales not held: a bundle may be handed over now. */
  isIdle: () => boolean;
  paired: () => boolean;
  log: Logger;
  /** How often to ask the relay (default 5 min); 0: only when checkNow() is called. */
  checkMs?: number;
  /** Also checked against the bundle's manifest (Node ABI); null skips (tests of another machine). */
  here?: { arch: string; abi: number; node: string } | null;
  /** Quiet time before a download starts or goes on (default DEFAULT_QUIET_MS). */
  quietMs?: number;
  clock?: () => number;
}

export function spoolPaths(spoolDir: string): { incoming: string; ready: string; outcome: string } {
  return { incoming: path.join(spoolDir, 'incoming'), ready: path.join(spoolDir, 'ready'), outcome: path.join(spoolDir, 'outcome') };
}

/** An outcome file the upgrader left, read as a report (undefined: not one). */
export function parseOutcomeFile(text: string): ReleaseReport | undefined {
  const sep = text.indexOf('\n---');
  const head = sep >= 0 ? text.slice(0, sep) : text;
  const body = sep >= 0 ? text.slice(text.indexOf('\n', sep + 1) + 1) : '';
  const kv = new Map<string, string>();
  for (const line of head.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const outcome = kv.get('outcome') as UpgradeOutcome | undefined;
  if (!outcome || !UPGRADE_OUTCOMES.includes(outcome)) return undefined;
  // The upgrader's last lines, on one line, printable, bounded.
  const lines = body
    .split('\n')
    .map((l) => printable(l).trim())
    .filter(Boolean);
  let detail = lines.slice(-4).join(' | ');
  if (detail.length > 900) detail = `…${detail.slice(-899)}`;
  const exit = kv.get('exit');
  if (exit && !detail) detail = `qrpos upgrade exit ${exit}`;
  const r = ReleaseReportSchema.safeParse({ version: kv.get('version'), outcome, ...(detail ? { detail } : {}) });
  return r.success ? r.data : undefined;
}

export class Updater {
  private timer: NodeJS.Timeout | null = null;
  private scanTimer: NodeJS.Timeout | null = null;
  private running = false;
  private busy: Promise<CheckResult> | null = null;
  /** Bundles (by SHA-256) refused here: not downloaded again until the relay offers other bytes. */
  private readonly refused = new Set<string>();
  private readonly paths: ReturnType<typeof spoolPaths>;
  private readonly arch: string;
  private readonly now: () => number;
  private readonly quietMs: number;
  /** The download or check under way (aborted by activity()). */
  private working: AbortController | null = null;
  /** A download stopped for a sale, waiting for the counter to be quiet. */
  private paused = false;
  private resumeTimer: NodeJS.Timeout | null = null;
  private lastActivity = -Infinity;
  lastResult: CheckResult | null = null;
  /** The last download: where it started (0, or the bytes kept from a paused one) and its size. */
  lastDownload: { resumedFrom: number; bytes: number } | null = null;

  constructor(private readonly o: UpdaterOptions) {
    this.paths = spoolPaths(o.spoolDir);
    this.arch = o.arch ?? process.arch;
    this.now = o.clock ?? Date.now;
    this.quietMs = o.quietMs ?? DEFAULT_QUIET_MS;
  }

  /**
   * The counter is in use (a key, a change of screen): a download or check under way stops now
   * and goes on once the terminal has been idle for quietMs.
   */
  activity(): void {
    this.lastActivity = this.now();
    if (this.working && !this.working.signal.aborted) {
      this.o.log.info('release download paused: the terminal is in use (it goes on when the counter is quiet)');
      this.working.abort();
    }
    if (this.working || this.paused) this.armResume(this.quietMs);
  }

  private quiet(): boolean {
    return this.o.isIdle() && this.now() - this.lastActivity >= this.quietMs;
  }

  private armResume(ms: number): void {
    if (!this.running) return;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      if (!this.paused && !this.working) return;
      // Keys since (wait out the rest of the quiet time), or a sale on screen with no key while its
      // QR waits (look again now and then; its end is a change of screen, which re-arms this).
      if (!this.quiet()) {
        const left = this.lastActivity + this.quietMs - this.now();
        return this.armResume(this.o.isIdle() && left > 0 ? left : Math.min(Math.max(this.quietMs, 50), BUSY_RETRY_MS));
      }
      void this.checkNow();
    }, ms);
    this.resumeTimer.unref();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(Math.min(this.o.checkMs ?? DEFAULT_CHECK_MS, 30_000));
    this.scanTimer = setInterval(() => void this.reportOutcomes(), OUTCOME_SCAN_MS);
    this.scanTimer.unref();
    void this.reportOutcomes();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.scanTimer) clearInterval(this.scanTimer);
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.timer = null;
    this.scanTimer = null;
    this.resumeTimer = null;
    this.working?.abort();
    await this.busy?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    const every = this.o.checkMs ?? DEFAULT_CHECK_MS;
    if (!this.running || every === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.checkNow().then(() => this.schedule(every));
    }, ms);
    this.timer.unref();
  }

  /** Asks the relay now and acts on its answer (one check at a time). */
  checkNow(): Promise<CheckResult> {
    this.busy ??= this.check()
      .catch((err: unknown): CheckResult => {
        this.o.log.warn('release check failed; will try again', { error: (err as Error).message });
        return 'failed';
      })
      .then((r) => {
        this.lastResult = r;
        // Stopped for a sale, or waiting for one to end: the resume timer looks (locally, without
        // asking the relay) for the counter to be quiet, then checks again.
        this.paused = r === 'paused' || r === 'busy';
        if (this.paused) this.armResume(Math.max(0, this.lastActivity + this.quietMs - this.now()));
        return r;
      })
      .finally(() => {
        this.busy = null;
      });
    return this.busy;
  }

  private mkdirs(): void {
    for (const d of [this.o.spoolDir, this.paths.incoming, this.paths.ready, this.paths.outcome]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  private async check(): Promise<CheckResult> {
    const { log } = this.o;
    if (!this.o.paired()) return 'unpaired';
    // What the upgrader left is reported first: the relay offers a version that failed here
    // until it hears so, and a release the new start rolled back would otherwise be fetched and
    // tried a second time (seen in the booted test, scripts/release/upgrade-nspawn.sh).
    await this.reportOutcomes();
    const { release } = await this.o.http.releaseOffer(this.arch);
    if (!release || release.arch !== this.arch) return 'none';
    this.mkdirs();
    const stem = `qrpos-${release.version}-linux-${release.arch}`;
    const readyFile = path.join(this.paths.ready, `${stem}.tar.gz`);
    if (release.version === this.o.version) {
      this.clearReady();
      return 'current';
    }
    if (fs.existsSync(readyFile)) return 'ready';
    if (this.refused.has(release.sha256)) return 'refused';
    // Named by the bytes: a partial download goes on only towards the same bundle.
    const part = path.join(this.paths.incoming, `${stem}-${release.sha256.slice(0, 16)}.part`);
    if (!this.verified(part, release)) {
      // Downloads start only with no sale on screen and the counter quiet for a while.
      if (!this.quiet()) return 'busy';
      this.clearIncoming(path.basename(part));
      const work = new AbortController();
      this.working = work;
      try {
        const outcome = await this.fetchAndVerify(part, release, work.signal);
        if (outcome) return outcome;
      } finally {
        this.working = null;
      }
      this.verifiedSha = release.sha256;
    }
    // Handed over only with no sale on screen (the upgrade itself holds new sales, too).
    if (!this.o.isIdle()) return 'busy';
    this.clearReady();
    fs.renameSync(part, readyFile);
    log.info('release verified and handed to the upgrader', { version: release.version, file: readyFile });
    return 'ready';
  }

  private verifiedSha: string | null = null;

  /**
   * Downloads (or goes on downloading) the bundle into `part` and checks it. Undefined: verified;
   * 'paused': stopped by activity(), the part kept; 'refused': not the bundle announced.
   */
  private async fetchAndVerify(part: string, release: Release, signal: AbortSignal): Promise<CheckResult | undefined> {
    const { log } = this.o;
    let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
    if (have > release.size) {
      fs.rmSync(part, { force: true });
      have = 0;
    }
    let got: { bytes: number; sha256: string };
    if (have === release.size) {
      // Downloaded before; its check was what stopped.
      got = { bytes: have, sha256: await sha256Of(part) };
    } else {
      log.info(have ? 'going on with the download of a release the relay rolled out' : 'downloading a release the relay rolled out', { version: release.version, bytes: release.size, ...(have ? { from: have } : {}) });
      try {
        const r = await this.o.http.downloadBundle(release.version, release.arch, part, {
          maxBytes: Math.min(MAX_BUNDLE_BYTES, release.size),
          timeoutMs: 30 * 60_000,
          signal,
          resume: { sha256: release.sha256 },
        });
        this.lastDownload = { resumedFrom: r.resumedFrom, bytes: r.bytes };
        got = r;
      } catch (err) {
        if (signal.aborted) return 'paused';
        // A broken connection keeps what arrived (the next try goes on from there).
        if (!(err instanceof RelayError && err.code === 'unreachable')) fs.rmSync(part, { force: true });
        if (err instanceof RelayError && err.code === 'too_large') return this.refuse(release, `the relay sent more than the ${release.size} bytes it announced`);
        throw err;
      }
    }
    if (got.bytes !== release.size || got.sha256 !== release.sha256) {
      fs.rmSync(part, { force: true });
      return this.refuse(release, `the download (${got.bytes} bytes, SHA-256 ${got.sha256.slice(0, 12)}…) is not the bundle the relay announced (${release.size} bytes, ${release.sha256.slice(0, 12)}…)`);
    }
    try {
      await this.verify(part, release, signal);
    } catch (err) {
      if (signal.aborted) return 'paused';
      fs.rmSync(part, { force: true });
      return this.refuse(release, (err as Error).message);
    }
    return undefined;
  }

  private verified(part: string, release: Release): boolean {
    return this.verifiedSha === release.sha256 && fs.existsSync(part);
  }

  /** The signature and every file of the bundle, with the code `qrpos upgrade` runs. */
  private async verify(file: string, release: Release, signal: AbortSignal): Promise<void> {
    const { Install, M, RELEASE_DIR } = await releaseLib();
    const keys = M.loadPublicKeys(this.o.keysFile ?? path.join(RELEASE_DIR, 'release-key.pub'));
    const here = this.o.here === undefined ? { arch: process.arch, abi: Number(process.versions.modules), node: process.version } : this.o.here;
    const { manifest } = await Install.readBundle(file, { keys, here, signal });
    if (manifest.version !== release.version || manifest.arch !== release.arch) {
      throw new Error(`the bundle is qrpos ${manifest.version} for linux-${manifest.arch}, the relay announced ${release.version} for linux-${release.arch}`);
    }
  }

  private async refuse(release: Release, why: string): Promise<CheckResult> {
    this.refused.add(release.sha256);
    const detail = printable(why).replace(/\s+/g, ' ').slice(0, 900);
    this.o.log.error('release refused: not handed to the upgrader', { version: release.version, reason: detail });
    try {
      await this.o.http.reportRelease({ version: release.version, outcome: 'refused', detail: `refused by the terminal: ${detail}` });
    } catch (err) {
      this.o.log.warn('could not report the refused release', { error: (err as Error).message });
    }
    return 'refused';
  }

  private clearReady(): void {
    for (const f of safeList(this.paths.ready)) fs.rmSync(path.join(this.paths.ready, f), { force: true });
  }

  /** Removes what is in incoming/ except `keep` (a partial download of the bundle wanted now). */
  private clearIncoming(keep: string): void {
    for (const f of safeList(this.paths.incoming)) if (f !== keep) fs.rmSync(path.join(this.paths.incoming, f), { force: true });
  }

  private reporting: Promise<number> | null = null;

  /**
   * Sends what the upgrader left in outcome/ (a file is removed once the relay has it). Returns
   * how many. One sending at a time (the timer and a check may ask together): a file is sent once.
   */
  reportOutcomes(): Promise<number> {
    this.reporting ??= this.sendOutcomes().finally(() => {
      this.reporting = null;
    });
    return this.reporting;
  }

  private async sendOutcomes(): Promise<number> {
    if (!this.o.paired()) return 0;
    let sent = 0;
    for (const name of safeList(this.paths.outcome)) {
      if (!name.endsWith('.txt')) continue;
      const file = path.join(this.paths.outcome, name);
      let text: string;
      try {
        const st = fs.lstatSync(file);
        if (!st.isFile() || st.size > 256 * 1024) {
          fs.rmSync(file, { force: true });
          continue;
        }
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const report = parseOutcomeFile(text);
      if (!report) {
        this.o.log.warn('an upgrade outcome file could not be read; removed', { file });
        fs.rmSync(file, { force: true });
        continue;
      }
      try {
        await this.o.http.reportRelease(report);
      } catch (err) {
        if (err instanceof RelayError && (err.retryable || err.status === 401)) {
          this.o.log.debug('upgrade outcome not reported yet; will retry', { error: err.message });
          return sent;
        }
        this.o.log.warn('the relay refused an upgrade outcome; removed', { file, error: (err as Error).message });
      }
      fs.rmSync(file, { force: true });
      this.o.log.info('upgrade outcome reported', { version: report.version, outcome: report.outcome });
      sent++;
    }
    return sent;
  }
}

type Release = NonNullable<ReleaseOffer['release']>;

async function sha256Of(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}
