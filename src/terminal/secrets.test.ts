/**
 * Secrets under systemd: the PIN setup.sh keeps root-only in /etc/qrpos arrives as the
 * credential terminal.secrets.json ($CREDENTIALS_DIRECTORY, LoadCredential=); the daemon's own
 * file (in its state directory) keeps what it writes itself.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CREDENTIAL_NAME, readSecrets, SecretsError, writeSecrets } from './secrets';

let dir: string;
let creds: string;
let own: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-secrets-'));
  creds = path.join(dir, 'credentials');
  fs.mkdirSync(creds);
  own = path.join(dir, 'state', 'terminal.secrets.json');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('terminal secrets with a systemd credential', () => {
  it('reads the PIN from the credential and the pairing credential from its own file', () => {
    fs.writeFileSync(path.join(creds, CREDENTIAL_NAME), JSON.stringify({ supervisorPin: '590271' }), { mode: 0o400 });
    const env = { CREDENTIALS_DIRECTORY: creds };
    expect(readSecrets(own, env).secrets).toEqual({ supervisorPin: '590271' }); // own file not there yet
    writeSecrets(own, { ...readSecrets(own, env).secrets, credential: 'tc_abc', terminalId: 'term_1' }, env);
    // The PIN stays the credential's: not copied into the daemon's file.
    expect(JSON.parse(fs.readFileSync(own, 'utf8'))).toEqual({ credential: 'tc_abc', terminalId: 'term_1' });
    expect(fs.statSync(own).mode & 0o777).toBe(0o600);
    expect(readSecrets(own, env).secrets).toEqual({ supervisorPin: '590271', credential: 'tc_abc', terminalId: 'term_1' });
  });

  it('lets the credential win over a stale PIN in the daemon file (the installer changed it)', () => {
    fs.mkdirSync(path.dirname(own));
    fs.writeFileSync(own, JSON.stringify({ supervisorPin: '1111', credential: 'tc_abc' }), { mode: 0o600 });
    fs.writeFileSync(path.join(creds, CREDENTIAL_NAME), JSON.stringify({ supervisorPin: '2222' }));
    expect(readSecrets(own, { CREDENTIALS_DIRECTORY: creds }).secrets).toEqual({ supervisorPin: '2222', credential: 'tc_abc' });
    // Without systemd (a hand-run daemon, the demo) the file alone counts.
    expect(readSecrets(own, {}).secrets).toEqual({ supervisorPin: '1111', credential: 'tc_abc' });
  });

  it('reports a broken credential by its path, without its content', () => {
    fs.writeFileSync(path.join(creds, CREDENTIAL_NAME), '{"supervisorPin": "12"}');
    expect(() => readSecrets(own, { CREDENTIALS_DIRECTORY: creds })).toThrow(SecretsError);
    expect(() => readSecrets(own, { CREDENTIALS_DIRECTORY: creds })).toThrow(`${creds}/${CREDENTIAL_NAME}: supervisorPin: expected 4 to 8 digits`);
    fs.writeFileSync(path.join(creds, CREDENTIAL_NAME), '{"supervisorPin": "123456"');
    expect(() => readSecrets(own, { CREDENTIALS_DIRECTORY: creds })).toThrow(/is not valid JSON at line 1, column 27: /);
  });

  it('refuses the supervisor PIN published as the example, naming the field and not the value', () => {
    fs.mkdirSync(path.dirname(own), { recursive: true });
    fs.writeFileSync(own, JSON.stringify({ supervisorPin: '482913' }), { mode: 0o600 });
    let msg = '';
    try {
      readSecrets(own, {});
    } catch (err) {
      expect(err).toBeInstanceOf(SecretsError);
      msg = (err as Error).message;
    }
    expect(msg).toContain('supervisorPin: is an example value published with qrpos');
    expect(msg).not.toContain('482913');
  });
});
