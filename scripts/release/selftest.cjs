#!/usr/bin/env node
'use strict';
// Does this release run here? Loads every native module the way the app uses it, from this
// release's own node_modules, and the app's entry point:
//   better-sqlite3   opens a database file, writes and reads a row (WAL, as the journal does)
//   canvas           draws text and a rectangle and encodes a PNG
//   node-hid         loads its hidraw binding (reports the hidapi version; opens no device)
//   serialport       loads @serialport/bindings-cpp's binding
//   koffi            loads libc and calls getpid()
//   epoll / onoff    load the GPIO binding
// plus every other dependency in package.json and every native module the manifest lists.
//
//   node <release>/scripts/release/selftest.cjs [--json]
// Exit 0 when all pass; 1 with the failures named (a missing shared library names its file).
// scripts/setup.sh runs it on a new release before switching to it.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');

const root = path.resolve(__dirname, '..', '..');
const req = createRequire(path.join(root, 'package.json'));

function load(name) {
  const resolved = req.resolve(name);
  // Found in a parent folder (an old /opt/qrpos/node_modules, a global one) would pass here and
  // fail on a clean device: the release must carry it itself.
  if (!resolved.startsWith(root + path.sep)) throw new Error(`resolved outside the release: ${resolved}`);
  return req(name);
}

const CHECKS = {
  'better-sqlite3': () => {
    const Database = load('better-sqlite3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-selftest-'));
    try {
      const db = new Database(path.join(dir, 'selftest.sqlite'));
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      db.prepare('INSERT INTO t (v) VALUES (?)').run('ok');
      const row = db.prepare('SELECT v FROM t').get();
      const version = db.prepare('SELECT sqlite_version() AS v').get().v;
      db.close();
      if (!row || row.v !== 'ok') throw new Error('wrote a row and did not read it back');
      return `opened a database, wrote and read a row (SQLite ${version})`;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  canvas: () => {
    const { createCanvas } = load('canvas');
    const c = createCanvas(64, 32);
    const ctx = c.getContext('2d');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, 64, 32);
    ctx.fillStyle = '#ff0000';
    ctx.fillRect(0, 0, 8, 8);
    ctx.fillStyle = '#000000';
    ctx.font = '16px sans-serif';
    ctx.fillText('ok', 20, 24);
    const px = ctx.getImageData(2, 2, 1, 1).data;
    if (px[0] !== 255 || px[1] !== 0) throw new Error(`drew red, read back rgb(${px[0]},${px[1]},${px[2]})`);
    const png = c.toBuffer('image/png');
    if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error('toBuffer did not give a PNG');
    return `drew and encoded a ${png.length}-byte PNG (cairo ${load('canvas').cairoVersion})`;
  },
  'node-hid': () => {
    const HID = load('node-hid');
    return `hidraw binding loaded (hidapi ${HID.getHidapiVersion()})`;
  },
  '@serialport/bindings-cpp': () => {
    const b = load('@serialport/bindings-cpp');
    if (typeof b.autoDetect !== 'function') throw new Error('no autoDetect()');
    const binding = b.autoDetect();
    if (typeof binding.open !== 'function') throw new Error('no open() in the binding');
    return 'binding loaded';
  },
  koffi: () => {
    const koffi = load('koffi');
    const libc = koffi.load('libc.so.6');
    const getpid = libc.func('int getpid()');
    if (getpid() !== process.pid) throw new Error('getpid() through koffi is not this process');
    return `called getpid() in libc (koffi ${koffi.version})`;
  },
  epoll: () => {
    const { Epoll } = load('epoll');
    if (typeof Epoll !== 'function') throw new Error('no Epoll');
    return 'binding loaded';
  },
  onoff: () => {
    const { Gpio } = load('onoff');
    return `loaded (GPIO ${Gpio.accessible ? 'accessible' : 'not accessible here'})`;
  },
};

function main() {
  const json = process.argv.includes('--json');
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  let manifest = { native: [] };
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(root, 'manifest.json'), 'utf8'));
  } catch {
    // a checkout without a manifest: the package.json dependencies are still checked
  }
  const names = new Set(Object.keys(pkg.dependencies || {}));
  for (const n of manifest.native || []) names.add(n.package);
  // serialport's binding is its own package: check it where serialport is a dependency.
  if (names.has('serialport')) names.add('@serialport/bindings-cpp');
  if (names.has('onoff')) names.add('epoll');

  const results = [];
  const run = (name, fn) => {
    try {
      results.push({ name, ok: true, detail: fn() });
    } catch (err) {
      results.push({ name, ok: false, detail: String(err && err.message ? err.message : err).split('\n')[0] });
    }
  };
  for (const name of [...names].sort()) run(name, CHECKS[name] || (() => (load(name), 'loaded')));
  run('app', () => {
    const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
    const main = require(entry);
    if (typeof main.main !== 'function') throw new Error(`${entry} exports no main()`);
    return 'dist/src/cli/main.js loaded';
  });

  const failed = results.filter((r) => !r.ok);
  if (json) process.stdout.write(JSON.stringify({ ok: failed.length === 0, node: process.version, abi: process.versions.modules, arch: process.arch, results }) + '\n');
  else {
    for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}\n`);
    process.stdout.write(failed.length ? `selftest: ${failed.length} of ${results.length} failed\n` : `selftest: all ${results.length} passed (Node.js ${process.version}, ${process.arch})\n`);
  }
  return failed.length ? 1 : 0;
}

process.exitCode = main();
