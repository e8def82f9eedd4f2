/**
 * Fleet updates on the relay: the operator uploads signed release bundles (verified with the
 * same code a device runs before the relay keeps them), rolls a version out to every terminal,
 * a list of them or a stable share; each terminal asks which release it should run, downloads
 * that bundle over its authenticated link only, and reports how its upgrade ended.
 *
 * Bundles live in <dataDir>/releases/qrpos-<version>-linux-<arch>.tar.gz (0640); what is known
 * about them, the rollouts and the reports are in the store. A version is immutable: the same
 * version and architecture uploaded again must be the same bytes.
 *
 * Old bundles go (`releases remove`, and the retention rule after each upload and at start: the
 * `keep` newest versions stay, and every version a live rollout still targets). The row goes
 * first, then the file: a crash in between leaves a file no row names, deleted at the next start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReleaseArchSchema, type ReleaseOffer, type ReleaseReport, type UpgradeOutcome } from '../link/protocol';
import { Install, M, RELEASE_DIR, type PublicKey } from '../release/lib';
import type { Logger } from '../shared/log';
import type { TerminalSummary } from './admin';
import { LinkError } from './errors';
import type { ReleaseRow, RelayStore, RolloutRow, RolloutTarget, TerminalRow, UpgradeReportRow } from './store';

/** The public keys of the running release: what the devices it installs trust too. */
export const SHIPPED_RELEASE_KEYS = path.join(RELEASE_DIR, 'release-key.pub');

/** A terminal's place (0–99) in percentage rollouts: stable, from its id alone, so 10 % then 50 % is a superset. */
export function rolloutBucket(terminalId: string): number {
  return crypto.createHash('sha256').update(terminalId).digest().readUInt32BE(0) % 100;
}

export function targets(target: RolloutTarget, terminalId: string): boolean {
  switch (target.kind) {
    case 'all':
      return true;
    case 'terminals':
      return target.ids.includes(terminalId);
    case 'percent':
      return rolloutBucket(terminalId) < target.percent;
  }
}

export function describeTarget(target: RolloutTarget): string {
  switch (target.kind) {
    case 'all':
      return 'all terminals';
    case 'terminals':
      return `terminals ${target.ids.join(', ')}`;
    case 'percent':
      return `${target.percent} % of terminals`;
  }
}

export interface ReleaseView {
  version: string;
  arch: string;
  sha256: string;
  size: number;
  addedAt: string;
}

export interface FleetRow {
  id: string;
  name: string;
  online: boolean;
  revoked: boolean;
  lastSeenAt: string | null;
  /** The version the terminal reports running (x-qrpos-version). */
  version: string | null;
  arch: string | null;
  /** Its place in percentage rollouts (targeted when below the percentage). */
  bucket: number;
  /** The version the rollouts say it should run (null: none rolled out to it). */
  target: string | null;
  lastUpgrade: { version: string; outcome: UpgradeOutcome; detail: string | null; at: string } | null;
}

export interface ReleaseServiceOptions {
  store: RelayStore;
  dataDir: string;
  /** The bundles' folder, when not <dataDir>/releases (shared by several relays). */
  dir?: string;
  /** Public keys a bundle must be signed with (absent: SHIPPED_RELEASE_KEYS); read on every upload. */
  keysFile?: string;
  maxBundleBytes: number;
  clock: () => Date;
  log: Logger;
  /** The terminals as the admin API lists them (online, version). */
  terminals: () => Promise<TerminalSummary[]>;
  /** Versions kept by the retention rule (default 5), besides those live rollouts target. */
  keep?: number;
  /** Each bundle download served at most this fast (absent: unthrottled). */
  downloadBytesPerSecond?: number;
}

export const DEFAULT_KEEP = 5;

/** A bundle's name in <dataDir>/releases (what `add` writes and `tidy` recognises). */
const BUNDLE_FILE = /^qrpos-.+-linux-[a-z0-9]+\.tar\.gz$/;

