import fs from 'node:fs';

/** fsync of a file or directory by path (a directory: the names in it, after a create or rename). */
export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
