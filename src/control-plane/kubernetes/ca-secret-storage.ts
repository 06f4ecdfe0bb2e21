/**
 * The root CA kept in the Secret `meshctl-ca` of the mesh namespace (what install creates), behind the
 * CA module's storage interface: the control plane on Kubernetes loads its signing CA from there, so
 * every replica signs with the same root and a restart changes nothing. Needs only what install's Role
 * grants: create Secrets, get/update the one named meshctl-ca.
 */
import { CA_FILES, type CaMaterialPem, type CaStorage } from '../ca/storage.js';
import type { KubeObject, KubeObjects } from '../../cluster/index.js';

/** The Secret's name (install's InstallNames.caSecret). */
export const CA_SECRET_NAME = 'meshctl-ca';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/** CA material in a Secret: `ca-cert.pem` and `ca-key.pem`, as the local platform's two files. */
export class SecretCaStorage implements CaStorage {
  constructor(
    private readonly objects: KubeObjects,
    readonly namespace: string,
    readonly name: string = CA_SECRET_NAME,
  ) {}

  describe(): string {
    return `secret ${this.namespace}/${this.name}`;
  }

  async load(): Promise<CaMaterialPem | undefined> {
    const s = await this.objects.get<SecretObject>({
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: this.namespace,
      name: this.name,
    });
    const cert = s?.data?.[CA_FILES.cert];
    const key = s?.data?.[CA_FILES.key];
    if (!cert || !key) return undefined;
    return {
      certChainPem: Buffer.from(cert, 'base64').toString('utf8'),
      keyPem: Buffer.from(key, 'base64').toString('utf8'),
    };
  }

  async save(material: CaMaterialPem): Promise<void> {
    const ref = { apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: this.name };
    const existing = await this.objects.get<SecretObject>(ref);
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' },
        ...(existing ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      type: 'Opaque',
      data: {
        [CA_FILES.cert]: Buffer.from(material.certChainPem).toString('base64'),
        [CA_FILES.key]: Buffer.from(material.keyPem).toString('base64'),
      },
    };
    if (!existing) {
      await this.objects.create(body);
      return;
    }
    // An update with the read resourceVersion: a concurrent writer makes this fail (409) instead of being overwritten.
    await this.objects.rest.json({
      method: 'PUT',
      path: await this.objects.pathOf(ref),
      body,
      what: `updating ${this.describe()}`,
    });
  }
}
