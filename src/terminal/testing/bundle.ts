import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Bundles testing/child.ts (or another entry in testing/) into one CommonJS file, so each child start is a plain `node` start
 * instead of a TypeScript compile. Native modules stay external (run it with NODE_PATH set to
 * the repo's node_modules, see childEnv).
 */
export async function bundleChild(outfile: string, entry = 'child.ts'): Promise<string> {
  const esbuild = require('esbuild') as typeof import('esbuild');
  await esbuild.build({
    entryPoints: [path.join(__dirname, entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile,
    external: ['canvas', 'better-sqlite3', 'node-hid', 'onoff', 'serialport', '@serialport/*', 'bufferutil', 'utf-8-validate'],
    logLevel: 'error',
  });
  return outfile;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_PATH: path.join(REPO_ROOT, 'node_modules'), QRPOS_PROFILE_DIR: path.join(REPO_ROOT, 'device', 'profiles'), ...extra };
}
