/**
 * The leader's upkeep of the validating webhook configuration (`meshctl-validator`), as istiod's
 * validation controller does it: install registers it open (failurePolicy Ignore, no caBundle), so
 * mesh config can be written while the control plane is not serving yet; the leader sets the
 * caBundle to the mesh root, then checks that the API server really calls the webhook (a
 * server-side dry-run create of a VirtualService whose regex RE2 cannot compile must be denied by
 * this webhook) and only then closes it (failurePolicy Fail): from then on nothing invalid is stored
 * because the webhook was unreachable. RBAC lets the control plane patch this one object only, and
 * create (dry-run) VirtualServices only in its own namespace.
 */
import type { KubernetesCluster, KubeObject } from '../../cluster/index.js';
import { KubernetesApiError } from '../../errors.js';
import { VALIDATION_DENIAL_PREFIX } from '../webhook/validation.js';

/** The ValidatingWebhookConfiguration install creates (src/install/manifests.ts InstallNames.validator). */
export const VALIDATOR_CONFIGURATION = 'meshctl-validator';

interface ValidatingConfiguration extends KubeObject {
  webhooks?: { name: string; failurePolicy?: string; clientConfig?: { caBundle?: string } }[];
}

const REF = {
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'ValidatingWebhookConfiguration',
  name: VALIDATOR_CONFIGURATION,
} as const;

/** What the upkeep found: `closed` once every webhook fails closed, `waiting` while the API server does not call it yet. */
export type ValidatorState = 'absent' | 'closed' | 'waiting';

/** Sets the caBundle, and closes the webhook once a dry run shows the API server calls it. */
export async function ensureValidator(
  cluster: KubernetesCluster,
  rootPem: string,
  namespace: string,
  log: (line: string) => void,
): Promise<ValidatorState> {
  let cfg = await cluster.get<ValidatingConfiguration>(REF);
  if (!cfg) return 'absent';
  const bundle = Buffer.from(rootPem).toString('base64');
  const bundleOps = (cfg.webhooks ?? []).flatMap((w, i) =>
    w.clientConfig?.caBundle === bundle
      ? []
      : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: bundle }],
  );
  if (bundleOps.length) {
    await patch(cluster, cfg, bundleOps, 'setting the caBundle');
    log(`webhook ${VALIDATOR_CONFIGURATION}: caBundle set on ${bundleOps.length} webhook(s)`);
    cfg = (await cluster.get<ValidatingConfiguration>(REF)) ?? cfg;
  }
  const open = (cfg.webhooks ?? []).flatMap((w, i) => (w.failurePolicy === 'Fail' ? [] : [i]));
  if (!open.length) return 'closed';
  const refusal = await dryRunInvalid(cluster, namespace);
  if (!refusal) return 'waiting';
  await patch(
    cluster,
    cfg,
    open.map((i) => ({ op: 'replace', path: `/webhooks/${i}/failurePolicy`, value: 'Fail' })),
    'closing it (failurePolicy Fail)',
  );
  log(`webhook ${VALIDATOR_CONFIGURATION}: the API server calls it (${refusal}); failurePolicy set to Fail`);
  return 'closed';
}

/** A dry-run create of an object only this webhook refuses; the refusal's message when it came from it. */
async function dryRunInvalid(cluster: KubernetesCluster, namespace: string): Promise<string | undefined> {
  const probe = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'meshctl-validation-probe', namespace },
    // Valid for the CRD's OpenAPI schema (it cannot check RE2), invalid for meshctl: lookbehind.
    spec: {
      hosts: ['validation-probe.invalid'],
      http: [
        { match: [{ uri: { regex: '(?<=x)y' } }], route: [{ destination: { host: 'validation-probe.invalid' } }] },
      ],
    },
  };
  try {
    await cluster.rest.json({
      method: 'POST',
      path: `/apis/networking.istio.io/v1/namespaces/${encodeURIComponent(namespace)}/virtualservices?dryRun=All`,
      body: probe,
      what: 'dry-run create of an invalid VirtualService (is the validating webhook called?)',
    });
    return undefined;
  } catch (err) {
    if (err instanceof KubernetesApiError && err.message.includes(VALIDATION_DENIAL_PREFIX))
      return 'it turned away a dry run of an invalid object';
    return undefined;
  }
}

async function patch(
  cluster: KubernetesCluster,
  cfg: ValidatingConfiguration,
  ops: object[],
  what: string,
): Promise<void> {
  // The test op makes a concurrent edit of the list fail instead of patching the wrong entry.
  await cluster.rest.json({
    method: 'PATCH',
    path: await cluster.objects.pathOf(REF),
    body: [{ op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata.resourceVersion }, ...ops],
    contentType: 'application/json-patch+json',
    what: `${what} of validatingwebhookconfiguration ${VALIDATOR_CONFIGURATION}`,
  });
}
