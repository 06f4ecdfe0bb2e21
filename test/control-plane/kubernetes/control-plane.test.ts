/**
 * The control plane's Kubernetes mode on the real test cluster: the informer snapshot follows
 * Services, Ready pods and mesh resources created after it started (an invalid update keeps the last
 * good version), and the TokenReview authenticator accepts a ServiceAccount token for audience
 * meshctl and refuses one for another audience; the CA Secret holds the root and a root rotation's
 * record, which a second replica follows.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesCluster, pollUntil, type KubeObject } from '../../../src/cluster/kubernetes/index.js';
import {
  KubernetesRegistry,
  SecretCaStorage,
  type RejectedResource,
} from '../../../src/control-plane/kubernetes/index.js';
import { loadOrCreateCa } from '../../../src/control-plane/ca/root.js';
import { CertificateAuthority } from '../../../src/control-plane/ca/authority.js';
import { RootRotation } from '../../../src/control-plane/ca/rotation.js';
import { renderComponents } from '../../../src/install/manifests.js';
import { defaultValues } from '../../../src/install/values.js';
import { TokenReviewAuthenticator } from '../../../src/control-plane/ca/token-review.js';
import { loadCrds } from '../../../src/install/crds.js';
import { CredentialRejectedError, KubernetesApiError } from '../../../src/errors.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MeshSnapshot } from '../../../src/control-plane/translate/model.js';
import { describeRequiring, isRoot } from '../../support/requirements.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from '../../test-cluster/support.js';

function app(ns: string): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reviews', namespace: ns } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'reviews', namespace: ns },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'reviews' } },
        template: {
          metadata: { labels: { app: 'reviews', version: 'v1', 'meshctl.dev/injected': 'true' } },
          spec: {
            serviceAccountName: 'reviews',
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'echo',
                image: 'meshctl-test/echo:1',
                ports: [{ name: 'http', containerPort: 8080 }],
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
      metadata: { name: 'reviews', namespace: ns },
      spec: {
        selector: { app: 'reviews' },
        ports: [
          { name: 'http-web', port: 80, targetPort: 'http' },
          { name: 'grpc-api', port: 9090, targetPort: 9090 },
          { name: 'metrics', port: 9100, targetPort: 9100, appProtocol: 'http' },
          { name: 'db', port: 5432, targetPort: 5432 },
          { name: 'tcp-raw', port: 7000, targetPort: 7000 },
        ],
      },
    },
  ];
}

function virtualService(ns: string, uri: Record<string, string>): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: ns },
    spec: { hosts: ['reviews'], http: [{ match: [{ uri }], route: [{ destination: { host: 'reviews' } }] }] },
  };
}

describeRequiring([isRoot, kubernetesTestBinaries], 'control plane, kubernetes mode, on the test cluster', () => {
  let test: TestCluster;
  let cluster: KubernetesCluster;
  let ns: string;
  let registry: KubernetesRegistry;
  const rejected: RejectedResource[] = [];

  beforeAll(async () => {
    test = await getTestCluster();
    cluster = await KubernetesCluster.connect({ kubeconfig: test.kubeconfigPath });
    // The mesh CRDs, as install applies them (idempotent; other suites may have applied them already).
    for (const crd of await loadCrds()) await cluster.apply(crd as unknown as KubeObject, { force: true });
    ns = await test.createNamespace('cp');
    registry = new KubernetesRegistry(cluster.objects);
    registry.on('rejected', (r: RejectedResource) => rejected.push(r));
    await registry.start();
  });
  afterAll(async () => {
    registry?.stop();
    if (ns) await test?.deleteNamespace(ns);
  });

  it('the snapshot follows a Service and its Ready pods created after the informers started', async () => {
    for (const o of app(ns)) await cluster.apply(o);
    const snap = await pollUntil(
      'the snapshot to hold reviews with 2 ready workloads',
      async () => {
        const s = registry.snapshot();
        // A pod that is not Ready yet is already a workload, with serving: false (its sidecar needs its inbound config).
        const ready = s.workloads.filter((w) => w.namespace === ns && w.serving !== false);
        return s.services.some((x) => x.name === 'reviews' && x.namespace === ns) && ready.length === 2 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const svc = snap.services.find((x) => x.name === 'reviews' && x.namespace === ns)!;
    const live = await cluster.get<KubeObject & { spec: { clusterIPs: string[] } }>({
      apiVersion: 'v1',
      kind: 'Service',
      namespace: ns,
      name: 'reviews',
    });
    expect(svc.addresses).toEqual(live?.spec.clusterIPs);
    expect(svc.selector).toEqual({ app: 'reviews' });
    expect(svc.ports).toEqual([
      // The named targetPort resolved through the pods, and kept by name for WorkloadEntries (their `ports` map).
      { name: 'http-web', port: 80, targetPort: 8080, targetPortName: 'http', protocol: 'http' },
      { name: 'grpc-api', port: 9090, targetPort: 9090, protocol: 'grpc' },
      { name: 'metrics', port: 9100, targetPort: 9100, protocol: 'http' },
      { name: 'db', port: 5432, targetPort: 5432, protocol: 'auto' },
      { name: 'tcp-raw', port: 7000, targetPort: 7000, protocol: 'tcp' },
    ]);

    const pods = (
      await cluster.list<KubeObject & { status: { podIP: string } }>(
        { apiVersion: 'v1', kind: 'Pod', namespace: ns },
        { labelSelector: 'app=reviews' },
      )
    ).items;
    const workloads = snap.workloads.filter((w) => w.namespace === ns).sort((a, b) => a.name.localeCompare(b.name));
    expect(workloads).toEqual(
      pods
        .map((p) => ({
          name: p.metadata.name,
          namespace: ns,
          serviceAccount: 'reviews',
          labels: p.metadata.labels,
          address: p.status.podIP,
          meshed: true,
          ports: [8080],
          capture: true,
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );

    // Scaled down to one: the snapshot drops the pod that went away.
    await cluster.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'reviews', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'reviews' } },
        template: (app(ns)[1]!.spec as { template: unknown }).template,
      },
    });
    await pollUntil(
      'one reviews workload left',
      async () => (registry.snapshot().workloads.filter((w) => w.namespace === ns).length === 1 ? true : undefined),
      { timeoutMs: 30_000 },
    );
    // The pipeline's inputs carry the app's ports for the same workloads.
    const inputs = registry.snapshotInputs();
    expect(inputs.workloads.filter((w) => w.namespace === ns).map((w) => w.ports)).toEqual([[8080]]);
  });

  it("a namespace's config.linkerd.io/default-inbound-policy annotation reaches its pods' workloads and a change is announced", async () => {
    const changes: string[] = [];
    const onChange = (c: { reasons: readonly string[] }) => changes.push(...c.reasons);
    registry.on('change', onChange);
    const policies = () =>
      registry
        .snapshot()
        .workloads.filter((w) => w.namespace === ns)
        .map((w) => w.defaultInboundPolicy ?? 'none');
    await pollUntil('a reviews workload', async () => (policies().length > 0 ? true : undefined), {
      timeoutMs: 60_000,
    });
    const annotate = async (arg: string) => {
      const r = await test.kubectl(['annotate', '--overwrite', 'namespace', ns, arg]);
      expect(r.code, r.stderr).toBe(0);
    };
    await annotate('config.linkerd.io/default-inbound-policy=deny');
    await pollUntil(
      'the namespace default on the workloads',
      async () => (policies().every((p) => p === 'deny') ? true : undefined),
      { timeoutMs: 30_000 },
    );
    expect(changes.some((r) => r.includes(`namespace ${ns}`))).toBe(true);
    await annotate('config.linkerd.io/default-inbound-policy-');
    await pollUntil(
      'the namespace default gone',
      async () => (policies().every((p) => p === 'none') ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    registry.off('change', onChange);
  });

  it('mesh resources: a valid VirtualService enters the snapshot; an invalid update is rejected and the last good one stays', async () => {
    await cluster.apply(virtualService(ns, { prefix: '/v1' }));
    const hasPrefix = (s: MeshSnapshot, prefix: string): boolean =>
      s.resources.some(
        (r) =>
          r.kind === 'VirtualService' &&
          r.metadata.namespace === ns &&
          JSON.stringify(r.spec).includes(`"prefix":"${prefix}"`),
      );
    await pollUntil(
      'the VirtualService in the snapshot',
      async () => (hasPrefix(registry.snapshot(), '/v1') ? true : undefined),
      { timeoutMs: 20_000 },
    );

    // RE2 has no lookahead: the API server's schema accepts the string, meshctl's validation does not.
    await cluster.apply(virtualService(ns, { regex: '/api/(?!internal).*' }));
    const refusal = await pollUntil(
      'the rejection',
      async () => rejected.find((r) => r.namespace === ns && r.name === 'reviews'),
      { timeoutMs: 20_000 },
    );
    expect(refusal).toMatchObject({ kind: 'VirtualService', keptLastGood: true });
    expect(refusal.problems.join('\n')).toMatch(/spec\.http\[0\]\.match\[0\]\.uri\.regex/);
    expect(hasPrefix(registry.snapshot(), '/v1')).toBe(true);
    expect(registry.rejected().map((r) => r.name)).toContain('reviews');

    await cluster.delete({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      namespace: ns,
      name: 'reviews',
    });
    await pollUntil(
      'the VirtualService gone',
      async () => (registry.snapshot().resources.some((r) => r.metadata.namespace === ns) ? undefined : true),
      { timeoutMs: 20_000 },
    );
    expect(registry.rejected().filter((r) => r.namespace === ns)).toEqual([]);
  });

  it('TokenReview authenticator: a token requested for audience meshctl proves its ServiceAccount; one for another audience or garbage proves nothing', async () => {
    await cluster.apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ratings', namespace: ns } });
    const requestToken = async (audience: string): Promise<string> => {
      const r = await cluster.rest.json<{ status: { token: string } }>({
        method: 'POST',
        path: `/api/v1/namespaces/${ns}/serviceaccounts/ratings/token`,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [audience], expirationSeconds: 600 },
        },
      });
      return r.status.token;
    };
    const authenticator = new TokenReviewAuthenticator(cluster.rest);
    expect(await authenticator.authenticate(await requestToken('meshctl'))).toEqual({
      namespace: ns,
      serviceAccount: 'ratings',
    });

    const wrongAudience = await requestToken('https://kubernetes.default.svc.cluster.local');
    await expect(authenticator.authenticate(wrongAudience)).rejects.toThrow(CredentialRejectedError);
    await expect(authenticator.authenticate(wrongAudience)).rejects.toThrow(
      /credential rejected: the API server does not accept the token for audience "meshctl"/,
    );
    await expect(authenticator.authenticate('not-a-token')).rejects.toThrow(CredentialRejectedError);
    await expect(authenticator.authenticate('')).rejects.toThrow(/no credential was presented/);
  });

  it("runs with only install's RBAC: as the control plane's ServiceAccount the informers all sync, TokenReview works, the CA loads from and stays in its Secret, Secrets of other namespaces are off limits", async () => {
    // install's ServiceAccount, ClusterRole, Role and bindings, rendered for this test's namespace. The
    // cluster-scoped pair is renamed so parallel installs of other suites do not rebind it meanwhile.
    const suffix = Math.random().toString(36).slice(2, 7);
    const rbac = (renderComponents({ ...defaultValues('unused'), namespace: ns }, 'test') as unknown as KubeObject[])
      .filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind))
      .map((o) => {
        if (o.kind === 'ClusterRole')
          return { ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` } };
        if (o.kind === 'ClusterRoleBinding')
          return {
            ...o,
            metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` },
            roleRef: { ...(o.roleRef as object), name: `meshctl-control-plane-${suffix}` },
          };
        return o;
      });
    for (const o of rbac) await cluster.apply(o);
    try {
      const token = (
        await cluster.rest.json<{ status: { token: string } }>({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/serviceaccounts/meshctl-control-plane/token`,
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
        })
      ).status.token;
      const { parse, stringify } = await import('yaml');
      const admin = parse(readFileSync(test.kubeconfigPath, 'utf8')) as {
        clusters: { name: string; cluster: Record<string, string> }[];
      };
      const dir = mkdtempSync(join(tmpdir(), 'cp-sa-'));
      const kubeconfig = join(dir, 'kubeconfig');
      const clusterEntry = admin.clusters[0]!;
      const caFile = clusterEntry.cluster['certificate-authority'];
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [
            {
              name: 'test',
              cluster: {
                server: clusterEntry.cluster.server,
                ...(caFile
                  ? { 'certificate-authority': caFile }
                  : { 'certificate-authority-data': clusterEntry.cluster['certificate-authority-data'] }),
              },
            },
          ],
          users: [{ name: 'control-plane', user: { token } }],
          contexts: [{ name: 'control-plane', context: { cluster: 'test', user: 'control-plane' } }],
          'current-context': 'control-plane',
        }),
        { mode: 0o600 },
      );
      const asControlPlane = await KubernetesCluster.connect({ kubeconfig });

      // As the daemon runs it: its namespace is the root namespace (gateway credentials are read there).
      const own = new KubernetesRegistry(asControlPlane.objects, { rootNamespace: ns });
      try {
        await own.start();
        expect(own.unsynced()).toEqual([]);
        expect(own.snapshot().services.some((s) => s.name === 'reviews' && s.namespace === ns)).toBe(true);
      } finally {
        own.stop();
      }

      const ratingsToken = (
        await cluster.rest.json<{ status: { token: string } }>({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/serviceaccounts/ratings/token`,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: { audiences: ['meshctl'], expirationSeconds: 600 },
          },
        })
      ).status.token;
      expect(await new TokenReviewAuthenticator(asControlPlane.rest).authenticate(ratingsToken)).toEqual({
        namespace: ns,
        serviceAccount: 'ratings',
      });

      // First start creates the root in the Secret; the next start (another replica) loads the same one.
      const storage = new SecretCaStorage(asControlPlane.objects, ns);
      const created = await loadOrCreateCa({ storage });
      expect(created.origin).toBe('created');
      const again = await loadOrCreateCa({ storage: new SecretCaStorage(asControlPlane.objects, ns) });
      expect(again.origin).toBe('stored');
      expect(again.rootPem).toBe(created.rootPem);
      expect(storage.describe()).toBe(`secret ${ns}/meshctl-ca`);

      // A root rotation kept in the same Secret: a second replica opening it follows the same phase and
      // bundle, and completing it stores the new root and drops the record in one update.
      const authority = new CertificateAuthority(created);
      const rotation = await RootRotation.open(authority, storage, storage);
      const added = await rotation.addNewRoot();
      expect(added.bundle).toEqual([created.rootPem, rotation.newRootPem]);
      const replica = new CertificateAuthority(await loadOrCreateCa({ storage }));
      const follower = await RootRotation.open(replica, storage, storage);
      expect(follower.status().phase).toBe('added');
      expect(follower.status().bundle).toEqual(added.bundle);
      await rotation.signWithNewRoot();
      expect(await follower.follow()).toBe(true);
      expect(follower.status().signingRootPem).toBe(added.bundle[1]);
      await rotation.complete();
      expect(await follower.follow()).toBe(true);
      expect(follower.status()).toMatchObject({ phase: 'idle', bundle: [added.bundle[1]] });
      const secret = await asControlPlane.get<KubeObject & { data: Record<string, string> }>({
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: ns,
        name: 'meshctl-ca',
      });
      expect(Object.keys(secret!.data).sort()).toEqual(['ca-cert.pem', 'ca-key.pem']);
      const after = await loadOrCreateCa({ storage });
      expect(after.rootPem).toBe(added.bundle[1]);
      expect((await RootRotation.open(new CertificateAuthority(after), storage, storage)).status()).toMatchObject({
        phase: 'idle',
        bundle: [added.bundle[1]],
      });

      // Least privilege: Secrets outside the mesh's namespace cannot be read (in it, gateway credentials are).
      const appNs = await test.createNamespace('cp-app');
      await cluster.apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secret', namespace: appNs },
        stringData: { password: 'x' },
      });
      const denied = asControlPlane.get({ apiVersion: 'v1', kind: 'Secret', namespace: appNs, name: 'app-secret' });
      await expect(denied).rejects.toThrow(KubernetesApiError);
      await expect(denied).rejects.toThrow(/\(Forbidden\)/);
    } finally {
      await cluster.delete({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        name: `meshctl-control-plane-${suffix}`,
      });
      await cluster.delete({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        name: `meshctl-control-plane-${suffix}`,
      });
    }
  });
});
