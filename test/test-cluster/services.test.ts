/**
 * Services on the test cluster work as on a real node: the cluster DNS (CoreDNS behind kube-dns) answers
 * pods with the usual search path, and the node's real kube-proxy leads ClusterIP, NodePort, LoadBalancer
 * (an address on the node) and the `kubernetes` Service to their endpoints, from pods, from the node and from
 * the host; a headless Service resolves to its pods. Two clusters side by side keep their rules apart (each
 * node is its own network namespace; the host's netfilter tables get no kube-proxy rules).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { startCluster, stopCluster, type TestClusterState } from './harness/cluster.js';
import { getTestCluster, kubernetesTestBinaries, TestCluster } from './support.js';

// Waits are event-driven (pods Ready, rules synced); a loaded 2-core machine can outlast 30 s.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 180_000 });

const app = (pinnedClusterIP?: string): string => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 2
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
  ${pinnedClusterIP ? `clusterIP: ${pinnedClusterIP}` : ''}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-headless}
spec:
  clusterIP: None
  selector: {app: echo}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-nodeport}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-lb}
spec:
  type: LoadBalancer
  selector: {app: echo}
  ports: [{name: http, port: 8088, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: meshctl-test/client
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
`;

/** Which echo pods answered `count` requests to `url` sent by `send` (each answer names its pod). */
async function answeringPods(
  send: (url: string) => Promise<{ status: number; body: string }>,
  url: string,
  count: number,
): Promise<Set<string>> {
  const pods = new Set<string>();
  for (let i = 0; i < count; i++) {
    const r = await send(url);
    expect(r.status, r.body).toBe(200);
    pods.add((JSON.parse(r.body) as { pod: string }).pod);
  }
  return pods;
}

