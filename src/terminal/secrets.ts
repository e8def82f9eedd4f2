/**
 * The terminal's secrets file: its relay credential (from pairing) and the supervisor PIN.
 * Kept apart from the config so the config can be world-readable; always written 0600 through
 * a temp file, fsync and rename, so a power cut leaves the old or the new file, never half.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { JsonTextError, parseJsonText } from '../shared/json-text';
import { isPublishedSecret, PUBLISHED_SECRET_MESSAGE } from '../shared/published-secrets';
import { fsyncPath } from '../shared/fsync';

export const SecretsSchema = z.object({
  credential: z.string().min(1).optional(),
  terminalId: z.string().min(1).optional(),
  /**
   * The credential a supervisor's "Pair again" gave up, kept until the new pairing is approved: the
   * device shows it to the relay as proof that it was that terminal, so its sales in flight follow it.
   */
  previousCredential: z.string().min(1).optional(),
  /** 4–8 digits, typed on the keypad to open the supervisor menu. */
  supervisorPin: z
    .string()
    .regex(/^\d{4,8}$/, 'expected 4 to 8 digits')
    .refine((s) => !isPublishedSecret(s), PUBLISHED_SECRET_MESSAGE)
    .optional(),
});
export type Secrets = z.infer<typeof SecretsSchema>;

export class SecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsError';
  }
}

/**
 * Under systemd the secrets setup.sh writes (the supervisor PIN, in the root-only
 * /etc/qrpos/terminal.secrets.json) arrive as the credential `terminal.secrets.json`
 * (LoadCredential= in the unit): read-only, and ahead of the same fields in the daemon's own
 * file, which holds what it writes itself (the relay credential from pairing).
 */
export const CREDENTIAL_NAME = 'terminal.secrets.json';

function credentialSecrets(env: NodeJS.ProcessEnv): Secrets {
  const dir = env.CREDENTIALS_DIRECTORY;
  if (!dir) return {};
  const file = path.join(dir, CREDENTIAL_NAME);
  if (!fs.existsSync(file)) return {};
  return parseSecrets(file);
}

/** A missing file is an empty secrets set (a terminal that still has to pair). */
export function readSecrets(file: string, env: NodeJS.ProcessEnv = process.env): { secrets: Secrets; warning?: string } {
  const own = readSecretsFile(file);
  return { ...own, secrets: { ...own.secrets, ...credentialSecrets(env) } };
}

function parseSecrets(file: string): Secrets {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SecretsError(`cannot read secrets file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return validate(file, text);
}

function validate(file: string, text: string): Secrets {
  let raw: unknown;
  try {
    // Takes a byte-order mark; the error says where (line, column), never what was there.
    raw = parseJsonText(text);
  } catch (err) {
    if (!(err instanceof JsonTextError)) throw err;
    throw new SecretsError(`secrets file ${file} is ${err.message}`);
  }
  const res = SecretsSchema.safeParse(raw);
  if (!res.success) {
    throw new SecretsError(`secrets file ${file}: ${res.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  }
  return res.data;
}

function readSecretsFile(file: string): { secrets: Secrets; warning?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { secrets: {} };
    throw new SecretsError(`cannot read secrets file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const secrets = validate(file, text);
  let warning: string | undefined;
  try {
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077) {
      fs.chmodSync(file, 0o600);
      warning = `secrets file ${file} was mode ${mode.toString(8)}; set to 600`;
    }
  } catch {
    // A read-only filesystem keeps the old mode; the warning would be noise.
  }
  return { secrets, ...(warning ? { warning } : {}) };
}

/** Fields the credential gives are not the daemon's to store: they are left out of its file. */
export function writeSecrets(file: string, all: Secrets, env: NodeJS.ProcessEnv = process.env): void {
  const fromCredential = credentialSecrets(env);
  const secrets = Object.fromEntries(Object.entries(all).filter(([k]) => !(k in fromCredential)));
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(secrets, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  try {
    fsyncPath(dir);
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is still atomic.
  }
}
