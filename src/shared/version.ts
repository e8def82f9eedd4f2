import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** qrpos's version from package.json, found from both the sources (tsx, vitest) and dist/. */
export function packageVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'qrpos' && pkg.version) return (cached = pkg.version);
    }
    if (path.dirname(dir) === dir) return (cached = '0.0.0');
  }
}
