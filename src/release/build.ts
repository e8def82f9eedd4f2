/**
 * `npm run release`: a signed, self-contained bundle of qrpos for one architecture,
 * release/qrpos-<version>-linux-<arch>.tar.gz, that scripts/setup.sh --bundle installs on a device
 * with no compiler: the compiled app, production node_modules with native modules built for that
 * architecture and Node ABI, device files, units, udev rules, the installer, and manifest.json
 * (SHA-256 and mode of every file) with its Ed25519 signature, manifest.json.sig.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateSigningKey } from './keys';
import { Install, M, Tar, type Manifest } from './lib';

export class BuildError extends Error {}

export interface BuildOptions {
  /** The checkout to build (package.json, package-lock.json, src/, device/, systemd/, scripts/). */
  repo: string;
  /** x64, arm64, arm (or amd64, aarch64, armhf); default: this machine's. */
  arch?: string;
  /** Where the bundle goes (default <repo>/release). */
  outDir?: string;
  /** The private signing key (PEM); made when missing. */
  keyFile: string;
  /** The public key(s) to ship in the bundle, which its installer then trusts (default: the repo's). */
  publicKeyFile?: string;
  /** A built dist/ to package instead of compiling the sources with tsc. */
  dist?: string;
  /** The installer to ship: setup.sh, setup/, release/ (default <repo>/scripts). */
  installerDir?: string;
  /** The node_modules to take the production packages from (default <repo>/node_modules). */
  nodeModules?: string;
  /** The version instead of `git describe --tags --always --dirty`. */
  version?: string;
  /** gzip level (default 9). */
  level?: number;
  log?: (line: string) => void;
}

export interface BuildResult {
  file: string;
  manifest: Manifest;
  bytes: number;
  seconds: { compile: number; files: number; archive: number; check: number; total: number };
}

/** Why a bundle for another architecture is not built here, and how to build one. */
export function crossArchMessage(arch: string, host: string = process.arch): string {
  const deb = M.ARCHES[arch as keyof typeof M.ARCHES]?.deb ?? arch;
  const named = deb === arch ? arch : `${arch} (${deb})`;
  const cross =
    host === 'x64' && (arch === 'arm64' || arch === 'arm')
      ? [
          `On this amd64 machine \`npm run release -- --arch ${arch}\` builds them with scripts/release/cross.sh (as root: a`,
          `Debian 13 root with crossbuild-essential-${deb} and the ${deb} -dev libraries; see scripts/SETUP.md, "Release bundles").`,
        ]
      : [`(a Debian multiarch cross build from amd64 is scripts/release/cross.sh: arm64 and arm only.)`];
  return [
    `cannot build a linux-${arch} bundle on this linux-${host} machine as it is: better-sqlite3, canvas and epoll are`,
    `compiled C++ that must be built for ${named} against the devices' Node.js ABI.`,
    ...cross,
    `Or build it on a linux-${arch} machine (a Raspberry Pi 4/5 with 64-bit Raspberry Pi OS, or any ${deb}`,
    `Debian 12/13) with the Node.js major version the devices run:`,
    `  git clone <repo> && cd qrpos && scripts/bootstrap.sh && npm run release`,
    `  (with the signing key there: QRPOS_RELEASE_KEY=/path/to/release-key.pem npm run release)`,
    `or build only node_modules there (npm ci, same package-lock.json) and package it here:`,
    `  npm run release -- --arch ${arch} --node-modules /path/to/${arch}/node_modules`,
  ].join('\n');
}

function elapsed(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

/** The terminal's one-file bundle, dist/src/cli/terminal.js, as `npm run build` makes it (scripts/bundle-terminal.cjs). */
async function bundleTerminal(repo: string, outDir: string): Promise<void> {
  const script = path.join(repo, 'scripts', 'bundle-terminal.cjs');
  try {
    await (require(script) as { bundleTerminal(outDir: string): Promise<unknown> }).bundleTerminal(outDir);
  } catch (err) {
    throw new BuildError(`bundling the terminal failed: ${(err as Error).message}`);
  }
}

function compile(repo: string, outDir: string): void {
  const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!fs.existsSync(tsc)) throw new BuildError(`${tsc} is missing: run npm ci (with dev dependencies) in ${repo} first`);
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'tsconfig.json'), '--outDir', outDir], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) {
    const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
    throw new BuildError(
      `tsc failed (a release must type-check):\n  ${lines.slice(0, 15).join('\n  ')}${lines.length > 15 ? `\n  ... ${lines.length - 15} more lines` : ''}\n` +
        '(to package an existing build instead: --dist DIR)',
    );
  }
}

