/**
 * Vitest global setup: gives the run a directory where the test cluster is started lazily, by the first
 * test file that calls getTestCluster() (test/test-cluster/support.ts), and stops that cluster when the run
 * ends. A run that selects no cluster test starts nothing and pays nothing.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { isAlive } from './processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Directory of this run's lazily started test cluster. */
    meshctlTestClusterRunDir: string;
  }
}

/** Stops the clusters of earlier runs that were interrupted before their teardown (their vitest is gone). */
async function sweepOrphans(): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith('mtc-run-')) continue;
    const dir = join(tmpdir(), entry);
    const ownerFile = join(dir, 'owner.pid');
    const owner = existsSync(ownerFile) ? Number(readFileSync(ownerFile, 'utf8')) : 0;
    if (!owner || isAlive(owner)) continue;
    await stopRunClusters(dir);
  }
}

async function stopRunClusters(runDir: string): Promise<void> {
  for (const entry of readdirSync(runDir)) {
    const stateFile = join(runDir, entry, 'state.json');
    if (!existsSync(stateFile)) continue;
    // Loaded only when there is a cluster to stop, so runs without cluster tests do not pay for it.
    const { readState, stopCluster } = await import('./cluster.js');
    await stopCluster(readState(stateFile));
  }
  if (process.env.MESHCTL_TEST_CLUSTER_KEEP !== '1') rmSync(runDir, { recursive: true, force: true });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await sweepOrphans().catch((e: Error) =>
    process.stderr.write(`test cluster: could not stop an orphaned cluster: ${e.message}\n`),
  );
  const runDir = mkdtempSync(join(tmpdir(), 'mtc-run-'));
  chmodSync(runDir, 0o755);
  writeFileSync(join(runDir, 'owner.pid'), String(process.pid));
  project.provide('meshctlTestClusterRunDir', runDir);
  return () => stopRunClusters(runDir);
}
