import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'drivers/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**', 'scripts/device-test/**'],
    // Native modules (canvas, better-sqlite3) are happiest in child processes.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
