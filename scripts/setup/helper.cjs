#!/usr/bin/env node
'use strict';
// The JSON and file-tree work of scripts/setup.sh, in Node (which the installer requires
// anyway) so that quoting, merging and comparing are done properly rather than with sed.
// Inputs come from QS_* environment variables, never from argv, so secrets do not show in `ps`.
// Exit status 2 = bad input (the message names the flag to fix), 1 = anything else.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

class InputError extends Error {}
const env = (name) => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
};

function readJsonObject(file, what) {
  if (!file || !fs.existsSync(file)) return undefined;
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(`${what} ${file} is not valid JSON (${err.message}); fix or remove it, nothing was changed`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(`${what} ${file} must hold a JSON object; fix or remove it`);
  return raw;
}

function writeOut(obj) {
  process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
}

const CURRENCY_OF = { TH: 'THB', SG: 'SGD', MY: 'MYR' };

function hexId(value, flag) {
  const m = /^(?:0x)?([0-9a-fA-F]{1,4})$/.exec(String(value));
  if (!m) throw new InputError(`${flag} expects a USB id of 1 to 4 hex digits such as 1c4f, got "${value}"`);
  return m[1].toLowerCase().padStart(4, '0');
}

function loadPart(source, kind, name, flag) {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new InputError(`${flag}: "${name}" is not a valid name`);
  const file = path.join(source, 'device', kind, `${name}.json`);
  if (!fs.existsSync(file)) {
    const dir = path.join(source, 'device', kind);
    const known = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort() : [];
    throw new InputError(`${flag}: no ${kind.replace(/s$/, '')} "${name}" (known: ${known.join(', ') || 'none'})`);
  }
  return readJsonObject(file, kind);
}

/** Drivers and boot snippets from --profile, or from --keypad + --display fragments. */
function chooseDrivers(source) {
  const profile = env('QS_PROFILE');
  const keypad = env('QS_KEYPAD');
  const display = env('QS_DISPLAY');
  if (profile) {
    const p = loadPart(source, 'profiles', profile, '--profile');
    return { profile, drivers: structuredClone(p.drivers), boot: p.boot || [] };
  }
  if (keypad || display) {
    if (!keypad || !display) throw new InputError('--keypad and --display go together (or use --profile)');
    const k = loadPart(source, 'keypads', keypad, '--keypad');
    const d = loadPart(source, 'displays', display, '--display');
    return { drivers: { keypad: structuredClone(k.keypad), display: structuredClone(d.display) }, boot: [...(d.boot || []), ...(k.boot || [])] };
  }
  return undefined;
}

const OLD_SECRETS_FILE = '/etc/qrpos/terminal.secrets.json';
const STATE_SECRETS_FILE = '/var/lib/qrpos/terminal.secrets.json';
/** Fields the daemon writes itself (pairing): kept in its own file, never in /etc/qrpos. */
const DAEMON_FIELDS = ['credential', 'terminalId'];

function terminalConfig() {
  const existing = readJsonObject(env('QS_EXISTING'), 'existing config') || {};
  const source = env('QS_SOURCE');
  const cfg = { ...existing };
  cfg.version = 1;
  cfg.relayUrl = env('QS_RELAY_URL') ?? existing.relayUrl;
  cfg.merchantName = env('QS_MERCHANT') ?? existing.merchantName;
  cfg.currency = env('QS_CURRENCY') ?? existing.currency;
  if (env('QS_TERMINAL_NAME')) cfg.terminalName = env('QS_TERMINAL_NAME');
  cfg.dataDir = existing.dataDir ?? '/var/lib/qrpos';
  // The daemon writes its pairing credential there: in its state directory, since /etc/qrpos is
  // read-only to the service (the installer's secrets reach it as a systemd credential).
  cfg.secretsFile = existing.secretsFile && existing.secretsFile !== OLD_SECRETS_FILE ? existing.secretsFile : STATE_SECRETS_FILE;
  cfg.statusListen = existing.statusListen ?? '127.0.0.1:7601';
  cfg.sale = { entryMode: 'implied-decimals', qrTimeoutSeconds: 120, resultSeconds: 8, ...(existing.sale || {}) };
  if (env('QS_ENTRY_MODE')) cfg.sale.entryMode = env('QS_ENTRY_MODE');
  cfg.link = { heartbeatMs: 15000, requestTimeoutMs: 10000, ...(existing.link || {}) };

  const chosen = chooseDrivers(source);
  if (chosen) {
    if (chosen.profile) cfg.profile = chosen.profile;
    else delete cfg.profile;
    cfg.drivers = chosen.drivers;
  } else if (!cfg.drivers && !cfg.profile) {
    throw new InputError('no keypad/display chosen: give --profile NAME (or --keypad NAME --display NAME)');
  } else if (!cfg.drivers && cfg.profile) {
    const p = loadPart(source, 'profiles', cfg.profile, 'profile in the existing config');
    cfg.drivers = structuredClone(p.drivers);
  }

  const kp = cfg.drivers.keypad;
  if (kp.driver === 'hid') {
    const vid = env('QS_KEYPAD_VID') ?? kp.vendorId;
    const pid = env('QS_KEYPAD_PID') ?? kp.productId;
    if (vid === undefined || pid === undefined) {
      if (!kp.path) throw new InputError('a USB keypad needs its ids: give --keypad-vid and --keypad-pid (see `cat /sys/class/hidraw/hidraw*/device/uevent`)');
    } else {
      kp.vendorId = `0x${hexId(vid, '--keypad-vid')}`;
      kp.productId = `0x${hexId(pid, '--keypad-pid')}`;
    }
  } else if (env('QS_KEYPAD_VID') || env('QS_KEYPAD_PID')) {
    throw new InputError(`--keypad-vid/--keypad-pid apply to a USB (hid) keypad, not "${kp.driver}"`);
  }
  const pole = env('QS_POLE_PATH');
  if (pole) cfg.drivers.poleDisplay = { baudRate: 9600, commandSet: 'epson', ...(cfg.drivers.poleDisplay || {}), path: pole };
  const printer = env('QS_PRINTER_PATH');
  if (printer) cfg.drivers.printer = { baudRate: 19200, printOnSuccess: true, width: 32, ...(cfg.drivers.printer || {}), path: printer };

  for (const [k, flag] of [['relayUrl', '--relay-url'], ['merchantName', '--merchant-name'], ['currency', '--country/--currency']]) {
    if (cfg[k] === undefined) throw new InputError(`missing ${flag}`);
  }
  // Key order of a fresh file, whatever order an old file had, so rewrites compare equal.
  const order = ['version', 'relayUrl', 'merchantName', 'currency', 'terminalName', 'dataDir', 'secretsFile', 'statusListen', 'sale', 'link', 'profile', 'drivers'];
  const out = {};
  for (const k of order) if (cfg[k] !== undefined) out[k] = cfg[k];
  for (const k of Object.keys(cfg)) if (!(k in out)) out[k] = cfg[k];
  writeOut(out);
}

/** Existing values as "key<TAB>value" lines, for the installer's defaults. */
function readTerminal() {
  const cfg = readJsonObject(env('QS_EXISTING'), 'existing config') || {};
  const kp = cfg.drivers && cfg.drivers.keypad;
  const lines = {
    relayUrl: cfg.relayUrl,
    merchantName: cfg.merchantName,
    currency: cfg.currency,
    profile: cfg.profile,
    hasDrivers: cfg.drivers ? 'yes' : undefined,
    keypadDriver: kp && kp.driver,
    keypadVid: kp && kp.vendorId !== undefined ? hexId(typeof kp.vendorId === 'number' ? kp.vendorId.toString(16) : kp.vendorId, 'vendorId') : undefined,
    keypadPid: kp && kp.productId !== undefined ? hexId(typeof kp.productId === 'number' ? kp.productId.toString(16) : kp.productId, 'productId') : undefined,
    displayTty: cfg.drivers && cfg.drivers.display && cfg.drivers.display.tty,
  };
  const secrets = readJsonObject(env('QS_SECRETS'), 'existing secrets file');
  if (secrets && typeof secrets.supervisorPin === 'string') lines.supervisorPin = secrets.supervisorPin;
  for (const [k, v] of Object.entries(lines)) if (typeof v === 'string' && !/[\t\n]/.test(v)) process.stdout.write(`${k}\t${v}\n`);
}

/** Which keypad driver a profile / fragment choice gives, and its boot snippets (absolute paths). */
function choiceInfo() {
  const source = env('QS_SOURCE');
  const chosen = chooseDrivers(source);
  if (!chosen) return;
  process.stdout.write(`keypadDriver\t${chosen.drivers.keypad.driver}\n`);
  if (chosen.drivers.display.tty) process.stdout.write(`displayTty\t${chosen.drivers.display.tty}\n`);
  for (const b of chosen.boot) process.stdout.write(`boot\t${path.join(source, 'device', 'boot', b)}\n`);
}

/** The three generated terminal files, written into QS_OUTDIR (secrets private from the start). */
function terminalFiles() {
  const out = env('QS_OUTDIR');
  const capture = (fn) => {
    const chunks = [];
    const write = process.stdout.write;
    process.stdout.write = (c) => chunks.push(String(c));
    try {
      fn();
    } finally {
      process.stdout.write = write;
    }
    return chunks.join('');
  };
  const config = capture(terminalConfig);
  const secrets = capture(terminalSecrets);
  const rules = capture(udev);
  fs.writeFileSync(path.join(out, 'terminal.json'), config);
  fs.writeFileSync(path.join(out, 'terminal.secrets.json'), secrets, { mode: 0o600 });
  // An install from before the split kept the pairing credential in /etc/qrpos: it moves to the
  // daemon's file (what that file already holds wins).
  const old = readJsonObject(env('QS_SECRETS'), 'existing secrets file') || {};
  const moved = Object.fromEntries(DAEMON_FIELDS.filter((k) => old[k] !== undefined).map((k) => [k, old[k]]));
  if (Object.keys(moved).length > 0) {
    const state = readJsonObject(env('QS_STATE_SECRETS'), 'existing daemon secrets file') || {};
    fs.writeFileSync(path.join(out, 'state.secrets.json'), JSON.stringify({ ...moved, ...state }, null, 2) + '\n', { mode: 0o600 });
  }
  fs.writeFileSync(path.join(out, '99-qrpos.rules'), rules);
}

function terminalSecrets() {
  const existing = readJsonObject(env('QS_SECRETS'), 'existing secrets file') || {};
  const pin = env('QS_SUPERVISOR_PIN') ?? existing.supervisorPin;
  if (pin === undefined) throw new InputError('missing --supervisor-pin');
  const kept = Object.fromEntries(Object.entries(existing).filter(([k]) => !DAEMON_FIELDS.includes(k)));
  writeOut({ ...kept, supervisorPin: pin });
}

function relayConfig() {
  const existing = readJsonObject(env('QS_EXISTING'), 'existing relay config') || {};
  const cfg = { ...existing, version: 1 };
  const listen = env('QS_LISTEN');
  if (listen) {
    const m = /^(.+):(\d{1,5})$/.exec(listen);
    if (!m || Number(m[2]) > 65535) throw new InputError(`--listen expects HOST:PORT such as 0.0.0.0:8443, got "${listen}"`);
    cfg.listen = { host: m[1], port: Number(m[2]) };
  }
  if (env('QS_PUBLIC_URL')) cfg.publicUrl = env('QS_PUBLIC_URL');
  const cert = env('QS_TLS_CERT');
  const key = env('QS_TLS_KEY');
  if (cert || key) {
    if (!cert || !key) throw new InputError('--tls-cert and --tls-key go together');
    cfg.tls = { certFile: cert, keyFile: key };
  }
  // With TLS the relay faces the network; without, it listens on loopback behind a TLS reverse proxy.
  if (!cfg.listen) cfg.listen = cfg.tls ? { host: '0.0.0.0', port: 8443 } : { host: '127.0.0.1', port: 8787 };
  cfg.country = env('QS_COUNTRY') ?? existing.country;
  if (!cfg.country) throw new InputError('missing --country');
  cfg.omise = { baseUrl: 'https://api.omise.co', timeoutMs: 10000, ...(existing.omise || {}) };
  if (env('QS_OMISE_BASE_URL')) cfg.omise.baseUrl = env('QS_OMISE_BASE_URL');
  cfg.dataDir = existing.dataDir ?? '/var/lib/qrpos-relay';
  cfg.secretsFile = existing.secretsFile ?? '/etc/qrpos/relay.secrets.json';
  const order = ['version', 'listen', 'publicUrl', 'tls', 'country', 'omise', 'dataDir', 'secretsFile'];
  const out = {};
  for (const k of order) if (cfg[k] !== undefined) out[k] = cfg[k];
  for (const k of Object.keys(cfg)) if (!(k in out)) out[k] = cfg[k];
  writeOut(out);
}

function relaySecrets() {
  const existing = readJsonObject(env('QS_EXISTING'), 'existing relay secrets file') || {};
  const s = { ...existing };
  for (const [k, name] of [['omisePublicKey', 'QS_OMISE_PUBLIC_KEY'], ['omiseSecretKey', 'QS_OMISE_SECRET_KEY'], ['webhookSecret', 'QS_WEBHOOK_SECRET'], ['adminToken', 'QS_ADMIN_TOKEN']]) {
    if (env(name)) s[k] = env(name);
  }
  if (!s.omiseSecretKey) throw new InputError('missing --omise-secret-key');
  if (!s.webhookSecret) throw new InputError('missing --webhook-secret');
  if (!s.adminToken) s.adminToken = crypto.randomBytes(24).toString('base64url');
  const out = {};
  for (const k of ['omisePublicKey', 'omiseSecretKey', 'webhookSecret', 'previousWebhookSecret', 'adminToken']) if (s[k] !== undefined) out[k] = s[k];
  for (const k of Object.keys(s)) if (!(k in out)) out[k] = s[k];
  writeOut(out);
}

/** hidraw devices under <root>/sys/class/hidraw: "hidrawN<TAB>vid<TAB>pid<TAB>name". */
function hidraw() {
  const dir = path.join(env('QS_ROOT') || '/', 'sys/class/hidraw');
  if (!fs.existsSync(dir)) return;
  for (const n of fs.readdirSync(dir).sort()) {
    let text;
    try {
      text = fs.readFileSync(path.join(dir, n, 'device', 'uevent'), 'utf8');
    } catch {
      continue;
    }
    const id = /^HID_ID=([0-9A-Fa-f]+):([0-9A-Fa-f]+):([0-9A-Fa-f]+)$/m.exec(text);
    const name = /^HID_NAME=(.*)$/m.exec(text);
    if (!id || parseInt(id[1], 16) !== 3) continue; // 3 = USB
    const vid = parseInt(id[2], 16).toString(16).padStart(4, '0');
    const pid = parseInt(id[3], 16).toString(16).padStart(4, '0');
    process.stdout.write(`${n}\t${vid}\t${pid}\t${name ? name[1].replace(/\t/g, ' ') : ''}\n`);
  }
}

/** The udev rules template with its placeholders filled; lines with an unfilled one are dropped. */
function udev() {
  const text = fs.readFileSync(env('QS_TEMPLATE'), 'utf8');
  const values = {
    KEYPAD_VID: env('QS_KEYPAD_VID'),
    KEYPAD_PID: env('QS_KEYPAD_PID'),
    POLE_VID: env('QS_POLE_VID'),
    POLE_PID: env('QS_POLE_PID'),
    PRINTER_VID: env('QS_PRINTER_VID'),
    PRINTER_PID: env('QS_PRINTER_PID'),
  };
  const out = [];
  for (const line of text.split('\n')) {
    const names = [...line.matchAll(/@([A-Z_]+)@/g)].map((m) => m[1]);
    if (line.startsWith('#') && names.length) continue;
    if (names.some((n) => values[n] === undefined)) continue;
    out.push(line.replace(/@([A-Z_]+)@/g, (_, n) => hexId(values[n], n.toLowerCase())));
  }
  process.stdout.write(out.join('\n'));
}

/** cmdline.txt is one line: add or remove whole tokens, keeping everything else as it was. */
function cmdline() {
  const file = env('QS_FILE');
  const text = fs.readFileSync(file, 'utf8');
  const line = text.split('\n')[0];
  let tokens = line.split(/\s+/).filter(Boolean);
  const want = (env('QS_TOKENS') || '').split(/\s+/).filter(Boolean);
  const added = [];
  const replaced = [];
  if (env('QS_MODE') === 'add') {
    for (const t of want) {
      const key = t.split('=')[0];
      if (tokens.includes(t)) continue;
      // A different value for the same key (consoleblank=600) is replaced, and reported.
      replaced.push(...tokens.filter((x) => x.split('=')[0] === key));
      tokens = tokens.filter((x) => x.split('=')[0] !== key);
      tokens.push(t);
      added.push(t);
    }
  } else {
    tokens = tokens.filter((t) => !want.includes(t));
    for (const r of (env('QS_RESTORE') || '').split(/\s+/).filter(Boolean)) {
      if (!tokens.some((x) => x.split('=')[0] === r.split('=')[0])) tokens.push(r);
    }
  }
  fs.writeFileSync(env('QS_OUT'), tokens.join(' ') + '\n');
  process.stdout.write(`added\t${added.join(' ')}\nreplaced\t${replaced.join(' ')}\n`);
}

const BEGIN = '# BEGIN qrpos (managed by qrpos setup.sh; edits inside this block are replaced)';
const END = '# END qrpos';
/** config.txt: replace (or append, or with no snippets remove) the qrpos block. */
function configBlock() {
  const file = env('QS_FILE');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const lines = text.split('\n');
  const start = lines.indexOf(BEGIN);
  const stop = start >= 0 ? lines.indexOf(END, start) : -1;
  let rest = lines;
  if (start >= 0 && stop > start) rest = [...lines.slice(0, start), ...lines.slice(stop + 1)];
  while (rest.length && rest[rest.length - 1] === '') rest.pop();
  const snippets = (env('QS_SNIPPETS') || '').split('\n').filter(Boolean);
  const body = [];
  for (const s of snippets) {
    const content = fs.readFileSync(s, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    if (content.length) body.push(`# from ${path.basename(s)}`, ...content);
  }
  // [all] so the block applies whatever conditional section ([pi4], [cm4]...) precedes it.
  const block = body.length ? ['', BEGIN, '[all]', ...body, END] : [];
  fs.writeFileSync(env('QS_OUT'), [...rest, ...block].join('\n') + '\n');
}

/** Tree sync for the app: copy what differs, remove what the source no longer has. */
function sync() {
  for (const pair of (env('QS_PAIRS') || '').split('\n').filter(Boolean)) {
    const [src, dst, del] = pair.split('\t');
    syncOne(src, dst, del === '1');
  }
}

function syncOne(src, dst, del) {
  const dry = env('QS_DRY') === '1';
  let changed = 0;
  const note = (what, rel) => {
    changed++;
    if (changed <= 10) process.stdout.write(`${dst}\t${dry ? 'would ' : ''}${what} ${rel}\n`);
  };
  const walk = (rel) => {
    const s = path.join(src, rel);
    const d = path.join(dst, rel);
    const st = fs.lstatSync(s);
    let dt;
    try {
      dt = fs.lstatSync(d);
    } catch {
      dt = undefined;
    }
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(s);
      if (dt && dt.isSymbolicLink() && fs.readlinkSync(d) === target) return;
      note('link', rel);
      if (!dry) {
        if (dt) fs.rmSync(d, { recursive: true, force: true });
        fs.symlinkSync(target, d);
      }
    } else if (st.isDirectory()) {
      if (dt && !dt.isDirectory()) {
        note('replace', rel);
        if (!dry) fs.rmSync(d, { force: true });
        dt = undefined;
      }
      if (!dt) {
        if (!dry) fs.mkdirSync(d, { mode: 0o755 });
      } else if ((dt.mode & 0o7777) !== 0o755) {
        note('chmod', rel);
        if (!dry) fs.chmodSync(d, 0o755);
      }
      const names = fs.readdirSync(s).sort();
      for (const n of names) walk(path.join(rel, n));
      if (del && dt) {
        for (const n of fs.readdirSync(d)) {
          // The installer's own stamp in node_modules says what the tree was built for.
          if (names.includes(n) || (rel === '.' && n === '.qrpos-installed')) continue;
          note('remove', path.join(rel, n));
          if (!dry) fs.rmSync(path.join(d, n), { recursive: true, force: true });
        }
      }
    } else if (st.isFile()) {
      const mode = st.mode & 0o111 ? 0o755 : 0o644;
      if (dt && dt.isFile() && dt.size === st.size && fs.readFileSync(d).equals(fs.readFileSync(s))) {
        if ((dt.mode & 0o7777) !== mode) {
          note('chmod', rel);
          if (!dry) fs.chmodSync(d, mode);
        }
        return;
      }
      note(dt ? 'update' : 'add', rel);
      if (!dry) {
        if (dt && !dt.isFile()) fs.rmSync(d, { recursive: true, force: true });
        const tmp = `${d}.qrpos-tmp`;
        fs.copyFileSync(s, tmp);
        fs.chmodSync(tmp, mode);
        fs.renameSync(tmp, d);
      }
    }
  };
  if (!dry) fs.mkdirSync(path.dirname(dst), { recursive: true });
  if (dry && !fs.existsSync(dst)) {
    // Nothing to compare against: count what would be copied.
    const count = (p) => (fs.lstatSync(p).isDirectory() ? fs.readdirSync(p).reduce((n, c) => n + count(path.join(p, c)), 0) : 1);
    process.stdout.write(`${dst}\twould copy ${count(src)} files\n`);
    process.stdout.write(`CHANGED\t${dst}\t1\n`);
    return;
  }
  walk('.');
  if (changed > 10) process.stdout.write(`${dst}\t... and ${changed - 10} more\n`);
  process.stdout.write(`CHANGED\t${dst}\t${changed}\n`);
}

/** The pairing code in the daemon's /status JSON, wherever it sits (pairingCode, pairing.code...). */
function pairingCode() {
  let raw;
  try {
    raw = JSON.parse(fs.readFileSync(0, 'utf8'));
  } catch {
    return;
  }
  const seen = [];
  const visit = (v, underPairing) => {
    if (!v || typeof v !== 'object' || seen.includes(v)) return undefined;
    seen.push(v);
    for (const [k, x] of Object.entries(v)) {
      const pairKey = /pair/i.test(k);
      if (typeof x === 'string' && ((pairKey && /code/i.test(k)) || (underPairing && k === 'code'))) return x;
      const found = visit(x, underPairing || pairKey || (k === 'screen' && x && x.kind === 'pairing'));
      if (found) return found;
    }
    if (v.kind === 'pairing' && typeof v.code === 'string') return v.code;
    return undefined;
  };
  const code = visit(raw, false);
  if (code) process.stdout.write(code);
}

function boot() {
  if (env('QS_CMDLINE_FILE')) {
    process.env.QS_FILE = env('QS_CMDLINE_FILE');
    process.env.QS_OUT = env('QS_CMDLINE_OUT');
    cmdline();
  }
  if (env('QS_CONFIG_FILE')) {
    process.env.QS_FILE = env('QS_CONFIG_FILE');
    process.env.QS_OUT = env('QS_CONFIG_OUT');
    configBlock();
  }
}

const commands = { boot, terminalFiles, terminalConfig, readTerminal, choiceInfo, terminalSecrets, relayConfig, relaySecrets, hidraw, udev, cmdline, configBlock, sync, pairingCode };
const cmd = commands[process.argv[2]];
if (!cmd) {
  process.stderr.write(`helper.cjs: unknown command ${process.argv[2]}\n`);
  process.exit(1);
}
try {
  cmd();
} catch (err) {
  process.stderr.write(`${err.message}\n`);
  process.exit(err instanceof InputError ? 2 : 1);
}
