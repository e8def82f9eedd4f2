/**
 * A small, size-limited filesystem for tests of "the disk is full": a tmpfs of a few hundred KiB
 * that a test fills with one file (writes then fail with ENOSPC / SQLITE_FULL) and frees again.
 *
 * The mount is real: as root (CI) or through `sudo -n` (a developer with sudo). An unprivileged
 * mount in a user namespace (`unshare --user --map-root-user --mount`) is not used: the test
 * process can only reach it through /proc/<pid>/root, a symlink that SQLite resolves to the
 * directory under the mount, so the database would silently land on the big disk. When no mount
 * is possible the error says why: these tests are not skipped.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SmallFs {
  /** A directory on the small filesystem, writable by this process. */
  readonly dir: string;
  /** How it was mounted ("mount" as root, "sudo mount" otherwise), for test output. */
  readonly how: string;
  /** Fill the filesystem to the last byte with one file; returns the bytes written. */
  fill(): number;
  /** Remove the filler: writes succeed again. */
  free(): void;
  /** Free bytes left (statfs). */
  available(): number;
  /** Unmount and remove everything. */
  close(): Promise<void>;
}

const FILLER = '.filler';

function makeHandle(dir: string, how: string, cleanup: () => Promise<void>): SmallFs {
  const filler = path.join(dir, FILLER);
  return {
    dir,
    how,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024);
      let written = 0;
      try {
        // Shrinking chunks, so the last few bytes are taken too.
        for (let size = chunk.length; size >= 1; ) {
          try {
            written += fs.writeSync(fd, chunk, 0, size);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            size = Math.floor(size / 2);
          }
        }
      } finally {
        fs.closeSync(fd);
      }
      return written;
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    available() {
      const s = fs.statfsSync(dir);
      return s.bavail * s.bsize;
    },
    close: cleanup,
  };
}

function viaMount(mountPoint: string, sizeKiB: number): SmallFs {
  const root = process.getuid?.() === 0;
  const prefix = root ? [] : ['sudo', '-n'];
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...prefix, ...args];
    const r = spawnSync(cmd, rest, { encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`${[cmd, ...rest].join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.status}`}`);
  };
  run(['mount', '-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700,uid=${uid},gid=${gid}`, 'qrpos-test', mountPoint]);
  return makeHandle(mountPoint, root ? 'mount' : 'sudo mount', async () => {
    try {
      run(['umount', mountPoint]);
    } catch {
      // Still open somewhere (a failed test left a database open): detach it now, freed on close.
      run(['umount', '-l', mountPoint]);
    }
    fs.rmSync(mountPoint, { recursive: true, force: true });
  });
}

/** Mount a tmpfs of `sizeKiB` KiB for this test; throws, naming each reason, when no way works. */
export function mountSmallFs(sizeKiB: number): SmallFs {
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'qrpos-smallfs-'));
  try {
    return viaMount(mountPoint, sizeKiB);
  } catch (err) {
    fs.rmSync(mountPoint, { recursive: true, force: true });
    const root = process.getuid?.() === 0;
    throw new Error(
      `cannot mount a ${sizeKiB} KiB tmpfs for the disk-full tests (${root ? 'as root' : 'through sudo -n'}): ${(err as Error).message}. ` +
        (root
          ? 'Run the tests where root may mount (a container needs CAP_SYS_ADMIN).'
          : 'Give this user passwordless sudo for mount and umount, or run the tests as root.') +
        ' A user-namespace mount cannot serve: this process would reach it only through /proc/<pid>/root, which SQLite resolves away.',
      { cause: err },
    );
  }
}
