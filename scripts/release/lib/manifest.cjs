'use strict';
// What a qrpos release is: the file set (compiled app, production node_modules for one
// architecture, device files, units, installer), its manifest (SHA-256 and mode of every file,
// architecture, the Node ABI its native modules need) and the manifest's Ed25519 signature.
// Plain Node, no dependencies: the device runs this before anything of a bundle is trusted.
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

class ReleaseError extends Error {}

const FORMAT = 1;
const NAME = 'qrpos';
const PLATFORM = 'linux';

/** Node's name for an architecture, Debian's, and the ELF e_machine of its binaries. */
const ARCHES = {
  x64: { deb: 'amd64', elf: 62, uname: 'x86_64' },
  arm64: { deb: 'arm64', elf: 183, uname: 'aarch64' },
  arm: { deb: 'armhf', elf: 40, uname: 'armv7l' },
};
const ARCH_ALIASES = { amd64: 'x64', x86_64: 'x64', aarch64: 'arm64', armhf: 'arm', armv7l: 'arm', armv6l: 'arm' };

function normalizeArch(a) {
  const arch = ARCH_ALIASES[a] || a;
  if (!ARCHES[arch]) throw new ReleaseError(`unknown architecture "${a}" (x64 or amd64, arm64 or aarch64, arm or armhf)`);
  return arch;
}

const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
function checkVersion(v) {
  if (typeof v !== 'string' || !VERSION_RE.test(v)) throw new ReleaseError(`"${v}" is not a usable release version (letters, digits, . _ + -; at most 128)`);
  return v;
}

/** The bundle's top directory and file name stem: qrpos-<version>-linux-<arch>. */
function bundleStem(version, arch) {
  return `${NAME}-${version}-${PLATFORM}-${arch}`;
}

/** A path inside a release: relative, "/"-separated, no "." or ".." or empty parts, no control characters. */
function checkRelPath(rel) {
  if (typeof rel !== 'string' || rel === '' || rel.length > 1024 || rel.startsWith('/') || rel.includes('\\') || /[\u0000-\u001f\u007f]/.test(rel)) return false;
  return rel.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}
function sha256File(file) {
  return sha256(fs.readFileSync(file));
}

// ---------------------------------------------------------------- native modules

