import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes, not worker threads: each test file loads libtorch once in its own process, and
    // --expose-gc lets the lifetime tests force a collection.
    pool: 'forks',
    execArgv: ['--expose-gc'],
    testTimeout: 30_000,
  },
});
