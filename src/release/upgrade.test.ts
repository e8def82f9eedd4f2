/**
 * `qrpos upgrade` up to the switch, without systemd (the switch itself, READY, the rollback and
 * their times run under a real systemd: scripts/release/upgrade-nspawn.sh). Real bundles of this
 * checkout (compiled once here), installed into a scratch app folder; a real journal. The service
 * manager given to these upgrades throws on every call: a refusal must come before anything is
 * stopped or started.
 */
import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../shared/log';
import { Journal } from '../terminal/journal';
import { backup, describeLoss, journalNewerThan, listBackups, restore, userVersion } from './databases';
import { checkUrl, download } from './fetch';
import { Install, M } from './lib';
import { buildReal, compileDist, makeKeys, patchOnce, readEntries, REPO, writeEntries, type TestKeys } from './testing';
import type { ServiceManager } from './systemd';
import { selfTest, upgrade, type DeviceOptions } from './upgrade';
import { removeScratch, SCRATCH_REMOVAL_MS } from '../shared/testing/scratch';

const here = { arch: process.arch, abi: Number(process.versions.modules), node: process.version };

let base: string;
let keys: TestKeys;
let other: TestKeys;
const bundles: Record<string, string> = {};

/** Throws on every call: nothing here may stop or start a service. */
const noSystemd: ServiceManager = new Proxy({} as ServiceManager, {
  get: (_t, name) => () => {
    throw new Error(`systemctl ${String(name)} called: a refusal must come before any service is touched`);
  },
});

beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-upgrade-test-'));
  keys = makeKeys(base);
  other = makeKeys(base, 'other-key');
  const dist = compileDist(path.join(base, 'dist'));
  const out = path.join(base, 'out');
  bundles.a = (await buildReal({ dist, keys, outDir: out, version: 'upg-a' })).file;
  bundles.b = (await buildReal({ dist, keys, outDir: out, version: 'upg-b' })).file;
  // Signed by a key the device does not trust (it ships that key: the build refuses otherwise).
  bundles.untrusted = (await buildReal({ dist, keys: other, outDir: path.join(base, 'out-other'), version: 'upg-untrusted' })).file;
}, 300_000);
afterAll(() => removeScratch(base), SCRATCH_REMOVAL_MS);

interface Device {
  app: string;
  config: string;
  dataDir: string;
  journal: string;
  opts(extra?: Partial<DeviceOptions>): DeviceOptions & { lines: string[] };
}

/** A scratch device: release A installed and current, a config, a journal with one sale. */
async function device(name: string): Promise<Device> {
  const dir = fs.mkdtempSync(path.join(base, `${name}-`));
  const app = path.join(dir, 'opt', 'qrpos');
  const r = await Install.unpackBundle(bundles.a, { app, keys: M.loadPublicKeys(keys.pubFile), here });
  Install.commitRelease(app, r.dir, 'upg-a');
  Install.activate(app, 'upg-a');
  const dataDir = path.join(dir, 'var', 'lib', 'qrpos');
  const config = path.join(dir, 'terminal.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      version: 1,
      relayUrl: 'http://127.0.0.1:9',
      merchantName: 'Upgrade Test',
      currency: 'THB',
      dataDir,
      statusListen: '127.0.0.1:9',
      drivers: { keypad: { driver: 'virtual' }, display: { driver: 'virtual', width: 320, height: 240 } },
    }),
  );
  const journal = path.join(dataDir, 'journal.sqlite');
  const { journal: j } = Journal.open(journal, { log: memoryLogger() });
  j.recordSale({ saleId: 'SALE_upgrade_test_1', amount: 2500, currency: 'THB', at: Date.now() });
  j.close();
  return {
    app,
    config,
    dataDir,
    journal,
    opts(extra = {}) {
      const lines: string[] = [];
      return { app, config, unit: 'qrpos-terminal', keys: M.loadPublicKeys(path.join(app, 'current', 'scripts', 'release', 'release-key.pub')), sm: noSystemd, say: (l) => lines.push(l), lines, ...extra };
    },
  };
}

