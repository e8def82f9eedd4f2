#!/usr/bin/env node
'use strict';
// Ed25519 key pairs made for one test run: DIR/NAME.pem (private, 0600) and DIR/NAME.pub (public),
// in the formats `npm run release --key/--public-key` and the device's checks read.
//   node scripts/ci/throwaway-keys.cjs DIR NAME [NAME…]
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const [dir, ...names] = process.argv.slice(2);
if (!dir || names.length === 0) {
  process.stderr.write('usage: throwaway-keys.cjs DIR NAME [NAME…]\n');
  process.exit(2);
}
for (const name of names) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(path.join(dir, `${name}.pem`), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
}