/**
 * The byte range a GET asks for (`Range: bytes=N-` or `bytes=N-M`; one range only), or null for
 * the whole file (no header, several ranges, another unit, or an If-Range naming other bytes).
 */
export function requestedRange(range: string | undefined, ifRange: string | undefined, etag: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!range) return null;
  if (ifRange !== undefined && ifRange.trim() !== etag) return null;
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Passes bytes on no faster than `bytesPerSecond` (measured from the first byte). */
function throttle(bytesPerSecond: number): Transform {
  const began = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      const wait = began + (sent / bytesPerSecond) * 1000 - Date.now();
      if (wait > 0) setTimeout(() => cb(null, chunk), wait);
      else cb(null, chunk);
    },
  });
}

/**
 * The versions live rollouts target: a rollout is live while it still decides what some terminal
 * runs, or would for a terminal paired later (an "all" or percentage rollout with a bucket no
 * newer one covers). Newest first, as the store lists them.
 */
export function liveVersions(rollouts: RolloutRow[], terminals: { id: string; revokedAt?: string | null }[]): Set<string> {
  const live = new Set<string>();
  const coveredBuckets = new Set<number>();
  const coveredIds = new Set<string>();
  const active = terminals.filter((t) => !t.revokedAt).map((t) => t.id);
  for (const r of rollouts) {
    const t = r.target;
    if (t.kind === 'terminals') {
      if (t.ids.some((id) => active.includes(id) && !coveredIds.has(id) && !coveredBuckets.has(rolloutBucket(id)))) live.add(r.version);
      for (const id of t.ids) coveredIds.add(id);
      continue;
    }
    const upTo = t.kind === 'all' ? 100 : t.percent;
    for (let b = 0; b < upTo; b++) {
      if (!coveredBuckets.has(b)) {
        live.add(r.version);
        coveredBuckets.add(b);
      }
    }
  }
  return live;
}

const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

const view = (r: ReleaseRow): ReleaseView => ({ version: r.version, arch: r.arch, sha256: r.sha256, size: r.size, addedAt: r.addedAt });

export class ReleaseService {
  readonly dir: string;

  constructor(private readonly o: ReleaseServiceOptions) {
    this.dir = o.dir ?? path.join(o.dataDir, 'releases');
  }

  private keys(): PublicKey[] {
    const file = this.o.keysFile ?? SHIPPED_RELEASE_KEYS;
    try {
      return M.loadPublicKeys(file);
    } catch (err) {
      throw new LinkError('internal', `cannot read the release keys ${file}: ${(err as Error).message}`);
    }
  }

