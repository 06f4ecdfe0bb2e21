/**
 * Root CA rotation across two control plane replicas, on the real API server of the test cluster
 * (issue 17): the CLI's request annotation on the CA Secret starts it; each replica follows the
 * Secret and reports its own proxies and the certificates it issued in the ConfigMap
 * meshctl-ca-rotation; the driver moves on only when every running replica applies the phase and
 * the certificates issued over all replicas cover every connected proxy (a proxy may renew at the
 * replica that does not hold its config stream); a replica restarted mid-phase (its ledger lost)
 * makes the bundle be published again (round 2) so every proxy renews again; the Lease can move
 * mid-rotation and the new holder resumes with the steps so far; the old root leaves what is published only once no replica serves it.
 *
 * The replicas are real pods (named and labelled as the control plane's, so the driver lists them);
 * their rotation halves run in this process against the API server, with real keys and certificates.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubernetesCluster, type KubeObject } from '../../../src/cluster/kubernetes/index.js';
import { KubernetesCaRotationClient } from '../../../src/cluster/kubernetes/ca-rotation.js';
import { SecretCaStorage } from '../../../src/control-plane/kubernetes/ca-secret-storage.js';
import { KubernetesCaRotation, unrenewed } from '../../../src/control-plane/kubernetes/ca-rotation.js';
import { CertificateAuthority, loadOrCreateCa } from '../../../src/control-plane/ca/index.js';
import { RootRotation } from '../../../src/control-plane/ca/rotation.js';
import { EC_P256, generateP256, loadX509 } from '../../../src/protocol/pki/x509.js';
import { CA_ROTATE_REQUEST_ANNOTATION } from '../../../src/protocol/well-known.js';
import { describeRequiring, isRoot } from '../../support/requirements.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from '../../test-cluster/support.js';

async function csr(): Promise<string> {
  const x509 = await loadX509();
  const keys = await generateP256(true);
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ keys: keys as never, signingAlgorithm: EC_P256 });
  return req.toString('pem');
}

/** One replica: its CA, its rotation half, the proxies connected to it, what it re-issued and published. */
interface Replica {
  pod: string;
  authority: CertificateAuthority;
  rotation: KubernetesCaRotation;
  proxies: { spiffeId: string }[];
  reissued: number;
  published: { configMap: string; caBundle: string }[];
}

