#!/usr/bin/env node
'use strict';
// qrpos release bundles on the device side (plain Node.js, no dependencies, no build step):
//
//   node scripts/release/release.cjs verify FILE [--key PUB]... [--here]
//       checks the signature (trusted keys: scripts/release/release-key.pub beside this file,
//       or --key) and every file of a bundle; --here: also that it fits this machine's
//       architecture and this Node.js's ABI. Exit 0 good, 1 refused (the message says why).
//   node scripts/release/release.cjs check DIR [--key PUB]...
//       an unpacked release folder against its manifest (and signature, when it has one).
//
// scripts/setup.sh uses the rest (tab-separated "key<TAB>value" lines on stdout):
//   unpack FILE --app DIR [--key PUB]... [--owner PID] [--dry-run --scratch DIR]
//   stage --app DIR --source DIR --installer DIR [--node-modules DIR --stamp TEXT] [--owner PID] [--dry-run]
//   commit --app DIR --dir INCOMING --version V
//   activate --app DIR --version V [--keep N] [--dry-run]
//   clean --app DIR
const path = require('path');
const M = require('./lib/manifest.cjs');
const I = require('./lib/install.cjs');

const DEFAULT_KEY = path.join(__dirname, 'release-key.pub');

function parse(argv) {
  const opts = { _: [], key: [] };
  const valued = new Set(['key', 'app', 'owner', 'scratch', 'source', 'installer', 'node-modules', 'stamp', 'dir', 'version', 'keep']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      opts._.push(a);
      continue;
    }
    const name = a.slice(2);
    if (valued.has(name)) {
      const v = argv[++i];
      if (v === undefined || v === '') usage(`--${name} needs a value`);
      if (name === 'key') opts.key.push(v);
      else opts[name] = v;
    } else if (name === 'dry-run' || name === 'here' || name === 'json') {
      opts[name] = true;
    } else {
      usage(`unknown option --${name}`);
    }
  }
  return opts;
}

function usage(msg) {
  process.stderr.write(`release: ${msg}\nusage: release.cjs verify FILE [--key PUB]... [--here] | check DIR (see the top of ${__filename})\n`);
  process.exit(2);
}

function need(opts, name) {
  if (!opts[name]) usage(`--${name} is required`);
  return opts[name];
}

function keysOf(opts) {
  return (opts.key.length ? opts.key : [DEFAULT_KEY]).flatMap((f) => M.loadPublicKeys(f));
}

function out(fields) {
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    for (const item of Array.isArray(v) ? v : [v]) process.stdout.write(`${k}\t${item}\n`);
  }
}

function describeNative(manifest) {
  return M.nativeSummary(manifest.native).join(', ') || 'none';
}

const here = () => ({ arch: process.arch, abi: Number(process.versions.modules), node: process.version });

async function main(argv) {
  const opts = parse(argv);
  const [cmd, arg] = opts._;
  switch (cmd) {
    case 'verify': {
      if (!arg) usage('verify needs the bundle file');
      const keys = keysOf(opts);
      const { manifest, keyId } = await I.readBundle(path.resolve(arg), { keys, here: opts.here ? here() : null });
      process.stdout.write(
        `good: ${path.basename(arg)}: qrpos ${manifest.version} for linux-${manifest.arch}, ${manifest.count} files (${(manifest.size / 1e6).toFixed(1)} MB), ` +
          `every file as the manifest signed by key ${keyId.slice(0, 16)} lists it\n` +
          `  built ${manifest.created}${manifest.commit ? ` from ${manifest.commit.slice(0, 12)}` : ''}; Node.js ${manifest.node.engines || 'any'}` +
          `${manifest.node.abi.length ? `, ABI ${manifest.node.abi.join('/')} only` : ''} (built with ${manifest.node.builtWith})\n` +
          `  native modules: ${describeNative(manifest)}\n`,
      );
      if (opts.here) process.stdout.write(`  fits this machine: linux-${process.arch}, Node.js ${process.version} (ABI ${process.versions.modules})\n`);
      return 0;
    }
    case 'check': {
      if (!arg) usage('check needs a release folder');
      const fs = require('fs');
      const dir = path.resolve(arg);
      const bytes = fs.readFileSync(path.join(dir, 'manifest.json'));
      let signed = 'unsigned (installed from a checkout)';
      if (fs.existsSync(path.join(dir, 'manifest.json.sig'))) {
        const id = M.verifySignature(bytes, fs.readFileSync(path.join(dir, 'manifest.json.sig')), keysOf(opts));
        signed = `signed by ${id.slice(0, 16)}`;
      }
      const manifest = M.parseManifest(bytes);
      const problems = M.treeProblems(dir, manifest);
      if (problems.length) throw new M.ReleaseError(`${dir} does not match its manifest:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  and ${problems.length - 20} more` : ''}`);
      process.stdout.write(`good: ${dir}: qrpos ${manifest.version} (${signed}), ${manifest.count} files as listed\n`);
      return 0;
    }
    case 'unpack': {
      if (!arg) usage('unpack needs the bundle file');
      const app = need(opts, 'app');
      const r = await I.unpackBundle(path.resolve(arg), {
        app,
        keys: keysOf(opts),
        here: here(),
        dryRun: Boolean(opts['dry-run']),
        scratch: opts.scratch,
        owner: opts.owner ? Number(opts.owner) : undefined,
      });
      out({ version: r.manifest.version, status: r.status, dir: r.dir, files: r.manifest.count, size: r.manifest.size, native: describeNative(r.manifest), problem: r.problems });
      return 0;
    }
    case 'stage': {
      const source = path.resolve(need(opts, 'source'));
      const info = M.gitDescribe(source);
      const r = I.stageCheckout({
        app: need(opts, 'app'),
        source,
        installerDir: path.resolve(need(opts, 'installer')),
        nodeModules: opts['node-modules'] ? path.resolve(opts['node-modules']) : undefined,
        stamp: opts.stamp,
        describe: info && info.describe,
        dryRun: Boolean(opts['dry-run']),
        owner: opts.owner ? Number(opts.owner) : undefined,
      });
      out({ version: r.manifest.version, status: r.status, dir: r.dir, files: r.manifest.count, size: r.manifest.size, native: describeNative(r.manifest) });
      return 0;
    }
    case 'commit': {
      const status = I.commitRelease(need(opts, 'app'), need(opts, 'dir'), M.checkVersion(need(opts, 'version')));
      out({ status });
      return 0;
    }
    case 'activate': {
      const keep = opts.keep === undefined ? 3 : Number(opts.keep);
      if (!Number.isInteger(keep) || keep < 2) usage('--keep: a whole number, at least 2 (the current release and the previous one)');
      const r = I.activate(need(opts, 'app'), need(opts, 'version'), { keep, dryRun: Boolean(opts['dry-run']) });
      out({ was: r.was, switched: r.switched ? 1 : 0, removed: r.removed });
      return 0;
    }
    case 'clean': {
      out({ removed: I.cleanStale(need(opts, 'app')) });
      return 0;
    }
    default:
      usage(cmd ? `unknown command ${cmd}` : 'a command is needed');
  }
  return 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      if (err instanceof M.ReleaseError) {
        process.stderr.write(`release: ${err.message}\n`);
        process.exitCode = 1;
      } else {
        process.stderr.write(`release: ${err && err.stack ? err.stack : String(err)}\n`);
        process.exitCode = 1;
      }
    },
  );
}

module.exports = { main };