/** Every path under dir: type, mode, size and content hash (to show nothing changed). */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = path.join(dir, rel);
    const st = fs.lstatSync(abs);
    if (st.isSymbolicLink()) out.set(rel, `link ${fs.readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.set(rel, `dir ${(st.mode & 0o7777).toString(8)}`);
      for (const n of fs.readdirSync(abs)) walk(rel ? `${rel}/${n}` : n);
    } else out.set(rel, `file ${(st.mode & 0o7777).toString(8)} ${crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`);
  };
  walk('');
  return out;
}

describe('qrpos upgrade refuses, and nothing changes', () => {
  it('a bundle signed by a key the device does not trust', async () => {
    const d = await device('untrusted');
    const before = tree(path.dirname(d.app));
    const o = d.opts();
    const r = await upgrade(bundles.untrusted, o);
    expect(r).toMatchObject({ outcome: 'refused', code: 1 });
    expect(r.message).toMatch(/refused: bad signature/);
    expect(tree(path.dirname(d.app))).toEqual(before);
  });

  it('a bundle with one byte changed in one file', async () => {
    const d = await device('modified');
    const entries = await readEntries(bundles.b);
    const victim = entries.find((e) => e.name.endsWith('/dist/src/terminal/daemon.js'))!;
    victim.data = Buffer.from(victim.data.toString('utf8').replace('terminal started', 'terminal startex'));
    const file = path.join(base, 'modified.tar.gz');
    await writeEntries(entries, file);
    const before = tree(path.dirname(d.app));
    const r = await upgrade(file, d.opts());
    expect(r.code).toBe(1);
    expect(r.message).toMatch(/modified: dist\/src\/terminal\/daemon\.js \(its SHA-256 differs from the signed manifest\)/);
    expect(tree(path.dirname(d.app))).toEqual(before);
  });

  it('a journal newer than the new release reads: its self-test fails on the copy; the journal and releases stay as they were', async () => {
    const d = await device('newer-journal');
    const db = new Database(d.journal);
    db.pragma('user_version = 9');
    db.close();
    const before = tree(path.dirname(d.app));
    const data = tree(d.dataDir);
    const o = d.opts();
    const r = await upgrade(bundles.b, o);
    expect(r.code).toBe(1);
    expect(r.message).toBe('refused: upg-b reads journal schema 5 at most; the journal here is at schema 9 (written by a newer release than upg-b). Nothing was changed; upg-a keeps running');
    expect(o.lines.join('\n')).toMatch(/FAIL journal: journal schema 9 is newer than this release reads \(5\)/);
    // The unpacked release was removed; current, previous, history, the journal: as they were.
    expect(tree(path.dirname(d.app))).toEqual(before);
    expect(tree(d.dataDir)).toEqual(data);
    expect(userVersion(d.journal)).toBe(9);
  });

  it('from a URL: downloaded, then checked like a file (the untrusted one refused, the download removed)', async () => {
    const d = await device('url');
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/gzip' });
      fs.createReadStream(bundles.untrusted).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const tmpBefore = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('qrpos-download-'));
      const o = d.opts();
      const r = await upgrade(`http://127.0.0.1:${port}/qrpos-upg-untrusted.tar.gz?token=secret-token-value`, o);
      expect(r.code).toBe(1);
      expect(r.message).toMatch(/bad signature/);
      expect(o.lines.join('\n')).toMatch(/downloaded \d+\.\d MB/);
      // The URL's query (a token, perhaps) is never printed.
      expect(o.lines.join('\n')).not.toContain('secret-token-value');
      expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('qrpos-download-'))).toEqual(tmpBefore);
    } finally {
      server.close();
    }
  });
});