/** ELF class and machine of a binary, or undefined when it is not ELF (Mach-O, PE). */
function elfInfo(buf) {
  if (buf.length < 20 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return undefined;
  const little = buf[5] === 1;
  const machine = little ? buf.readUInt16LE(18) : buf.readUInt16BE(18);
  return { bits: buf[4] === 2 ? 64 : 32, machine };
}

function archOfMachine(machine) {
  return Object.keys(ARCHES).find((a) => ARCHES[a].elf === machine);
}

/**
 * How a native module binds to Node: "abi" modules (the V8 API, NAN: better-sqlite3, epoll) load
 * only in a Node of the ABI they were compiled for; "napi" modules (node-addon-api: canvas 3,
 * node-hid, serialport, koffi) load in any Node with N-API; "none" is no Node addon at all (a
 * SQLite extension, a build helper). A module that exports node_register_module_v<ABI> names
 * its ABI; one that registers itself the older way does not (see resolveAbis).
 */
function nativeKind(buf) {
  const text = buf.toString('latin1');
  const m = /node_register_module_v(\d+)/.exec(text);
  if (m) return { kind: 'abi', abi: Number(m[1]) };
  if (text.includes('napi_register_module_v1') || text.includes('napi_module_register')) return { kind: 'napi' };
  if (/_ZN2v8|_ZN4node|node_module_register/.test(text)) return { kind: 'abi' };
  return { kind: 'none' };
}

/**
 * The ABI of "abi" modules whose binary does not name it. For this machine's architecture: each
 * is loaded (process.dlopen) in a Node.js child: it loads (this Node's ABI) or Node says which
 * NODE_MODULE_VERSION it has. For another architecture: the ABI the other modules name (they
 * were built by the same npm ci).
 */
function resolveAbis(native, arch) {
  const unknown = native.filter((n) => n.kind === 'abi' && n.abi === undefined);
  if (unknown.length === 0) return;
  if (arch === process.arch) {
    const { execFileSync } = require('child_process');
    const script =
      'for (const f of JSON.parse(process.argv[1])) { let r; try { process.dlopen({ exports: {} }, f); r = "ok " + process.versions.modules; }' +
      ' catch (e) { r = String(e.message).split("\\n")[0]; } console.log(JSON.stringify(r)); }';
    const lines = execFileSync(process.execPath, ['-e', script, JSON.stringify(unknown.map((n) => n.src))], { encoding: 'utf8' }).trim().split('\n');
    unknown.forEach((n, i) => {
      const r = JSON.parse(lines[i]);
      const ok = /^ok (\d+)$/.exec(r);
      const other = /NODE_MODULE_VERSION (\d+)/.exec(r);
      if (ok) n.abi = Number(ok[1]);
      else if (other) n.abi = Number(other[1]);
      else throw new ReleaseError(`${n.path} (${n.package}) does not load in Node.js ${process.version} here: ${r}`);
    });
    return;
  }
  const known = [...new Set(native.filter((n) => n.abi !== undefined).map((n) => n.abi))];
  if (known.length !== 1) throw new ReleaseError(`cannot tell which Node ABI ${unknown.map((n) => n.package).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} built for: build the bundle on a linux-${arch} machine`);
  for (const n of unknown) n.abi = known[0];
}

/** Per package: "Node ABI 115", "N-API" (packages with no Node addon left out). */
function nativeSummary(native) {
  const by = new Map();
  for (const n of native) {
    if (n.kind === 'none') continue;
    const label = n.kind === 'abi' ? `Node ABI ${n.abi}` : n.kind === 'napi' ? 'N-API' : 'unknown';
    const have = by.get(n.package);
    if (!have || label.startsWith('Node ABI')) by.set(n.package, label);
  }
  return [...by].map(([pkg, label]) => `${pkg} (${label})`);
}

// ---------------------------------------------------------------- production node_modules

/** Where a package-lock key ("node_modules/a/node_modules/b") is under a node_modules folder. */
function lockKeyDir(nodeModules, key) {
  return path.join(nodeModules, key.slice('node_modules/'.length));
}

function targetMatches(list, value) {
  if (!Array.isArray(list) || list.length === 0) return true;
  const allowed = list.filter((x) => !x.startsWith('!'));
  if (list.includes(`!${value}`)) return false;
  return allowed.length === 0 || allowed.includes(value);
}

/**
 * The production packages of package-lock.json that a release for `arch` holds, found in the
 * `nodeModules` folder: dev-only ones and other platforms' optional ones are left out.
 * Throws when a needed package is missing or is another version than the lock file says.
 */
function productionPackages(lock, nodeModules, arch) {
  if (!lock || typeof lock.packages !== 'object') throw new ReleaseError('package-lock.json has no "packages" (lockfileVersion 2 or 3, npm 7 or newer, is needed)');
  const out = [];
  const skipped = [];
  for (const [key, info] of Object.entries(lock.packages)) {
    if (key === '' || !key.startsWith('node_modules/') || info.dev) continue;
    if (info.link) throw new ReleaseError(`${key} is a linked package (workspace); releases hold installed packages only`);
    if (!targetMatches(info.os, PLATFORM) || !targetMatches(info.cpu, arch)) {
      skipped.push(key);
      continue;
    }
    const dir = lockKeyDir(nodeModules, key);
    let pkg;
    try {
      pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    } catch {
      if (info.optional) {
        skipped.push(key);
        continue;
      }
      throw new ReleaseError(`${key} (${info.version}) is not in ${nodeModules}: run npm ci there first`);
    }
    if (info.version && pkg.version !== info.version) {
      throw new ReleaseError(`${key} in ${nodeModules} is version ${pkg.version}, package-lock.json says ${info.version}: run npm ci there first`);
    }
    out.push({ key, dir, name: pkg.name || key.slice(key.lastIndexOf('node_modules/') + 13), version: pkg.version });
  }
  return { packages: out, skipped };
}

// What only a compiler reads: C/C++/assembly sources and headers, objects, gyp and CMake files.
const BUILD_SOURCES = /(\.(c|cc|cpp|cxx|h|hh|hpp|hxx|s|asm|o|a|obj|gyp|gypi|mk|cmake)|^CMakeLists\.txt)$/i;
const TYPES_AND_MAPS = /\.(d\.ts|d\.cts|d\.mts|map)$/i;
const FOREIGN_PREBUILD = /(^|\/)(android|darwin|win32|freebsd|openbsd|sunos|aix)[-_]/;
// Prebuilds for musl libc (Alpine): the devices run Debian or Raspberry Pi OS (glibc), where these
// do not even load (node-hid, serialport's bindings and koffi carry both).
const MUSL_PREBUILD = /(^|[/._-])musl([/._-]|$)/;

/**
 * The files of one package that run: not its nested node_modules (separate lock entries), not
 * type declarations or source maps, not what only a compiler reads (C/C++ sources and headers,
 * gyp and CMake files: node-addon-api, nan and koffi ship theirs), and of a package built by
 * node-gyp (binding.gyp) only build/Release/*.node of build/. Binaries (.node) for another OS or
 * architecture are dropped; the ones kept are returned in `native`.
 */
function packageFiles(pkgDir, relBase, arch, notes) {
  const gyp = fs.existsSync(path.join(pkgDir, 'binding.gyp'));
  const files = [];
  const native = [];
  let foreign = 0;
  const walk = (rel) => {
    const abs = rel ? path.join(pkgDir, rel) : pkgDir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(abs, name));
      if (st.isDirectory()) {
        if (!rel && name === 'node_modules') continue;
        if (name === '.bin' || (gyp && r === 'build/Release/obj.target') || (gyp && /^build\/(Release|Debug)\/(obj|\.deps)$/.test(r))) continue;
        if (gyp && r === 'build/Debug') continue;
        walk(r);
        continue;
      }
      if (st.isSymbolicLink()) {
        // .bin links and the like: nothing at run time follows them.
        notes.push(`skipped link ${relBase}/${r}`);
        continue;
      }
      if (!st.isFile()) throw new ReleaseError(`${path.join(abs, name)} is not a regular file, directory or link`);
      if (TYPES_AND_MAPS.test(name)) continue;
      if (BUILD_SOURCES.test(name)) continue;
      if (gyp && r.startsWith('build/') && !/^build\/Release\/[^/]+\.node$/.test(r)) continue;
      if (name.endsWith('.node')) {
        const buf = fs.readFileSync(path.join(abs, name));
        const elf = elfInfo(buf);
        if (!elf || FOREIGN_PREBUILD.test(r) || MUSL_PREBUILD.test(r) || archOfMachine(elf.machine) !== arch) {
          foreign++;
          continue;
        }
        native.push({ path: `${relBase}/${r}`, src: path.join(abs, name), ...nativeKind(buf) });
      }
      files.push({ rel: `${relBase}/${r}`, src: path.join(abs, name), size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644 });
    }
  };
  walk('');
  return { files, native, foreign };
}

