/**
 * scripts/setup.sh run for real against scratch roots (--root): what it installs, that a second
 * run and --dry-run change nothing, and that --uninstall / --purge remove what they should.
 * useradd/groupadd run with --prefix into the scratch root (when the test runs as root);
 * systemctl --root edits the scratch root's unit symlinks; nothing touches this machine.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SecretsSchema } from '../src/terminal/secrets';
import { parseTerminalConfig, TerminalConfigSchema } from '../src/terminal/config';
import { hasCommand, LOG_REL, makeRoot, manifest, modeOf, ORIGINAL_CMDLINE, ORIGINAL_CONFIG, REPO, runSetup, TERMINAL_FLAGS, uidIn, useScratchApp } from './setup/testkit';

const isRoot = process.getuid?.() === 0;
const analyze = hasCommand('systemd-analyze');
if (!analyze) console.warn('setup.test: systemd-analyze not found (scripts/bootstrap.sh --test installs it); the `systemd-analyze verify` test is skipped');

const app = useScratchApp();

describe('setup.sh terminal install into a scratch root', () => {
  let root: string;
  let first: ReturnType<typeof runSetup>;

  beforeAll(() => {
    root = makeRoot(app.base);
    first = runSetup([...app.common(root), ...TERMINAL_FLAGS, '--boot-tweaks']);
  });
  const at = (rel: string) => path.join(root, rel);

  it('installs the app, command, units, udev rules, config and secrets with the right modes', () => {
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    // The app is a release: releases/<version>/ with its manifest, and current linking to it.
    const version = /installed release (\S+) in \/opt\/qrpos\/releases\/\1 /.exec(first.stdout)?.[1] ?? '';
    expect(version).toMatch(/^0\.0\.0-test\.[0-9a-f]{8}$/);
    expect(fs.readlinkSync(at('opt/qrpos/current'))).toBe(`releases/${version}`);
    expect(fs.readFileSync(at('opt/qrpos/current/dist/src/cli/main.js'), 'utf8')).toContain('exports.main');
    expect(modeOf(at('opt/qrpos/current/node_modules/fake-dep/index.js'))).toBe('0755');
    // Production packages only, and no .bin links: a release holds regular files.
    expect(fs.existsSync(at('opt/qrpos/current/node_modules/fake-dev'))).toBe(false);
    expect(fs.existsSync(at('opt/qrpos/current/node_modules/.bin'))).toBe(false);
    expect(fs.existsSync(at('opt/qrpos/current/device/profiles/pi-ili9486-480x320-usb-numpad.json'))).toBe(true);
    expect(modeOf(at('opt/qrpos/current/scripts/setup.sh'))).toBe('0755');
    const check = spawnSync(process.execPath, [path.join(REPO, 'scripts/release/release.cjs'), 'check', at('opt/qrpos/current')], { encoding: 'utf8' });
    expect(check.stdout).toContain(`qrpos ${version} (unsigned (installed from a checkout))`);
    expect(check.status).toBe(0);
    expect(first.stdout).toContain(`release ${version} runs here: selftest: all 2 passed`);

    const wrapper = fs.readFileSync(at('usr/local/bin/qrpos'), 'utf8');
    expect(modeOf(at('usr/local/bin/qrpos'))).toBe('0755');
    expect(wrapper).toMatch(/^exec \/\S+ \/opt\/qrpos\/current\/scripts\/qrpos\.cjs "\$@"$/m);

    for (const unit of ['qrpos-terminal.service', 'qrpos-upgrade.service', 'qrpos-upgrade.path']) {
      expect(fs.readFileSync(at(`etc/systemd/system/${unit}`), 'utf8')).toBe(fs.readFileSync(path.join(REPO, 'systemd', unit), 'utf8'));
      expect(modeOf(at(`etc/systemd/system/${unit}`))).toBe('0644');
    }
    if (hasCommand('systemctl')) {
      expect(fs.readlinkSync(at('etc/systemd/system/multi-user.target.wants/qrpos-terminal.service'))).toBe('/etc/systemd/system/qrpos-terminal.service');
      // Fleet updates: the path unit that hands a verified bundle to `qrpos upgrade` is enabled.
      expect(fs.readlinkSync(at('etc/systemd/system/paths.target.wants/qrpos-upgrade.path'))).toBe('/etc/systemd/system/qrpos-upgrade.path');
    }

    const rules = fs.readFileSync(at('etc/udev/rules.d/99-qrpos.rules'), 'utf8');
    expect(rules).toContain('KERNEL=="hidraw*", SUBSYSTEM=="hidraw", ATTRS{idVendor}=="1c4f", ATTRS{idProduct}=="0002", GROUP="plugdev", MODE="0660", SYMLINK+="qrpos-keypad"');
    expect(rules).toContain('SUBSYSTEM=="graphics"');
    expect(rules).not.toMatch(/@[A-Z_]+@/); // unfilled placeholders (no pole display, no printer) dropped
    expect(rules).not.toContain('qrpos-printer');

    // /etc/qrpos is read-only to the service; the daemon writes its own secrets in its state dir.
    expect(modeOf(at('etc/qrpos'))).toBe('0755');
    expect(modeOf(at('etc/qrpos/terminal.json'))).toBe('0644');
    expect(modeOf(at('etc/qrpos/terminal.secrets.json'))).toBe('0600');
    expect(modeOf(at('var/lib/qrpos'))).toBe('0750');
    const unit = fs.readFileSync(at('etc/systemd/system/qrpos-terminal.service'), 'utf8');
    expect(unit).toContain('LoadCredential=terminal.secrets.json:/etc/qrpos/terminal.secrets.json');
    expect(unit).not.toMatch(/^ReadWritePaths=.*\/etc\/qrpos/m);

    const raw: unknown = JSON.parse(fs.readFileSync(at('etc/qrpos/terminal.json'), 'utf8'));
    expect(TerminalConfigSchema.safeParse(raw).success).toBe(true);
    const cfg = parseTerminalConfig(raw, 'terminal.json', [path.join(REPO, 'device', 'profiles')]);
    expect(cfg).toMatchObject({ relayUrl: 'https://relay.example.com', currency: 'THB', merchantName: 'Ran "Noodle" Shop', profile: 'pi-ili9486-480x320-usb-numpad' });
    expect(cfg.secretsFile).toBe('/var/lib/qrpos/terminal.secrets.json');
    expect(cfg.drivers.keypad).toMatchObject({ driver: 'hid', vendorId: 0x1c4f, productId: 0x0002 });
    expect(cfg.drivers.display).toMatchObject({ driver: 'framebuffer', device: '/dev/fb1', width: 480, height: 320 });

    const secrets = SecretsSchema.parse(JSON.parse(fs.readFileSync(at('etc/qrpos/terminal.secrets.json'), 'utf8')));
    expect(secrets.supervisorPin).toBe('590271');
    // The PIN is in the 0600 file only: not in the output, not in the log.
    expect(first.stdout).not.toContain('590271');
    expect(fs.readFileSync(at(LOG_REL), 'utf8')).not.toContain('590271');
  });

  it('creates the service user and the missing device groups inside the root only', () => {
    const groups = fs.readFileSync(at('etc/group'), 'utf8');
    if (!isRoot) {
      expect(first.stdout).toContain('skipped (not root under --root): useradd');
      return;
    }
    for (const g of ['input', 'gpio', 'dialout', 'video', 'plugdev']) expect(groups).toMatch(new RegExp(`^${g}:`, 'm'));
    const passwd = fs.readFileSync(at('etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^qrpos:x:\d+:\d+:[^:]*:\/var\/lib\/qrpos:\/usr\/sbin\/nologin$/m);
    const uid = uidIn(root, 'qrpos');
    expect(fs.statSync(at('etc/qrpos/terminal.secrets.json')).uid).toBe(0); // root's: systemd hands it over
    expect(fs.statSync(at('var/lib/qrpos')).uid).toBe(uid);
    expect(fs.statSync(at('etc/qrpos/terminal.json')).uid).toBe(0);
  });

  it('applies the boot tweaks with backups and masks the getty on the display VT', () => {
    const cmdline = fs.readFileSync(at('boot/firmware/cmdline.txt'), 'utf8');
    expect(cmdline.split('\n')).toHaveLength(2); // still one line
    expect(cmdline).toContain(' vt.global_cursor_default=0');
    expect(cmdline).toContain(' consoleblank=0');
    expect(cmdline).not.toContain('consoleblank=600');
    expect(fs.readFileSync(at('boot/firmware/cmdline.txt.qrpos-backup'), 'utf8')).toBe(ORIGINAL_CMDLINE);
    const config = fs.readFileSync(at('boot/firmware/config.txt'), 'utf8');
    expect(config.startsWith(ORIGINAL_CONFIG)).toBe(true);
    expect(config).toMatch(/# BEGIN qrpos[^\n]*\n\[all\]\n(.*\n)*dtoverlay=piscreen[^\n]*\n# END qrpos\n$/);
    if (hasCommand('systemctl')) expect(fs.readlinkSync(at('etc/systemd/system/getty@tty1.service'))).toBe('/dev/null');
  });

  it('records instead of running what would act on this machine', () => {
    expect(first.stdout).toContain('skipped under --root (would run: apt-get install');
    expect(first.stdout).toContain('skipped under --root (would run: udevadm control --reload)');
    expect(first.stdout).toMatch(/skipped under --root \(would run: systemctl (re)?start qrpos-terminal.service\)/);
    expect(first.stdout).toMatch(/next: .*pairing code/);
  });

  it.skipIf(!analyze)('installs units that pass systemd-analyze verify', () => {
    // verify --root loads units from the root only: give it the system's own targets.
    fs.cpSync('/usr/lib/systemd/system', at('usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    // …and the kill(1) the terminal's ExecReload= names (procps; on every Debian).
    fs.mkdirSync(at('bin'), { recursive: true });
    fs.copyFileSync('/bin/kill', at('bin/kill'));
    fs.mkdirSync(at('tmp'), { recursive: true });
    fs.copyFileSync(path.join(REPO, 'systemd', 'qrpos-relay.service'), at('etc/systemd/system/qrpos-relay.service'));
    try {
      for (const unit of ['qrpos-terminal.service', 'qrpos-relay.service']) {
        const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, `/etc/systemd/system/${unit}`], { encoding: 'utf8' });
        expect(`${unit}: ${r.stderr}${r.stdout}`).toBe(`${unit}: `);
        expect(r.status).toBe(0);
      }
      // And it does check: without the command ExecStart names, verify fails.
      fs.renameSync(at('usr/local/bin/qrpos'), at('usr/local/bin/qrpos.away'));
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/qrpos-terminal.service'], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('/usr/local/bin/qrpos');
    } finally {
      if (fs.existsSync(at('usr/local/bin/qrpos.away'))) fs.renameSync(at('usr/local/bin/qrpos.away'), at('usr/local/bin/qrpos'));
      fs.rmSync(at('usr/lib/systemd'), { recursive: true, force: true });
      fs.rmSync(at('tmp'), { recursive: true, force: true });
      fs.rmSync(at('etc/systemd/system/qrpos-relay.service'));
    }
  });

  it('changes nothing on a second run with the same flags, or with none', () => {
    const before = manifest(root);
    const again = runSetup([...app.common(root), ...TERMINAL_FLAGS, '--boot-tweaks']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('unchanged /etc/qrpos/terminal.json');
    expect(again.stdout).toContain('done: everything was already in place (unchanged)');
    expect(manifest(root)).toEqual(before);
    // The existing config answers every question.
    const bare = runSetup([...app.common(root), '--boot-tweaks']);
    expect(bare.status).toBe(0);
    expect(bare.stdout).toContain('(unchanged)');
    expect(manifest(root)).toEqual(before);
  });

  it('--dry-run reports what a change would do and changes nothing, log included', () => {
    const before = manifest(root, []);
    const r = runSetup([...app.common(root), '--dry-run', '--merchant-name', 'Other Name', '--supervisor-pin', '1111']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('would update /etc/qrpos/terminal.json');
    expect(r.stdout).toContain('would update /etc/qrpos/terminal.secrets.json');
    expect(r.stdout).not.toContain('1111');
    expect(r.stdout).toMatch(/dry run done: 2 change\(s\) would be made/);
    expect(manifest(root, [])).toEqual(before);
  });

  it('moves the pairing credential of an older install out of /etc/qrpos into the daemon file when it rewrites the PIN', () => {
    const file = at('etc/qrpos/terminal.secrets.json');
    const cfgFile = at('etc/qrpos/terminal.json');
    // As an older installer left it: credential beside the PIN in /etc, config pointing there.
    fs.writeFileSync(file, JSON.stringify({ supervisorPin: '590271', credential: 'tc_abc', terminalId: 'term_1' }));
    const oldCfg = { ...(JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>), secretsFile: '/etc/qrpos/terminal.secrets.json' };
    fs.writeFileSync(cfgFile, JSON.stringify(oldCfg));
    const r = runSetup([...app.common(root), '--supervisor-pin', '777777']);
    expect(r.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ supervisorPin: '777777' });
    expect(modeOf(file)).toBe('0600');
    const state = at('var/lib/qrpos/terminal.secrets.json');
    expect(JSON.parse(fs.readFileSync(state, 'utf8'))).toEqual({ credential: 'tc_abc', terminalId: 'term_1' });
    expect(modeOf(state)).toBe('0600');
    if (isRoot) expect(fs.statSync(state).uid).toBe(uidIn(root, 'qrpos'));
    expect((JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { secretsFile: string }).secretsFile).toBe('/var/lib/qrpos/terminal.secrets.json');
    expect(r.stdout).not.toContain('tc_abc');
    // Moved once: the next run changes nothing.
    const again = runSetup([...app.common(root)]);
    expect(again.stdout).toContain('done: everything was already in place (unchanged)');
  });

  it('--uninstall removes what it installed and keeps the journal, config and secrets; --purge removes those', () => {
    fs.writeFileSync(at('var/lib/qrpos/journal.sqlite'), 'journal bytes');
    const r = runSetup(['--root', root, '--source', app.source, '--uninstall']);
    expect(r.status).toBe(0);
    for (const gone of ['opt/qrpos', 'usr/local/bin/qrpos', 'etc/systemd/system/qrpos-terminal.service', 'etc/udev/rules.d/99-qrpos.rules',
      'etc/systemd/system/multi-user.target.wants/qrpos-terminal.service', 'etc/systemd/system/getty@tty1.service',
      'etc/systemd/system/qrpos-upgrade.path', 'etc/systemd/system/qrpos-upgrade.service', 'etc/systemd/system/paths.target.wants/qrpos-upgrade.path',
      'boot/firmware/cmdline.txt.qrpos-backup', 'boot/firmware/config.txt.qrpos-backup', 'var/lib/qrpos-setup']) {
      expect(fs.existsSync(at(gone)), gone).toBe(false);
    }
    expect(fs.readFileSync(at('boot/firmware/cmdline.txt'), 'utf8')).toBe(ORIGINAL_CMDLINE);
    expect(fs.readFileSync(at('boot/firmware/config.txt'), 'utf8')).toBe(ORIGINAL_CONFIG);
    expect(fs.readFileSync(at('var/lib/qrpos/journal.sqlite'), 'utf8')).toBe('journal bytes');
    expect(fs.existsSync(at('etc/qrpos/terminal.secrets.json'))).toBe(true);
    expect(r.stdout).toContain('kept:');

    const again = runSetup(['--root', root, '--source', app.source, '--uninstall']);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('(unchanged)');

    const purge = runSetup(['--root', root, '--source', app.source, '--uninstall', '--purge']);
    expect(purge.status).toBe(0);
    for (const gone of ['var/lib/qrpos', 'etc/qrpos', LOG_REL]) expect(fs.existsSync(at(gone)), gone).toBe(false);
    expect(purge.stdout).toContain('removed /var/lib/qrpos');
    if (isRoot) {
      expect(uidIn(root, 'qrpos')).toBeUndefined();
      expect(fs.readFileSync(at('etc/group'), 'utf8')).not.toMatch(/^qrpos:/m);
    }
  });

  it('--uninstall --purge leaves nothing behind: the root is as it was before the install', () => {
    const fresh = makeRoot(app.base);
    // Files and links as before; of the directories only the system's usual empty ones
    // (etc/systemd/system, opt, usr/local/bin...) may be new. Account files are compared below.
    const without = (m: Map<string, string>) => new Map([...m].filter(([p, v]) => !/^etc\/(passwd|group|shadow|gshadow)-?$/.test(p) && (!v.startsWith('dir ') || p.includes('qrpos'))));
    const before = manifest(fresh, []);
    const accounts = ['passwd', 'group', 'shadow', 'gshadow'].map((f) => fs.readFileSync(path.join(fresh, 'etc', f), 'utf8'));
    expect(runSetup([...app.common(fresh), ...TERMINAL_FLAGS, '--boot-tweaks', '--pole-display-id', '067b:2303']).status).toBe(0);
    fs.writeFileSync(path.join(fresh, 'var/lib/qrpos/journal.sqlite'), 'journal bytes');
    const purge = runSetup(['--root', fresh, '--source', app.source, '--uninstall', '--purge']);
    expect(purge.status).toBe(0);
    expect(without(manifest(fresh, []))).toEqual(without(before));
    // The accounts it created (user, its group, the device groups it added) are gone again.
    if (isRoot) expect(['passwd', 'group', 'shadow', 'gshadow'].map((f) => fs.readFileSync(path.join(fresh, 'etc', f), 'utf8'))).toEqual(accounts);
  });
});

/** `systemd-analyze security --offline=true FILE` (systemd ≥ 252) scores a unit file without a running systemd. */
function exposure(unitFile: string): number | undefined {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', unitFile], { encoding: 'utf8', cwd: path.dirname(unitFile) });
  const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}