export async function buildRelease(o: BuildOptions): Promise<BuildResult> {
  const log = o.log ?? (() => undefined);
  const t0 = process.hrtime.bigint();
  const repo = path.resolve(o.repo);
  const arch = M.normalizeArch(o.arch ?? process.arch);
  const cross = arch !== process.arch;
  if (cross && !o.nodeModules) throw new BuildError(crossArchMessage(arch));
  const nodeModules = path.resolve(o.nodeModules ?? path.join(repo, 'node_modules'));
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version?: string; engines?: { node?: string } };
  const git = M.gitDescribe(repo);
  const installerDir = path.resolve(o.installerDir ?? path.join(repo, 'scripts'));
  const shippedKey = path.resolve(o.publicKeyFile ?? path.join(installerDir, 'release', 'release-key.pub'));
  const trusted = M.loadPublicKeys(shippedKey);
  const { key } = loadOrCreateSigningKey(o.keyFile, log);
  const id = M.keyId(key);
  if (!trusted.some((k) => k.id === id)) {
    throw new BuildError(
      `the signing key ${o.keyFile} (id ${id.slice(0, 16)}) is not one of the keys in ${shippedKey} ` +
        `(${trusted.map((k) => k.id.slice(0, 16)).join(', ')}): devices would refuse the bundle. Sign with a key whose ` +
        'public half is there (QRPOS_RELEASE_KEY=/path/to/key.pem), or add this key\'s public half to that file and commit it.',
    );
  }

  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-release-'));
  try {
    // 1. the compiled app
    let t = process.hrtime.bigint();
    let distDir: string;
    if (o.dist) {
      distDir = path.resolve(o.dist);
      log(`dist: ${distDir} (as built)`);
    } else {
      distDir = path.join(staging, 'dist');
      log('compiling with tsc ...');
      compile(repo, distDir);
      log('bundling the terminal ...');
      await bundleTerminal(repo, distDir);
    }
    const compileSeconds = elapsed(t);

    // 2. the file set, copied once: the manifest and the archive are made from the same bytes
    t = process.hrtime.bigint();
    const set = M.releaseFiles({ source: repo, distDir, installerDir, nodeModules, arch });
    const tree = path.join(staging, 'tree');
    for (const f of set.files) {
      const src = f.rel === 'scripts/release/release-key.pub' ? shippedKey : f.src;
      const dest = path.join(tree, f.rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
    }
    const fileMap = M.hashFiles(set.files, tree);
    let version = o.version ?? git?.describe ?? `${pkg.version ?? '0.0.0'}-nogit`;
    // A build of uncommitted changes: the content hash tells two of them apart.
    if (!o.version && (!git || git.dirty)) version = `${version}.${M.contentHash(fileMap).slice(0, 8)}`;
    const manifest = M.makeManifest(
      {
        version,
        describe: git?.describe ?? null,
        commit: git?.commit ?? null,
        packageVersion: pkg.version ?? null,
        source: 'bundle',
        arch,
        engines: pkg.engines?.node ?? null,
        builtWith: cross ? null : process.version,
        lockSha256: M.sha256File(path.join(repo, 'package-lock.json')),
      },
      fileMap,
      set.native,
    );
    const filesSeconds = elapsed(t);

    // 3. signed manifest first, then the files, gzipped
    t = process.hrtime.bigint();
    const manifestBuf = M.manifestBytes(manifest);
    const sigBuf = M.signManifest(manifestBuf, key);
    M.verifySignature(manifestBuf, sigBuf, trusted);
    const stem = M.bundleStem(version, arch);
    const outDir = path.resolve(o.outDir ?? path.join(repo, 'release'));
    fs.mkdirSync(outDir, { recursive: true });
    // release/ keeps itself out of git without an entry in the repository's .gitignore.
    if (!fs.existsSync(path.join(outDir, '.gitignore'))) fs.writeFileSync(path.join(outDir, '.gitignore'), '# bundles made by npm run release\n*\n');
    const file = path.join(outDir, `${stem}.tar.gz`);
    const tmp = path.join(outDir, `.${stem}.tar.gz.tmp-${process.pid}`);
    const mtime = Number(process.env.SOURCE_DATE_EPOCH) || git?.time || 0;
    try {
      await Tar.writeTarGz(
        [
          { name: `${stem}/manifest.json`, data: manifestBuf },
          { name: `${stem}/manifest.json.sig`, data: sigBuf },
          ...set.files.map((f) => ({ name: `${stem}/${f.rel}`, file: path.join(tree, f.rel), size: fileMap[f.rel].size, mode: f.mode })),
        ],
        fs.createWriteStream(tmp, { mode: 0o644 }),
        { mtime, level: o.level ?? 9 },
      );
      fs.renameSync(tmp, file);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    const archiveSeconds = elapsed(t);

    // 4. read back as a device would (the shipped key, every file)
    t = process.hrtime.bigint();
    await Install.readBundle(file, { keys: trusted });
    const checkSeconds = elapsed(t);
    return {
      file,
      manifest,
      bytes: fs.statSync(file).size,
      seconds: { compile: compileSeconds, files: filesSeconds, archive: archiveSeconds, check: checkSeconds, total: elapsed(t0) },
    };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