/** The production node_modules of a release, as file entries, and its native modules. */
function nodeModulesFiles(nodeModules, lockFile, arch) {
  const lock = JSON.parse(fs.readFileSync(lockFile, 'utf8'));
  const { packages, skipped } = productionPackages(lock, nodeModules, arch);
  const files = [];
  const native = [];
  const notes = [];
  for (const p of packages) {
    const got = packageFiles(p.dir, p.key, arch, notes);
    if (got.native.length === 0 && got.foreign > 0) {
      throw new ReleaseError(
        `${p.name} ${p.version}: none of its native binaries is for linux-${arch} (in ${p.dir}). ` +
          `Build on a linux-${arch} machine (npm ci there), or pass its node_modules with --node-modules.`,
      );
    }
    files.push(...got.files);
    for (const n of got.native) native.push({ ...n, package: p.name, version: p.version });
  }
  resolveAbis(native, arch);
  return { files, native, skipped, notes };
}

// ---------------------------------------------------------------- the file set

/** Every regular file under dir (relative names), optionally filtered; links are refused. */
function treeFiles(dir, relBase, filter = () => true) {
  const out = [];
  const walk = (rel) => {
    const abs = rel ? path.join(dir, rel) : dir;
    for (const name of fs.readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(abs, name));
      if (!filter(r, st)) continue;
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) out.push({ rel: `${relBase}/${r}`, src: path.join(abs, name), size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      else throw new ReleaseError(`${path.join(abs, name)}: a release holds regular files only (a link or special file here)`);
    }
  };
  walk('');
  return out;
}

