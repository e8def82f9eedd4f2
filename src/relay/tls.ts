/** The relay's TLS settings: what it offers, and the checks on its key file. */
import fs from 'node:fs';
import type https from 'node:https';
import { ConfigError } from './config';

/**
 * TLS 1.3, or TLS 1.2 with forward-secret AEAD suites only (ECDHE key exchange; no static RSA, no
 * CBC). A private key that other users can read is refused: whoever reads it can impersonate the relay.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export function tlsOptions(tls: { certFile: string; keyFile: string }): https.ServerOptions {
  const mode = fs.statSync(tls.keyFile).mode;
  if (mode & 0o004) {
    throw new ConfigError(`TLS private key ${tls.keyFile} is readable by every user (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod o-r ${tls.keyFile}`);
  }
  return {
    cert: fs.readFileSync(tls.certFile),
    key: fs.readFileSync(tls.keyFile),
    minVersion: 'TLSv1.2',
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
  };
}