describe('the self-test of a new release runs its own code on copies', () => {
  it('its migrations run on a copy of the journal; the live one is not touched', async () => {
    const d = await device('dry-run');
    // Release A's files in a scratch folder, with a journal schema 6 (one more migration).
    const rel = path.join(base, 'schema6');
    fs.cpSync(path.join(d.app, 'releases', 'upg-a'), rel, { recursive: true });
    const jsFile = path.join(rel, 'dist', 'src', 'terminal', 'journal.js');
    patchOnce(jsFile, 'const SCHEMA_VERSION = 5;', 'const SCHEMA_VERSION = 6;');
    patchOnce(jsFile, 'const UNRESOLVED_LATE', 'MIGRATIONS[6] = "CREATE TABLE upgrade_test (x INTEGER);";\nconst UNRESOLVED_LATE');
    const data = tree(d.dataDir);
    const rep = selfTest(rel, { node: process.execPath, config: d.config, journal: d.journal });
    expect(rep.ok, rep.raw).toBe(true);
    const j = rep.results.find((r) => r.name === 'journal')!;
    expect(j).toMatchObject({ ok: true, schema: { found: 5, supports: 6, after: 6 } });
    expect(j.detail).toMatch(/a copy opened: schema 5 migrated to 6 \(on the copy\)/);
    expect(rep.results.find((r) => r.name === 'config')).toMatchObject({ ok: true, detail: expect.stringMatching(/parses \(keypad virtual, display virtual/) as string });
    expect(tree(d.dataDir)).toEqual(data);
    expect(userVersion(d.journal)).toBe(5);
  });

  it('a config the new release does not accept fails it', async () => {
    const d = await device('bad-config');
    fs.writeFileSync(d.config, JSON.stringify({ version: 1, relayUrl: 'http://127.0.0.1:9', merchantName: 'X', currency: 'THB', dataDir: d.dataDir, frobnicate: true }));
    const before = tree(path.dirname(d.app));
    const r = await upgrade(bundles.b, d.opts());
    expect(r.code).toBe(1);
    expect(r.message).toMatch(/the self-test of upg-b failed \(config: invalid config .*frobnicate/);
    expect(tree(path.dirname(d.app))).toEqual(before);
  });
});

describe('an older release and a newer journal', () => {
  it('refuses it with a clear message and touches nothing', () => {
    const dir = fs.mkdtempSync(path.join(base, 'older-'));
    const file = path.join(dir, 'journal.sqlite');
    Journal.open(file, { log: memoryLogger() }).journal.close();
    const db = new Database(file);
    db.pragma('user_version = 7');
    db.close();
    const before = tree(dir);
    expect(() => Journal.open(file, { log: memoryLogger() })).toThrow(
      /^journal schema 7 is newer than this program \(5\): a newer qrpos release wrote it\. Nothing was changed\. Run that release again \(qrpos upgrade\), or see .*backups/,
    );
    expect(tree(dir)).toEqual(before);
  });
});

describe('journal backups', () => {
  it('a consistent copy while the journal is open and written, 0600, owned as the journal; the newest 5 kept', () => {
    const dir = fs.mkdtempSync(path.join(base, 'backup-'));
    const file = path.join(dir, 'journal.sqlite');
    const { journal } = Journal.open(file, { log: memoryLogger() });
    try {
      journal.recordSale({ saleId: 'SALE_backup_00001', amount: 2500, currency: 'THB', at: Date.now() });
      const t = Date.UTC(2030, 0, 1);
      const made = [0, 1, 2, 3, 4, 5, 6].map((i) => backup(file, path.join(dir, 'backups'), 'journal', t + i * 1000));
      expect(path.basename(made[0].file)).toBe('journal-5-20300101T000000000Z.sqlite');
      const kept = listBackups(path.join(dir, 'backups'), 'journal');
      expect(kept.map((b) => path.basename(b.file))).toEqual(made.slice(2).reverse().map((b) => path.basename(b.file)));
      const st = fs.statSync(made[6].file);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.uid).toBe(fs.statSync(file).uid);
      expect(fs.statSync(path.join(dir, 'backups')).mode & 0o777).toBe(0o700);
      const copy = new Database(made[6].file, { readonly: true });
      expect(copy.prepare('SELECT sale_id FROM sales').pluck().all()).toEqual(['SALE_backup_00001']);
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      copy.close();
      // A sale after the backup is what a restore would lose: it is named.
      journal.recordSale({ saleId: 'SALE_backup_00002', amount: 3000, currency: 'THB', at: Date.now() });
      expect(journalNewerThan(file, made[6].file)).toEqual({ rows: { sale: ['SALE_backup_00002'], refund: [], 'Z report': [] } });
      expect(describeLoss(journalNewerThan(file, made[6].file))).toBe('1 sale');
    } finally {
      journal.close();
    }
  });

  it('putting a backup back keeps the replaced journal (with what its WAL held) beside the backups', () => {
    const dir = fs.mkdtempSync(path.join(base, 'restore-'));
    const file = path.join(dir, 'journal.sqlite');
    const { journal } = Journal.open(file, { log: memoryLogger() });
    journal.recordSale({ saleId: 'SALE_restore_0001', amount: 2500, currency: 'THB', at: Date.now() });
    const b = backup(file, path.join(dir, 'backups'), 'journal');
    journal.recordSale({ saleId: 'SALE_restore_0002', amount: 2500, currency: 'THB', at: Date.now() });
    journal.close();
    const db = new Database(file);
    db.pragma('user_version = 6');
    db.close();
    const aside = restore(file, b.file, path.join(dir, 'backups'), 'journal');
    expect(userVersion(file)).toBe(5);
    expect(new Database(file, { readonly: true }).prepare('SELECT sale_id FROM sales').pluck().all()).toEqual(['SALE_restore_0001']);
    expect(path.basename(aside)).toMatch(/^journal-6-\d{8}T\d{9}Z\.replaced\.sqlite$/);
    expect(new Database(aside, { readonly: true }).prepare('SELECT sale_id FROM sales ORDER BY ref').pluck().all()).toEqual(['SALE_restore_0001', 'SALE_restore_0002']);
    // The restored journal opens with this program.
    Journal.open(file, { log: memoryLogger() }).journal.close();
  });
});

describe('downloads', () => {
  it('https, or http to this machine only', () => {
    expect(checkUrl('https://releases.example.com/qrpos.tar.gz').hostname).toBe('releases.example.com');
    expect(checkUrl('http://127.0.0.1:8080/b.tar.gz').port).toBe('8080');
    expect(checkUrl('http://[::1]/b.tar.gz').hostname).toBe('[::1]');
    expect(() => checkUrl('http://releases.example.com/b.tar.gz')).toThrow(/plain http:\/\/ to another machine/);
    expect(() => checkUrl('http://127.0.0.1.nip.io/b.tar.gz')).toThrow(/plain http/);
    expect(() => checkUrl('file:///tmp/b.tar.gz')).toThrow(/file: URLs are not fetched/);
    expect(() => checkUrl('https://user:pw@example.com/b')).toThrow(/user name or password/);
  });

  it('stops at the size cap (declared or counted) and follows redirects only to allowed URLs', async () => {
    const body = Buffer.alloc(64 * 1024, 7);
    const server = http.createServer((req, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      } else if (req.url === '/chunked') {
        res.writeHead(200);
        res.write(body.subarray(0, 40_000));
        res.end(body.subarray(40_000));
      } else if (req.url === '/away') {
        res.writeHead(302, { location: 'http://releases.example.com/b.tar.gz' });
        res.end();
      } else if (req.url === '/hop') {
        res.writeHead(302, { location: '/declared' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const u = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(download(`${u}/declared`, { maxBytes: 1000 })).rejects.toThrow(/is 65536 bytes, more than the 1000-byte limit/);
      await expect(download(`${u}/chunked`, { maxBytes: 50_000 })).rejects.toThrow(/sent more than the 50000-byte limit/);
      await expect(download(`${u}/away`)).rejects.toThrow(/plain http:\/\/ to another machine/);
      await expect(download(`${u}/missing`)).rejects.toThrow(/HTTP 404/);
      const d = await download(`${u}/hop`, { maxBytes: body.length });
      try {
        expect(fs.readFileSync(d.file)).toEqual(body);
        expect(fs.statSync(d.file).mode & 0o777).toBe(0o600);
      } finally {
        d.cleanup();
      }
      expect(fs.existsSync(d.file)).toBe(false);
    } finally {
      server.close();
    }
  });
});

describe('the commands', () => {
  const qrpos = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(REPO, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8' });
  it('upgrade needs its bundle; --help says what it does', () => {
    const r = qrpos('upgrade');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('upgrade needs the bundle');
    const h = qrpos('upgrade', '--help');
    expect(h.stdout).toMatch(/usage: sudo qrpos upgrade FILE\|URL/);
    expect(h.stdout).toMatch(/Exit: 0 upgraded \(or already current\), 1 refused \(nothing changed\), 3 rolled back, 4 failed/);
  });

  it('version shows the releases and the history of a device folder', async () => {
    const d = await device('version');
    const r = qrpos('version', '--app', d.app, '--config', d.config);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/current: {2}upg-a/);
    expect(r.stdout).toMatch(/running: {2}unknown \(status endpoint http:\/\/127\.0\.0\.1:9: /);
    expect(r.stdout).toMatch(/history \(newest last\):\n {2}\S+ {2}activate {2}upg-a/);
  });
});