function fileEntry(src, rel, mode) {
  const st = fs.statSync(src);
  if (!st.isFile()) throw new ReleaseError(`${src} is not a file`);
  return { rel, src, size: st.size, mode: mode ?? (st.mode & 0o111 ? 0o755 : 0o644) };
}

/**
 * The files of a release:
 *   dist/                  compiled app (`distDir`; test files and dist/scripts left out)
 *   device/, systemd/      profiles, udev rules, boot snippets, fonts folder; the units
 *   package.json, package-lock.json, scripts/qrpos.cjs      from `source`
 *   scripts/setup.sh, scripts/setup/, scripts/SETUP.md, scripts/release/   the installer (`installerDir`)
 *   node_modules/          production packages for `arch` from `nodeModules` (when given)
 * plus `extra` entries. Returns { files (sorted by rel), native, skipped, notes }.
 */
function releaseFiles({ source, distDir, installerDir, nodeModules, arch, extra = [] }) {
  const need = (p, what) => {
    if (!fs.existsSync(p)) throw new ReleaseError(`${p} is missing: ${what}`);
    return p;
  };
  need(path.join(distDir, 'src', 'cli', 'main.js'), `${distDir} is not a built qrpos (npm run build)`);
  const files = [];
  files.push(...treeFiles(distDir, 'dist', (r, st) => r !== 'scripts' && !(st.isFile() && /\.test\.js(\.map)?$/.test(r))));
  files.push(...treeFiles(need(path.join(source, 'device'), 'not a qrpos source tree'), 'device'));
  const units = fs.existsSync(path.join(source, 'systemd')) ? path.join(source, 'systemd') : path.join(installerDir, '..', 'systemd');
  files.push(...treeFiles(need(units, 'the systemd units'), 'systemd', (r) => r.endsWith('.service') || r.endsWith('.path') || !r.includes('.')));
  for (const f of ['package.json', 'package-lock.json']) files.push(fileEntry(need(path.join(source, f), 'not a qrpos source tree'), f, 0o644));
  files.push(fileEntry(need(path.join(source, 'scripts', 'qrpos.cjs'), 'not a qrpos source tree'), 'scripts/qrpos.cjs', 0o755));
  files.push(fileEntry(path.join(installerDir, 'setup.sh'), 'scripts/setup.sh', 0o755));
  if (fs.existsSync(path.join(installerDir, 'SETUP.md'))) files.push(fileEntry(path.join(installerDir, 'SETUP.md'), 'scripts/SETUP.md', 0o644));
  files.push(...treeFiles(path.join(installerDir, 'setup'), 'scripts/setup', (r, st) => st.isDirectory() || /\.(sh|cjs)$/.test(r)));
  files.push(...treeFiles(path.join(installerDir, 'release'), 'scripts/release', (r, st) => st.isDirectory() || /\.(cjs|pub)$/.test(r)));
  let native = [];
  let skipped = [];
  let notes = [];
  if (nodeModules) {
    const nm = nodeModulesFiles(nodeModules, path.join(source, 'package-lock.json'), arch);
    files.push(...nm.files);
    ({ native, skipped, notes } = nm);
  }
  files.push(...extra);
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  for (let i = 1; i < files.length; i++) {
    if (files[i].rel === files[i - 1].rel) throw new ReleaseError(`two files for ${files[i].rel}`);
  }
  for (const f of files) if (!checkRelPath(f.rel)) throw new ReleaseError(`unusable path in a release: ${JSON.stringify(f.rel)}`);
  return { files, native, skipped, notes };
}

