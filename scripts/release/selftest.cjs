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
// Before an upgrade (`qrpos upgrade`, src/release/upgrade.ts) also, with this release's own code:
//   --config FILE     the terminal config parses (and its profile resolves) as this release reads it
//   --journal FILE    a COPY of the live journal opens, its migrations run on the copy; a journal
//                     newer than this release reads is a failure ("journal-newer")
//   --relay-db FILE   the same for a copy of the relay's database
//
//   node <release>/scripts/release/selftest.cjs [--json] [--config FILE] [--journal COPY] [--relay-db COPY]
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

function userVersion(file) {
  const Database = load('better-sqlite3');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
}

function silentLog() {
  const { silentLogger } = require(path.join(root, 'dist', 'src', 'shared', 'log.js'));
  return silentLogger;
}

/** Opens a copy of a database with this release's code, which migrates it; never the live file. */
function dbCheck(kind, file, open) {
  const before = userVersion(file);
  const supports = open.supports;
  const schema = { found: before, supports };
  if (before > supports) {
    const err = new Error(`${kind} schema ${before} is newer than this release reads (${supports})`);
    err.extra = { code: `${kind}-newer`, schema };
    throw err;
  }
  const count = open.run(file);
  const after = userVersion(file);
  schema.after = after;
  return {
    detail: `a copy opened: schema ${before}${after !== before ? ` migrated to ${after} (on the copy)` : ', no migration'}${count === undefined ? '' : `, ${count}`}`,
    schema,
  };
}

const EXTRA = {
  config: (file) => {
    const { loadTerminalConfig, journalPath } = require(path.join(root, 'dist', 'src', 'terminal', 'config.js'));
    const cfg = loadTerminalConfig(file);
    return `${file} parses (${cfg.profile ? `profile ${cfg.profile}, ` : ''}keypad ${cfg.drivers.keypad.driver}, display ${cfg.drivers.display.driver}, journal ${journalPath(cfg)})`;
  },
  journal: (file) => {
    const J = require(path.join(root, 'dist', 'src', 'terminal', 'journal.js'));
    return dbCheck('journal', file, {
      supports: J.JOURNAL_SCHEMA_VERSION,
      run: (f) => {
        const { journal } = J.Journal.open(f, { log: silentLog(), minFreeBytes: 0 });
        try {
          return `${journal.unsyncedCount()} record(s) not yet sent to the relay`;
        } finally {
          journal.close();
        }
      },
    });
  },
  'relay-db': (file) => {
    const S = require(path.join(root, 'dist', 'src', 'relay', 'sqlite-store.js'));
    return dbCheck('relay-db', file, {
      supports: S.SCHEMA_VERSION,
      run: (f) => {
        // openSqliteStore takes the data folder and opens relay.db in it: the copy is named so.
        if (path.basename(f) !== 'relay.db') throw new Error('the copy of the relay database must be named relay.db');
        const store = S.openSqliteStore(path.dirname(f));
        store.close();
        return undefined;
      },
    });
  },
};

function optionValue(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (!v || v.startsWith('--')) {
    process.stderr.write(`selftest: --${name} needs a file\n`);
    process.exit(2);
  }
  return path.resolve(v);
}

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
      const r = fn();
      results.push(typeof r === 'string' ? { name, ok: true, detail: r } : { name, ok: true, ...r });
    } catch (err) {
      results.push({ name, ok: false, detail: String(err && err.message ? err.message : err).split('\n')[0], ...((err && err.extra) || {}) });
    }
  };
  for (const name of [...names].sort()) run(name, CHECKS[name] || (() => (load(name), 'loaded')));
  run('app', () => {
    const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
    const main = require(entry);
    if (typeof main.main !== 'function') throw new Error(`${entry} exports no main()`);
    return 'dist/src/cli/main.js loaded';
  });
  for (const name of Object.keys(EXTRA)) {
    const file = optionValue(name);
    if (file) run(name, () => EXTRA[name](file));
  }

  const failed = results.filter((r) => !r.ok);
  if (json) process.stdout.write(JSON.stringify({ ok: failed.length === 0, node: process.version, abi: process.versions.modules, arch: process.arch, results }) + '\n');
  else {
    for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}\n`);
    process.stdout.write(failed.length ? `selftest: ${failed.length} of ${results.length} failed\n` : `selftest: all ${results.length} passed (Node.js ${process.version}, ${process.arch})\n`);
  }
  return failed.length ? 1 : 0;
}

process.exitCode = main();
