/**
 * Fleet updates on the relay: the operator uploads signed release bundles (verified with the
 * same code a device runs before the relay keeps them), rolls a version out to every terminal,
 * a list of them or a stable share; each terminal asks which release it should run, downloads
 * that bundle over its authenticated link only, and reports how its upgrade ended.
 *
 * Bundles live in <dataDir>/releases/qrpos-<version>-linux-<arch>.tar.gz (0640); what is known
 * about them, the rollouts and the reports are in the store. A version is immutable: the same
 * version and architecture uploaded again must be the same bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { Transform } from 'node:stream';
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
  /** Public keys a bundle must be signed with (absent: SHIPPED_RELEASE_KEYS); read on every upload. */
  keysFile?: string;
  maxBundleBytes: number;
  clock: () => Date;
  log: Logger;
  /** The terminals as the admin API lists them (online, version). */
  terminals: () => TerminalSummary[];
}

const view = (r: ReleaseRow): ReleaseView => ({ version: r.version, arch: r.arch, sha256: r.sha256, size: r.size, addedAt: r.addedAt });

export class ReleaseService {
  readonly dir: string;

  constructor(private readonly o: ReleaseServiceOptions) {
    this.dir = path.join(o.dataDir, 'releases');
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
      const existing = this.o.store.release(manifest.version, arch);
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
      this.o.store.insertRelease(row);
      this.o.log.info('release added', { version: row.version, arch, sha256, size });
      return { status: 'added', release: view(row) };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  list(): { releases: ReleaseView[]; rollouts: (RolloutRow & { description: string })[] } {
    return {
      releases: this.o.store.listReleases().map(view),
      rollouts: this.o.store.listRollouts().map((r) => ({ ...r, description: describeTarget(r.target) })),
    };
  }

  /**
   * Rolls `version` out to `target` (terminals named by id or by name). The newest rollout that
   * targets a terminal decides what it runs: rolling an older version out is a fleet rollback.
   */
  rollout(version: string, target: RolloutTarget): { rollout: RolloutRow; targeted: { id: string; name: string }[] } {
    const { store } = this.o;
    if (!store.listReleases().some((r) => r.version === version)) throw new LinkError('not_found', `no release ${version} here: add its bundle first`);
    let resolved = target;
    if (target.kind === 'terminals') {
      const all = store.listTerminals().filter((t) => !t.revokedAt);
      const ids = target.ids.map((key) => {
        const byId = all.find((t) => t.id === key);
        if (byId) return byId.id;
        const byName = all.filter((t) => t.name === key);
        if (byName.length === 1) return byName[0].id;
        throw new LinkError('not_found', byName.length ? `"${key}" names ${byName.length} terminals: use their ids` : `no terminal ${key}`);
      });
      resolved = { kind: 'terminals', ids: [...new Set(ids)] };
    }
    const rollout = store.insertRollout({ version, target: resolved, createdAt: this.o.clock().toISOString() });
    const targeted = store
      .listTerminals()
      .filter((t) => !t.revokedAt && targets(resolved, t.id))
      .map((t) => ({ id: t.id, name: t.name }));
    this.o.log.info('release rolled out', { version, target: describeTarget(resolved), terminals: targeted.length });
    return { rollout, targeted };
  }

  /** The newest rollout that targets this terminal. */
  private governing(terminalId: string): RolloutRow | undefined {
    return this.o.store.listRollouts().find((r) => targets(r.target, terminalId));
  }

  /**
   * The release this terminal should run on `arch`: its governing rollout's, unless the terminal
   * reported that version failing (refused, rolled back, failed) since that rollout (rolling it
   * out again retries).
   */
  offer(t: TerminalRow, arch: string): ReleaseRow | null {
    const r = this.governing(t.id);
    if (!r) return null;
    const rel = this.o.store.release(r.version, arch);
    if (!rel) return null;
    const failed = this.o.store.upgradeReports(t.id, 20).some((u) => u.version === r.version && u.outcome !== 'upgraded' && u.at >= r.createdAt);
    return failed ? null : rel;
  }

  /** GET /v1/release: notes the terminal's architecture, answers its offer. */
  offerFor(t: TerminalRow, rawArch: string | null): ReleaseOffer {
    const a = ReleaseArchSchema.safeParse(rawArch);
    if (!a.success) throw new LinkError('bad_request', 'arch: x64, arm64 or arm');
    if (this.o.store.terminalArch(t.id) !== a.data) this.o.store.setTerminalArch(t.id, a.data);
    const rel = this.offer(t, a.data);
    return { release: rel && { version: rel.version, arch: rel.arch, sha256: rel.sha256, size: rel.size } };
  }

  /** GET /v1/release/:version/bundle: the bytes, only of the release offered to this terminal. */
  sendBundle(t: TerminalRow, version: string, rawArch: string | null, res: http.ServerResponse): void {
    const a = ReleaseArchSchema.safeParse(rawArch);
    if (!a.success) throw new LinkError('bad_request', 'arch: x64, arm64 or arm');
    const rel = this.offer(t, a.data);
    if (!rel || rel.version !== version) throw new LinkError('not_found', `release ${version} is not rolled out to this terminal`);
    const file = path.join(this.dir, rel.file);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      this.o.log.error('a release bundle is missing from the releases folder', { file, error: (err as Error).message });
      throw new LinkError('not_found', `release ${version} is not on this relay any more`);
    }
    res.writeHead(200, {
      'content-type': 'application/gzip',
      'content-length': rel.size,
      'cache-control': 'no-store',
      'x-qrpos-sha256': rel.sha256,
    });
    const stream = fs.createReadStream(file, { fd });
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  report(t: TerminalRow, r: ReleaseReport): void {
    const row: UpgradeReportRow = { terminalId: t.id, version: r.version, outcome: r.outcome, detail: r.detail ?? null, at: this.o.clock().toISOString() };
    this.o.store.insertUpgradeReport(row);
    const fields = { terminalId: t.id, version: r.version, outcome: r.outcome };
    if (r.outcome === 'upgraded') this.o.log.info('terminal upgrade reported', fields);
    else this.o.log.warn('terminal upgrade reported', fields);
  }

  /** Every terminal: the version it reports, its architecture, what it should run, its last upgrade. */
  fleet(): FleetRow[] {
    const { store } = this.o;
    const rollouts = store.listRollouts();
    return this.o.terminals().map((s) => {
      const last = store.upgradeReports(s.id, 1)[0];
      return {
        id: s.id,
        name: s.name,
        online: s.online,
        revoked: s.revoked,
        lastSeenAt: s.lastSeenAt,
        version: s.version,
        arch: store.terminalArch(s.id),
        bucket: rolloutBucket(s.id),
        target: s.revoked ? null : (rollouts.find((r) => targets(r.target, s.id))?.version ?? null),
        lastUpgrade: last ? { version: last.version, outcome: last.outcome, detail: last.detail, at: last.at } : null,
      };
    });
  }
}
