/**
 * Gateway API mesh routes (GAMMA) on a test cluster: an HTTPRoute whose parentRef is a Service, applied
 * with kubectl, routes a meshed pod's requests to that Service: a header match sends them to a second
 * Service, everything else stays on the first. The two backends are plain HTTP servers outside the
 * cluster (WorkloadEntries on the host's link address), so the answer names the backend that served it;
 * without the route the header makes no difference.
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

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: Gateway API mesh routes', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  const servers: Server[] = [];
  let ns = '';
  let client: k8s.V1Pod;
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  /** A backend outside the cluster that answers with its name. */
  const backend = async (name: string): Promise<number> => {
    const server = createServer((_req, res) => res.end(name));
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, own!.state.network.hostIP, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };

  /** What the client gets for GET http://echo.NS/ with the given extra curl arguments. */
  const get = async (...args: string[]): Promise<string> => {
    const r = await cluster.execInContainer(client, 'client', [
      'curl',
      '-sS',
      '--max-time',
      '5',
      '-w',
      '\n%{http_code}',
      ...args,
      `http://echo.${ns}/`,
    ]);
    return r.code === 0 ? r.stdout : `curl exit ${r.code}: ${r.stderr}`;
  };

  beforeAll(async () => {
    own = await startOwnTestCluster('gateway-api');
    ({ cluster, dir } = own);
  }, 180_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }, 120_000);

  it('an HTTPRoute with a Service parentRef routes by header, applied with kubectl', async () => {
    const installed = await cli('install', '--kubernetes', '--wait', '--timeout', '4m', '-y');
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    ns = await cluster.createNamespace('gamma');
    const [v1, v2] = [await backend('echo-v1'), await backend('echo-v2')];
    const host = own!.state.network.hostIP;
    const services = ['echo', 'echo-v2']
      .map(
        (name, i) => `apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
  selector: {app: ${name}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-vm}
spec:
  address: ${host}
  labels: {app: ${name}}
  ports: {http: ${i === 0 ? v1 : v2}}
`,
      )
      .join('---\n');
    const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: services });
    expect(applied.code, applied.stderr).toBe(0);
    client = await startMeshedClient(cluster, cli, dir, ns);

    // Before the route: the header makes no difference.
    await cluster.waitFor('echo through the sidecar', async () => (await get()) === 'echo-v1\n200', 60_000);
    expect(await get('-H', 'x-version: v2')).toBe('echo-v1\n200');

    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echo-by-header
spec:
  parentRefs:
  - name: echo
    kind: Service
    group: ""
    port: 80
  rules:
  - matches:
    - headers:
      - name: x-version
        value: v2
    backendRefs:
    - name: echo-v2
      port: 80
  - backendRefs:
    - name: echo
      port: 80
`;
    const routed = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: route });
    expect(routed.code, routed.stderr).toBe(0);
    let last = '';
    await cluster
      .waitFor(
        'the header routed to echo-v2',
        async () => (last = await get('-H', 'x-version: v2')) === 'echo-v2\n200',
        60_000,
      )
      .catch((err: Error) => {
        throw new Error(`${err.message}\nlast: ${last}\nsidecar log:\n${cluster.podLogs(client, 'mesh-proxy')}`);
      });
    // Every request, not only the first: the route holds, and requests without the header stay on echo.
    for (let i = 0; i < 5; i++) {
      expect(await get('-H', 'x-version: v2')).toBe('echo-v2\n200');
      expect(await get()).toBe('echo-v1\n200');
    }
    // The user sees the route in the sidecar's config.
    const routes = await cli('proxy-config', 'routes', `client.${ns}`, '-o', 'json');
    expect(routes.code, routes.stderr).toBe(0);
    expect(routes.stdout).toContain('x-version');

    // Deleting the route gives the Service back its default.
    const deleted = await cluster.kubectl(['-n', ns, 'delete', 'httproute', 'echo-by-header']);
    expect(deleted.code, deleted.stderr).toBe(0);
    await cluster.waitFor(
      'the header back on echo',
      async () => (await get('-H', 'x-version: v2')) === 'echo-v1\n200',
      60_000,
    );
  }, 360_000);
});
