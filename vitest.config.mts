import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'drivers/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'scripts/device-test/**'],
    // Native modules (canvas, better-sqlite3) are happiest in child processes.
    pool: 'forks',
    // Most files wait on child processes, sockets and timers rather than compute, so run more at
    // once than vitest's default (one less than the cores: a single file at a time on 2 cores).
    // On 2 cores, 3 at once cut the whole suite from about 420 s to 330 s with other work running.
    maxWorkers: Math.max(3, availableParallelism()),
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
