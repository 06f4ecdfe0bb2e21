/**
 * Vitest global setup: gives the run a directory where the test cluster is started lazily, by the first
 * test file that calls getTestCluster() (test/cluster/support.ts), and stops that cluster when the run
 * ends. A run that selects no cluster test starts nothing and pays nothing.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { readState, stopCluster } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory of this run's lazily started test cluster. */
    meshctlTestClusterRunDir: string;
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'mtc-run-'));
  chmodSync(runDir, 0o755);
  project.provide('meshctlTestClusterRunDir', runDir);
  return async () => {
    for (const entry of readdirSync(runDir)) {
      const stateFile = join(runDir, entry, 'state.json');
      if (existsSync(stateFile)) await stopCluster(readState(stateFile));
    }
    if (process.env.MESHCTL_TEST_CLUSTER_KEEP !== '1') rmSync(runDir, { recursive: true, force: true });
  };
}
