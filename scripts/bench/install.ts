/**
 * Install time from a release bundle: `scripts/setup.sh --bundle FILE` on the QEMU device (the
 * device test's guest: Debian's kernel, 2 vCPUs, 1 GiB, the host's node; TCG unless EMU_ACCEL=kvm)
 * and on this host, side by side in one run, with the same bundle, flags and scratch root.
 *
 *   1. a real bundle of this checkout (dist/ as built, the production node_modules, gzip -9 as
 *      `npm run release` makes it), signed with a throwaway key;
 *   2. the host install into a scratch root (--root), timed with the CPU share it got (its CPU
 *      time, children included, ÷ wall time: below ~90 % the machine took the core away);
 *   3. the same in the guest (scripts/device-test/install-guest.sh), timed by the guest's own
 *      clock, with how busy the guest's CPUs were;
 *   4. the host install again, so the reference brackets the guest run (the machine is shared).
 * The guest figure is given as a ratio to the mean of the two host runs. What it measures on the
 * guest: checking the signature and every file's SHA-256, unpacking to its RAM file system, the
 * self-test (native modules load), switching `current` and writing config and units. An SD card
 * on a Pi writes slower than that RAM.
 *
 * Run: npm run bench -- install   (needs root or sudo for apt-get the first time: QEMU, the
 * kernel package, as `npm run test:device`; dist/ built). Not part of CI: one boot under TCG is
 * minutes on this 2-core machine.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildRelease } from '../../src/release/build';
import { makeKeys, REPO } from '../../src/release/testing';

// The device-test guest splits its flags at spaces: none in these.
const FLAGS = ['--non-interactive', '--relay-url', 'https://relay.example.com', '--country', 'TH', '--merchant-name', 'BenchShop', '--profile', 'pi-ili9486-480x320-usb-numpad', '--keypad-vid', '1C4F', '--keypad-pid', '2', '--supervisor-pin', '590271'];

interface Run {
  rc: number;
  seconds: number;
  /** CPU share: host, the install's CPU time ÷ wall; guest, busy share of its vCPUs. */
  cpu: number;
  version: string;
  /** The guest's boot: kernel start to power-off, and how many host cores QEMU got meanwhile. */
  qemu?: { hostCores: number; bootSeconds: number };
}

/** setup.sh --bundle on this host, under bash's `times` for the CPU its children used. */
function hostInstall(bundle: string, key: string, template: string, base: string): Run {
  const root = fs.mkdtempSync(path.join(base, 'host-root-'));
  fs.cpSync(template, root, { recursive: true });
  const script = 'bash "$@" >"$OUT" 2>&1; rc=$?; times; exit $rc';
  const out = path.join(base, 'host-setup.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', script, '_', path.join(REPO, 'scripts', 'setup.sh'), '--root', root, '--bundle', bundle, '--release-key', key, ...FLAGS], {
    encoding: 'utf8',
    env: { ...process.env, OUT: out },
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // `times`: this shell's user and system time, then its children's.
  const children = r.stdout.trim().split('\n').at(-1) ?? '';
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((s, m) => s + Number(m[1]) * 60 + Number(m[2]), 0);
  if (r.status !== 0) process.stderr.write(fs.readFileSync(out, 'utf8').split('\n').slice(-15).join('\n'));
  let version = '';
  try {
    version = fs.readlinkSync(path.join(root, 'opt', 'qrpos', 'current'));
  } catch {
    /* not installed */
  }
  fs.rmSync(root, { recursive: true, force: true });
  return { rc: r.status ?? 1, seconds, cpu: cpu / seconds, version };
}

function guestInstall(bundle: string, key: string, template: string): Run {
  const r = spawnSync('bash', [path.join(REPO, 'scripts', 'device-test', 'install-guest.sh'), bundle, key, template, ...FLAGS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = r.stdout.split('\n').find((l) => l.startsWith('guest-install '));
  if (r.status !== 0 || !line) throw new Error(`install-guest.sh failed (exit ${r.status}):\n${r.stdout}`);
  const kv = Object.fromEntries(line.slice('guest-install '.length).split(' ').map((p) => p.split('=') as [string, string]));
  return { rc: Number(kv.rc), seconds: Number(kv.seconds), cpu: Number(kv.cpu), version: kv.version ?? '', qemu: { hostCores: Number(kv.qemu_host_cores), bootSeconds: Number(kv.boot_seconds) } };
}

/** A scratch root as a fresh Debian 12 image has it: what setup.sh --root reads and edits. */
function scratchRoot(base: string): string {
  const root = path.join(base, 'template-root');
  const files: Record<string, string> = {
    'etc/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/bash\n',
    'etc/group': 'root:x:0:\ndialout:x:20:\nvideo:x:44:\n',
    'etc/shadow': 'root:*:19000:0:99999:7:::\n',
    'etc/gshadow': 'root:*::\ndialout:*::\nvideo:*::\n',
    'boot/firmware/cmdline.txt': 'console=tty1 root=PARTUUID=00000000-02 rootfstype=ext4 rootwait\n',
    'boot/firmware/config.txt': 'dtparam=audio=on\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text, { mode: rel.includes('shadow') ? 0o640 : 0o644 });
  }
  return root;
}

async function main(): Promise<number> {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js'))) {
    process.stderr.write('bench install: dist/ missing: npm run build first\n');
    return 1;
  }
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-bench-install-'));
  try {
    const keys = makeKeys(base);
    const built = await buildRelease({ repo: REPO, dist: path.join(REPO, 'dist'), keyFile: keys.privFile, publicKeyFile: keys.pubFile, outDir: path.join(base, 'out'), version: '9.0.0-bench' });
    const template = scratchRoot(base);
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    console.log(`bundle ${path.basename(built.file)}: ${mb(built.bytes)}, built in ${built.seconds.total.toFixed(1)} s`);
    const first = hostInstall(built.file, keys.pubFile, template, base);
    const guest = guestInstall(built.file, keys.pubFile, template);
    const second = hostInstall(built.file, keys.pubFile, template, base);
    const ref = (first.seconds + second.seconds) / 2;
    const pct = (x: number) => `${Math.round(x * 100)} %`;
    const row = (name: string, r: Run) =>
      `${name.padEnd(34)} ${r.seconds.toFixed(2).padStart(8)} s  ${(r.seconds / ref).toFixed(2).padStart(6)}x  ${pct(r.cpu).padStart(6)}  ${r.rc === 0 ? `ok (current -> ${r.version})` : `FAILED exit ${r.rc}`}`;
    console.log(`\n${'setup.sh --bundle'.padEnd(34)} ${'wall'.padStart(10)}  ${'ratio'.padStart(7)}  ${'CPU'.padStart(6)}`);
    console.log(row('host, before the guest', first));
    console.log(row(`QEMU device (${process.env.EMU_ACCEL ?? 'tcg'}, 2 vCPUs)`, guest));
    console.log(row('host, after the guest', second));
    if (guest.qemu) console.log(`\nthe guest's boot, kernel to power-off: ${guest.qemu.bootSeconds.toFixed(1)} s; QEMU got ${guest.qemu.hostCores.toFixed(2)} of this host's cores meanwhile (2 at most for 2 vCPUs; fewer: the host was busy)`);
    console.log(`ratio: to the mean of the two host runs (${ref.toFixed(2)} s). CPU: host, the install's CPU time ÷ wall (of one core); guest, how busy its 2 vCPUs were.`);
    return first.rc || guest.rc || second.rc ? 1 : 0;
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench install: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