  /**
   * An upload (the request body is the bundle): streamed to a temporary file with a size cap,
   * verified as a device would (signature with the trusted keys, every file's SHA-256), then
   * renamed into place. `unchanged` when that exact bundle is there already.
   */
  async add(req: http.IncomingMessage): Promise<{ status: 'added' | 'unchanged'; release: ReleaseView }> {
    const max = this.o.maxBundleBytes;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > max) {
      req.resume();
      throw new LinkError('too_large', `a release bundle is limited to ${max} bytes (releases.maxBundleBytes)`);
    }
    const keys = this.keys();
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o750 });
    const tmp = path.join(this.dir, `.upload-${crypto.randomBytes(8).toString('hex')}.tar.gz`);
    const hash = crypto.createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        hash.update(chunk);
        if (size > max) cb(new LinkError('too_large', `a release bundle is limited to ${max} bytes (releases.maxBundleBytes)`));
        else cb(null, chunk);
      },
    });
    try {
      try {
        await pipeline(req, counter, fs.createWriteStream(tmp, { mode: 0o600, flags: 'wx' }));
      } catch (err) {
        if (err instanceof LinkError) throw err;
        throw new LinkError('bad_request', `the upload did not finish: ${(err as Error).message}`);
      }
      if (size === 0) throw new LinkError('bad_request', 'no bundle in the request body (send the .tar.gz `npm run release` made)');
      let manifest;
      try {
        ({ manifest } = await Install.readBundle(tmp, { keys, here: null }));
      } catch (err) {
        if (err instanceof M.ReleaseError) throw new LinkError('bad_request', `refused: ${err.message}`);
        throw err;
      }
      const arch = ReleaseArchSchema.parse(manifest.arch);
      const sha256 = hash.digest('hex');
      const existing = await this.o.store.release(manifest.version, arch);
      if (existing) {
        if (existing.sha256 !== sha256) {
          throw new LinkError('conflict', `release ${manifest.version} for linux-${arch} is here already with other bytes (SHA-256 ${existing.sha256.slice(0, 12)}…): a version is never replaced; build a new one`);
        }
        return { status: 'unchanged', release: view(existing) };
      }
      const file = `${M.bundleStem(manifest.version, arch)}.tar.gz`;
      fs.chmodSync(tmp, 0o640);
      fs.renameSync(tmp, path.join(this.dir, file));
      const row: ReleaseRow = { version: manifest.version, arch, sha256, size, file, addedAt: this.o.clock().toISOString() };
      await this.o.store.insertRelease(row);
      this.o.log.info('release added', { version: row.version, arch, sha256, size });
      await this.retain();
      return { status: 'added', release: view(row) };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  async list(): Promise<{ releases: ReleaseView[]; rollouts: (RolloutRow & { description: string })[] }> {
    return {
      releases: (await this.o.store.listReleases()).map(view),
      rollouts: (await this.o.store.listRollouts()).map((r) => ({ ...r, description: describeTarget(r.target) })),
    };
  }

  /**
   * Rolls `version` out to `target` (terminals named by id or by name). The newest rollout that
   * targets a terminal decides what it runs: rolling an older version out is a fleet rollback.
   */
  async rollout(version: string, target: RolloutTarget): Promise<{ rollout: RolloutRow; targeted: { id: string; name: string }[] }> {
    const { store } = this.o;
    if (!(await store.listReleases()).some((r) => r.version === version)) throw new LinkError('not_found', `no release ${version} here: add its bundle first`);
    let resolved = target;
    if (target.kind === 'terminals') {
      const all = (await store.listTerminals()).filter((t) => !t.revokedAt);
      const ids = target.ids.map((key) => {
        const byId = all.find((t) => t.id === key);
        if (byId) return byId.id;
        const byName = all.filter((t) => t.name === key);
        if (byName.length === 1) return byName[0].id;
        throw new LinkError('not_found', byName.length ? `"${key}" names ${byName.length} terminals: use their ids` : `no terminal ${key}`);
      });
      resolved = { kind: 'terminals', ids: [...new Set(ids)] };
    }
    const rollout = await store.insertRollout({ version, target: resolved, createdAt: this.o.clock().toISOString() });
    const targeted = (await store.listTerminals())
      .filter((t) => !t.revokedAt && targets(resolved, t.id))
      .map((t) => ({ id: t.id, name: t.name }));
    this.o.log.info('release rolled out', { version, target: describeTarget(resolved), terminals: targeted.length });
    return { rollout, targeted };
  }

  /** The newest rollout that targets this terminal. */
  private async governing(terminalId: string): Promise<RolloutRow | undefined> {
    return (await this.o.store.listRollouts()).find((r) => targets(r.target, terminalId));
  }

  /**
   * The release this terminal should run on `arch`: its governing rollout's, unless the terminal
   * reported that version failing (refused, rolled back, failed) since that rollout (rolling it
   * out again retries).
   */
  async offer(t: TerminalRow, arch: string): Promise<ReleaseRow | null> {
    const r = await this.governing(t.id);
    if (!r) return null;
    const rel = await this.o.store.release(r.version, arch);
    if (!rel) return null;
    const failed = (await this.o.store.upgradeReports(t.id, 20)).some((u) => u.version === r.version && u.outcome !== 'upgraded' && u.at >= r.createdAt);
    return failed ? null : rel;
  }

  /** GET /v1/release: notes the terminal's architecture, answers its offer. */
  async offerFor(t: TerminalRow, rawArch: string | null): Promise<ReleaseOffer> {
    const a = ReleaseArchSchema.safeParse(rawArch);
    if (!a.success) throw new LinkError('bad_request', 'arch: x64, arm64 or arm');
    if ((await this.o.store.terminalArch(t.id)) !== a.data) await this.o.store.setTerminalArch(t.id, a.data);
    const rel = await this.offer(t, a.data);
    return { release: rel && { version: rel.version, arch: rel.arch, sha256: rel.sha256, size: rel.size } };
  }

  /**
   * GET /v1/release/:version/bundle: the bytes, only of the release offered to this terminal. A
   * download broken off (the terminal pauses it when a sale starts) goes on with `Range: bytes=N-`;
   * `If-Range` with the ETag (the bundle's SHA-256) makes sure the rest is of the same bytes.
   */
  async sendBundle(t: TerminalRow, version: string, rawArch: string | null, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const a = ReleaseArchSchema.safeParse(rawArch);
    if (!a.success) throw new LinkError('bad_request', 'arch: x64, arm64 or arm');
    const rel = await this.offer(t, a.data);
    if (!rel || rel.version !== version) throw new LinkError('not_found', `release ${version} is not rolled out to this terminal`);
    const file = path.join(this.dir, rel.file);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      // Several relays on one store each keep their own folder unless releases.dir names a shared one.
      this.o.log.error('a release bundle is missing from the releases folder (several relays: releases.dir must be a folder they share)', { file, error: (err as Error).message });
      throw new LinkError('not_found', `release ${version} is not on this relay any more`);
    }
    const etag = `"${rel.sha256}"`;
    const range = requestedRange(header(req.headers.range), header(req.headers['if-range']), etag, rel.size);
    const common = { 'accept-ranges': 'bytes', etag, 'cache-control': 'no-store', 'x-qrpos-sha256': rel.sha256 };
    if (range === 'unsatisfiable') {
      fs.closeSync(fd);
      res.writeHead(416, { ...common, 'content-range': `bytes */${rel.size}`, 'content-length': 0 });
      res.end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: rel.size - 1 };
    res.writeHead(range ? 206 : 200, {
      ...common,
      'content-type': 'application/gzip',
      'content-length': end - start + 1,
      ...(range ? { 'content-range': `bytes ${start}-${end}/${rel.size}` } : {}),
    });
    if (range) this.o.log.debug('bundle download resumed', { terminalId: t.id, version, from: start });
    const rate = this.o.downloadBytesPerSecond;
    const stream = fs.createReadStream(file, { fd, start, end, ...(rate ? { highWaterMark: Math.max(1024, Math.min(65_536, Math.floor(rate / 8))) } : {}) });
    const stages: (Readable | Transform)[] = rate ? [stream, throttle(rate)] : [stream];
    // A terminal that hangs up (a sale started) ends the read; nothing else to do.
    pipeline([...stages, res]).catch(() => undefined);
  }

  /**
   * Removes a release (every architecture, or one). Refused while a live rollout targets the
   * version (terminals are told to fetch it), unless `force`. The row goes first, then the file.
   */
  async remove(version: string, o: { arch?: string; force?: boolean } = {}): Promise<{ removed: ReleaseView[]; wasLive: boolean }> {
    const { store } = this.o;
    const rows = (await store.listReleases()).filter((r) => r.version === version && (!o.arch || r.arch === o.arch));
    if (!rows.length) throw new LinkError('not_found', `no release ${version}${o.arch ? ` for linux-${o.arch}` : ''} here`);
    const wasLive = (await this.live()).has(version);
    if (wasLive && !o.force) {
      throw new LinkError('conflict', `release ${version} is what a live rollout tells terminals to run (qrpos relay fleet shows which): roll another version out first, or remove it anyway with --force`);
    }
    for (const r of rows) await this.forget(r, wasLive ? 'removed by the operator (--force: a live rollout targets it)' : 'removed by the operator');
    return { removed: rows.map(view), wasLive };
  }

  private async live(): Promise<Set<string>> {
    return liveVersions(await this.o.store.listRollouts(), await this.o.store.listTerminals());
  }

  private async forget(r: ReleaseRow, why: string): Promise<void> {
    if (!(await this.o.store.deleteRelease(r.version, r.arch))) return;
    fs.rmSync(path.join(this.dir, r.file), { force: true });
    this.o.log.info('release removed', { version: r.version, arch: r.arch, reason: why });
  }

  /**
   * The retention rule: the `keep` most recently added versions stay, and so does every version a
   * live rollout targets; the other bundles go. Returns the versions removed.
   */
  async retain(): Promise<string[]> {
    const keep = this.o.keep ?? DEFAULT_KEEP;
    const rows = await this.o.store.listReleases();
    const newestFirst: string[] = [];
    for (const r of rows) if (!newestFirst.includes(r.version)) newestFirst.push(r.version);
    const old = newestFirst.slice(keep);
    if (!old.length) return [];
    const live = await this.live();
    const gone = old.filter((v) => !live.has(v));
    for (const r of rows) if (gone.includes(r.version)) await this.forget(r, `older than the ${keep} newest versions (releases.keep) and no live rollout targets it`);
    return gone;
  }

  /**
   * At start: deletes what a crash left in the releases folder (a bundle no row names, an upload
   * that never finished), then applies the retention rule.
   */
  async tidy(): Promise<void> {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      names = [];
    }
    const known = new Set((await this.o.store.listReleases()).map((r) => r.file));
    for (const name of names) {
      const orphan = BUNDLE_FILE.test(name) && !known.has(name);
      const upload = name.startsWith('.upload-');
      if (!orphan && !upload) continue;
      fs.rmSync(path.join(this.dir, name), { force: true });
      this.o.log.warn(orphan ? 'a bundle no release names was deleted (left by an interrupted removal)' : 'an unfinished upload was deleted', { file: name });
    }
    await this.retain();
  }

  async report(t: TerminalRow, r: ReleaseReport): Promise<void> {
    const row: UpgradeReportRow = { terminalId: t.id, version: r.version, outcome: r.outcome, detail: r.detail ?? null, at: this.o.clock().toISOString() };
    await this.o.store.insertUpgradeReport(row);
    const fields = { terminalId: t.id, version: r.version, outcome: r.outcome };
    if (r.outcome === 'upgraded') this.o.log.info('terminal upgrade reported', fields);
    else this.o.log.warn('terminal upgrade reported', fields);
  }

  /** Every terminal: the version it reports, its architecture, what it should run, its last upgrade. */
  async fleet(): Promise<FleetRow[]> {
    const { store } = this.o;
    const rollouts = await store.listRollouts();
    const rows: FleetRow[] = [];
    for (const s of await this.o.terminals()) {
      const last = (await store.upgradeReports(s.id, 1))[0];
      rows.push({
        id: s.id,
        name: s.name,
        online: s.online,
        revoked: s.revoked,
        lastSeenAt: s.lastSeenAt,
        version: s.version,
        arch: await store.terminalArch(s.id),
        bucket: rolloutBucket(s.id),
        target: s.revoked ? null : (rollouts.find((r) => targets(r.target, s.id))?.version ?? null),
        lastUpgrade: last ? { version: last.version, outcome: last.outcome, detail: last.detail, at: last.at } : null,
      });
    }
    return rows;
  }
}
