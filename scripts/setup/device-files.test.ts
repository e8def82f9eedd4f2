/**
 * The files in device/: every profile, keypad/display fragment and example config is valid
 * against the schemas the daemons load them with, profiles are exactly their parts, and the
 * boot snippets and udev template they name exist and hold what the installer expects.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DisplayConfigSchema, DriversConfigSchema, KeypadConfigSchema } from '../../drivers/config';
import { isKeyName } from '../../drivers/keypad/contract';
import { KEYMAPS } from '../../drivers/keypad/keymaps';
import { RelayConfigSchema, RelaySecretsSchema } from '../../src/relay/config';
import { parseTerminalConfig, TerminalConfigSchema } from '../../src/terminal/config';
import { SecretsSchema } from '../../src/terminal/secrets';
import { PUBLISHED_SECRET_MESSAGE } from '../../src/shared/published-secrets';

const DEVICE = path.resolve(__dirname, '..', '..', 'device');
const PROFILES = path.join(DEVICE, 'profiles');

function jsonFiles(dir: string): [string, Record<string, unknown>][] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f.slice(0, -5), JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>]);
}

const profiles = jsonFiles(PROFILES);
const keypads = new Map(jsonFiles(path.join(DEVICE, 'keypads')));
const displays = new Map(jsonFiles(path.join(DEVICE, 'displays')));

describe('device profiles', () => {
  it('cover the boards the product supports', () => {
    const names = profiles.map(([n]) => n);
    for (const want of ['pi-ili9486-480x320-usb-numpad', 'pi-ili9341-320x240-usb-numpad', 'pi-hdmi-800x480-usb-numpad', 'pi-ili9486-480x320-membrane-4x4']) {
      expect(names).toContain(want);
    }
  });

  it.each(profiles)('%s: valid drivers, equal to its parts, boot snippets present', (name, profile) => {
    expect(typeof profile.description).toBe('string');
    const drivers = DriversConfigSchema.safeParse(profile.drivers);
    expect(drivers.error?.issues ?? []).toEqual([]);
    // The terminal loads a profile by name when its config has no drivers section.
    const cfg = parseTerminalConfig(
      { version: 1, relayUrl: 'https://relay.example.com', merchantName: 'Shop', currency: 'THB', profile: name },
      'test',
      [PROFILES],
    );
    expect(cfg.drivers.keypad.driver).toBe((profile.drivers as { keypad: { driver: string } }).keypad.driver);

    const parts = profile.parts as { keypad: string; display: string };
    const keypad = keypads.get(parts.keypad);
    const display = displays.get(parts.display);
    expect(profile.drivers).toEqual({ keypad: keypad?.keypad, display: display?.display });
    expect(profile.boot).toEqual([...((display?.boot as string[]) ?? []), ...((keypad?.boot as string[]) ?? [])]);
    for (const b of profile.boot as string[]) expect(fs.existsSync(path.join(DEVICE, 'boot', b)), b).toBe(true);
  });
});

describe('keypad and display fragments', () => {
  it.each([...keypads])('keypad %s is valid and uses only known key names and keymaps', (_name, part) => {
    const k = KeypadConfigSchema.parse(part.keypad);
    if (k.driver === 'gpio-matrix') {
      expect(k.layout).toHaveLength(k.rows.length);
      for (const row of k.layout) {
        expect(row).toHaveLength(k.cols.length);
        for (const key of row) expect(isKeyName(key), key).toBe(true);
      }
      const pins = [...k.rows, ...k.cols];
      expect(new Set(pins).size).toBe(pins.length);
      // Clear of SPI0 (7-11), the SPI panels' DC/RESET/touch lines (17, 24, 25), I2C and UART.
      for (const pin of pins) expect([2, 3, 7, 8, 9, 10, 11, 14, 15, 17, 24, 25], `BCM ${pin}`).not.toContain(pin);
      // Column pull-ups come from the boot snippet: it must name exactly these columns.
      const snippet = fs.readFileSync(path.join(DEVICE, 'boot', (part.boot as string[])[0]), 'utf8');
      expect(snippet).toContain(`gpio=${k.cols.join(',')}=ip,pu`);
    }
    if (k.driver === 'hid' && typeof k.keymap === 'string') expect(Object.keys(KEYMAPS)).toContain(k.keymap);
  });

  it.each([...displays])('display %s is valid', (_name, part) => {
    const d = DisplayConfigSchema.parse(part.display);
    expect(d.driver).toBe('framebuffer');
  });
});

describe('example configs', () => {
  const example = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(DEVICE, 'examples', f), 'utf8'));

  it('terminal configs pass the terminal schema, with inline drivers or a profile', () => {
    for (const f of ['terminal.json', 'terminal-profile-only.json']) {
      const raw = example(f);
      expect(TerminalConfigSchema.safeParse(raw).error?.issues ?? []).toEqual([]);
      const cfg = parseTerminalConfig(raw, f, [PROFILES]);
      expect(DriversConfigSchema.parse(cfg.drivers)).toBeTruthy();
    }
    // Well-formed, and refused only because it is published.
    const pinIssues = SecretsSchema.safeParse(example('terminal.secrets.json')).error?.issues ?? [];
    expect(pinIssues.map((i) => [i.path.join('.'), i.message])).toEqual([['supervisorPin', PUBLISHED_SECRET_MESSAGE]]);
  });

  it('relay config passes the relay schema; the example secrets are well-formed and refused only as published values', () => {
    expect(RelayConfigSchema.safeParse(example('relay.json')).error?.issues ?? []).toEqual([]);
    const issues = RelaySecretsSchema.safeParse(example('relay.secrets.json')).error?.issues ?? [];
    expect(issues.map((i) => i.path.join('.')).sort()).toEqual(['adminToken', 'omisePublicKey', 'omiseSecretKey', 'webhookSecret']);
    for (const i of issues) expect(i.message).toBe(PUBLISHED_SECRET_MESSAGE);
  });
});

describe('udev rules template', () => {
  const rules = fs.readFileSync(path.join(DEVICE, 'udev', '99-qrpos.rules'), 'utf8');
  it('uses only placeholders the installer fills, and the groups the unit grants', () => {
    const names = new Set([...rules.matchAll(/@([A-Z_]+)@/g)].map((m) => m[1]));
    expect([...names].sort()).toEqual(['KEYPAD_PID', 'KEYPAD_VID', 'POLE_PID', 'POLE_VID', 'PRINTER_PID', 'PRINTER_VID']);
    const unit = fs.readFileSync(path.resolve(DEVICE, '..', 'systemd', 'qrpos-terminal.service'), 'utf8');
    const granted = /^SupplementaryGroups=(.*)$/m.exec(unit)?.[1].split(/\s+/) ?? [];
    for (const m of rules.matchAll(/GROUP="([a-z]+)"/g)) expect(granted).toContain(m[1]);
    for (const line of rules.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line, line).toMatch(/^(SUBSYSTEM|KERNEL)==/);
      expect(line.split('"').length % 2, `unbalanced quotes: ${line}`).toBe(1);
    }
  });
});
