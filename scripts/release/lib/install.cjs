'use strict';
// Releases on a device, in the app folder (/opt/qrpos):
//
//   releases/<version>/     one folder per release, as its manifest lists it (root's, read-only)
//   current  -> releases/<version>    what runs: the units' command runs current/scripts/qrpos.cjs
//   previous -> releases/<version>    what current pointed to before (the rollback target)
//   history                 one line per switch: time, "activate", new version, old version
//   releases/.incoming-<pid>/   a release being unpacked or copied (removed if that fails)
//
// A bundle is checked while it is read, before anything is written: its manifest's signature
// (a trusted key), the architecture and Node ABI, the free space, then every file against the
// manifest (a file not listed, a missing one, a changed one: refused, naming it).
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { readTarGz, TarError } = require('./tar.cjs');
const M = require('./manifest.cjs');

const { ReleaseError } = M;

function exists(p) {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function readIfExists(file) {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Bytes free for an unprivileged write in dir (or its nearest existing parent). */
function freeBytes(dir) {
  let d = path.resolve(dir);
  while (!fs.existsSync(d)) d = path.dirname(d);
  const s = fs.statfsSync(d);
  return s.bavail * s.bsize;
}

/** What unpacking the files takes on disk: each file rounded up to 4 KiB blocks, plus 16 MiB. */
function spaceNeeded(manifest) {
  let n = 16 * 1024 * 1024;
  for (const f of Object.values(manifest.files)) n += Math.ceil(f.size / 4096) * 4096 + 4096;
  return n;
}

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * Reads a bundle and checks all of it. With `into` (a folder that must not exist) the files are
 * written there as they are checked; on any problem that folder is removed again.
 * `keys`: trusted public keys. `here`: { arch, abi, node } to check against, or null (verify only).
 * `onManifest(manifest)` runs once the signature is good, before any file is written; it may
 * return "skip-write" (the same release is installed already: check the bundle but write nothing).
 * `signal` (an AbortSignal) stops the reading: it rejects with an AbortError (the terminal stops
 * checking a downloaded bundle when a sale starts, and checks it again later).
 */
async function readBundle(file, { keys, here = null, into, onManifest, spaceDir, signal }) {
  let manifestBuf;
  let sigBuf;
  let manifest;
  let keyId;
  let top;
  let writing = Boolean(into);
  const seen = new Set();
  const problems = [];
  let entryIndex = 0;

  const fail = (msg) => {
    throw new ReleaseError(msg);
  };

  const collector = (cb) => {
    const chunks = [];
    return { write: (c) => chunks.push(Buffer.from(c)), end: () => cb(Buffer.concat(chunks)) };
  };

  const afterSignature = () => {
    keyId = M.verifySignature(manifestBuf, sigBuf, keys);
    manifest = M.parseManifest(manifestBuf);
    const stem = M.bundleStem(manifest.version, manifest.arch);
    if (top !== stem) fail(`the bundle's folder is ${top}, its manifest says ${stem}`);
    if (here) {
      const p = M.compatProblems(manifest, here);
      if (p.length) fail(p.join('\n'));
    }
    if (onManifest && onManifest(manifest, manifestBuf) === 'skip-write') writing = false;
    if (writing) {
      const need = spaceNeeded(manifest);
      const free = freeBytes(spaceDir || path.dirname(into));
      if (free < need) {
        fail(`not enough disk space in ${spaceDir || path.dirname(into)}: release ${manifest.version} needs ${mb(need)} (${manifest.count} files), ${mb(free)} is free`);
      }
      fs.mkdirSync(into, { mode: 0o700 });
      // chmod, not only the mode of the write: the umask takes from that, and qrpos-upgrade.service
      // runs with UMask=0077. An unreadable manifest makes the service report no version, and so
      // every fleet upgrade fail its health check (found by the booted test, upgrade-nspawn.sh).
      for (const [name, buf] of [['manifest.json', manifestBuf], ['manifest.json.sig', sigBuf]]) {
        fs.writeFileSync(path.join(into, name), buf, { mode: 0o644 });
        fs.chmodSync(path.join(into, name), 0o644);
      }
    }
  };

  const onFile = (name, size) => {
    const index = entryIndex++;
    const slash = name.indexOf('/');
    // The manifest of a release of some thousand files is a few hundred KB; it is read into memory.
    if (index < 2 && size > 16 * 1024 * 1024) fail(`not a qrpos release bundle: ${name} is ${mb(size)}`);
    if (index === 0) {
      top = slash > 0 ? name.slice(0, slash) : '';
      if (!top || name !== `${top}/manifest.json`) fail('not a qrpos release bundle: it must begin with <folder>/manifest.json (made by `npm run release`)');
      return collector((b) => (manifestBuf = b));
    }
    if (index === 1) {
      if (name !== `${top}/manifest.json.sig`) fail('not a signed qrpos release bundle: manifest.json.sig must follow manifest.json');
      return collector((b) => {
        sigBuf = b;
        afterSignature();
      });
    }
    if (!name.startsWith(`${top}/`)) {
      problems.push(`outside the bundle's folder: ${name}`);
      return undefined;
    }
    const rel = name.slice(top.length + 1);
    const want = manifest.files[rel];
    if (!want) {
      problems.push(`not in the signed manifest: ${rel}`);
      return undefined;
    }
    if (seen.has(rel)) {
      problems.push(`twice in the bundle: ${rel}`);
      return undefined;
    }
    seen.add(rel);
    const hash = require('crypto').createHash('sha256');
    let fd;
    if (writing && problems.length === 0) {
      const dest = path.join(into, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
      fd = fs.openSync(dest, 'wx', 0o600);
    }
    let got = 0;
    return {
      write(chunk) {
        got += chunk.length;
        hash.update(chunk);
        if (fd !== undefined) fs.writeSync(fd, chunk);
      },
      end() {
        if (fd !== undefined) fs.closeSync(fd);
        if (got !== want.size || hash.digest('hex') !== want.sha256) problems.push(`modified: ${rel} (its SHA-256 differs from the signed manifest)`);
      },
    };
  };

  const onDir = (name) => {
    if (entryIndex < 2) fail('not a qrpos release bundle: it must begin with <folder>/manifest.json (made by `npm run release`)');
    if (name !== `${top}/` && !name.startsWith(`${top}/`)) problems.push(`outside the bundle's folder: ${name}`);
  };

  try {
    let input;
    try {
      if (signal && signal.aborted) throw abortError();
      input = fs.createReadStream(file);
      if (signal) signal.addEventListener('abort', () => input.destroy(abortError()), { once: true });
      await new Promise((resolve, reject) => {
        input.once('open', resolve);
        input.once('error', reject);
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      fail(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    }
    try {
      await readTarGz(input, { onFile, onDir });
    } catch (err) {
      if (err instanceof ReleaseError) throw err;
      if (err instanceof TarError) fail(err.message);
      if (err && err.code && String(err.code).startsWith('Z_')) fail(`${file} is not a gzipped bundle, or it is damaged (${err.message})`);
      throw err;
    }
    if (!manifest) fail('not a signed qrpos release bundle (no manifest.json and manifest.json.sig)');
    for (const rel of Object.keys(manifest.files)) if (!seen.has(rel)) problems.push(`missing from the bundle: ${rel}`);
    if (problems.length) fail(`refused: the bundle does not match its signed manifest:\n  ${M.listSome(problems, 10).split('; ').join('\n  ')}`);
    if (writing) {
      for (const [rel, f] of Object.entries(manifest.files)) fs.chmodSync(path.join(into, rel), Number.parseInt(f.mode, 8));
      fixDirModes(into);
    }
    return { manifest, manifestBytes: manifestBuf, keyId, written: writing };
  } catch (err) {
    if (into && writing) fs.rmSync(into, { recursive: true, force: true });
    throw err;
  }
}

function abortError() {
  const err = new Error('stopped: the check of the bundle was paused');
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

function fixDirModes(dir) {
  fs.chmodSync(dir, 0o755);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) fixDirModes(path.join(dir, e.name));
}

/** Flushes a folder's file system to disk (syncfs): nothing is switched to a half-written release. */
function syncDisk(dir) {
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore' });
  } catch {
    execFileSync('sync', [], { stdio: 'ignore' });
  }
}

// ---------------------------------------------------------------- the app folder

function releasesDir(app) {
  return path.join(app, 'releases');
}

/** The version a link (current, previous) points to, or undefined. */
function linkVersion(app, name) {
  let target;
  try {
    target = fs.readlinkSync(path.join(app, name));
  } catch {
    return undefined;
  }
  const m = /^releases\/([^/]+)$/.exec(target);
  return m ? m[1] : undefined;
}

/** A release folder already there with the same manifest, and every file as it lists. */
function installedIntact(app, version, manifestBytes) {
  const dir = path.join(releasesDir(app), version);
  const have = readIfExists(path.join(dir, 'manifest.json'));
  if (!have) return { state: exists(dir) ? 'different' : 'absent' };
  if (!have.equals(manifestBytes)) return { state: 'different' };
  const problems = M.treeProblems(dir, M.parseManifest(have));
  return problems.length ? { state: 'damaged', problems } : { state: 'intact' };
}

/** Removes what an interrupted install left: .incoming-<pid>-<n> and .old-<pid>-<n> of processes gone. */
function cleanStale(app) {
  const dir = releasesDir(app);
  if (!fs.existsSync(dir)) return [];
  const removed = [];
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.(incoming|old)-(\d+)-\d+$/.exec(name);
    if (!m || fs.existsSync(`/proc/${m[2]}`)) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

let incomingSeq = 0;
/** A new folder name releases/.incoming-<owner>-<n>; owner: the installer's process, whose exit makes it stale. */
function newIncoming(app, owner = process.pid) {
  const dir = releasesDir(app);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return path.join(dir, `.incoming-${owner}-${++incomingSeq}`);
}

/**
 * Puts a checked folder in place as releases/<version>. A release of that version already there
 * with other contents (a damaged copy, or a rebuild under the same version) is replaced: the new
 * folder is renamed in and the old one removed after; current, pointing at the name, follows.
 */
function commitRelease(app, incoming, version) {
  const dest = path.join(releasesDir(app), version);
  syncDisk(incoming);
  if (exists(dest)) {
    const old = path.join(releasesDir(app), `.old-${process.pid}-${++incomingSeq}`);
    fs.renameSync(dest, old);
    fs.renameSync(incoming, dest);
    fs.rmSync(old, { recursive: true, force: true });
    return 'replaced';
  }
  fs.renameSync(incoming, dest);
  return 'installed';
}

/** Points `name` (current, previous) at releases/<version>: a new link renamed over the old one. */
function pointLink(app, name, version) {
  const tmp = path.join(app, `.${name}.tmp-${process.pid}`);
  fs.rmSync(tmp, { force: true });
  fs.symlinkSync(`releases/${version}`, tmp);
  fs.renameSync(tmp, path.join(app, name));
}

/**
 * Points `previous` at releases/<version> again, or removes it (undefined): after an automatic
 * rollback the failed release is not the one a later `qrpos rollback` should go back to.
 */
function setPrevious(app, version) {
  if (version === undefined) fs.rmSync(path.join(app, 'previous'), { force: true });
  else pointLink(app, 'previous', M.checkVersion(version));
}

function readHistory(app) {
  const text = readIfExists(path.join(app, 'history'));
  if (!text) return [];
  return text
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [time, action, version, from] = line.split('\t');
      return { time, action, version, from: from || undefined };
    });
}

/**
 * Makes `version` the current release: current -> it, previous -> what current was. Then keeps
 * `keep` releases (at least current and previous) and removes older ones. Returns what it did.
 */
function activate(app, version, { keep = 3, dryRun = false } = {}) {
  M.checkVersion(version);
  const dir = path.join(releasesDir(app), version);
  if (!dryRun && !fs.existsSync(path.join(dir, 'manifest.json'))) throw new ReleaseError(`no release ${version} in ${releasesDir(app)}`);
  const was = linkVersion(app, 'current');
  const out = { version, was, switched: false, removed: [] };
  if (was !== version) {
    out.switched = true;
    if (!dryRun) {
      if (was && fs.existsSync(path.join(releasesDir(app), was))) pointLink(app, 'previous', was);
      pointLink(app, 'current', version);
      fs.appendFileSync(path.join(app, 'history'), `${new Date().toISOString()}\tactivate\t${version}\t${was || ''}\n`, { mode: 0o644 });
    }
  }
  out.removed = prune(app, { keep, dryRun, current: version, previous: out.switched ? was : linkVersion(app, 'previous') });
  return out;
}

/** The releases beyond the newest `keep` (by when each was last made current), never current or previous. */
function prune(app, { keep = 3, dryRun = false, current = linkVersion(app, 'current'), previous = linkVersion(app, 'previous') } = {}) {
  const dir = releasesDir(app);
  if (!fs.existsSync(dir)) return [];
  const lastActive = new Map();
  readHistory(app).forEach((h, i) => {
    if (h.action === 'activate') lastActive.set(h.version, i);
  });
  const names = fs
    .readdirSync(dir)
    .filter((n) => !n.startsWith('.') && fs.statSync(path.join(dir, n)).isDirectory())
    .filter((n) => n !== current && n !== previous);
  // Newest first: by the last switch to it, then (never switched to) by the folder's time.
  names.sort((a, b) => {
    const ha = lastActive.get(a) ?? -1;
    const hb = lastActive.get(b) ?? -1;
    if (ha !== hb) return hb - ha;
    return fs.statSync(path.join(dir, b)).mtimeMs - fs.statSync(path.join(dir, a)).mtimeMs;
  });
  const room = Math.max(0, Math.max(2, keep) - [current, previous].filter(Boolean).length);
  const remove = names.slice(room);
  if (!dryRun) for (const n of remove) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
  return remove;
}

// ---------------------------------------------------------------- install steps

/**
 * Checks a bundle for this machine and unpacks it into a new releases/.incoming-* folder, unless
 * the same release is there intact already (then the bundle is still checked, nothing written).
 * Returns { manifest, status: "unchanged" | "new" | "repair", dir }: dir holds the release (the
 * incoming folder unless unchanged). With dryRun it unpacks into `scratch` instead.
 */
async function unpackBundle(file, { app, keys, here, dryRun = false, scratch, owner }) {
  let state = { state: 'absent' };
  const into = dryRun ? path.join(scratch, 'release') : newIncoming(app, owner);
  const result = await readBundle(file, {
    keys,
    here,
    into,
    spaceDir: dryRun ? app : releasesDir(app),
    onManifest: (m, bytes) => {
      state = installedIntact(app, m.version, bytes);
      return state.state === 'intact' && !dryRun ? 'skip-write' : undefined;
    },
  });
  const version = result.manifest.version;
  if (state.state === 'intact') return { manifest: result.manifest, status: 'unchanged', dir: result.written ? into : path.join(releasesDir(app), version) };
  return { manifest: result.manifest, status: state.state === 'absent' ? 'new' : 'repair', problems: state.problems, dir: into };
}

/**
 * A release made from a built checkout (setup.sh without --bundle): the same file set as a bundle,
 * node_modules from `nodeModules` (npm ci output, a copy, or the current release's), and an
 * unsigned manifest. Its version is <git describe or package version>.<content hash>, so the same
 * files give the same version: an unchanged re-run writes nothing.
 */
function stageCheckout({ app, source, installerDir, nodeModules, stamp, describe, dryRun = false, owner }) {
  const arch = process.arch;
  const extra = [];
  let stampDir;
  if (nodeModules && stamp) {
    // What node_modules was built for (lock file hash, Node.js version, architecture): a later
    // checkout install reuses the current release's node_modules when this is what it wants.
    stampDir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'qrpos-stamp-'));
    const file = path.join(stampDir, '.qrpos-installed');
    fs.writeFileSync(file, `${stamp}\n`);
    extra.push({ rel: 'node_modules/.qrpos-installed', src: file, size: fs.statSync(file).size, mode: 0o644 });
  }
  try {
    const set = M.releaseFiles({ source, distDir: path.join(source, 'dist'), installerDir, nodeModules, arch, extra });
    const fileMap = M.hashFiles(set.files);
    const pkg = JSON.parse(fs.readFileSync(path.join(source, 'package.json'), 'utf8'));
    const base = describe || pkg.version || 'src';
    const version = M.checkVersion(`${base}.${M.contentHash(fileMap).slice(0, 8)}`);
    const manifest = M.makeManifest(
      {
        version,
        describe: describe || null,
        packageVersion: pkg.version,
        source: 'checkout',
        arch,
        engines: pkg.engines && pkg.engines.node,
        builtWith: process.version,
        lockSha256: M.sha256File(path.join(source, 'package-lock.json')),
        created: new Date().toISOString(),
      },
      fileMap,
      set.native,
    );
    const dest = path.join(releasesDir(app), version);
    const have = readIfExists(path.join(dest, 'manifest.json'));
    if (have) {
      const old = M.parseManifest(have);
      // Same files (the created time aside), and all of them still as listed: nothing to do.
      if (JSON.stringify(old.files) === JSON.stringify(manifest.files) && M.treeProblems(dest, old).length === 0) {
        return { manifest: old, status: 'unchanged', dir: dest, notes: set.notes };
      }
    }
    if (dryRun) return { manifest, status: have ? 'repair' : 'new', dir: undefined, notes: set.notes };
    const into = newIncoming(app, owner);
    fs.mkdirSync(into, { mode: 0o700 });
    try {
      for (const f of set.files) {
        const d = path.join(into, f.rel);
        fs.mkdirSync(path.dirname(d), { recursive: true, mode: 0o755 });
        fs.copyFileSync(f.src, d);
        fs.chmodSync(d, f.mode);
      }
      fs.writeFileSync(path.join(into, 'manifest.json'), M.manifestBytes(manifest), { mode: 0o644 });
      fs.chmodSync(path.join(into, 'manifest.json'), 0o644); // whatever the umask (see above)
      fixDirModes(into);
      // The copies are what runs: check them, not the sources (which may change meanwhile).
      const problems = M.treeProblems(into, manifest);
      if (problems.length) throw new ReleaseError(`the files changed while they were copied: ${M.listSome(problems)}`);
    } catch (err) {
      fs.rmSync(into, { recursive: true, force: true });
      throw err;
    }
    return { manifest, status: have ? 'repair' : 'new', dir: into, notes: set.notes };
  } finally {
    if (stampDir) fs.rmSync(stampDir, { recursive: true, force: true });
  }
}

module.exports = {
  readBundle,
  unpackBundle,
  stageCheckout,
  commitRelease,
  activate,
  prune,
  cleanStale,
  installedIntact,
  linkVersion,
  setPrevious,
  readHistory,
  freeBytes,
  spaceNeeded,
  releasesDir,
};
