/**
 * The Ed25519 key that signs release bundles. The private key never enters the repository: it
 * is read from $QRPOS_RELEASE_KEY, else ~/.config/qrpos/release-key.pem, and made there (0600)
 * the first time. Devices trust the public keys in scripts/release/release-key.pub.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class KeyError extends Error {}

export function defaultKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.QRPOS_RELEASE_KEY || path.join(os.homedir(), '.config', 'qrpos', 'release-key.pem');
}

export function publicKeyPem(key: crypto.KeyObject): string {
  return crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

/**
 * The signing key in `file`; created (mode 0600, folder 0700) when the file does not exist,
 * with `log` told where it is and what to do with its public half.
 */
export function loadOrCreateSigningKey(file: string, log: (line: string) => void): { key: crypto.KeyObject; created: boolean } {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    fs.writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    log(`created a new release signing key: ${file} (mode 0600).`);
    log('  Keep it secret and back it up: whoever has it can sign bundles the devices install.');
    log('  Its public key, which devices must trust (scripts/release/release-key.pub) to install what it signs:');
    for (const line of publicKeyPem(privateKey).trimEnd().split('\n')) log(`    ${line}`);
    return { key: privateKey, created: true };
  }
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyError(`${file} can be read by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 ${file}`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(fs.readFileSync(file));
  } catch (err) {
    throw new KeyError(`${file} is not a private key in PEM: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyError(`${file} is a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  return { key, created: false };
}
