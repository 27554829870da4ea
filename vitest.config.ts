import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // every program spawns worker threads of its own; two files at a time suits 2 cores
    maxWorkers: 2,
    minWorkers: 1,
  },
});
