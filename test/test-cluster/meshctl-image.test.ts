/**
 * The meshctl image runs this checkout's CLI (bin/meshctl with the pinned Node), as the Dockerfile's
 * image would: its entrypoint, its user (1337) and the container's args.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot, type Requirement } from '../support/requirements.js';
import { checkoutDir } from './harness/binaries.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from './support.js';

const builtCli: Requirement = {
  name: 'built CLI (dist/cli.js)',
  met: () => existsSync(join(checkoutDir, 'dist', 'cli.js')),
  howToMeet: 'run `npm run build` (npm test does it first)',
};

describeRequiring([isRoot, kubernetesTestBinaries, builtCli], 'test cluster: the meshctl image', () => {
  let cluster: TestCluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-image');
  });
  afterAll(async () => {
    if (cluster && ns) await cluster.deleteNamespace(ns);
  });

  it('runs bin/meshctl with the container args, as UID 1337 by default', async () => {
    await cluster.apply(
      `
apiVersion: v1
kind: Pod
metadata: {name: meshctl-version}
spec:
  restartPolicy: Never
  containers:
  - name: meshctl
    image: ghcr.io/meshctl/meshctl:0.1.0
    args: [version]
  - name: whoami
    image: ghcr.io/meshctl/meshctl:0.1.0
    command: [node, -e, 'console.log("uid=" + process.getuid())']
`,
      ns,
    );
    const pod = await cluster.waitForPod(
      ns,
      'meshctl-version',
      (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed',
      'finished',
    );
    const logs = await cluster.kubectl(['logs', '-n', ns, 'meshctl-version', '-c', 'meshctl']);
    expect(logs.stdout).toMatch(/^client version: \d+\.\d+\.\d+/m);
    const whoami = await cluster.kubectl(['logs', '-n', ns, 'meshctl-version', '-c', 'whoami']);
    expect(whoami.stdout).toBe('uid=1337\n');
    expect(pod.status?.phase).toBe('Succeeded');
  });
});
