import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { expect } from 'vitest';
import type { CliResult } from '../support/cli.js';
import type { TestCluster } from '../test-cluster/support.js';

/** A pod that only runs curl from the test image, for `meshctl inject` and exec: the meshed caller of a test. */
export const CLIENT_POD = `apiVersion: v1
kind: Pod
metadata:
  name: client
  labels:
    app: client
spec:
  containers:
  - name: client
    image: meshctl-test/shell
    command: ["sleep", "3600"]
`;

/**
 * Writes CLIENT_POD into `dir`, injects it with `meshctl inject -f` (as a user would), applies it in `ns` and waits
 * until the pod is ready: the meshed caller most Kubernetes tests start the same way.
 */
export async function startMeshedClient(
  cluster: TestCluster,
  cli: (...argv: string[]) => Promise<CliResult>,
  dir: string,
  ns: string,
): Promise<k8s.V1Pod> {
  writeFileSync(join(dir, 'client.yaml'), CLIENT_POD);
  const injected = await cli('inject', '-f', join(dir, 'client.yaml'));
  expect(injected.code, injected.stderr).toBe(0);
  const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: injected.stdout });
  expect(applied.code, applied.stderr).toBe(0);
  return (await cluster.waitForReadyPods(ns, 'app=client', 1, 150_000))[0]!;
}