/** Hashes each entry's file (from `base` when given, else its src) into { sha256, size, mode }. */
function hashFiles(files, base) {
  const out = {};
  for (const f of files) {
    const buf = fs.readFileSync(base ? path.join(base, f.rel) : f.src);
    out[f.rel] = { sha256: sha256(buf), size: buf.length, mode: f.mode === 0o755 ? '0755' : '0644' };
  }
  return out;
}

/** A short hash of the content (paths, hashes, modes): the same files give the same hash. */
function contentHash(fileMap) {
  const h = crypto.createHash('sha256');
  for (const rel of Object.keys(fileMap).sort()) h.update(`${rel}\t${fileMap[rel].sha256}\t${fileMap[rel].mode}\n`);
  return h.digest('hex');
}

/** The Node.js requirements of a release from its native modules (and the package's engines). */
function nodeRequirements(native, engines) {
  const abis = [...new Set(native.filter((n) => n.kind === 'abi').map((n) => n.abi))].sort((a, b) => a - b);
  return { engines: engines || null, abi: abis, napi: native.some((n) => n.kind === 'napi') };
}

function makeManifest(meta, fileMap, native) {
  let size = 0;
  for (const f of Object.values(fileMap)) size += f.size;
  const files = {};
  for (const rel of Object.keys(fileMap).sort()) files[rel] = fileMap[rel];
  return {
    format: FORMAT,
    name: NAME,
    version: checkVersion(meta.version),
    describe: meta.describe ?? null,
    commit: meta.commit ?? null,
    packageVersion: meta.packageVersion ?? null,
    source: meta.source,
    platform: PLATFORM,
    arch: normalizeArch(meta.arch),
    created: meta.created ?? new Date().toISOString(),
    node: { ...nodeRequirements(native, meta.engines), builtWith: meta.builtWith ?? null },
    native: native.map((n) => ({ path: n.path, package: n.package, version: n.version, kind: n.kind, ...(n.kind === 'abi' ? { abi: n.abi } : {}) })),
    lockSha256: meta.lockSha256 ?? null,
    count: Object.keys(files).length,
    size,
    files,
  };
}

function manifestBytes(manifest) {
  return Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8');
}

/** Parses and checks the shape of a manifest (after its signature was checked). */
function parseManifest(bytes) {
  let m;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ReleaseError(`manifest.json is not valid JSON (${err.message})`);
  }
  const bad = (what) => {
    throw new ReleaseError(`manifest.json: ${what}`);
  };
  if (!m || typeof m !== 'object') bad('not an object');
  if (m.format !== FORMAT) bad(`format ${m.format}; this installer reads format ${FORMAT} (a newer qrpos made it: install with that release's setup.sh)`);
  if (m.name !== NAME || m.platform !== PLATFORM) bad(`not a qrpos release for Linux (${m.name}, ${m.platform})`);
  checkVersion(m.version);
  if (!ARCHES[m.arch]) bad(`unknown arch ${m.arch}`);
  if (!m.node || !Array.isArray(m.node.abi)) bad('no node requirements');
  if (!m.files || typeof m.files !== 'object') bad('no file list');
  for (const [rel, f] of Object.entries(m.files)) {
    if (!checkRelPath(rel) || rel === 'manifest.json' || rel === 'manifest.json.sig') bad(`unusable path ${JSON.stringify(rel)}`);
    if (!f || !/^[0-9a-f]{64}$/.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0 || (f.mode !== '0644' && f.mode !== '0755')) bad(`bad entry for ${rel}`);
  }
  return m;
}

