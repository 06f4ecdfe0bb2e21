/**
 * The test cluster runs real workloads: a Deployment behind a Service gets Ready pods with their own
 * addresses, EndpointSlices, pod-to-pod traffic, the API server's service proxy, and clean deletion.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { containerPid, getTestCluster, kubernetesTestBinaries, type TestCluster } from './support.js';

// Waits here are event-driven (pods becoming Ready, restarting with back-off): on a loaded 2-core machine they
// can outlast the default 30 s without anything being wrong, and a passing run is not slowed by a larger budget.
vi.setConfig({ testTimeout: 120_000 });

const echoApp = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: echo
        image: meshctl-test/echo:1
        ports: [{name: http, containerPort: 8080}]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: client
    image: meshctl-test/client
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
`;

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '');
}

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: workloads', () => {
  let cluster: TestCluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-workloads');
    await cluster.apply(echoApp, ns);
  });
  afterAll(async () => {
    if (cluster && ns) await cluster.deleteNamespace(ns);
  });

  it('runs a 2-replica Deployment behind a Service: Ready pods, distinct pod IPs, an EndpointSlice listing both', async () => {
    const pods = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    const ips = pods.map((p) => p.status?.podIP ?? '').sort();
    expect(new Set(ips).size).toBe(2);
    for (const ip of ips) expect(ip).toMatch(/^198\.18\.\d+\.\d+$/);
    for (const p of pods) {
      expect(p.spec?.nodeName).toBe(cluster.state.nodeName);
      expect(p.status?.containerStatuses?.[0]).toMatchObject({
        name: 'echo',
        ready: true,
        started: true,
        restartCount: 0,
      });
    }

    const discovery = cluster.kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
    const listed = await cluster.waitFor('the EndpointSlice of echo to list both pods', async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: 'kubernetes.io/service-name=echo',
      });
      const ready = slices.items
        .flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses))
        .sort();
      return ready.length === 2 ? ready : undefined;
    });
    expect(listed).toEqual(ips);
  });

  it('a third pod reaches each echo pod by its pod IP, and each answers with its own pod name', async () => {
    const pods = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    const [client] = await cluster.waitForReadyPods(ns, 'app=client', 1);
    if (!client) throw new Error('no client pod');
    for (const p of pods) {
      const res = await cluster.requestFromPod(client, `http://${p.status?.podIP}:8080/hello?from=client`);
      expect(res.status).toBe(200);
      const body = JSON.parse(res.body) as { pod: string; path: string; remoteAddress: string };
      expect(body.pod).toBe(p.metadata?.name);
      expect(body.path).toBe('/hello?from=client');
      expect(body.remoteAddress).toBe(client.status?.podIP);
    }
    // The same through the client image's own request API (the host asks the client pod to send it).
    const target = pods[0]!;
    const viaClient = await fetch(
      `http://${client.status?.podIP}:8080/get?url=${encodeURIComponent(`http://${target.status?.podIP}:8080/from-client-image`)}`,
    );
    const { results } = (await viaClient.json()) as { results: { status: number; body: string }[] };
    expect(results[0]?.status).toBe(200);
    expect(JSON.parse(results[0]?.body ?? '{}')).toMatchObject({
      pod: target.metadata?.name,
      path: '/from-client-image',
    });
  });

  it("the API server's service proxy reaches the Service (kubectl get --raw)", async () => {
    const pods = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    const r = await cluster.kubectl([
      'get',
      '--raw',
      `/api/v1/namespaces/${ns}/services/echo:http/proxy/through-the-apiserver`,
    ]);
    expect(r.stderr).toBe('');
    const body = JSON.parse(r.stdout) as { pod: string; path: string };
    expect(pods.map((p) => p.metadata?.name)).toContain(body.pod);
    expect(body.path).toBe('/through-the-apiserver');
  });

  it('kubectl logs shows what a pod wrote (through the API server to the node agent)', async () => {
    const [pod] = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    const name = pod?.metadata?.name ?? '';
    const r = await cluster.kubectl(['logs', '-n', ns, name]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`echo server ${name} listening on 8080`);
  });

  it('deleting the Deployment stops its processes and removes the pods network namespaces', async () => {
    const pods = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    const pids = pods.map((p) => containerPid(p.status?.containerStatuses?.[0]));
    const namespaces = pods.map((p) => cluster.podNetns(p));
    for (const pid of pids) expect(pid !== undefined && existsSync(`/proc/${pid}`)).toBe(true);
    for (const n of namespaces) expect(netnsList()).toContain(n);

    await cluster.apps.deleteNamespacedDeployment({ name: 'echo', namespace: ns });
    await cluster.waitFor(
      'the echo pods to be gone',
      async () => (await cluster.pods(ns, 'app=echo')).length === 0,
      60_000,
    );

    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    const after = netnsList();
    for (const n of namespaces) expect(after).not.toContain(n);
  });
});
