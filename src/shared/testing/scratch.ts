import fs from 'node:fs';

/**
 * How long a test may take to remove its scratch folder. An unpacked release is about 20,000
 * files; on a busy CI disk removing a few of them took more than the default 30 s hook timeout.
 */
export const SCRATCH_REMOVAL_MS = 180_000;

/** Removes a scratch folder without blocking the event loop (for afterAll, with SCRATCH_REMOVAL_MS). */
export async function removeScratch(dir: string | undefined): Promise<void> {
  if (dir) await fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
