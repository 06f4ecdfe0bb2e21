/**
 * The operator commands of issue 8 on a real cluster, as users type them: `check --pre` before
 * install (and for a user without permissions), `check` and `check -o json` on the installed mesh,
 * `check` naming a corrupted webhook caBundle, `check --proxy` with the injected demo and naming a
 * pod whose proxy is not connected, `proxy-status` (every proxy SYNCED) and `proxy-config` (read
 * from the pod's admin API through pods/exec), `analyze` reading the cluster with `-f` overlaid,
 * and `upgrade` (idempotent, reporting a proxy older than the CLI).
 *
 * One mesh is installed for the whole file. Like mesh.test.ts, the file starts its own test
 * cluster instead of the run's shared one (getTestCluster): the mesh is cluster-wide (CRDs,
 * ClusterRole, the webhook configuration), and test/cluster/kubernetes/install.test.ts installs and
 * uninstalls those same cluster-scoped objects on the shared cluster in parallel.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, TestCluster, isPodReady } from '../test-cluster/support.js';
import type { TestClusterState } from '../test-cluster/harness/cluster.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';
import { meshctlVersion } from '../../src/version.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');
const DEMO_PODS = 6;

interface CheckJson {
  success: boolean;
  categories: {
    categoryName: string;
    checks: { description: string; result: string; message?: string; hint?: string }[];
  }[];
}

describeRequiring(
  [isRoot, kubernetesTestBinaries],
  'kubernetes: check, proxy-status, proxy-config, analyze and upgrade on a cluster',
  () => {
    let own: OwnTestCluster | undefined;
    let state: TestClusterState | undefined;
    let cluster: TestCluster;
    let dir: string;
    const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

    beforeAll(async () => {
      own = await startOwnTestCluster('cli');
      ({ state, cluster, dir } = own);
    }, 180_000);
    afterAll(async () => {
      await stopOwnTestCluster(own);
    }, 120_000);

    /** A kubeconfig that authenticates as a ServiceAccount (created here) with a token from the TokenRequest API. */
    const serviceAccountKubeconfig = async (namespace: string, name: string): Promise<string> => {
      expect((await cluster.kubectl(['-n', namespace, 'create', 'serviceaccount', name])).code).toBe(0);
      const token = await cluster.kubectl(['-n', namespace, 'create', 'token', name, '--duration=30m']);
      expect(token.code, token.stderr).toBe(0);
      const file = join(dir, `${name}.kubeconfig`);
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{name: test, cluster: {server: "${state!.apiServerUrl}", certificate-authority-data: ${readFileSync(state!.caFile).toString('base64')}}}]`,
          `users: [{name: ${name}, user: {token: ${token.stdout.trim()}}}]`,
          `contexts: [{name: ${name}, context: {cluster: test, user: ${name}}}]`,
          `current-context: ${name}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    };

    const controlPlanePods = async (): Promise<k8s.V1Pod[]> =>
      (await cluster.pods('mesh-system', 'app=meshctl-control-plane')).filter((p) => !p.metadata?.deletionTimestamp);

    it('check --pre passes on the fresh cluster, and fails with a hint for a user without permissions', async () => {
      const ok = await cli('check', '--pre');
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toMatch(
        /✔ can reach the Kubernetes API \(context "[^"]+" \(https:\/\/198\.18\.\d+\.1:\d+\), v1\.34\.\d+\)/,
      );
      expect(ok.stdout).toContain('✔ Kubernetes supports native sidecars (1.29 or newer)');
      expect(ok.stdout).toContain('✔ can create MutatingWebhookConfigurations');
      expect(ok.stdout).toContain("✔ no other mesh owns the mesh's CRDs");
      expect(ok.stdout).toContain("✔ this machine's clock agrees with the API server's");
      expect(ok.stdout).toContain('Status check results are ✔');
      expect(ok.code).toBe(0);

      // Before install, check names the missing mesh and skips what depends on it.
      const none = await cli('check');
      expect(none.code).toBe(1);
      expect(none.stdout).toContain(
        '✖ the mesh namespace exists\n    namespace mesh-system does not exist: the mesh is not installed on context',
      );
      expect(none.stdout).toContain('hint: install the mesh: meshctl install --wait');
      expect(none.stdout).toContain('- the control plane Deployment is ready');

      const noMesh = await cli('upgrade', '-y');
      expect(noMesh.code).toBe(1);
      expect(noMesh.stderr).toContain('the mesh is not installed on context');
      expect(noMesh.stderr).toContain('install it first: meshctl install --wait');

      // A ServiceAccount with no RBAC at all, and a kubeconfig holding its token.
      const kubeconfig = await serviceAccountKubeconfig('default', 'no-rights');
      const denied = await runCli(['check', '--pre'], { env: { KUBECONFIG: kubeconfig, HOME: dir } });
      expect(denied.code).toBe(1);
      expect(denied.stdout).toContain('✔ can reach the Kubernetes API');
      expect(denied.stdout).toContain(
        '✖ can create Deployments\n    missing permission: create, get, patch deployments.apps in namespace mesh-system\n',
      );
      expect(denied.stdout).toContain(
        '✖ can create CustomResourceDefinitions\n    missing permission: create, get, patch customresourcedefinitions.apiextensions.k8s.io (cluster-wide)\n',
      );
      expect(denied.stdout).toMatch(
        /hint: install needs create, get and patch \(server-side apply\) on Deployments: ask a cluster admin/,
      );
      expect(denied.stdout).toContain('Status check results are ✖');
    }, 60_000);

    it('check is green on the installed mesh (exit 0), and -o json says so per category', async () => {
      const install = await cli('install', '--wait', '--timeout', '3m', '-y');
      expect(install.code, install.stderr).toBe(0);
      const r = await cli('check', '--wait', '1m');
      expect(r.stderr).toBe('');
      for (const line of [
        '✔ the control plane Deployment is ready (2/2 ready, 2 up to date)',
        `✔ the control plane version matches the CLI (${meshctlVersion()})`,
        '✔ the mesh CRDs are installed (21 CRDs)',
        "✔ the mesh CRDs are current (the same as this meshctl's)",
        '✔ the webhook caBundle is valid and is the mesh root CA',
        '✔ the API server reaches the webhook and it injects',
        '✔ the root CA does not expire within 30 days',
      ])
        expect(r.stdout).toContain(line);
      expect(r.stdout).not.toMatch(/[✖‼]/);
      expect(r.stdout).toContain('Status check results are ✔');
      expect(r.code).toBe(0);

      const json = await cli('check', '-o', 'json');
      expect(json.code).toBe(0);
      const parsed = JSON.parse(json.stdout) as CheckJson;
      expect(parsed.success).toBe(true);
      expect(parsed.categories.map((c) => c.categoryName)).toEqual([
        'kubernetes-api',
        'control-plane',
        'crds',
        'injection-webhook',
        'identity',
        'gateways',
      ]);
      expect(parsed.categories.flatMap((c) => c.checks).every((c) => c.result === 'success')).toBe(true);
    }, 240_000);

    it('check names a corrupted webhook caBundle (✖, exit 1)', async () => {
      const bad = Buffer.from('not a certificate').toString('base64');
      const read = async () =>
        (
          await cluster.kubectl([
            'get',
            'mutatingwebhookconfiguration',
            'meshctl-sidecar-injector',
            '-o',
            'jsonpath={.webhooks[*].clientConfig.caBundle}',
          ])
        ).stdout;
      // The control plane leader puts the caBundle back (every 30 s, and on namespace events): an
      // attempt counts only if the bundle was still corrupt after check had read it.
      let seen: { code: number; stdout: string } | undefined;
      for (let attempt = 0; attempt < 5 && !seen; attempt++) {
        const patch = await cluster.kubectl([
          'patch',
          'mutatingwebhookconfiguration',
          'meshctl-sidecar-injector',
          '--type=json',
          '-p',
          JSON.stringify(
            [0, 1].map((i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: bad })),
          ),
        ]);
        expect(patch.code, patch.stderr).toBe(0);
        const r = await cli('check');
        if ((await read()).split(' ').every((b) => b === bad)) seen = r;
      }
      expect(seen, 'the caBundle stayed corrupt during one check run').toBeDefined();
      expect(seen!.code).toBe(1);
      expect(seen!.stdout).toContain('✖ the webhook caBundle is valid and is the mesh root CA');
      expect(seen!.stdout).toContain(
        'caBundle of webhook namespace.sidecar-injector.meshctl.dev (mutatingwebhookconfiguration meshctl-sidecar-injector) does not parse as a PEM certificate',
      );
      expect(seen!.stdout).toContain('✖ the API server reaches the webhook and it injects');
      expect(seen!.stdout).toContain('Status check results are ✖');
      // The leader repairs it, and check --wait sees the repair.
      const healed = await cli('check', '--wait', '2m', '-o', 'short');
      expect(healed.stdout).toBe('Status check results are ✔\n');
      expect(healed.code).toBe(0);
    }, 240_000);

    let demoNs: string;
    let productpage: k8s.V1Pod;

    it('check --proxy is green with the injected demo; proxy-status lists every proxy SYNCED', async () => {
      demoNs = await cluster.createNamespace('demo');
      expect((await cluster.kubectl(['label', 'namespace', demoNs, 'meshctl.dev/inject=enabled'])).code).toBe(0);
      await cluster.waitFor(
        'meshctl-ca-root in the demo namespace',
        async () => Boolean(await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: demoNs })),
        60_000,
      );
      const applied = await cluster.kubectl(['-n', demoNs, 'apply', '-f', '-'], { input: BOOKINFO });
      expect(applied.code, applied.stderr).toBe(0);
      const pods = await cluster.waitForReadyPods(demoNs, 'app', DEMO_PODS, 150_000);
      productpage = pods.find((p) => p.metadata?.labels?.app === 'productpage')!;

      const check = await cli('check', '--proxy', '-n', demoNs, '--wait', '1m');
      expect(check.stdout).toContain(
        `✔ every injected pod's proxy is connected to the control plane (${DEMO_PODS} pods)`,
      );
      expect(check.stdout).toContain('✔ every proxy runs the latest config (no NACK, nothing stale)');
      expect(check.stdout).toContain('✔ proxy certificates are valid');
      expect(check.stdout).toContain('✔ proxies run the CLI version');
      expect(check.stdout).toContain('✔ namespace injection labels agree with the pods in them');
      expect(check.stdout).toContain('Status check results are ✔');
      expect(check.code).toBe(0);

      const status = await cli('proxy-status');
      expect(status.code, status.stderr).toBe(0);
      const lines = status.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+CONTROL PLANE\s+VERSION\s+CLUSTERS\s+LISTENERS\s+ROUTES\s+CERT EXPIRY$/);
      const cpNames = (await controlPlanePods()).map((p) => p.metadata!.name!);
      for (const p of pods) {
        const row = lines.find((l) => l.startsWith(`${p.metadata!.name}.${demoNs} `));
        expect(row, `${p.metadata!.name} listed`).toBeDefined();
        const cells = row!.split(/\s{2,}/);
        expect(cpNames).toContain(cells[1]);
        expect(cells.slice(2, 6)).toEqual([meshctlVersion(), 'SYNCED', 'SYNCED', 'SYNCED']);
      }
      // The ingress gateway install deploys is a proxy too, listed like the sidecars.
      const gateway = lines.find((l) => l.startsWith('istio-ingressgateway-') && l.includes('.mesh-system '));
      expect(gateway?.split(/\s{2,}/)[2], status.stdout).toBe(meshctlVersion());
      expect(lines.length).toBe(1 + DEMO_PODS + 1);

      // Least privilege for proxy-status: reading pods and their proxy subresource in the mesh namespace.
      const viewer = await serviceAccountKubeconfig('default', 'mesh-viewer');
      const role = await cluster.kubectl([
        '-n',
        'mesh-system',
        'create',
        'role',
        'mesh-viewer',
        '--verb=get,list',
        '--resource=pods,pods/proxy,services/proxy',
      ]);
      expect(role.code, role.stderr).toBe(0);
      expect(
        (
          await cluster.kubectl([
            '-n',
            'mesh-system',
            'create',
            'rolebinding',
            'mesh-viewer',
            '--role=mesh-viewer',
            '--serviceaccount=default:mesh-viewer',
          ])
        ).code,
      ).toBe(0);
      const asViewer = await cluster.waitFor(
        'the viewer role to take effect',
        async () => {
          const r = await runCli(['proxy-status', '--kubernetes'], { env: { KUBECONFIG: viewer, HOME: dir } });
          return r.code === 0 ? r : undefined;
        },
        30_000,
      );
      expect(
        asViewer.stdout
          .trim()
          .split('\n')
          .filter((l) => / SYNCED +SYNCED +SYNCED /.test(l)).length,
      ).toBe(DEMO_PODS + 1); // and the ingress gateway
      // Without pods/exec the proxies cannot be asked what they run: said, not hidden behind SYNCED.
      expect(asViewer.stderr).toMatch(
        /warning: could not ask \d+ proxies .* which config they run \(.*forbidden.*\): a proxy changed through its admin API would not show DIVERGED/,
      );
    }, 420_000);

    it("proxy-config reads a pod's clusters, listeners, routes and secrets through the API server", async () => {
      const id = `${productpage.metadata!.name}.${demoNs}`;
      const json = await cli('proxy-config', 'clusters', id, '-o', 'json');
      expect(json.code, json.stderr).toBe(0);
      const clusters = JSON.parse(json.stdout) as {
        name: string;
        service: string | null;
        endpoints: { address: string; port: number }[];
      }[];
      const names = clusters.map((c) => c.name);
      for (const svc of ['details', 'reviews', 'ratings', 'productpage'])
        expect(names).toContain(`outbound|9080||${svc}.${demoNs}.svc.cluster.local`);
      expect(clusters.find((c) => c.name === 'inbound|9080||')).toMatchObject({
        service: `productpage.${demoNs}.svc.cluster.local`,
      });
      // The reviews cluster holds the three reviews pods.
      const reviewsIps = (await cluster.pods(demoNs, 'app=reviews')).map((p) => p.status!.podIP!).sort();
      expect(
        clusters
          .find((c) => c.name === `outbound|9080||reviews.${demoNs}.svc.cluster.local`)!
          .endpoints.map((e) => e.address)
          .sort(),
      ).toEqual(reviewsIps);

      const table = await cli('proxy-config', 'all', id);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(
        new RegExp(`reviews\\.${demoNs}\\.svc\\.cluster\\.local\\s+9080\\s+-\\s+OUTBOUND\\s+STATIC`),
      );
      expect(table.stdout).toMatch(/::\s+15006\s+inbound capture destinationPort=9080/);
      expect(table.stdout).toMatch(/default\s+Cert Chain\s+ACTIVE\s+true/);
      expect(table.stdout).toMatch(/ROOTCA\s+CA\s+ACTIVE\s+true/);
      // Read from the pod's own admin API (pods/exec): endpoint health is known, as locally.
      expect(table.stdout).toMatch(/198\.18\.\d+\.\d+:9080\s+HEALTHY\s+OK\s+outbound\|9080\|\|reviews\./);

      const diff = await cli('proxy-status', id);
      expect(diff.stdout).toBe('Clusters Match\nListeners Match\nRoutes Match\n');
      const unknown = await cli('proxy-config', 'clusters', `no-such-pod.${demoNs}`);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain(`pod ${demoNs}/no-such-pod not found`);
    }, 60_000);

    it('check --proxy names a pod whose proxy is not connected (✖, exit 1)', async () => {
      const ns = await cluster.createNamespace('lost');
      // Injected by the CLI with a control plane address nothing listens on: the proxy never connects.
      const details = BOOKINFO.split(/^---$/m)
        .filter((d) => /name: (bookinfo-)?details(-v1)?$/m.test(d))
        .join('---\n');
      const injected = await runCli(['inject', '-f', '-', '--set', 'controlPlane.address=198.18.0.1:9'], {
        stdin: details,
        env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
      });
      expect(injected.code, injected.stderr).toBe(0);
      expect((await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: injected.stdout })).code).toBe(0);
      const [pod] = await cluster.waitFor('the details pod to exist', async () => {
        const ps = (await cluster.pods(ns, 'app=details')).filter((p) => p.status?.phase);
        return ps.length ? ps : undefined;
      });
      const r = await cli('check', '--proxy', '-n', ns);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain(
        "✖ every injected pod's proxy is connected to the control plane\n    no connected proxy for pod:\n",
      );
      expect(r.stdout).toContain(`    ${ns}/${pod!.metadata!.name}`);
      expect(r.stdout).toMatch(/hint: the proxy's log says why it cannot connect/);
      // The demo namespace is unaffected.
      expect((await cli('check', '--proxy', '-n', demoNs)).code).toBe(0);
      await cluster.deleteNamespace(ns);
      expect(isPodReady(productpage)).toBe(true);
    }, 60_000);
    it('analyze reads the cluster: a VirtualService naming a missing subset is reported, and a -f DestinationRule overlaid fixes it', async () => {
      const config = [
        'apiVersion: networking.istio.io/v1',
        'kind: VirtualService',
        'metadata: {name: reviews}',
        'spec:',
        '  hosts: [reviews]',
        '  http:',
        '  - route:',
        '    - destination: {host: reviews, subset: v2}',
        '---',
        'apiVersion: networking.istio.io/v1',
        'kind: DestinationRule',
        'metadata: {name: reviews}',
        'spec:',
        '  host: reviews',
        '  subsets:',
        '  - {name: v1, labels: {version: v1}}',
        '',
      ].join('\n');
      // apply refuses config that analysis finds broken unless --force: stored anyway, so analyze reads it from the cluster.
      const put = await runCli(['apply', '--force', '-n', demoNs, '-f', '-'], {
        stdin: config,
        env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
      });
      expect(put.code, put.stderr).toBe(0);

      const found = await cli('analyze', '-n', demoNs);
      expect(found.code).toBe(79);
      expect(found.stdout).toContain(
        `Error [MESH0101] (VirtualService reviews.${demoNs}) Referenced subset "v2" is not defined in any DestinationRule for host "reviews"`,
      );
      const all = await cli('analyze', '-A', '-o', 'json');
      expect(all.code).toBe(79);
      expect(
        (JSON.parse(all.stdout) as { code: string; resource: { namespace: string } }[]).map(
          (f) => `${f.code} ${f.resource.namespace}`,
        ),
      ).toContain(`MESH0101 ${demoNs}`);
      // Another namespace has no finding.
      expect((await cli('analyze', '-n', 'default')).code).toBe(0);

      // The file's DestinationRule replaces the cluster's one of the same name: what applying it would give.
      const fixedDr = join(dir, 'reviews-dr.yaml');
      writeFileSync(
        fixedDr,
        [
          'apiVersion: networking.istio.io/v1',
          'kind: DestinationRule',
          'metadata: {name: reviews}',
          'spec:',
          '  host: reviews',
          '  subsets:',
          '  - {name: v1, labels: {version: v1}}',
          '  - {name: v2, labels: {version: v2}}',
          '',
        ].join('\n'),
      );
      const fixed = await cli('analyze', '-n', demoNs, '-f', fixedDr);
      expect(fixed.stdout).toBe('✔ No validation issues found\n');
      expect(fixed.code).toBe(0);
      // Nothing was applied by analyze: the cluster still has the broken pair.
      expect((await cli('analyze', '-n', demoNs)).code).toBe(79);
    }, 60_000);

    it('pods outside the mesh: analyze warns that config targeting them has no effect, check --proxy warns once their namespace is labelled', async () => {
      const ns = await cluster.createNamespace('plain');
      const app = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [
            {
              apiVersion: 'v1',
              kind: 'Service',
              metadata: { name: 'plain' },
              spec: { selector: { app: 'plain' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
            },
            {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: 'plain', labels: { app: 'plain' } },
              spec: { containers: [{ name: 'app', image: 'meshctl-test/echo' }] },
            },
          ],
        }),
      });
      expect(app.code, app.stderr).toBe(0);
      await cluster.waitForReadyPods(ns, 'app=plain', 1, 60_000);
      const vs = [
        'apiVersion: networking.istio.io/v1',
        'kind: VirtualService',
        'metadata: {name: plain}',
        'spec:',
        '  hosts: [plain]',
        '  http:',
        '  - timeout: 2s',
        '    route:',
        '    - destination: {host: plain}',
        '',
      ].join('\n');
      expect(
        (
          await runCli(['apply', '-n', ns, '-f', '-'], {
            stdin: vs,
            env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
          })
        ).code,
      ).toBe(0);

      const outside = await cli('analyze', '-n', ns);
      expect(outside.code).toBe(0); // a warning is below the default failure threshold
      expect(outside.stdout).toContain(
        `Warning [MESH0501] (Pod plain.${ns}) Pod plain runs without the sidecar, so VirtualService plain.${ns} has no effect on it: namespace "${ns}" is not labelled for injection`,
      );

      expect((await cluster.kubectl(['label', 'namespace', ns, 'meshctl.dev/inject=enabled'])).code).toBe(0);
      const check = await cli('check', '--proxy', '-n', ns);
      expect(check.code).toBe(0); // warnings do not fail the run
      expect(check.stdout).toContain(
        `‼ namespace injection labels agree with the pods in them\n    namespace ${ns} is labelled meshctl.dev/inject=enabled but runs pods without the sidecar: plain\n`,
      );
      expect(check.stdout).toContain(
        'hint: pods created before their namespace was labelled meshctl.dev/inject=enabled run without the sidecar until restarted',
      );
      // Labelled for injection, the namespace no longer draws MESH0501 (its pods get the sidecar when restarted).
      expect((await cli('analyze', '-n', ns)).stdout).not.toContain('MESH0501');
      await cluster.deleteNamespace(ns);
    }, 90_000);

    it('a pod running its app as the sidecar UID 1337: the webhook injects it with a MESH0502 warning to kubectl, and analyze reports the running pod (Error, exit 79)', async () => {
      const ns = await cluster.createNamespace('uid');
      expect((await cluster.kubectl(['label', 'namespace', ns, 'meshctl.dev/inject=enabled'])).code).toBe(0);
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'legacy', labels: { app: 'legacy' } },
        spec: {
          securityContext: { runAsUser: 1337 },
          containers: [{ name: 'app', image: 'meshctl-test/echo:1', env: [{ name: 'PORT', value: '8080' }] }],
        },
      };
      const problem =
        'container "app" runs as UID 1337, the sidecar\'s own UID: the capture rules let that traffic bypass the sidecar (no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID';
      const created = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: JSON.stringify(pod) });
      expect(created.code, created.stderr).toBe(0);
      // The webhook injected it and returned the warning, which kubectl prints.
      expect(created.stderr).toContain(`Warning: meshctl: MESH0502 spec.securityContext.runAsUser: ${problem}`);
      const stored = await cluster.core.readNamespacedPod({ name: 'legacy', namespace: ns });
      expect(stored.spec?.initContainers?.map((c) => c.name)).toContain('mesh-proxy');

      const found = await cli('analyze', '-n', ns);
      expect(found.code, found.stdout + found.stderr).toBe(79);
      expect(found.stdout).toContain(`Error [MESH0502] (Pod legacy.${ns}) spec.securityContext.runAsUser: ${problem}.`);
      await cluster.deleteNamespace(ns);
    }, 90_000);

    it("upgrade changes nothing on a current mesh, lists a dry run's changes, and reports a proxy older than the CLI", async () => {
      const version = meshctlVersion();
      // A workload whose injection record says an older meshctl injected it.
      const ns = await cluster.createNamespace('legacy');
      const status = JSON.stringify({
        v: 1,
        version: '0.0.9',
        proxyImage: 'ghcr.io/meshctl/meshctl:0.0.9',
        native: true,
        initContainers: ['mesh-proxy'],
        containers: [],
        volumes: [],
        annotations: [],
        labels: [],
        created: [],
        probes: {},
      });
      const legacy = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'legacy' },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'legacy' } },
            template: {
              metadata: {
                labels: { app: 'legacy', 'meshctl.dev/injected': 'true' },
                annotations: { 'meshctl.dev/status': status },
              },
              spec: { containers: [{ name: 'app', image: 'meshctl-test/echo' }] },
            },
          },
        }),
      });
      expect(legacy.code, legacy.stderr).toBe(0);
      const [pod] = await cluster.waitForReadyPods(ns, 'app=legacy', 1, 60_000);

      const first = await cli('upgrade', '-y');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/✔ CRDs applied \(19 unchanged\)\n/);
      expect(first.stdout).toContain('✔ Root CA kept (secret mesh-system/meshctl-ca already exists)');
      expect(first.stdout).toMatch(/✔ Control plane applied \(\d+ unchanged\)\n/);
      expect(first.stdout).toContain('✔ Control plane ready');
      expect(first.stdout).toContain(`‼ 1 injected proxy(ies) run an older version than ${version}`);
      expect(first.stdout).toMatch(new RegExp(`${ns}\\s+${pod!.metadata!.name}\\s+0\\.0\\.9\\s+deployment/legacy`));
      expect(first.stdout).toContain(`kubectl -n ${ns} rollout restart deployment/legacy`);
      // The demo's proxies are current, so they are not listed.
      expect(first.stdout).not.toContain(demoNs);

      const again = await cli('upgrade', '-y', '-o', 'json');
      expect(again.code, again.stderr).toBe(0);
      const report = JSON.parse(again.stdout) as {
        applied: { result: string }[];
        outdatedProxies: { pod: string; version: string; restart: string }[];
      };
      expect(report.applied.every((a) => a.result === 'unchanged')).toBe(true);
      expect(report.outdatedProxies).toEqual([
        {
          pod: pod!.metadata!.name,
          namespace: ns,
          version: '0.0.9',
          workload: 'deployment/legacy',
          restart: `kubectl -n ${ns} rollout restart deployment/legacy`,
        },
      ]);

      // A field changed behind meshctl's back shows in the dry run, and nothing is changed by it.
      expect(
        (await cluster.kubectl(['-n', 'mesh-system', 'scale', 'deployment/meshctl-control-plane', '--replicas=1']))
          .code,
      ).toBe(0);
      const dry = await cli('upgrade', '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(
        `Dry run: upgrading to meshctl ${version} would change 1 object(s) (nothing was changed):\n  change Deployment mesh-system/meshctl-control-plane: spec.replicas\n`,
      );
      const dep = await cluster.apps.readNamespacedDeployment({
        name: 'meshctl-control-plane',
        namespace: 'mesh-system',
      });
      expect(dep.spec?.replicas).toBe(1);
      const restored = await cli('upgrade', '-y');
      // The Deployment is configured again; the PodDisruptionBudget may count too, its status (and so its
      // resourceVersion, which install compares) moving while the replica comes back.
      expect(restored.stdout).toMatch(/✔ Control plane applied \(\d+ unchanged, [12] configured\)\n/);
      expect(
        (await cluster.apps.readNamespacedDeployment({ name: 'meshctl-control-plane', namespace: 'mesh-system' })).spec
          ?.replicas,
      ).toBe(2);
      await cluster.deleteNamespace(ns);
    }, 240_000);
  },
);