// ---------------------------------------------------------------- signatures

/** Every public key (PEM "PUBLIC KEY" blocks) in a file, with its id: the SHA-256 of its DER. */
function loadPublicKeys(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ReleaseError(`cannot read the release public key ${file}: ${err.message}`);
  }
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) || [];
  if (blocks.length === 0) throw new ReleaseError(`${file} holds no public key (PEM "BEGIN PUBLIC KEY")`);
  return blocks.map((pem) => {
    const key = crypto.createPublicKey(pem);
    if (key.asymmetricKeyType !== 'ed25519') throw new ReleaseError(`${file}: a ${key.asymmetricKeyType} key; release keys are Ed25519`);
    return { key, id: keyId(key), file };
  });
}

function keyId(key) {
  const pub = key.type === 'private' ? crypto.createPublicKey(key) : key;
  return sha256(pub.export({ type: 'spki', format: 'der' }));
}

/** manifest.json.sig: { alg, keyId, signature (base64) } over the exact bytes of manifest.json. */
function signManifest(bytes, privateKey) {
  const signature = crypto.sign(null, bytes, privateKey).toString('base64');
  return Buffer.from(JSON.stringify({ alg: 'ed25519', keyId: keyId(privateKey), signature }, null, 2) + '\n', 'utf8');
}

/** Checks manifest bytes against their signature with the trusted keys; returns the key id. */
function verifySignature(bytes, sigBytes, keys) {
  let sig;
  try {
    sig = JSON.parse(sigBytes.toString('utf8'));
  } catch {
    throw new ReleaseError('manifest.json.sig is not a qrpos signature file (not JSON)');
  }
  if (!sig || sig.alg !== 'ed25519' || typeof sig.signature !== 'string' || typeof sig.keyId !== 'string') {
    throw new ReleaseError('manifest.json.sig is not a qrpos signature file (alg, keyId, signature)');
  }
  const signature = Buffer.from(sig.signature, 'base64');
  const key = keys.find((k) => k.id === sig.keyId);
  if (!key) {
    throw new ReleaseError(
      `bad signature: the bundle is signed by key ${sig.keyId.slice(0, 16)}, which is not trusted here ` +
        `(trusted: ${keys.map((k) => k.id.slice(0, 16)).join(', ')} from ${[...new Set(keys.map((k) => k.file))].join(', ')})`,
    );
  }
  if (!crypto.verify(null, bytes, key.key, signature)) {
    throw new ReleaseError(`bad signature: manifest.json does not match its signature by key ${sig.keyId.slice(0, 16)} (changed after signing, or a forged signature)`);
  }
  return key.id;
}

// ---------------------------------------------------------------- does it fit this Node.js?

/** What keeps a release from running with this Node.js on this machine ([] = nothing). */
function compatProblems(manifest, here = { arch: process.arch, abi: Number(process.versions.modules), node: process.version }) {
  const problems = [];
  if (manifest.arch !== here.arch) {
    problems.push(
      `wrong architecture: the bundle is for linux-${manifest.arch} (${ARCHES[manifest.arch].deb}), this machine is linux-${here.arch}` +
        `${ARCHES[here.arch] ? ` (${ARCHES[here.arch].deb})` : ''}: use the qrpos-${manifest.version}-linux-${here.arch}.tar.gz bundle`,
    );
  }
  if (manifest.node.abi.length && !manifest.node.abi.includes(here.abi)) {
    const mods = manifest.native.filter((n) => n.kind === 'abi').map((n) => n.package);
    problems.push(
      `wrong Node.js ABI: ${[...new Set(mods)].join(', ')} in the bundle ${mods.length === 1 ? 'is' : 'are'} built for Node ABI ${manifest.node.abi.join('/')} ` +
        `(Node.js ${manifest.node.builtWith || 'of that ABI'}); this Node.js ${here.node} has ABI ${here.abi}: ` +
        `install a Node.js of ABI ${manifest.node.abi.join('/')} or use a bundle built with this Node.js`,
    );
  }
  const min = /^>=\s*(\d+)/.exec(manifest.node.engines || '');
  const major = Number(/^v?(\d+)/.exec(here.node)?.[1]);
  if (min && major < Number(min[1])) problems.push(`Node.js ${here.node} is too old: the release needs ${manifest.node.engines}`);
  return problems;
}

