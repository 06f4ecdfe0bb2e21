/**
 * The root CA Secret that install creates: `meshctl-ca` in the mesh namespace, holding the same two
 * PEM files as the local platform's CA directory. Created only when absent (a generated ECDSA P-256
 * root, or the one given with `--set ca.cert=FILE --set ca.key=FILE`), never regenerated or replaced
 * by a re-install: workloads' certificates chain to it, and GitOps re-applies must not rotate it.
 */
import { createHash } from 'node:crypto';
import { CaMaterialInvalidError, KubernetesApiError } from '../../errors.js';
import { CA_FILES } from '../../protocol/well-known.js';
import type { CaMaterial as CaMaterialPem, RootCaSource } from '../index.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import { InstallNames, MANAGED_BY } from '../../install/manifests.js';

/** What happened to the CA Secret. */
export type CaSecretOutcome = 'created' | 'created-from-supplied' | 'kept';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

function fingerprint(certPem: string): string {
  return createHash('sha256').update(certPem.trim()).digest('hex').slice(0, 16);
}

/** The Secret object for CA material. */
export function caSecretObject(namespace: string, pem: CaMaterialPem): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: InstallNames.caSecret, namespace, labels: { ...MANAGED_BY } },
    type: 'Opaque',
    data: {
      [CA_FILES.cert]: Buffer.from(pem.certChainPem).toString('base64'),
      [CA_FILES.key]: Buffer.from(pem.keyPem).toString('base64'),
    },
  };
}

/** Reads CA material out of the Secret; undefined when the Secret is absent. */
export function caMaterialFromSecret(secret: SecretObject): CaMaterialPem | undefined {
  const cert = secret.data?.[CA_FILES.cert];
  const key = secret.data?.[CA_FILES.key];
  if (!cert || !key) return undefined;
  return {
    certChainPem: Buffer.from(cert, 'base64').toString('utf8'),
    keyPem: Buffer.from(key, 'base64').toString('utf8'),
  };
}

/**
 * Creates the CA Secret unless it exists. A supplied CA that differs from the stored one is an error,
 * not a silent rotation. The root is made (or the supplied one read and checked) by the caller: the
 * CA code is the control plane's, above the platform in the house.
 */
export async function ensureCaSecret(
  cluster: KubernetesCluster,
  namespace: string,
  ca: RootCaSource,
): Promise<{ outcome: CaSecretOutcome; rootPem: string }> {
  const ref = { apiVersion: 'v1', kind: 'Secret', namespace, name: InstallNames.caSecret };
  const suppliedPem = ca.supplied;
  const existing = await cluster.get<SecretObject>(ref);
  if (existing) {
    const stored = caMaterialFromSecret(existing);
    if (!stored) {
      throw new CaMaterialInvalidError(
        `secret ${namespace}/${InstallNames.caSecret}`,
        `exists but lacks ${CA_FILES.cert} or ${CA_FILES.key}`,
        `restore it, or delete it to let install create a new root: kubectl -n ${namespace} delete secret ${InstallNames.caSecret}`,
      );
    }
    if (suppliedPem && fingerprint(suppliedPem.certChainPem) !== fingerprint(stored.certChainPem)) {
      throw new CaMaterialInvalidError(
        `secret ${namespace}/${InstallNames.caSecret}`,
        'already holds a different root CA than the one given with --set ca.cert',
        `install never replaces a root CA; to rotate it, delete the secret first (kubectl -n ${namespace} delete secret ${InstallNames.caSecret}) and every proxy then needs a new certificate`,
      );
    }
    return { outcome: 'kept', rootPem: rootOf(stored.certChainPem) };
  }
  const pem = suppliedPem ?? (await ca.generate());
  try {
    await cluster.objects.create(caSecretObject(namespace, pem));
  } catch (err) {
    // Another install (or the control plane) created it meanwhile: theirs stands.
    if (err instanceof KubernetesApiError && err.status === 409) return ensureCaSecret(cluster, namespace, ca);
    throw err;
  }
  return { outcome: suppliedPem ? 'created-from-supplied' : 'created', rootPem: rootOf(pem.certChainPem) };
}

function rootOf(chainPem: string): string {
  const blocks = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return (blocks[blocks.length - 1] ?? '') + '\n';
}
