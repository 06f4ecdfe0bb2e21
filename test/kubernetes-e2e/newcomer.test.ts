/**
 * The newcomer's flow of the README, typed as written, on a test cluster with DNS and kube-proxy and no
 * workaround: `meshctl install --wait`, `meshctl inject -f templates/demo/ | kubectl apply -f -`, every pod
 * Ready, `check` and `check --proxy` green, `proxy-status` SYNCED, and productpage answering through the
 * mesh (its calls to reviews split as a VirtualService says, then shifted).
 *
 * The file starts its own cluster: the mesh is cluster-wide (see own-cluster.ts).
 */
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const DEMO_PODS = 6;

/** What productpage answers (src/demo/app.ts): its own service and, per call, the callee's answer. */
interface DemoAnswer {
  service: string;
  version: string;
  calls: { target: string; status: number; answer?: DemoAnswer; error?: string }[];
}

/** A DestinationRule with the reviews versions as subsets and a VirtualService splitting by `weights`. */
function reviewsSplit(weights: Record<'v1' | 'v2' | 'v3', number>): string {
  const routes = Object.entries(weights)
    .filter(([, w]) => w > 0)
    .map(([subset, weight]) => `    - destination: {host: reviews, subset: ${subset}}\n      weight: ${weight}`)
    .join('\n');
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
${routes}
`;
}

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: the newcomer flow, unchanged', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let productpage: k8s.V1Pod;
  const cli = (argv: string[], stdin?: string) =>
    runCli(argv, { stdin, env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  beforeAll(async () => {
    own = await startOwnTestCluster('newcomer');
    ({ cluster, dir } = own);
  });
  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  /** Versions of reviews that productpage's calls reached, over `count` requests through the mesh. */
  const reviewsVersions = async (count: number): Promise<string[]> => {
    const versions: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await cluster.requestFromPod(productpage, 'http://productpage:9080/');
      expect(r.status, r.body).toBe(200);
      const answer = JSON.parse(r.body) as DemoAnswer;
      const reviews = answer.calls.find((c) => c.target.includes('reviews'));
      expect(reviews?.status, JSON.stringify(reviews)).toBe(200);
      versions.push(reviews?.answer?.version ?? '?');
    }
    return versions;
  };

  it('meshctl install --wait', async () => {
    const installed = await cli(['install', '--wait']);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    expect(installed.stdout).toContain('✔ Control plane ready');
  });

  it('meshctl inject -f templates/demo/ | kubectl apply -f -: every pod Ready with its sidecar', async () => {
    const injected = await cli(['inject', '-f', new URL('../../templates/demo/', import.meta.url).pathname]);
    expect(injected.code, injected.stderr).toBe(0);
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: injected.stdout });
    expect(applied.code, applied.stderr).toBe(0);
    const pods = await cluster.waitForReadyPods('default', 'app', DEMO_PODS, 180_000);
    for (const p of pods)
      expect(p.status?.initContainerStatuses?.find((c) => c.name === 'mesh-proxy')?.ready, p.metadata?.name).toBe(true);
    productpage = pods.find((p) => p.metadata?.labels?.app === 'productpage')!;
  });

  it('meshctl check and check --proxy are green; proxy-status lists every proxy SYNCED', async () => {
    const check = await cli(['check']);
    expect(check.stdout).toContain('Status check results are ✔');
    expect(check.code).toBe(0);
    const proxies = await cli(['check', '--proxy', '--wait', '1m']);
    expect(proxies.stdout).toContain(
      `✔ every injected pod's proxy is connected to the control plane (${DEMO_PODS} pods)`,
    );
    expect(proxies.stdout).toContain('Status check results are ✔');
    expect(proxies.code).toBe(0);
    const status = await cli(['proxy-status']);
    expect(status.code, status.stderr).toBe(0);
    const rows = status.stdout.trim().split('\n').slice(1);
    // The demo's pods, and the ingress gateway install deploys (a proxy too).
    expect(rows.filter((r) => !/^istio-ingressgateway-/.test(r))).toHaveLength(DEMO_PODS);
    expect(rows).toHaveLength(DEMO_PODS + 1);
    for (const row of rows) expect(row).toMatch(/ SYNCED +SYNCED +SYNCED /);
  });

  it('productpage answers through the mesh, and its calls to reviews split as the VirtualService says', async () => {
    // No routing rule: the three versions share the calls.
    expect(new Set(await reviewsVersions(30))).toEqual(new Set(['v1', 'v2', 'v3']));

    const split = await cluster.kubectl(['apply', '-f', '-'], { input: reviewsSplit({ v1: 0, v2: 50, v3: 50 }) });
    expect(split.code, split.stderr).toBe(0);
    await cluster.waitFor(
      "the 50/50 split to reach productpage's proxy",
      async () => !(await reviewsVersions(6)).includes('v1'),
      60_000,
    );
    expect(new Set(await reviewsVersions(30))).toEqual(new Set(['v2', 'v3']));

    const shifted = await cluster.kubectl(['apply', '-f', '-'], { input: reviewsSplit({ v1: 0, v2: 0, v3: 100 }) });
    expect(shifted.code, shifted.stderr).toBe(0);
    await cluster.waitFor(
      "the shift to v3 to reach productpage's proxy",
      async () => (await reviewsVersions(6)).every((v) => v === 'v3'),
      60_000,
    );
    expect(new Set(await reviewsVersions(20))).toEqual(new Set(['v3']));
  });
});