const offlineSecurity = analyze && exposure(path.join(REPO, 'systemd', 'qrpos-relay.service')) !== undefined;
if (analyze && !offlineSecurity) console.warn('setup.test: this systemd-analyze has no `security --offline` (systemd < 252); the exposure-score test is skipped');

describe.skipIf(!offlineSecurity)('the units keep the least privilege they need', () => {
  it('score at most 3.0 (terminal) and 2.5 (relay) in systemd-analyze security', () => {
    const terminal = exposure(path.join(REPO, 'systemd', 'qrpos-terminal.service'));
    const relay = exposure(path.join(REPO, 'systemd', 'qrpos-relay.service'));
    console.info(`systemd-analyze security: qrpos-terminal ${terminal}, qrpos-relay ${relay}`);
    expect(terminal).toBeLessThanOrEqual(3.0);
    expect(relay).toBeLessThanOrEqual(2.5);
  });

  it('the score measures the hardening lines: without them the terminal unit scores far worse', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-units-'));
    try {
      const text = fs.readFileSync(path.join(REPO, 'systemd', 'qrpos-terminal.service'), 'utf8');
      const bare = text.replace(/^(SystemCall\w+|CapabilityBoundingSet|DevicePolicy|DeviceAllow|Protect\w+|Private\w+)=.*\n/gm, '');
      fs.writeFileSync(path.join(dir, 'qrpos-terminal.service'), bare);
      expect(exposure(path.join(dir, 'qrpos-terminal.service'))).toBeGreaterThan(6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the terminal reaches exactly its kinds of devices, and /etc/qrpos only to read', () => {
    const unit = fs.readFileSync(path.join(REPO, 'systemd', 'qrpos-terminal.service'), 'utf8');
    expect(unit).toMatch(/^DevicePolicy=closed$/m);
    expect([...unit.matchAll(/^DeviceAllow=(\S+) rw$/gm)].map((m) => m[1]).sort()).toEqual(
      ['char-fb', 'char-gpiochip', 'char-hidraw', 'char-tty', 'char-ttyACM', 'char-ttyAMA', 'char-ttyUSB'],
    );
    expect(unit).toMatch(/^MemoryMax=\d+M$/m);
    expect(unit).not.toMatch(/^ReadWritePaths=/m);
    expect(unit).toMatch(/^ConfigurationDirectoryMode=0755$/m);
    // The VT's cursor: the daemon writes to /dev/tty1 (root:tty 0620) to hide it.
    expect(/^SupplementaryGroups=(.*)$/m.exec(unit)?.[1].split(' ')).toContain('tty');
  });
});
