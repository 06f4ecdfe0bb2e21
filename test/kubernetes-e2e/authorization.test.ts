/**
 * Authorization on the test cluster, as users run it: the bookinfo demo injected, then policies
 * applied with kubectl. Callers are identified by their pods' ServiceAccounts
 * (`cluster.local/ns/NS/sa/SA`, proven by the mTLS certificate their sidecar got through
 * TokenReview); a DENY in the root namespace applies mesh-wide; Linkerd's Server +
 * AuthorizationPolicy + MeshTLSAuthentication in emojivoto's style guard a port.
 *
 * This suite starts its own test cluster (the mesh is cluster-wide and other suites install and
 * uninstall it in parallel).
 */
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');
const DEMO_PODS = 6;

describeRequiring(
  [isRoot, kubernetesTestBinaries],
  'kubernetes end to end: AuthorizationPolicy and Linkerd policy enforced by the sidecars',
  () => {
    let own: OwnTestCluster | undefined;
    let cluster: TestCluster;
    let dir: string;
    let ns: string;
    const pod = async (app: string): Promise<k8s.V1Pod> =>
      (await cluster.pods(ns, `app=${app}`)).find((p) => !p.metadata?.deletionTimestamp)!;
    const url = async (svc: string, path: string) =>
      `http://${(await cluster.core.readNamespacedService({ name: svc, namespace: ns })).spec!.clusterIP}:9080${path}`;
    const status = async (from: string, svc: string, path = '/') =>
      (await cluster.requestFromPod(await pod(from), await url(svc, path))).status;
    const apply = async (yaml: string) => {
      const r = await cluster.kubectl(['apply', '-f', '-'], { input: yaml });
      expect(r.code, r.stderr).toBe(0);
    };

    beforeAll(async () => {
      own = await startOwnTestCluster('authz');
      ({ cluster, dir } = own);
      const env = { KUBECONFIG: cluster.kubeconfigPath, HOME: dir };
      const install = await runCli(['install', '--kubernetes', '--wait', '--timeout', '3m', '-y'], { env });
      expect(install.code, install.stderr).toBe(0);
      ns = await cluster.createNamespace('bookinfo');
      await cluster.waitFor(
        'meshctl-ca-root in the namespace',
        async () => Boolean(await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns })),
        60_000,
      );
      const injected = await runCli(['inject', '-f', '-'], { stdin: BOOKINFO, env });
      expect(injected.code, injected.stderr).toBe(0);
      const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: injected.stdout });
      expect(applied.code, applied.stderr).toBe(0);
      await cluster.waitForReadyPods(ns, 'app', DEMO_PODS, 180_000);
      // Ready pods are not yet reachable ones: the callers' sidecars learn details' endpoints (and the
      // node its Service rules) a moment later; under CI load that moment showed as a 503. Wait for it,
      // so the tests start from a mesh where, without policy, both callers get 200.
      await cluster.waitFor(
        'reviews and productpage reaching details',
        async () => (await status('reviews', 'details')) === 200 && (await status('productpage', 'details')) === 200,
        120_000,
      );
    }, 480_000);
    afterAll(async () => {
      await stopOwnTestCluster(own);
    }, 120_000);

    it('an ALLOW policy on ServiceAccount principals: productpage may call details, reviews may not (403)', async () => {
      expect(await status('reviews', 'details')).toBe(200);
      await apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: details-viewers
  namespace: ${ns}
spec:
  selector:
    matchLabels:
      app: details
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/${ns}/sa/bookinfo-productpage"]
    to:
    - operation:
        methods: ["GET"]
`);
      await cluster.waitFor(
        'reviews denied by details',
        async () => (await status('reviews', 'details')) === 403,
        60_000,
      );
      expect(await status('productpage', 'details')).toBe(200);
      const denied = await cluster.requestFromPod(await pod('reviews'), await url('details', '/'));
      expect(denied.body).toBe('RBAC: access denied');
      // What details' sidecar acknowledged, through the control plane (its admin API is pod-local).
      const details = (await pod('details')).metadata!.name!;
      const check = await runCli(['authz', 'check', `${details}.${ns}`, '--kubernetes'], {
        env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
      });
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toMatch(
        new RegExp(
          `ALLOW\\s+details-viewers\\.${ns}\\s+0\\s+principals=cluster\\.local/ns/${ns}/sa/bookinfo-productpage\\s+methods=GET`,
        ),
      );
    }, 120_000);

    it('a DENY policy in the root namespace applies to every workload of the mesh', async () => {
      await apply(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-secrets
  namespace: mesh-system
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/secret*"]
`);
      await cluster.waitFor(
        'the mesh-wide DENY on details',
        async () => (await status('productpage', 'details', '/secret/x')) === 403,
        60_000,
      );
      await cluster.waitFor(
        'the mesh-wide DENY on ratings',
        async () => (await status('reviews', 'ratings', '/secret')) === 403,
        60_000,
      );
      expect(await status('productpage', 'details', '/details/0')).toBe(200);
    }, 120_000);

    it('Linkerd Server + AuthorizationPolicy + MeshTLSAuthentication (emojivoto style): only reviews may reach ratings', async () => {
      expect(await status('productpage', 'ratings', '/ratings/0')).toBe(200);
      await apply(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: ratings-http
  namespace: ${ns}
spec:
  podSelector:
    matchLabels:
      app: ratings
  port: 9080
  proxyProtocol: HTTP/1
---
apiVersion: policy.linkerd.io/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: ratings-http
  namespace: ${ns}
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: ratings-http
  requiredAuthenticationRefs:
  - name: ratings-clients
    kind: MeshTLSAuthentication
    group: policy.linkerd.io
---
apiVersion: policy.linkerd.io/v1alpha1
kind: MeshTLSAuthentication
metadata:
  name: ratings-clients
  namespace: ${ns}
spec:
  identities:
  - "bookinfo-reviews.${ns}.serviceaccount.identity.linkerd.cluster.local"
`);
      await cluster.waitFor(
        'productpage denied by ratings',
        async () => (await status('productpage', 'ratings', '/ratings/0')) === 403,
        60_000,
      );
      expect(await status('reviews', 'ratings', '/ratings/0')).toBe(200);
    }, 120_000);

    it("Linkerd's default inbound policy: the namespace annotation denies ports no Server covers; a pod's own annotation wins", async () => {
      expect(await status('reviews', 'productpage')).toBe(200);
      const annotate = async (...args: string[]) => {
        const r = await cluster.kubectl(['-n', ns, 'annotate', '--overwrite', ...args]);
        expect(r.code, r.stderr).toBe(0);
      };
      await annotate('namespace', ns, 'config.linkerd.io/default-inbound-policy=deny');
      await cluster.waitFor(
        'productpage denied by the namespace default',
        async () => (await status('reviews', 'productpage')) === 403,
        60_000,
      );
      // details keeps its Istio ALLOW for productpage (policies are ORed): the default denies only what nothing allows.
      expect(await status('productpage', 'details')).toBe(200);
      expect(await status('reviews', 'details')).toBe(403);
      await annotate(
        'pod',
        (await pod('productpage')).metadata!.name!,
        'config.linkerd.io/default-inbound-policy=all-authenticated',
      );
      await cluster.waitFor(
        "productpage's own annotation in force",
        async () => (await status('reviews', 'productpage')) === 200,
        60_000,
      );
      await annotate('namespace', ns, 'config.linkerd.io/default-inbound-policy-');
    }, 180_000);
  },
);
