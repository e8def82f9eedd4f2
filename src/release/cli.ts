/**
 * npm run release [-- options]            build release/qrpos-<version>-linux-<arch>.tar.gz
 * npm run release -- verify FILE [--here]  check a bundle's signature and every file
 * npm run release -- check-emulated FILE [--root DIR] [--no-sale]
 *                                          a bundle for arm64/arm, run here under qemu-user (src/release/emulated.ts)
 *
 * Options of the build:
 *   --arch ARCH          x64 | arm64 | arm (amd64, aarch64, armhf); default: this machine's
 *   --out DIR            where the bundle goes (default: release/ in the checkout)
 *   --key FILE           the private signing key (default: $QRPOS_RELEASE_KEY, else
 *                        ~/.config/qrpos/release-key.pem; made there, 0600, on first use)
 *   --public-key FILE    the public key(s) to ship in the bundle (default scripts/release/release-key.pub)
 *   --dist DIR           package this built dist/ instead of compiling with tsc
 *   --node-modules DIR   take the production packages from here (default: the checkout's node_modules;
 *                        with --arch arm64 or arm on an amd64 machine: the ones scripts/release/cross.sh
 *                        builds, as root, in a Debian 13 root with the cross toolchain)
 *   --version V          instead of `git describe --tags --always --dirty`
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildRelease, BuildError, crossArchMessage } from './build';
import { checkBundleEmulated, describeReport, findEmulator } from './emulated';
import { defaultKeyFile, KeyError } from './keys';
import { M, RELEASE_DIR } from './lib';

const REPO = path.resolve(RELEASE_DIR, '..', '..');

const HELP = `usage: npm run release [-- --arch ARCH] [--out DIR] [--key FILE] [--public-key FILE] [--dist DIR] [--node-modules DIR] [--version V]
       npm run release -- verify FILE [--here] [--key PUBLIC-KEY-FILE]
       npm run release -- check-emulated FILE [--arch ARCH] [--root DIR] [--no-sale] [--key PUBLIC-KEY-FILE]
See src/release/cli.ts and scripts/SETUP.md ("Release bundles").`;

function parseFlags(argv: string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  const known = ['arch', 'out', 'key', 'public-key', 'dist', 'node-modules', 'version'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m || !known.includes(m[1])) throw new BuildError(`unknown argument ${a}\n${HELP}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined || v === '') throw new BuildError(`--${m[1]} needs a value`);
    flags[m[1]] = v;
  }
  return flags;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/**
 * node_modules for arm64 or arm built on this amd64 machine by scripts/release/cross.sh (which
 * asks for sudo when not root); its last line on stdout is the folder.
 */
function crossNodeModules(arch: string, log: (line: string) => void): string {
  const script = path.join(REPO, 'scripts', 'release', 'cross.sh');
  if (process.platform !== 'linux' || process.arch !== 'x64' || !['arm64', 'arm'].includes(arch)) throw new BuildError(crossArchMessage(arch));
  log(`linux-${arch} on this linux-x64 machine: native modules from ${path.relative(REPO, script)} (cross toolchain in a Debian 13 root)`);
  const r = spawnSync(script, ['--arch', arch], { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8' });
  const out = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.error || r.status !== 0 || !out.startsWith('/')) {
    throw new BuildError(`${path.relative(REPO, script)} --arch ${arch} failed (${r.error?.message ?? `exit ${r.status}`}); its messages are above.\n${crossArchMessage(arch)}`);
  }
  return out;
}

async function checkEmulated(argv: string[]): Promise<number> {
  let file: string | undefined;
  let root: string | undefined;
  let keys: string | undefined;
  let archFlag: string | undefined;
  let sale = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-sale') sale = false;
    else if (a === '--root' || a === '--key' || a === '--arch') {
      const v = argv[++i];
      if (!v) throw new BuildError(`${a} needs a value`);
      if (a === '--root') root = v;
      else if (a === '--arch') archFlag = v;
      else keys = v;
    } else if (!a.startsWith('--') && !file) file = a;
    else throw new BuildError(`unknown argument ${a}\n${HELP}`);
  }
  if (!file) throw new BuildError(`check-emulated needs the bundle file\n${HELP}`);
  // The architecture to check for: --arch, else the one the bundle's name says.
  const named = /-linux-([a-z0-9]+)\.tar\.gz$/.exec(file)?.[1];
  if (!archFlag && !named) throw new BuildError(`${file}: which architecture? (--arch arm64 or arm)`);
  const arch = M.normalizeArch(archFlag ?? named ?? '');
  const emulator = findEmulator(arch, root);
  if (typeof emulator === 'string') throw new BuildError(emulator);
  const report = await checkBundleEmulated(file, { arch, emulator, keys, sale, log: (line) => process.stderr.write(`[check-emulated] ${line}\n`) });
  process.stdout.write(describeReport(report));
  return report.problems.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (argv[0] === 'verify') {
    const release = require(path.join(RELEASE_DIR, 'release.cjs')) as { main(a: string[]): Promise<number> };
    return release.main(argv);
  }
  if (argv[0] === 'check-emulated') return checkEmulated(argv.slice(1));
  const flags = parseFlags(argv);
  const log = (line: string) => process.stderr.write(`[release] ${line}\n`);
  const arch = M.normalizeArch(flags.arch ?? process.arch);
  const nodeModules = flags['node-modules'] ?? (arch === process.arch ? undefined : crossNodeModules(arch, log));
  const r = await buildRelease({
    repo: REPO,
    arch,
    outDir: flags.out,
    keyFile: path.resolve(flags.key ?? defaultKeyFile()),
    publicKeyFile: flags['public-key'],
    dist: flags.dist,
    nodeModules,
    version: flags.version,
    log,
  });
  const m = r.manifest;
  const natives = M.nativeSummary(m.native);
  process.stdout.write(
    [
      `built ${path.relative(process.cwd(), r.file) || r.file}`,
      `  qrpos ${m.version} for linux-${m.arch}: ${mb(r.bytes)} (${mb(m.size)} in ${m.count} files unpacked)`,
      `  Node.js: ${m.node.engines ?? 'any'}${m.node.abi.length ? `, ABI ${m.node.abi.join('/')} only (built with ${m.node.builtWith ?? 'another machine'})` : ''}`,
      `  native modules: ${natives.join(', ') || 'none'}`,
      `  ${r.seconds.total.toFixed(1)} s: compile ${r.seconds.compile.toFixed(1)} s, files ${r.seconds.files.toFixed(1)} s, ` +
        `archive ${r.seconds.archive.toFixed(1)} s, check ${r.seconds.check.toFixed(1)} s`,
      `  install on a device: sudo scripts/setup.sh --bundle ${path.basename(r.file)}`,
      '',
    ].join('\n'),
  );
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const expected = err instanceof BuildError || err instanceof KeyError || err instanceof M.ReleaseError;
      const text = err instanceof Error ? (expected ? err.message : (err.stack ?? err.message)) : String(err);
      process.stderr.write(`release: ${text}\n`);
      process.exitCode = 1;
    },
  );
}
