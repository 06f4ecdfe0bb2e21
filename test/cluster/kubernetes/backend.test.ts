/**
 * The Kubernetes backend on the real test cluster: kubeconfig and --context as kubectl reads them,
 * the API server's service and pod proxy reaching echo pods (no port-forward, no kubectl), and
 * readiness waits that name each pod's reason (image pull, crash loop).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesCluster, podReady, pollUntil, type PodLike } from '../../../src/cluster/kubernetes/index.js';
import { ConfigInvalidError, KubernetesApiError, PlatformUnavailableError, TimeoutError } from '../../../src/errors.js';
import { KubernetesPlatform } from '../../../src/cluster/kubernetes/platform.js';
import { loadCrds } from '../../../src/install/crds.js';
import type { KubeObject } from '../../../src/cluster/kubernetes/index.js';
import { describeRequiring, isRoot } from '../../support/requirements.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from '../../test-cluster/support.js';

const echo = (ns: string) => [
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'echo', namespace: ns },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'echo' } },
      template: {
        metadata: { labels: { app: 'echo' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'echo',
              image: 'meshctl-test/echo:1',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'echo', namespace: ns },
    spec: { selector: { app: 'echo' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'nobody', namespace: ns },
    spec: { selector: { app: 'nobody' }, ports: [{ name: 'http', port: 80 }] },
  },
];

const broken = (ns: string, name: string, container: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', ...container }] },
    },
  },
});

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes backend on the test cluster', () => {
  let test: TestCluster;
  let cluster: KubernetesCluster;
  let ns: string;

  beforeAll(async () => {
    test = await getTestCluster();
    cluster = await KubernetesCluster.connect({ kubeconfig: test.kubeconfigPath });
    ns = await test.createNamespace('backend');
    for (const o of echo(ns)) await cluster.apply(o);
  });
  afterAll(async () => {
    if (ns) await test?.deleteNamespace(ns);
  });

  it('reads the kubeconfig as kubectl: KUBECONFIG list merged (first file wins), --context selects, unknown context named with the choices', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    const admin = readFileSync(test.kubeconfigPath, 'utf8');
    const { parse, stringify } = await import('yaml');
    const doc = parse(admin) as {
      contexts: { name: string; context: Record<string, string> }[];
      'current-context': string;
      clusters: { name: string; cluster: Record<string, string> }[];
    };
    // A second file whose current context points at a dead server: the first file's current-context must win.
    const dead = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'dead', cluster: { server: 'https://127.0.0.1:9' } }],
      users: [{ name: 'nobody', user: { token: 'x' } }],
      contexts: [{ name: 'dead', context: { cluster: 'dead', user: 'nobody' } }],
      'current-context': 'dead',
    };
    writeFileSync(join(dir, 'a'), admin);
    writeFileSync(join(dir, 'b'), stringify(dead));
    const env = { KUBECONFIG: `${join(dir, 'missing')}:${join(dir, 'a')}:${join(dir, 'b')}`, HOME: dir };
    const merged = await KubernetesCluster.connect({ env });
    expect(merged.config.contextName).toBe(doc['current-context']);
    expect(merged.config.sources).toEqual([join(dir, 'a'), join(dir, 'b')]);
    expect((await merged.serverVersion()).minor).toBeGreaterThanOrEqual(29);

    const other = await KubernetesCluster.connect({ env, context: 'dead' });
    await expect(other.serverVersion()).rejects.toThrow(PlatformUnavailableError);
    await expect(other.serverVersion()).rejects.toThrow(
      /cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:9 \(context "dead"\)/,
    );
    await expect(KubernetesCluster.connect({ env, context: 'nope' })).rejects.toThrow(`context "nope" is not in`);
    await expect(KubernetesCluster.connect({ kubeconfig: join(dir, 'missing') })).rejects.toThrow(
      `kubeconfig ${join(dir, 'missing')} does not exist`,
    );
  });

  it("reaches a Service and a pod port through the API server's proxy, streaming the echo pod's answer", async () => {
    await cluster.waitForDeployment(ns, 'echo', { timeoutMs: 60_000 });
    const pods = (
      await cluster.list<PodLike>({ apiVersion: 'v1', kind: 'Pod', namespace: ns }, { labelSelector: 'app=echo' })
    ).items.filter(podReady);
    const names = pods.map((p) => p.metadata.name);
    expect(names).toHaveLength(2);

    const viaService = await cluster.proxy(
      { kind: 'service', namespace: ns, name: 'echo', port: 'http' },
      { path: '/through/the-apiserver?who=meshctl' },
    );
    const body = JSON.parse(viaService.text) as { pod: string; path: string; method: string };
    expect(names).toContain(body.pod);
    expect(body.path).toBe('/through/the-apiserver?who=meshctl');

    const target = pods[0]!;
    const viaPod = await cluster.proxy(
      { kind: 'pod', namespace: ns, name: target.metadata.name, port: 8080 },
      { method: 'POST', path: '/pod-port', body: 'hello', headers: { 'content-type': 'text/plain' } },
    );
    expect(JSON.parse(viaPod.text)).toMatchObject({ pod: target.metadata.name, path: '/pod-port', method: 'POST' });

    // A Service without ready endpoints: the API server's refusal, named, with what to look at.
    const none = cluster.proxy({ kind: 'service', namespace: ns, name: 'nobody', port: 80 }, { path: '/' });
    await expect(none).rejects.toThrow(KubernetesApiError);
    await expect(none).rejects.toThrow(
      new RegExp(`GET / on service ${ns}/nobody:80 through the API server proxy: .*no endpoints available`),
    );
  });

  it('a readiness wait that times out names each pod and why: image pull failure, crash loop', async () => {
    await cluster.apply(broken(ns, 'no-image', { image: 'registry.example/not-there:1' }));
    await cluster.apply(
      broken(ns, 'crasher', { image: 'meshctl-test/shell', command: ['sh', '-c', 'echo boom; exit 3'] }),
    );
    // The reasons appear as the node agent reports the pods; a wait that times out once they are there names them.
    const timeoutMessage = async (name: string, expected: RegExp): Promise<string> =>
      pollUntil(
        `deployment ${name} to report ${expected}`,
        async () => {
          const err = await cluster.waitForDeployment(ns, name, { timeoutMs: 300 }).then(
            () => undefined,
            (e: unknown) => e,
          );
          // Without a readiness probe the crashing container counts as ready between its start and its
          // exit, so a wait can succeed in that moment: look again.
          if (err === undefined) return undefined;
          expect(err).toBeInstanceOf(TimeoutError);
          const message = (err as Error).message;
          return expected.test(message) ? message : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    const [pullMessage, crashMessage] = await Promise.all([
      timeoutMessage('no-image', /image pull failed/),
      timeoutMessage('crasher', /exit(ed with)? code 3/),
    ]);
    expect(pullMessage).toMatch(
      new RegExp(
        `waiting for deployment ${ns}/no-image \\(0/1 ready, 1 up to date\\):\\n  no-image-[a-z0-9]+-[a-z0-9]+: image pull failed for container main \\(registry\\.example/not-there:1\\): (ErrImagePull|ImagePullBackOff)`,
      ),
    );
    expect(crashMessage).toMatch(
      /crasher-[a-z0-9]+-[a-z0-9]+: (crash loop: container main restarted \d+ times; last exit code 3|container main exited with code 3)/,
    );
  }, 70_000);

  it('as a MeshPlatform: apply validates first (file:line, nothing applied on error), then server-side applies; list, workloads and delete read the cluster', async () => {
    for (const crd of await loadCrds()) await cluster.apply(crd as unknown as KubeObject, { force: true });
    const platform = new KubernetesPlatform(cluster);
    expect(platform.describe()).toMatch(/^cluster of context "/);
    const good = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 10}}}
`;
    const bad = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo}
spec:
  hosts: [echo]
  http:
  - match:
    - uri: {regex: "/api/(?!internal).*"}
    route:
    - destination: {host: echo}
`;
    const refused = platform.applyConfig(
      [
        { file: 'good.yaml', text: good },
        { file: 'bad.yaml', text: bad },
      ],
      { defaultNamespace: ns },
    );
    await expect(refused).rejects.toThrow(ConfigInvalidError);
    await expect(refused).rejects.toThrow(
      /VirtualService .*\/echo: bad\.yaml:8:\d+: spec\.http\[0\]\.match\[0\]\.uri\.regex/,
    );
    expect(await platform.listConfig({ namespace: ns })).toEqual([]);

    expect(
      (await platform.applyConfig([{ file: 'good.yaml', text: good }], { defaultNamespace: ns })).map((o) => o.action),
    ).toEqual(['created']);
    expect(
      (await platform.applyConfig([{ file: 'good.yaml', text: good }], { defaultNamespace: ns })).map((o) => o.action),
    ).toEqual(['unchanged']);
    expect(await platform.listConfig({ namespace: ns })).toEqual([
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        // apply records where each object came from, so a proxy's refusal can name the file and line.
        metadata: { name: 'echo', namespace: ns, annotations: { 'meshctl.dev/applied-from': 'good.yaml:1' } },
        spec: { host: 'echo', trafficPolicy: { connectionPool: { tcp: { maxConnections: 10 } } } },
      },
    ]);
    // Workloads are the pods that run the sidecar: the plain echo pods are not.
    expect(await platform.listWorkloads(ns)).toEqual([]);
    const key = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: ns, name: 'echo' };
    expect((await platform.deleteConfig([key])).map((o) => o.action)).toEqual(['deleted']);
    expect((await platform.deleteConfig([key])).map((o) => o.action)).toEqual(['not found']);
  });
});
