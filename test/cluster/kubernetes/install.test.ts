/**
 * meshctl's install procedure on the real test cluster: the rendered manifests (CRDs included) go in
 * with server-side apply and a second apply changes nothing; installKubernetes creates the root CA
 * Secret once and never again; uninstall refuses while injected pods run, removes what install applied,
 * and leaves exactly the CRDs, the CA Secret and the namespace for --purge.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesCluster, type KubeObject } from '../../../src/cluster/kubernetes/index.js';
import { loadCrds } from '../../../src/install/crds.js';
import {
  installKubernetes,
  uninstallKubernetes,
  type KubernetesInstallDeps,
  type KubernetesInstallOptions,
} from '../../../src/cluster/kubernetes/install.js';
import { rootCaSource } from '../../../src/commands/root-ca.js';
import { InstallNames, renderComponents } from '../../../src/install/manifests.js';
import { defaultValues } from '../../../src/install/values.js';
import { createRootCa } from '../../../src/control-plane/ca/root.js';
import { CaMaterialInvalidError, UninstallRefusedError } from '../../../src/errors.js';
import { describeRequiring, isRoot } from '../../support/requirements.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from '../../test-cluster/support.js';

// An image the test node agent does not run: these tests hold the install procedure, and a running
// control plane (test/kubernetes-e2e) would set the webhook's caBundle between the two installs.

/** The options with the root CA as `meshctl install` hands it in (the supplied files read and checked, else generated). */
async function withCa(o: Omit<KubernetesInstallOptions, 'rootCa'>): Promise<KubernetesInstallOptions> {
  return { ...o, rootCa: await rootCaSource(o.values.ca) };
}
const IMAGE = 'registry.example/meshctl-install-test:0.0.0';

function recorder(cluster: KubernetesCluster): KubernetesInstallDeps & { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  return { cluster, lines, warnings, progress: (l) => lines.push(l), warn: (w) => warnings.push(w) };
}

