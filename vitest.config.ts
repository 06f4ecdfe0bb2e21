import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Network, TLS and cluster tests start real processes and sockets: give them room, run files in forks.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Starts nothing by itself: the test cluster is started by the first test that calls getTestCluster()
    // (test/test-cluster/support.ts), once per run, and stopped here when the run ends.
    globalSetup: ['test/test-cluster/harness/global-setup.ts'],
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
});