describeRequiring([isRoot, kubernetesTestBinaries], 'root CA rotation across control plane replicas', () => {
  let test: TestCluster;
  let cluster: KubernetesCluster;
  let ns: string;
  const pods = ['meshctl-control-plane-a', 'meshctl-control-plane-b'];

  const replica = async (pod: string): Promise<Replica> => {
    const storage = new SecretCaStorage(cluster.objects, ns);
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage }));
    const rotation = await RootRotation.open(authority, storage, storage);
    const r: Replica = { pod, authority, proxies: [], reissued: 0, published: [], rotation: undefined as never };
    r.rotation = new KubernetesCaRotation({
      cluster,
      namespace: ns,
      podName: pod,
      authority,
      rotation,
      storage,
      views: () => r.proxies,
      reissue: async () => {
        r.reissued++;
      },
      publish: async (configMap, caBundle) => {
        r.published.push({ configMap, caBundle });
      },
      log: () => undefined,
    });
    return r;
  };
  /** A proxy of `sa` renews at `at` (whichever replica holds its stream). */
  const renew = async (at: Replica, sa: string): Promise<X509Certificate> => {
    const issued = await at.authority.sign(await csr(), { namespace: ns, serviceAccount: sa });
    return new X509Certificate(issued.certChain[0]!);
  };
  const secret = () =>
    cluster.get<KubeObject & { data: Record<string, string> }>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: ns,
      name: 'meshctl-ca',
    });

  beforeAll(async () => {
    test = await getTestCluster();
    cluster = await KubernetesCluster.connect({ kubeconfig: test.kubeconfigPath });
    ns = await test.createNamespace('ca-rot');
    for (const name of pods)
      await cluster.apply({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns, labels: { app: 'meshctl-control-plane' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{ name: 'echo', image: 'meshctl-test/echo:1', env: [{ name: 'PORT', value: '8080' }] }],
        },
      } as KubeObject);
    await test.waitForReadyPods(ns, 'app=meshctl-control-plane', 2, 120_000);
  }, 180_000);
  afterAll(async () => {
    if (ns) await test?.deleteNamespace(ns);
  });

  it('two replicas rotate the root together: request, both roots, a replica restart, new signer, the Lease moving, old root dropped', async () => {
    const a = await replica(pods[0]!);
    let b = await replica(pods[1]!);
    const oldRoot = a.authority.rootPem;
    expect(b.authority.rootPem).toBe(oldRoot);
    // A user's annotation on the Secret survives the rotation's writes; the request is consumed.
    await cluster.rest.json({
      method: 'PATCH',
      path: `/api/v1/namespaces/${ns}/secrets/meshctl-ca`,
      body: { metadata: { annotations: { 'example.com/owner': 'platform-team' } } },
      contentType: 'application/merge-patch+json',
    });
    // Proxy "productpage" holds its config stream on a, "reviews" on b.
    a.proxies.push({ spiffeId: `spiffe://cluster.local/ns/${ns}/sa/productpage` });
    b.proxies.push({ spiffeId: `spiffe://cluster.local/ns/${ns}/sa/reviews` });
    const both = async (): Promise<void> => {
      await a.rotation.follow();
      await b.rotation.follow();
    };

    // Nothing asked: the driver does nothing.
    await both();
    await a.rotation.drive();
    expect(a.published).toEqual([]);

    const cli = new KubernetesCaRotationClient(cluster, ns);
    const asked = await cli.start();
    expect(asked).toMatchObject({ running: true, steps: [], waitingFor: ['the control plane to start the rotation'] });
    expect((await secret())!.metadata.annotations?.[CA_ROTATE_REQUEST_ANNOTATION]).toBeTruthy();

    // a (the Lease holder) starts it: both roots in its bundle, the old one still signs; b has not followed yet.
    await a.rotation.drive();
    const started = await secret();
    expect(started!.metadata.annotations?.[CA_ROTATE_REQUEST_ANNOTATION]).toBeUndefined();
    expect(started!.metadata.annotations?.['example.com/owner']).toBe('platform-team');
    expect(Object.keys(started!.data).sort()).toEqual(['ca-cert.pem', 'ca-key.pem', 'rotation.json']);
    const newRoot = a.authority.trustBundlePem.replace(oldRoot, '');
    expect(newRoot).toContain('BEGIN CERTIFICATE');
    let seen = await cli.progress();
    expect(seen.running).toBe(true);
    expect(seen.steps[0]).toMatch(/^1\/3 new root added to the trust bundle/);
    expect(seen.waitingFor).toEqual([`control plane replica ${b.pod} (applying phase added)`]);
    expect(a.published).toEqual([]);

    // b follows the Secret: the same bundle, a fresh ledger, its serving certificates re-issued.
    await both();
    expect(b.authority.trustBundlePem).toBe(a.authority.trustBundlePem);
    expect(b.reissued).toBe(1);
    await a.rotation.drive();
    expect(a.published.at(-1)!.configMap).toBe(
      `# meshctl trust bundle (root rotation phase: added)\n${oldRoot}${newRoot}`,
    );
    expect(a.published.at(-1)!.caBundle).toBe(oldRoot + newRoot);
    seen = await cli.progress();
    expect(seen.waitingFor).toEqual([
      `spiffe://cluster.local/ns/${ns}/sa/productpage`,
      `spiffe://cluster.local/ns/${ns}/sa/reviews`,
    ]);

    // Each proxy renews at the replica that does not hold its stream: only the sum over replicas counts.
    expect((await renew(b, 'productpage')).issuer).toBe(new X509Certificate(oldRoot).subject);
    await both();
    await a.rotation.drive();
    expect((await cli.progress()).waitingFor).toEqual([`spiffe://cluster.local/ns/${ns}/sa/reviews`]);

    // b restarts: it resumes at phase added, but the renewal it counted is lost with its ledger, so the
    // bundle is published again (its header names round 2) and every proxy renews again.
    b = await replica(pods[1]!);
    b.proxies.push({ spiffeId: `spiffe://cluster.local/ns/${ns}/sa/reviews` });
    await both();
    expect(b.authority.trustBundlePem).toBe(oldRoot + newRoot);
    await a.rotation.drive();
    expect(a.published.at(-1)!.configMap).toBe(
      `# meshctl trust bundle (root rotation phase: added, round 2)\n${oldRoot}${newRoot}`,
    );
    expect((await cli.progress()).waitingFor).toHaveLength(2);
    await renew(b, 'productpage');
    await renew(a, 'reviews');
    await both();
    await a.rotation.drive();
    seen = await cli.progress();
    expect(seen.steps.slice(1)).toEqual([
      'a control plane replica restarted in phase added: every proxy renews again (round 2)',
      'trust bundle (old + new root) delivered to every proxy',
      '2/3 the CA signs with the new root',
    ]);
    expect(a.authority.rootPem).toBe(newRoot);

    // The Lease moves to b: it resumes at phase signing with the steps printed so far.
    const printed = seen.steps;
    const { startedAt } = JSON.parse(Buffer.from(started!.data['rotation.json']!, 'base64').toString()) as {
      startedAt: string;
    };
    await both();
    expect(b.authority.rootPem).toBe(newRoot);
    await b.rotation.drive();
    seen = await cli.progress();
    expect(seen.steps).toEqual([...printed, `${b.pod} resumes the rotation started ${startedAt} at phase signing`]);
    expect(b.published.at(-1)!.configMap).toContain('phase: signing');
    expect(seen.waitingFor).toHaveLength(2);

    // Both proxies renew, now from the new root; then the new root is stored alone.
    const leafA = await renew(a, 'productpage');
    const leafB = await renew(b, 'reviews');
    for (const leaf of [leafA, leafB]) expect(leaf.verify(new X509Certificate(newRoot).publicKey)).toBe(true);
    await both();
    await b.rotation.drive();
    expect(Object.keys((await secret())!.data).sort()).toEqual(['ca-cert.pem', 'ca-key.pem']);
    expect((await cli.progress()).steps.at(-1)).toBe('the CA stores the new root alone');
    expect((await cli.progress()).running).toBe(true);

    // The old root leaves what is published only once a has stopped serving it too.
    await b.rotation.drive();
    expect((await cli.progress()).waitingFor).toEqual([`control plane replica ${a.pod} (dropping the old root)`]);
    expect(b.published.at(-1)!.configMap).toContain('phase: signing');
    await both();
    expect(a.authority.trustBundlePem).toBe(newRoot);
    await b.rotation.drive();
    expect(b.published.at(-1)).toEqual({ configMap: newRoot, caBundle: newRoot });
    const done = await cli.progress();
    expect(done).toMatchObject({ running: false, waitingFor: [], status: { phase: 'idle', bundle: [newRoot] } });
    expect(done.steps.at(-1)).toBe('3/3 old root removed from the trust bundle; rotation complete');
    expect(b.rotation.bundleToPublish()).toEqual({ configMap: newRoot, caBundle: newRoot });

    // Running `ca rotate` again starts a new rotation (nothing is in progress), not a replay of this one.
    const again = await new KubernetesCaRotationClient(cluster, ns).start();
    expect(again.steps).toEqual([]);
    expect(again.running).toBe(true);
  }, 120_000);

  it('unrenewed() sums proxies and certificates over replicas, per SPIFFE ID', () => {
    const r = (connected: Record<string, number>, issued: Record<string, number>) => ({
      phase: 'added' as const,
      connected,
      issued,
    });
    expect(unrenewed([r({ x: 2 }, { y: 1 }), r({ y: 1 }, { x: 1 })])).toEqual(['x']);
    expect(unrenewed([r({ x: 2 }, { y: 1 }), r({ y: 1 }, { x: 2 })])).toEqual([]);
    expect(unrenewed([r({}, {})])).toEqual([]);
  });
});