async function resourceVersions(
  cluster: KubernetesCluster,
  objects: readonly KubeObject[],
): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const o of objects) {
    const live = await cluster.get({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: o.metadata.name,
      namespace: o.metadata.namespace,
    });
    // What install writes, not what controllers report: a Deployment's or PodDisruptionBudget's status
    // (generation counts spec changes only) and a LoadBalancer Service's address change on their own.
    const m = live?.metadata as { resourceVersion?: string; generation?: number } | undefined;
    const version =
      m?.generation !== undefined
        ? `generation ${m.generation}`
        : o.kind === 'Service'
          ? JSON.stringify((live as { spec?: unknown }).spec)
          : m?.resourceVersion;
    out.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, version);
  }
  return out;
}

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes: install and uninstall on the test cluster', () => {
  let test: TestCluster;
  let cluster: KubernetesCluster;
  // Each test gets its own mesh namespace; the CRDs are cluster-wide and shared (what install does too).
  const namespaces: string[] = [];
  const meshNamespace = (suffix: string): string => {
    const ns = `mesh-${suffix}-${Math.random().toString(36).slice(2, 7)}`;
    namespaces.push(ns);
    return ns;
  };

  beforeAll(async () => {
    test = await getTestCluster();
    cluster = await KubernetesCluster.connect({ kubeconfig: test.kubeconfigPath });
  });
  afterAll(async () => {
    for (const ns of namespaces) await test?.deleteNamespace(ns);
  });

  it('server-side applies the rendered manifests, CRDs included, and a second apply changes no resourceVersion', async () => {
    const values = { ...defaultValues(IMAGE), namespace: meshNamespace('ssa') };
    const objects = [
      ...((await loadCrds()) as unknown as KubeObject[]),
      ...(renderComponents(values, '0.0.0-test') as unknown as KubeObject[]),
    ];
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition').length).toBeGreaterThanOrEqual(15);
    for (const o of objects) {
      if (o.kind === 'Namespace' || o.kind === 'CustomResourceDefinition') await cluster.apply(o, { force: true });
    }
    for (const o of objects) {
      if (o.kind !== 'Namespace' && o.kind !== 'CustomResourceDefinition') await cluster.apply(o, { force: true });
    }
    const first = await resourceVersions(cluster, objects);
    for (const [key, rv] of first) expect(rv, key).toBeDefined();
    // The managed fields name meshctl as the manager that applied them.
    const vs = await cluster.get({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'virtualservices.networking.istio.io',
    });
    expect(
      (vs?.metadata.managedFields as { manager: string; operation: string }[]).some(
        (m) => m.manager === 'meshctl' && m.operation === 'Apply',
      ),
    ).toBe(true);

    for (const o of objects) await cluster.apply(o, { force: o.kind !== 'Namespace' });
    expect(await resourceVersions(cluster, objects)).toEqual(first);
  });

  it('installKubernetes: progress per component, root CA Secret created once, a second install changes nothing', async () => {
    const ns = meshNamespace('inst');
    const values = { ...defaultValues(IMAGE), namespace: ns };
    const deps = recorder(cluster);
    const report = await installKubernetes(deps, await withCa({ values, version: '0.0.0-test' }));
    expect(deps.lines.join('\n')).toMatch(/✔ Kubernetes API reachable .*v1\.\d+/);
    expect(deps.lines).toContainEqual(expect.stringMatching(/^✔ CRDs applied/));
    expect(deps.lines).toContain(`✔ Root CA created in secret ${ns}/meshctl-ca`);
    expect(deps.lines).toContainEqual(expect.stringMatching(/^✔ Control plane applied \(/));
    // The namespaced components are new; cluster-scoped ones (ClusterRole, webhook) are shared with the other tests' installs.
    expect(report.components.filter((c) => c.namespace === ns || c.kind === 'Namespace').map((c) => c.result)).toEqual(
      // 8 of the control plane, 4 of the ingress gateway (ServiceAccount, Deployment, Service, PodDisruptionBudget).
      Array(12).fill('created'),
    );
    expect(report.nativeSidecar).toBe(true);
    expect(report.caSecret).toBe('created');

    const components = renderComponents(values, '0.0.0-test') as unknown as KubeObject[];
    const secretRef = { apiVersion: 'v1', kind: 'Secret', namespace: ns, name: InstallNames.caSecret };
    const secret = await cluster.get<KubeObject & { data: Record<string, string> }>(secretRef);
    const rootPem = Buffer.from(secret?.data['ca-cert.pem'] ?? '', 'base64').toString();
    expect(rootPem).toContain('-----BEGIN CERTIFICATE-----');
    const { X509Certificate } = await import('node:crypto');
    const root = new X509Certificate(rootPem);
    expect(root.ca).toBe(true);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    const before = await resourceVersions(cluster, [
      ...components,
      { ...secretRef, metadata: { name: secretRef.name, namespace: ns } } as KubeObject,
    ]);
    const again = recorder(cluster);
    const second = await installKubernetes(again, await withCa({ values, version: '0.0.0-test' }));
    expect(second.components.every((c) => c.result === 'unchanged')).toBe(true);
    expect(second.crds.every((c) => c.result === 'unchanged')).toBe(true);
    expect(second.caSecret).toBe('kept');
    expect(again.lines).toContain(`✔ Root CA kept (secret ${ns}/meshctl-ca already exists)`);
    expect(again.lines).toContainEqual(expect.stringMatching(/^✔ Control plane applied \(16 unchanged\)$/));
    expect(
      await resourceVersions(cluster, [
        ...components,
        { ...secretRef, metadata: { name: secretRef.name, namespace: ns } } as KubeObject,
      ]),
    ).toEqual(before);

    // A supplied CA that differs from the stored root is refused, not swapped in.
    const other = await createRootCa();
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-ca-'));
    writeFileSync(join(dir, 'ca.pem'), other.pem.certChainPem);
    writeFileSync(join(dir, 'ca-key.pem'), other.pem.keyPem, { mode: 0o600 });
    const refused = installKubernetes(
      recorder(cluster),
      await withCa({
        values: { ...values, ca: { cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem') } },
        version: '0.0.0-test',
      }),
    );
    await expect(refused).rejects.toThrow(CaMaterialInvalidError);
    await expect(refused).rejects.toThrow(/already holds a different root CA/);
    const still = await cluster.get<KubeObject & { data: Record<string, string> }>(secretRef);
    expect(Buffer.from(still?.data['ca-cert.pem'] ?? '', 'base64').toString()).toBe(rootPem);
  });

  it('install with --set ca.cert/ca.key stores the supplied root', async () => {
    const ns = meshNamespace('byoca');
    const supplied = await createRootCa({ commonName: 'my org root' });
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-ca-'));
    writeFileSync(join(dir, 'ca.pem'), supplied.pem.certChainPem);
    writeFileSync(join(dir, 'ca-key.pem'), supplied.pem.keyPem, { mode: 0o600 });
    const deps = recorder(cluster);
    const report = await installKubernetes(
      deps,
      await withCa({
        values: {
          ...defaultValues(IMAGE),
          namespace: ns,
          ca: { cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem') },
        },
        version: '0.0.0-test',
      }),
    );
    expect(report.caSecret).toBe('created-from-supplied');
    const secret = await cluster.get<KubeObject & { data: Record<string, string> }>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: ns,
      name: 'meshctl-ca',
    });
    expect(Buffer.from(secret?.data['ca-cert.pem'] ?? '', 'base64').toString()).toBe(supplied.pem.certChainPem);
    await uninstallKubernetes(recorder(cluster), { namespace: ns, purge: false });
  });

  it('uninstall refuses while injected pods exist (listing them), then removes what install applied and keeps CRDs, CA Secret and namespace until --purge', async () => {
    const ns = meshNamespace('un');
    const values = { ...defaultValues(IMAGE), namespace: ns };
    await installKubernetes(recorder(cluster), await withCa({ values, version: '0.0.0-test' }));

    const appNs = await test.createNamespace('injected-app');
    namespaces.push(appNs);
    await cluster.apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: appNs, labels: { 'meshctl.dev/injected': 'true' } },
      spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'web', image: 'meshctl-test/echo:1' }] },
    });
    const refusal = uninstallKubernetes(recorder(cluster), { namespace: ns });
    await expect(refusal).rejects.toThrow(UninstallRefusedError);
    await expect(refusal).rejects.toThrow(new RegExp(`1 pod\\(s\\) still run the mesh's sidecar:\\n  ${appNs}/web-0`));
    // Nothing was removed by the refused attempt.
    expect(
      await cluster.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: InstallNames.deployment }),
    ).toBeDefined();

    const deps = recorder(cluster);
    const report = await uninstallKubernetes(deps, { namespace: ns, force: true });
    expect(report.injectedPods).toEqual([`${appNs}/web-0`]);
    expect(deps.warnings.join('\n')).toContain(`${appNs}/web-0`);
    const components = renderComponents(values, '0.0.0-test') as unknown as KubeObject[];
    const left: string[] = [];
    for (const o of components) {
      const live = await cluster.get({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        namespace: o.metadata.namespace,
      });
      if (live) left.push(`${o.kind}/${o.metadata.name}`);
    }
    expect(left).toEqual([`Namespace/${ns}`]);
    expect(await cluster.get({ apiVersion: 'v1', kind: 'Secret', namespace: ns, name: 'meshctl-ca' })).toBeDefined();
    expect(
      await cluster.get({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name: 'virtualservices.networking.istio.io',
      }),
    ).toBeDefined();
    expect(deps.lines).toContain(
      `✔ Kept the CRDs, the root CA secret and namespace ${ns} (meshctl uninstall --purge removes them)`,
    );

    // What is left is exactly what --purge removes. The CRDs are cluster-wide and other suites of the
    // run use them, so the purge runs as a server-side dry run (the API server admits each delete).
    const purge = await uninstallKubernetes(recorder(cluster), {
      namespace: ns,
      force: true,
      purge: true,
      dryRun: true,
    });
    const crdNames = (await loadCrds()).map((c) => `CustomResourceDefinition/${c.metadata.name}`);
    expect([...purge.removed].sort()).toEqual([...crdNames, `Namespace/${ns}`, `Secret/${ns}/meshctl-ca`].sort());
    expect(await cluster.get({ apiVersion: 'v1', kind: 'Secret', namespace: ns, name: 'meshctl-ca' })).toBeDefined();
  });
});