// ---------------------------------------------------------------- an unpacked release

/** Problems of a release folder against its manifest: files missing, extra, changed, or of another mode. */
function treeProblems(dir, manifest) {
  const problems = [];
  const seen = new Set();
  const walk = (rel) => {
    const abs = rel ? path.join(dir, rel) : dir;
    let names;
    try {
      names = fs.readdirSync(abs).sort();
    } catch (err) {
      problems.push(`cannot read ${rel || '.'}: ${err.code || err.message}`);
      return;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (!rel && (name === 'manifest.json' || name === 'manifest.json.sig')) continue;
      const st = fs.lstatSync(path.join(abs, name));
      if (st.isDirectory()) {
        walk(r);
        continue;
      }
      const want = manifest.files[r];
      if (!want) {
        problems.push(`not in the manifest: ${r}`);
        continue;
      }
      seen.add(r);
      if (!st.isFile()) problems.push(`not a regular file: ${r}`);
      else if (st.size !== want.size || sha256File(path.join(abs, name)) !== want.sha256) problems.push(`modified: ${r}`);
      else if ((st.mode & 0o777).toString(8).padStart(4, '0') !== want.mode) problems.push(`mode changed: ${r} (${(st.mode & 0o777).toString(8)}, manifest ${want.mode})`);
    }
  };
  walk('');
  for (const rel of Object.keys(manifest.files)) if (!seen.has(rel)) problems.push(`missing: ${rel}`);
  return problems;
}

/**
 * `git describe --tags --always --dirty` of a checkout, and its commit and commit time; undefined
 * without git or a repository. Dirty is found with `git status` under GIT_OPTIONAL_LOCKS=0, not
 * with describe --dirty, which rewrites .git/index (root-owned in a user's checkout when setup.sh
 * runs as root).
 */
function gitDescribe(dir) {
  if (!fs.existsSync(path.join(dir, '.git'))) return undefined;
  const { execFileSync } = require('child_process');
  const git = (args) =>
    execFileSync('git', ['-c', 'safe.directory=*', '-C', dir, ...args], {
      encoding: 'utf8',
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  try {
    const describe = git(['describe', '--tags', '--always']);
    const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    return { describe: dirty ? `${describe}-dirty` : describe, dirty, commit: git(['rev-parse', 'HEAD']), time: Number(git(['log', '-1', '--format=%ct'])) };
  } catch {
    return undefined;
  }
}

/** "a; b; c; and 4 more" */
function listSome(items, n = 5) {
  return items.length <= n ? items.join('; ') : `${items.slice(0, n).join('; ')}; and ${items.length - n} more`;
}

module.exports = {
  ReleaseError,
  ARCHES,
  NAME,
  PLATFORM,
  normalizeArch,
  checkVersion,
  bundleStem,
  checkRelPath,
  sha256,
  sha256File,
  elfInfo,
  nativeKind,
  nativeSummary,
  productionPackages,
  nodeModulesFiles,
  treeFiles,
  releaseFiles,
  hashFiles,
  contentHash,
  makeManifest,
  manifestBytes,
  parseManifest,
  loadPublicKeys,
  keyId,
  signManifest,
  verifySignature,
  compatProblems,
  treeProblems,
  listSome,
  gitDescribe,
};
