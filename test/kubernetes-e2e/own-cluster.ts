/**
 * A test cluster of one test file's own. The end-to-end files install the mesh's cluster-wide objects
 * (webhook configuration, ClusterRole) that test/cluster/kubernetes/install.test.ts installs and removes on the
 * shared cluster, so each starts its own rather than share getTestCluster()'s.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster } from '../test-cluster/support.js';
import { startCluster, stopCluster, type TestClusterState } from '../test-cluster/harness/cluster.js';

/** A started cluster, its state and the directory holding it (HOME of the CLI runs). */
export interface OwnTestCluster {
  state: TestClusterState;
  cluster: TestCluster;
  dir: string;
}

/** Starts a cluster for this file; `label` prefixes its progress lines. */
export async function startOwnTestCluster(
  label: string,
  opts: Parameters<typeof startCluster>[2] = {},
): Promise<OwnTestCluster> {
  // The node agent runs bin/meshctl, which imports dist/: `npm test` builds it first.
  if (!existsSync(new URL('../../dist/control-plane/kubernetes-daemon.js', import.meta.url))) {
    const { execa } = await import('execa');
    await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: new URL('../..', import.meta.url).pathname });
  }
  const dir = mkdtempSync(join(tmpdir(), `meshctl-k8s-${label}-`));
  try {
    const state = await startCluster(dir, (m) => process.stderr.write(`[${label} cluster] ${m}\n`), opts);
    return { state, cluster: new TestCluster(state), dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Stops what startOwnTestCluster started (nothing if it never started). */
export async function stopOwnTestCluster(own: OwnTestCluster | undefined): Promise<void> {
  if (!own) return;
  await stopCluster(own.state);
  // MESHCTL_TEST_CLUSTER_KEEP=1 keeps the cluster's directory (its logs), as for the shared cluster.
  if (process.env.MESHCTL_TEST_CLUSTER_KEEP !== '1') rmSync(own.dir, { recursive: true, force: true });
}
