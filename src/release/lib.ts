/**
 * The release library of scripts/release/lib (plain CommonJS: devices run it before anything of a
 * bundle is trusted, with no build step), loaded with its types from sources (tsx, vitest) and
 * from dist/ alike.
 */
import fs from 'node:fs';
import path from 'node:path';

function libDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'scripts', 'release', 'lib');
    if (fs.existsSync(path.join(candidate, 'manifest.cjs'))) return candidate;
    if (path.dirname(dir) === dir) throw new Error(`scripts/release/lib not found above ${__dirname}`);
  }
}

export const LIB_DIR = libDir();
export const RELEASE_DIR = path.dirname(LIB_DIR);
export const M = require(path.join(LIB_DIR, 'manifest.cjs')) as typeof import('../../scripts/release/lib/manifest.cjs');
export const Tar = require(path.join(LIB_DIR, 'tar.cjs')) as typeof import('../../scripts/release/lib/tar.cjs');
export const Install = require(path.join(LIB_DIR, 'install.cjs')) as typeof import('../../scripts/release/lib/install.cjs');
export type { Manifest, Arch, PublicKey } from '../../scripts/release/lib/manifest.cjs';
