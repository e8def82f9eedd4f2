#!/usr/bin/env node
'use strict';
// npm run bench [-- name ...]: runs the benchmark scripts in scripts/bench one after another
// (never in parallel: they would measure each other). Each prints its own numbers and targets.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const dir = __dirname;
const all = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => f.slice(0, -3)).sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length) {
  process.stderr.write(`bench: unknown benchmark(s) ${unknown.join(', ')}; available: ${all.join(', ')}\n`);
  process.exit(2);
}
const tsx = path.join(dir, '..', '..', 'node_modules', '.bin', 'tsx');
let failed = 0;
for (const name of wanted.length ? wanted : all) {
  process.stdout.write(`\n=== ${name} (scripts/bench/${name}.ts) ===\n`);
  const r = spawnSync(tsx, [path.join(dir, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`--- ${name} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exit(failed ? 1 : 0);
