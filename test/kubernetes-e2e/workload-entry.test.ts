/**
 * WorkloadEntry on a test cluster: a plain HTTP server outside the cluster (on the host's address on
 * its link to the node, as a VM would be) described by a WorkloadEntry is an endpoint of the Service
 * selecting its labels; a meshed pod (meshctl inject) reaches it with curl by the Service name, through
 * its sidecar (the Service has no pod behind it: only the sidecar knows the endpoint).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';
import { startMeshedClient } from './client-pod.js';

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: WorkloadEntry', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let server: Server | undefined;
  let requests = 0;
  let ns = '';
  let client: k8s.V1Pod;
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  beforeAll(async () => {
    own = await startOwnTestCluster('workload-entry');
    ({ cluster, dir } = own);
    server = createServer((_req, res) => {
      requests++;
      res.end('legacy vm');
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(0, own!.state.network.hostIP, () => resolve());
    });
  }, 180_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }, 120_000);

  it('a WorkloadEntry outside the cluster is reached from a meshed pod by the Service selecting it', async () => {
    const installed = await cli('install', '--kubernetes', '--wait', '--timeout', '4m', '-y');
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    ns = await cluster.createNamespace('we');
    const port = (server!.address() as AddressInfo).port;
    const config = `apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: legacy-vm}
spec:
  address: ${own!.state.network.hostIP}
  labels: {app: legacy}
  ports: {http: ${port}}
`;
    const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: config });
    expect(applied.code, applied.stderr).toBe(0);
    client = await startMeshedClient(cluster, cli, dir, ns);

    let last = '';
    const ok = await cluster
      .waitFor(
        'the WorkloadEntry through the sidecar',
        async () => {
          const r = await cluster.execInContainer(client, 'client', [
            'curl',
            '-sS',
            '--max-time',
            '5',
            '-w',
            '\n%{http_code}',
            `http://legacy.${ns}/`,
          ]);
          last = `curl exit ${r.code}: ${r.stdout} ${r.stderr}`;
          return r.code === 0 && r.stdout.endsWith('\n200') ? r : undefined;
        },
        60_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\nlast: ${last}\nsidecar log:\n${cluster.podLogs(client, 'mesh-proxy')}`);
      });
    expect(ok.stdout).toBe('legacy vm\n200');
    expect(requests).toBeGreaterThanOrEqual(1);
    // The sidecar's endpoints name the entry's address and port (the WorkloadEntry's `ports.http`, not targetPort).
    const eps = await cli('proxy-config', 'endpoints', `client.${ns}`, '-o', 'json');
    expect(eps.code, eps.stderr).toBe(0);
    expect(eps.stdout).toContain(`${own!.state.network.hostIP}`);
    expect(eps.stdout).toContain(String(port));
  }, 300_000);
});
