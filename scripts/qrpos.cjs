#!/usr/bin/env node
'use strict';
// The `qrpos` command. Runs the compiled program in dist/ (built by `npm run build`); `qrpos terminal`
// runs the same program from its one-file bundle, dist/src/cli/terminal.js, when it is there
// (scripts/bundle-terminal.cjs: a quicker start on a small Pi).
const path = require('path');
const fs = require('fs');
const entry = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
const terminalBundle = path.join(__dirname, '..', 'dist', 'src', 'cli', 'terminal.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('qrpos: not built yet; run scripts/bootstrap.sh (or npm ci && npm run build) first\n');
  process.exit(1);
}
const { main } = require(process.argv[2] === 'terminal' && fs.existsSync(terminalBundle) ? terminalBundle : entry);
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    const { redactText } = require(path.join(__dirname, '..', 'dist', 'src', 'shared', 'log.js'));
    process.stderr.write(`qrpos: ${redactText(err && err.stack ? err.stack : String(err))}\n`);
    process.exitCode = 1;
  },
);
