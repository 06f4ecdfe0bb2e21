/**
 * The mesh as its users run it on a cluster: `meshctl install --wait` on an empty cluster, the
 * validating webhook closed by the leader, `install` again changing nothing, `kubectl apply` of an
 * invalid mesh object denied by the webhook (the field named) and of one with a field without effect
 * admitted with kubectl printing the warning (and so is a route to an undefined subset), the demo app injected with `meshctl inject | kubectl apply -f -` and a second
 * copy injected by the webhook in a labelled namespace, pods Ready with their sidecars, requests
 * between them over mTLS with the caller's ServiceAccount as the peer identity, then `uninstall`
 * leaving only what --purge removes, and --purge removing that.
 *
 * This suite starts its own test cluster (not the run's shared one): the mesh is cluster-wide
 * (CRDs, ClusterRole, webhook configuration), and the install tests in test/kubernetes/ install and
 * uninstall those same cluster-scoped objects in parallel.
 *
 * Proxies dial the control plane as injected, at `meshctl-control-plane.mesh-system.svc:15012`, through
 * the test cluster's DNS and kube-proxy.
 */
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, TestCluster } from '../test-cluster/support.js';
import type { TestClusterState } from '../test-cluster/harness/cluster.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';
import { platformFor } from '../../src/cluster/index.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');
const DEMO_PODS = 6;

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes end to end: install, inject, mTLS, uninstall', () => {
  let own: OwnTestCluster | undefined;
  let state: TestClusterState | undefined;
  let cluster: TestCluster;
  let dir: string;
  const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  beforeAll(async () => {
    own = await startOwnTestCluster('e2e');
    ({ state, cluster, dir } = own);
  }, 180_000);
  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  const controlPlanePods = async (): Promise<k8s.V1Pod[]> =>
    (await cluster.pods('mesh-system', 'app=meshctl-control-plane')).filter((p) => !p.metadata?.deletionTimestamp);

  it('installs on an empty cluster and waits for the control plane; the second install changes nothing', async () => {
    const first = await cli('install', '--kubernetes', '--wait', '--timeout', '3m', '-y');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /✔ Kubernetes API reachable \(context "[^"]+" \(https:\/\/198\.18\.\d+\.1:\d+\), v1\.34\.\d+\)/,
    );
    expect(first.stdout).toMatch(/✔ CRDs applied \(\d+ created\)/);
    expect(first.stdout).toContain('✔ Root CA created in secret mesh-system/meshctl-ca');
    expect(first.stdout).toMatch(/✔ Control plane applied \(\d+ created\)/);
    expect(first.stdout).toContain('✔ Control plane ready');
    const dep = await cluster.apps.readNamespacedDeployment({
      name: 'meshctl-control-plane',
      namespace: 'mesh-system',
    });
    expect(dep.status?.readyReplicas).toBe(2);

    // The control plane answers through the API server's service proxy, and one replica leads.
    const platform = await platformFor('kubernetes', { home: dir, kubeconfig: cluster.kubeconfigPath });
    expect(platform.describe()).toContain('cluster of context');
    await expect(platform.controlPlaneGet<{ ready: boolean }>('/ready')).resolves.toMatchObject({ ready: true });
    await cluster.waitFor(
      'a leader that set the webhook caBundle and published the root',
      async () => {
        const hook = await cluster.kubectl([
          'get',
          'mutatingwebhookconfiguration',
          'meshctl-sidecar-injector',
          '-o',
          'jsonpath={.webhooks[*].clientConfig.caBundle}',
        ]);
        const cm = await cluster.kubectl([
          '-n',
          'default',
          'get',
          'configmap',
          'meshctl-ca-root',
          '-o',
          'jsonpath={.data.root-cert\\.pem}',
        ]);
        return (
          hook.stdout.split(' ').filter((b) => b.length > 100).length === 2 && cm.stdout.includes('BEGIN CERTIFICATE')
        );
      },
      30_000,
    );
    const lease = await cluster.kubectl([
      '-n',
      'mesh-system',
      'get',
      'lease',
      'meshctl-control-plane-leader',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ]);
    expect((await controlPlanePods()).map((p) => p.metadata?.name)).toContain(lease.stdout);
    // The validating webhook: installed open, closed by the leader once the API server calls it (as istiod's).
    await cluster.waitFor(
      'the leader closing the validating webhook (caBundle set, failurePolicy Fail)',
      async () => {
        const v = await cluster.kubectl([
          'get',
          'validatingwebhookconfiguration',
          'meshctl-validator',
          '-o',
          'jsonpath={.webhooks[0].failurePolicy} {.webhooks[0].clientConfig.caBundle}',
        ]);
        const [policy, bundle] = v.stdout.split(' ');
        return policy === 'Fail' && (bundle ?? '').length > 100;
      },
      90_000,
    );

    // A re-install leaves everything as it is, the closed validating webhook included.
    const second = await cli('install', '--kubernetes', '-y');
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/✔ CRDs applied \(\d+ unchanged\)\n/);
    expect(second.stdout).toContain('✔ Root CA kept (secret mesh-system/meshctl-ca already exists)');
    expect(second.stdout).toMatch(/✔ Control plane applied \(\d+ unchanged\)\n/);
  }, 240_000);

  it('the validating webhook denies an invalid object applied with kubectl, naming the field, and warns about a field without effect', async () => {
    const denied = await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-lookbehind, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {regex: "(?<=v)1"}}]
    route: [{destination: {host: reviews}}]
