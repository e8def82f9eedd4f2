/**
 * setup.sh: input errors (exit 2 naming the flag, nothing written but the log), environment
 * checks (OS, Node.js), keypad detection, npm ci, and the relay install into a scratch root.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadRelaySecrets, RelayConfigSchema } from '../../src/relay/config';
import { LOG_REL, makeRoot, makeSourceWithoutDeps, manifest, modeOf, runSetup, TERMINAL_FLAGS, uidIn, useScratchApp } from './testkit';

const isRoot = process.getuid?.() === 0;
const app = useScratchApp();

describe('setup.sh input errors', () => {
  let root: string;
  beforeAll(() => {
    root = makeRoot(app.base);
  });

  it('rejects an unknown flag with exit 2', () => {
    const r = runSetup([...app.common(root), '--frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option: --frobnicate');
  });

  it('names the missing flag under --non-interactive, and changes nothing but the log', () => {
    const before = manifest(root);
    const flags = TERMINAL_FLAGS.slice(2); // without --relay-url
    const r = runSetup([...app.common(root), ...flags]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('missing --relay-url');
    const noPin = runSetup([...app.common(root), ...TERMINAL_FLAGS.slice(0, -2)]);
    expect(noPin.status).toBe(2);
    expect(noPin.stderr).toContain('missing --supervisor-pin');
    expect(manifest(root)).toEqual(before);
    expect(fs.readFileSync(path.join(root, LOG_REL), 'utf8')).toContain('error: missing --relay-url');
  });

  it('refuses the supervisor PIN published as the example', () => {
    const r = runSetup([...app.common(root), ...TERMINAL_FLAGS.slice(0, -2), '--supervisor-pin', '482913']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('482913 is the example published with qrpos; choose your own');
    expect(fs.existsSync(path.join(root, 'etc/qrpos/terminal.secrets.json'))).toBe(false);
  });

  it('rejects bad values with the flag named', () => {
    const cases: [string[], string][] = [
      [['--supervisor-pin', '12'], '--supervisor-pin'],
      [['--relay-url', 'relay.example.com'], '--relay-url'],
      [['--profile', 'no-such-board'], 'no-such-board'],
      [['--profile', 'pi-ili9486-480x320-membrane-4x4'], '--keypad-vid/--keypad-pid apply to a USB keypad'],
      [['--relay-url'], '--relay-url needs a value'],
    ];
    for (const [extra, message] of cases) {
      const r = runSetup([...app.common(root), ...TERMINAL_FLAGS, ...extra]);
      expect(r.status, extra.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  it('accepts Debian 12 and 13 and Raspberry Pi OS (ID=raspbian) on both', () => {
    for (const [osVersion, osId] of [['13', 'debian'], ['12', 'raspbian'], ['13', 'raspbian']]) {
      const r = runSetup([...app.common(makeRoot(app.base, { osVersion, osId })), ...TERMINAL_FLAGS, '--dry-run']);
      expect(r.stderr, `${osId} ${osVersion}`).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`(Debian ${osVersion})`);
    }
  });

  it('refuses an unsupported OS naming the supported ones, and a Node.js older than 20 with how to get a newer one', () => {
    const old = makeRoot(app.base, { osVersion: '11' });
    const r = runSetup([...app.common(old), ...TERMINAL_FLAGS]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unsupported OS Debian GNU/Linux 11');
    expect(r.stderr).toContain('Debian 12 (bookworm) and 13 (trixie), Raspberry Pi OS Bookworm and Trixie');

    const fakeNode = path.join(app.base, 'node18');
    fs.writeFileSync(fakeNode, '#!/bin/sh\necho v18.19.0\n', { mode: 0o755 });
    const n = runSetup([...app.common(root), ...TERMINAL_FLAGS, '--node', fakeNode]);
    expect(n.status).toBe(1);
    expect(n.stderr).toContain('v18.19.0');
    expect(n.stderr).toContain('deb.nodesource.com');
    expect(n.stderr).toContain('sudo apt-get install nodejs npm'); // Debian 13's own
  });

  it('finds the USB keypad ids in sysfs when there is exactly one', () => {
    const r2 = makeRoot(app.base);
    const dev = path.join(r2, 'sys/class/hidraw/hidraw0/device');
    fs.mkdirSync(dev, { recursive: true });
    fs.writeFileSync(path.join(dev, 'uevent'), 'DRIVER=hid-generic\nHID_ID=0003:000005AC:00000250\nHID_NAME=Cheap Numpad\n');
    const r = runSetup([...app.common(r2), ...TERMINAL_FLAGS.slice(0, 8), '--supervisor-pin', '1234', '--no-start']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('found Cheap Numpad (05ac:0250)');
    expect(fs.readFileSync(path.join(r2, 'etc/udev/rules.d/99-qrpos.rules'), 'utf8')).toContain('ATTRS{idVendor}=="05ac", ATTRS{idProduct}=="0250"');
  });
});

describe('the pairing code setup.sh prints', () => {
  it('is found in the terminal status endpoint JSON, and nothing is printed when paired', () => {
    const code = (status: unknown) =>
      spawnSync(process.execPath, [path.join(__dirname, 'helper.cjs'), 'pairingCode'], { input: JSON.stringify(status), encoding: 'utf8' }).stdout;
    expect(code({ state: 'pairing', link: { online: true, paired: false, lastEventSeq: 0, lastError: null, pairingCode: 'K7Q-42X' } })).toBe('K7Q-42X');
    expect(code({ screen: { kind: 'pairing', code: '1234-5678', relayUrl: 'https://r' } })).toBe('1234-5678');
    expect(code({ link: { paired: true, pairingCode: null } })).toBe('');
  });
});

// Each case runs setup.sh (and npm ci) twice or three times: seconds alone, more beside other test files.
describe('setup.sh production dependencies', { timeout: 120_000 }, () => {
  it('runs npm ci --omit=dev for a new release once, then only when the lock file, Node or arch change', () => {
    const root = makeRoot(app.base);
    const source = makeSourceWithoutDeps(app.base);
    const flags = ['--root', root, '--source', source, '--non-interactive', ...TERMINAL_FLAGS, '--no-start'];
    const r = runSetup(flags);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('installed node_modules');
    const stamp = fs.readFileSync(path.join(root, 'opt/qrpos/current/node_modules/.qrpos-installed'), 'utf8');
    expect(stamp).toMatch(/^[0-9a-f]{64} node=v\d+\.\d+\.\d+ arch=\w+\n$/);
    expect(fs.readFileSync(path.join(root, LOG_REL), 'utf8')).toContain('npm ci --omit=dev');
    // npm ci ran in a folder of its own, gone afterwards.
    expect(fs.readdirSync(path.join(root, 'opt/qrpos/releases'))).toHaveLength(1);
    const again = runSetup(flags);
    expect(again.stdout).toContain('node_modules: unchanged');
    expect(again.stdout).toContain('(unchanged)');
    expect(fs.readFileSync(path.join(root, LOG_REL), 'utf8').match(/npm ci --omit=dev in/g)).toHaveLength(1);
  });

  it('records the stamp of a --node-modules copy, so a later run without it does not run npm ci', () => {
    const root = makeRoot(app.base);
    const flags = ['--root', root, '--source', app.source, '--non-interactive', ...TERMINAL_FLAGS, '--no-start'];
    expect(runSetup([...flags, '--node-modules', app.nodeModules]).status).toBe(0);
    expect(fs.readFileSync(path.join(root, 'opt/qrpos/current/node_modules/.qrpos-installed'), 'utf8')).toMatch(/^[0-9a-f]{64} node=v\d+\.\d+\.\d+ arch=\w+\n$/);
    const later = runSetup(flags);
    expect(later.status).toBe(0);
    expect(later.stdout).toContain('node_modules: unchanged');
    expect(later.stdout).toContain('done: everything was already in place (unchanged)');
    expect(fs.existsSync(path.join(root, 'opt/qrpos/current/node_modules/fake-dep/index.js'))).toBe(true);
    // And the copy again: the stamp is the installer's, not something to delete as extra.
    const copy = runSetup([...flags, '--node-modules', app.nodeModules]);
    expect(copy.stdout).toContain('done: everything was already in place (unchanged)');
  });
});

describe('setup.sh --relay into a scratch root', () => {
  const WEBHOOK = Buffer.from('a webhook secret of enough bytes').toString('base64');
  const RELAY_FLAGS = ['--relay', '--country', 'sg', '--public-url', 'https://relay.example.com', '--omise-secret-key', 'skey_test_5xyz', '--webhook-secret', WEBHOOK];

  it('writes a valid config and 0600 secrets with a generated admin token; a second run changes nothing', () => {
    // On a machine that runs a terminal too: the app is shared, the units and files are not.
    const root = makeRoot(app.base);
    expect(runSetup([...app.common(root), ...TERMINAL_FLAGS]).status).toBe(0);
    const r = runSetup([...app.common(root), ...RELAY_FLAGS]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const at = (rel: string) => path.join(root, rel);
    const cfg = RelayConfigSchema.parse(JSON.parse(fs.readFileSync(at('etc/qrpos/relay.json'), 'utf8')));
    // No TLS files given: loopback only, for a TLS reverse proxy in front.
    expect(cfg).toMatchObject({ country: 'SG', listen: { host: '127.0.0.1', port: 8787 }, publicUrl: 'https://relay.example.com', dataDir: '/var/lib/qrpos-relay', secretsFile: '/etc/qrpos/relay.secrets.json' });
    expect(modeOf(at('etc/qrpos/relay.json'))).toBe('0644');
    expect(modeOf(at('etc/qrpos/relay.secrets.json'))).toBe('0600');
    const secrets = loadRelaySecrets(at('etc/qrpos/relay.secrets.json'), {});
    expect(secrets).toMatchObject({ omiseSecretKey: 'skey_test_5xyz', webhookSecret: WEBHOOK });
    expect(secrets.adminToken.length).toBeGreaterThanOrEqual(32);
    for (const secret of ['skey_test_5xyz', WEBHOOK, secrets.adminToken]) {
      expect(r.stdout).not.toContain(secret);
      expect(fs.readFileSync(at(LOG_REL), 'utf8')).not.toContain(secret);
    }
    expect(fs.existsSync(at('etc/systemd/system/qrpos-relay.service'))).toBe(true);
    if (isRoot) expect(fs.statSync(at('etc/qrpos/relay.secrets.json')).uid).toBe(uidIn(root, 'qrpos-relay'));

    // Same answers, or none at all: the stored ones (and the generated token) are kept.
    const before = manifest(root);
    const again = runSetup([...app.common(root), '--relay']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('done: everything was already in place (unchanged)');
    expect(manifest(root)).toEqual(before);

    const un = runSetup(['--root', root, '--source', app.source, '--relay', '--uninstall']);
    expect(un.status).toBe(0);
    expect(fs.existsSync(at('etc/systemd/system/qrpos-relay.service'))).toBe(false);
    expect(fs.existsSync(at('etc/qrpos/relay.secrets.json'))).toBe(true);
    expect(un.stdout).toContain('keeping /opt/qrpos');
    expect(fs.existsSync(at('usr/local/bin/qrpos'))).toBe(true);
    expect(fs.existsSync(at('etc/systemd/system/qrpos-terminal.service'))).toBe(true);
  });

  it('requires the Omise keys under --non-interactive and checks their shape', () => {
    const root = makeRoot(app.base);
    const r = runSetup([...app.common(root), '--relay', '--country', 'TH']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('missing --omise-secret-key');
    const bad = runSetup([...app.common(root), ...RELAY_FLAGS, '--omise-secret-key', 'pkey_wrong']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--omise-secret-key: expected skey_');
    expect(fs.existsSync(path.join(root, 'etc/qrpos'))).toBe(false);
  });
});
