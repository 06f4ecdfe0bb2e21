/**
 * The leader's trust-publishing work: the mesh root in the injection webhook's caBundle, and the
 * trust bundle as ConfigMap meshctl-ca-root in every namespace (what injected pods mount).
 */
import { CA_ROOT_CONFIGMAP } from '../../protocol/well-known.js';
import type { KubernetesCluster, KubeObject } from '../../cluster/index.js';

/** Names the control plane shares with install (src/install/manifests.ts InstallNames). */
const WEBHOOK_CONFIGURATION = 'meshctl-sidecar-injector';
const MANAGED = { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' };
/** Namespaces the root CA is not published into (nothing there is injected). */
const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

interface WebhookConfiguration extends KubeObject {
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[];
}

/** Sets every webhook's caBundle to the mesh's trust bundle (a JSON patch of that one object: RBAC allows no other). */
export async function ensureCaBundle(
  cluster: KubernetesCluster,
  rootPem: string,
  log: (l: string) => void,
): Promise<void> {
  const ref = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    name: WEBHOOK_CONFIGURATION,
  };
  const cfg = await cluster.get<WebhookConfiguration>(ref);
  if (!cfg) return;
  const bundle = Buffer.from(rootPem).toString('base64');
  const ops = (cfg.webhooks ?? []).flatMap((w, i) =>
    w.clientConfig?.caBundle === bundle
      ? []
      : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }],
  );
  if (!ops.length) return;
  // The test op makes a concurrent edit of the list fail instead of patching the wrong entry.
  const patch = [{ op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata.resourceVersion }, ...ops];
  await cluster.rest.json({
    method: 'PATCH',
    path: await cluster.objects.pathOf(ref),
    body: patch,
    contentType: 'application/json-patch+json',
    what: `setting the caBundle of mutatingwebhookconfiguration ${WEBHOOK_CONFIGURATION}`,
  });
  log(`webhook ${WEBHOOK_CONFIGURATION}: caBundle set on ${ops.length} webhook(s)`);
}

/**
 * Publishes the trust bundle (the root CA; during a rotation both roots under a header naming the
 * phase) as ConfigMap meshctl-ca-root into every namespace (the injected mesh-ca-root volume).
 */
export async function publishRoot(
  cluster: KubernetesCluster,
  rootPem: string,
  log: (l: string) => void,
): Promise<void> {
  const namespaces = await cluster.list<KubeObject & { status?: { phase?: string } }>({
    apiVersion: 'v1',
    kind: 'Namespace',
  });
  const existing = await cluster.list<KubeObject & { data?: Record<string, string> }>(
    { apiVersion: 'v1', kind: 'ConfigMap' },
    { fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}` },
  );
  const current = new Set(
    existing.items.filter((c) => c.data?.['root-cert.pem'] === rootPem).map((c) => c.metadata.namespace),
  );
  for (const n of namespaces.items) {
    const name = n.metadata.name;
    if (SYSTEM_NAMESPACES.has(name) || n.status?.phase === 'Terminating' || current.has(name)) continue;
    try {
      await cluster.apply(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: CA_ROOT_CONFIGMAP, namespace: name, labels: { ...MANAGED } },
          data: { 'root-cert.pem': rootPem },
        } as KubeObject,
        { force: true },
      );
      log(`published configmap ${name}/${CA_ROOT_CONFIGMAP}`);
    } catch (err) {
      // A namespace being deleted refuses new objects; the next round skips it.
      log(`publishing ${name}/${CA_ROOT_CONFIGMAP} failed: ${(err as Error).message}`);
    }
  }
}
