/**
 * The terminal's secrets file: its relay credential (from pairing) and the supervisor PIN.
 * Kept apart from the config so the config can be world-readable; always written 0600 through
 * a temp file, fsync and rename, so a power cut leaves the old or the new file, never half.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const SecretsSchema = z.object({
  credential: z.string().min(1).optional(),
  terminalId: z.string().min(1).optional(),
  /** 4–8 digits, typed on the keypad to open the supervisor menu. */
  supervisorPin: z.string().regex(/^\d{4,8}$/, 'expected 4 to 8 digits').optional(),
});
export type Secrets = z.infer<typeof SecretsSchema>;

export class SecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsError';
  }
}

/** A missing file is an empty secrets set (a terminal that still has to pair). */
export function readSecrets(file: string): { secrets: Secrets; warning?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { secrets: {} };
    throw new SecretsError(`cannot read secrets file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretsError(`secrets file ${file} is not valid JSON`);
  }
  const res = SecretsSchema.safeParse(raw);
  if (!res.success) {
    throw new SecretsError(`secrets file ${file}: ${res.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  }
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
  return { secrets: res.data, ...(warning ? { warning } : {}) };
}

export function writeSecrets(file: string, secrets: Secrets): void {
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
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // Directory fsync is not supported everywhere; the rename itself is still atomic.
  }
}