`,
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('admission webhook "validation.meshctl.dev" denied the request');
    expect(denied.stderr).toContain('meshctl validation: VirtualService default/reviews-lookbehind');
    expect(denied.stderr).toContain('spec.http[0].match[0].uri.regex');
    const stored = await cluster.kubectl(['-n', 'default', 'get', 'virtualservice', 'reviews-lookbehind']);
    expect(stored.code).not.toBe(0);
    expect(stored.stderr).toContain('NotFound');

    const warned = await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-tls, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    tls: {mode: SIMPLE, sni: reviews}
`,
    });
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stdout).toContain('destinationrule.networking.istio.io/reviews-tls created');
    expect(warned.stderr).toMatch(
      /Warning: \[MESH0002\] DestinationRule default\/reviews-tls: spec\.trafficPolicy\.tls\.mode: /,
    );
    expect((await cluster.kubectl(['-n', 'default', 'delete', 'destinationrule', 'reviews-tls'])).code).toBe(0);

    // A semantic finding (what analyze says, over the config the cluster holds) comes back as a warning too.
    const subsetless = await cluster.kubectl(['apply', '-f', '-'], {
      input: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-v3, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews, subset: v3}}]
`,
    });
    expect(subsetless.code, subsetless.stderr).toBe(0);
    expect(subsetless.stderr).toMatch(/Warning: Error \[MESH0101\] \(VirtualService reviews-v3\.default\)[^\n]*v3/);
    expect((await cluster.kubectl(['-n', 'default', 'delete', 'virtualservice', 'reviews-v3'])).code).toBe(0);
  }, 60_000);

  let cliNs: string;
  let hookNs: string;

  it('runs the demo app injected by the CLI and, in a labelled namespace, by the webhook: every pod Ready with its sidecar', async () => {
    cliNs = await cluster.createNamespace('demo-cli');
    hookNs = await cluster.createNamespace('demo-hook');
    const label = await cluster.kubectl(['label', 'namespace', hookNs, 'meshctl.dev/inject=enabled']);
    expect(label.code).toBe(0);
    // The injected pods mount the root CA ConfigMap the leader publishes into new namespaces.
    await cluster.waitFor(
      'meshctl-ca-root in both namespaces',
      async () => {
        for (const ns of [cliNs, hookNs])
          await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns });
        return true;
      },
      60_000,
    );

    const out = await runCli(['inject', '-f', '-'], {
      stdin: BOOKINFO,
      env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('deployment "productpage-v1" injected');
    const applied = await cluster.kubectl(['-n', cliNs, 'apply', '-f', '-'], { input: out.stdout });
    expect(applied.code, applied.stderr).toBe(0);
    const plain = await cluster.kubectl(['-n', hookNs, 'apply', '-f', '-'], { input: BOOKINFO });
    expect(plain.code, plain.stderr).toBe(0);

    for (const ns of [cliNs, hookNs]) {
      const pods = await cluster.waitForReadyPods(ns, 'app', DEMO_PODS, 150_000);
      for (const p of pods) {
        const proxy = p.status?.initContainerStatuses?.find((c) => c.name === 'mesh-proxy');
        expect(proxy?.ready, `${ns}/${p.metadata?.name} mesh-proxy ready`).toBe(true);
        expect(p.metadata?.labels?.['meshctl.dev/injected']).toBe('true');
      }
    }
  }, 420_000);

  it("carries requests between pods over mTLS, the peer identity being the caller's ServiceAccount", async () => {
    for (const ns of [cliNs, hookNs]) {
      const [productpage] = await cluster.pods(ns, 'app=productpage');
      const [details] = await cluster.pods(ns, 'app=details');
      const svc = await cluster.core.readNamespacedService({ name: 'details', namespace: ns });
      // From inside productpage's pod: captured by its sidecar, routed by ClusterIP, mTLS to details' sidecar.
      const r = await cluster.requestFromPod(productpage!, `http://${svc.spec!.clusterIP}:9080/`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ service: 'details', pod: details!.metadata!.name });
      // details' sidecar saw the caller's certificate.
      const stats = await fetch(`http://${details!.status!.podIP}:15020/stats/prometheus`).then((x) => x.text());
      const line = stats
        .split('\n')
        .find(
          (l) =>
            l.startsWith('istio_requests_total{') &&
            l.includes('reporter="destination"') &&
            l.includes('response_code="200"'),
        );
      expect(line, stats).toBeDefined();
      expect(line).toContain(`source_principal="spiffe://cluster.local/ns/${ns}/sa/bookinfo-productpage"`);
      expect(line).toContain(`destination_principal="spiffe://cluster.local/ns/${ns}/sa/bookinfo-details"`);
      expect(line).toContain('connection_security_policy="mutual_tls"');
    }
  }, 60_000);

  it('uninstall refuses while injected pods run, removes what install applied with --force, keeps what --purge removes', async () => {
    const refused = await cli('uninstall', '--kubernetes', '-y');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/pod\(s\) still run the mesh's sidecar/);
    expect(refused.stderr).toContain(`${cliNs}/productpage-v1-`);
    expect(await cluster.kubectl(['-n', 'mesh-system', 'get', 'deployment', 'meshctl-control-plane'])).toMatchObject({
      code: 0,
    });

    const removed = await cli('uninstall', '--kubernetes', '--force', '-y');
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('removed MutatingWebhookConfiguration/meshctl-sidecar-injector');
    expect(removed.stdout).toContain(`removed ConfigMap/${cliNs}/meshctl-ca-root`);
    const gone = async (args: string[]) =>
      (await cluster.kubectl(['get', ...args, '--ignore-not-found', '-o', 'name'])).stdout.trim();
    await cluster.waitFor('the control plane pods gone', async () => (await controlPlanePods()).length === 0, 90_000);
    expect(await gone(['mutatingwebhookconfiguration', 'meshctl-sidecar-injector'])).toBe('');
    expect(await gone(['clusterrole', 'meshctl-control-plane'])).toBe('');
    expect(
      await gone([
        '-n',
        'mesh-system',
        'deployment,service,serviceaccount,role,rolebinding,lease,configmap/meshctl-config',
      ]),
    ).toBe('');
    expect(await gone(['configmap', '-A', '--field-selector', 'metadata.name=meshctl-ca-root'])).toBe('');
    // What --purge removes is still there: the CRDs (with any config), the root CA and its namespace.
    expect(await gone(['crd', 'virtualservices.networking.istio.io'])).not.toBe('');
    expect(await gone(['-n', 'mesh-system', 'secret', 'meshctl-ca'])).not.toBe('');

    const purged = await cli('uninstall', '--kubernetes', '--force', '--purge', '-y');
    expect(purged.code, purged.stderr).toBe(0);
    expect(await gone(['crd', 'virtualservices.networking.istio.io'])).toBe('');
    expect(await gone(['-n', 'mesh-system', 'secret', 'meshctl-ca'])).toBe('');
    const crds = await cluster.kubectl(['get', 'crd', '-o', 'name']);
    expect(crds.stdout.split('\n').filter((l) => /istio|linkerd|smi-spec/.test(l))).toEqual([]);
  }, 180_000);
});
