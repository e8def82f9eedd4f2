#!/usr/bin/env node
'use strict';
/**
 * The terminal daemon as one file: dist/src/cli/terminal.js, made by `npm run build` after tsc
 * and by `npm run release` (src/release/build.ts) into the bundle's dist/. scripts/qrpos.cjs runs
 * `qrpos terminal` from it when it is there, so the service starts by reading one file instead of
 * resolving and compiling ~200 modules one by one (on a small Pi, most of a cold start).
 *
 * Entry src/cli/main.ts, so `qrpos terminal` behaves exactly as the compiled program's (flags,
 * help, errors); the other commands' modules stay outside it (loaded from dist/ if ever asked
 * for), and so do the native packages, loaded from node_modules as before. It sits in
 * dist/src/cli/, the depth of the sources it replaces, so paths found from __dirname (device
 * profiles, fonts, package.json) resolve as they do from the compiled modules.
 *
 * Usage: node scripts/bundle-terminal.cjs [--out-dir DIR]   (default: <repo>/dist)
 */
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

/** Loaded by other commands only: kept out of the terminal's file. */
const OTHER_COMMANDS = ['../simulator/cli', '../relay/cli', '../demo/cli', '../release/device-cli'];
/** Native code, or packages that load native code by path: required from node_modules at run time. */
const NATIVE = ['canvas', 'better-sqlite3', 'node-hid', 'onoff', 'epoll', 'serialport', '@serialport/*', 'koffi', 'bufferutil', 'utf-8-validate'];

/**
 * `entry` / `outfile`: another program built the same way (scripts/bench/small-pi.ts bundles its
 * daemon harness like this, so what it measures is built as the product is).
 */
async function bundleTerminal(outDir = path.join(ROOT, 'dist'), { entry = path.join(ROOT, 'src', 'cli', 'main.ts'), outfile = path.join(outDir, 'src', 'cli', 'terminal.js') } = {}) {
  const esbuild = require('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: NATIVE,
    plugins: [
      {
        // zod's namespace exports every language's error messages (~300 KB of the bundle); the
        // terminal uses only English, zod's default, and never selects another locale.
        name: 'zod-english-only',
        setup(build) {
          build.onResolve({ filter: /^\.\.\/locales\/index\.c?js$/ }, (args) =>
            /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' } : undefined,
          );
          build.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: path.dirname(args.path) }));
        },
      },
      {
        name: 'other-commands',
        setup(build) {
          build.onResolve({ filter: /^\.\.\/(simulator|relay|demo|release)\/(device-)?cli$/ }, (args) =>
            OTHER_COMMANDS.includes(args.path) && args.importer === path.join(ROOT, 'src', 'cli', 'main.ts') ? { path: args.path, external: true } : undefined,
          );
        },
      },
    ],
    // Whitespace and syntax only: names stay as written (log lines, stack traces, error names).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    sourcemap: 'external',
    logLevel: 'warning',
    metafile: true,
  });
  return { outfile, inputs: Object.keys(result.metafile.inputs).length, bytes: result.metafile.outputs[path.relative(ROOT, outfile)]?.bytes ?? 0 };
}

module.exports = { bundleTerminal };

if (require.main === module) {
  const i = process.argv.indexOf('--out-dir');
  const outDir = i > 0 ? path.resolve(process.argv[i + 1]) : undefined;
  bundleTerminal(outDir).then(
    (r) => process.stdout.write(`bundled the terminal: ${path.relative(process.cwd(), r.outfile)} (${r.inputs} modules, ${(r.bytes / 1024).toFixed(0)} KB)\n`),
    (err) => {
      process.stderr.write(`bundle-terminal: ${err && err.message ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
