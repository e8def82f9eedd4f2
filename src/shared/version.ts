import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/**
 * qrpos's version, found from both the sources (tsx, vitest) and dist/: in an installed release
 * (a manifest.json beside package.json, /opt/qrpos/releases/<version>/) the release's version,
 * which `qrpos upgrade` compares with the one the status endpoint reports; in a checkout,
 * package.json's.
 */
export function packageVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'qrpos' && pkg.version) return (cached = releaseVersion(dir) ?? pkg.version);
    }
    if (path.dirname(dir) === dir) return (cached = '0.0.0');
  }
}

/** The version in <dir>/manifest.json of a qrpos release, or undefined. */
function releaseVersion(dir: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { name?: unknown; version?: unknown };
    return m.name === 'qrpos' && typeof m.version === 'string' && m.version ? m.version : undefined;
  } catch {
    return undefined;
  }
}