/** curl from wherever `exec` runs it; the same result shape as requestFromPod. */
async function curlWith(
  exec: (argv: string[]) => Promise<{ code: number; stdout: string; stderr: string }>,
  url: string,
): Promise<{ status: number; body: string }> {
  const r = await exec(['curl', '-sS', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', url]);
  const cut = r.stdout.lastIndexOf('\n');
  if (r.code !== 0) throw new Error(`curl ${url}: ${r.stderr.trim()}`);
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: Services, DNS and kube-proxy', () => {
  let cluster: TestCluster;
  let ns: string;
  let echoPods: k8s.V1Pod[];
  let client: k8s.V1Pod;
  let echoNames: string[];

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-services');
    await cluster.apply(app(), ns);
    echoPods = await cluster.waitForReadyPods(ns, 'app=echo', 2);
    echoNames = echoPods.map((p) => p.metadata?.name ?? '').sort();
    [client] = (await cluster.waitForReadyPods(ns, 'app=client', 1)) as [k8s.V1Pod];
    // Ready pods reach kube-proxy's rules through the EndpointSlice a moment later.
    await cluster.waitFor('the echo Service to lead to both pods', async () => {
      const answered = await answeringPods((u) => cluster.requestFromPod(client, u), 'http://echo/', 8);
      return answered.size === 2;
    });
  });
  afterAll(async () => {
    if (cluster && ns) await cluster.deleteNamespace(ns);
  });

  const fromPod = (url: string) => cluster.requestFromPod(client, url);
  const fromNode = (url: string) => curlWith((argv) => cluster.execOnNode(argv), url);

  it('gives pods a resolv.conf pointing at the cluster DNS with the usual search path and ndots:5', async () => {
    const r = await cluster.execInContainer(client, 'client', ['cat', '/etc/resolv.conf']);
    expect(r.stdout).toMatch(
      new RegExp(
        `^nameserver 198\\.18\\.128\\.10\nsearch ${ns}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local( .*)?\noptions ndots:5\n$`,
      ),
    );
    const dns = await cluster.core.readNamespacedService({ name: 'kube-dns', namespace: 'kube-system' });
    expect(dns.spec?.clusterIP).toBe('198.18.128.10');
  });

  it('resolves Service names from a pod: short, namespaced and fully qualified; headless to the pod IPs', async () => {
    const svc = await cluster.core.readNamespacedService({ name: 'echo', namespace: ns });
    for (const name of ['echo', `echo.${ns}`, `echo.${ns}.svc`, `echo.${ns}.svc.cluster.local`]) {
      const r = await cluster.execInPodNetns(client, ['getent', 'ahostsv4', name]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^${svc.spec?.clusterIP?.replace(/\./g, '\\.')}\\s`));
    }
    const headless = await cluster.waitFor('the headless Service to resolve to both pods', async () => {
      const r = await cluster.execInPodNetns(client, ['getent', 'ahostsv4', 'echo-headless']);
      const ips = [
        ...new Set(
          r.stdout
            .split('\n')
            .filter(Boolean)
            .map((l) => l.split(/\s+/)[0]),
        ),
      ].sort();
      return ips.length === 2 ? ips : undefined;
    });
    expect(headless).toEqual(echoPods.map((p) => p.status?.podIP).sort());
    const missing = await cluster.execInPodNetns(client, ['getent', 'ahostsv4', 'no-such-service']);
    expect(missing.code).not.toBe(0);
  });

  it('leads a ClusterIP Service to both endpoints, by name from a pod and by address from the node', async () => {
    expect([...(await answeringPods(fromPod, 'http://echo/', 24))].sort()).toEqual(echoNames);
    const svc = await cluster.core.readNamespacedService({ name: 'echo', namespace: ns });
    expect([...(await answeringPods(fromNode, `http://${svc.spec?.clusterIP}/`, 24))].sort()).toEqual(echoNames);
  });

  it('reaches the API server through the `kubernetes` Service from a pod', async () => {
    // The API server's certificate names kubernetes.default.svc; curl checks it against the cluster CA.
    const r = await curlWith(
      (argv) => cluster.execInPodNetns(client, [argv[0]!, '--cacert', cluster.state.caFile, ...argv.slice(1)]),
      'https://kubernetes.default.svc/version',
    );
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ gitVersion: cluster.state.kubernetesVersion });
  });

  it('opens a NodePort on the node address, reachable from the node, a pod and the host', async () => {
    const svc = await cluster.core.readNamespacedService({ name: 'echo-nodeport', namespace: ns });
    const port = svc.spec?.ports?.[0]?.nodePort;
    expect(port).toBeGreaterThanOrEqual(30000);
    const url = `http://${cluster.state.network.nodeIP}:${port}/`;
    for (const send of [fromNode, fromPod]) expect(echoNames).toContain([...(await answeringPods(send, url, 1))][0]);
    const fromHost = await fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }));
    expect(echoNames).toContain((JSON.parse(fromHost.body) as { pod: string }).pod);
  });

  it('gives a LoadBalancer Service an address on the node, reachable from the host and from a pod', async () => {
    const ingress = await cluster.waitFor('status.loadBalancer.ingress of echo-lb', async () => {
      const svc = await cluster.core.readNamespacedService({ name: 'echo-lb', namespace: ns });
      return svc.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    const prefix = cluster.state.network.linkSubnet.split('.').slice(0, 3).join('.');
    expect(ingress.startsWith(`${prefix}.`)).toBe(true);
    const url = `http://${ingress}:8088/`;
    const fromHost = await fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }));
    expect(fromHost.status).toBe(200);
    expect(echoNames).toContain((JSON.parse(fromHost.body) as { pod: string }).pod);
    expect(echoNames).toContain([...(await answeringPods(fromPod, url, 1))][0]);
    // Deleting the Service takes the address off the node.
    await cluster.core.deleteNamespacedService({ name: 'echo-lb', namespace: ns });
    await cluster.waitFor('the LoadBalancer address removed from the node', async () => {
      const r = await cluster.execOnNode(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      return !r.stdout.includes(` ${ingress}/32 `);
    });
  });

  it('follows the endpoints: a pod that turns unready stops getting requests', async () => {
    const [first] = echoPods;
    const r = await cluster.requestFromPod(client, `http://${first?.status?.podIP}:8080/control/unready`, {
      method: 'POST',
    });
    expect(r.status).toBe(200);
    try {
      const other = echoNames.find((n) => n !== first?.metadata?.name);
      await cluster.waitFor('kube-proxy to drop the unready endpoint', async () => {
        const pods = await answeringPods(fromPod, 'http://echo/', 8);
        return pods.size === 1 && pods.has(other ?? '');
      });
    } finally {
      await cluster.requestFromPod(client, `http://${first?.status?.podIP}:8080/control/ready`, { method: 'POST' });
    }
  });

  it("two clusters side by side: the same ClusterIP leads to each cluster's own pods; the host gets no kube-proxy rules", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mtc-second-'));
    let second: TestClusterState | undefined;
    try {
      second = await startCluster(dir, (m) => process.stderr.write(`[second cluster] ${m}\n`));
      const other = new TestCluster(second);
      expect(second.network.nodeNetns).not.toBe(cluster.state.network.nodeNetns);
      const pinned = '198.18.250.77';
      const ns2 = await other.createNamespace('mtc-side');
      const ns1 = await cluster.createNamespace('mtc-side');
      for (const [c, n] of [
        [other, ns2],
        [cluster, ns1],
      ] as const)
        await c.apply(app(pinned), n);
      for (const [c, n] of [
        [other, ns2],
        [cluster, ns1],
      ] as const) {
        const pods = await c.waitForReadyPods(n, 'app=echo', 2);
        const [cl] = await c.waitForReadyPods(n, 'app=client', 1);
        const names = pods.map((p) => p.metadata?.name ?? '').sort();
        // Ready pods reach kube-proxy's rules through the EndpointSlice a moment later.
        await c.waitFor('the Service to lead to both endpoints', async () => {
          const answered = await answeringPods((u) => c.requestFromPod(cl!, u), `http://${pinned}/`, 8);
          return answered.size === 2;
        });
        const seen = await answeringPods((u) => c.requestFromPod(cl!, u), `http://${pinned}/`, 16);
        expect([...seen].sort()).toEqual(names);
        // And by name, through each cluster's own DNS at the same kube-dns address.
        expect(names).toContain([...(await answeringPods((u) => c.requestFromPod(cl!, u), 'http://echo/', 1))][0]);
      }
      await cluster.deleteNamespace(ns1);
      const hostNat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
      expect(hostNat).not.toContain('KUBE-SERVICES');
    } finally {
      if (second) await stopCluster(second);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
