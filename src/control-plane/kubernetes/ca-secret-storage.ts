/**
 * The root CA kept in the Secret `meshctl-ca` of the mesh namespace (what install creates), behind the
 * CA module's storage interface: the control plane on Kubernetes loads its signing CA from there, so
 * every replica signs with the same root and a restart changes nothing. A root rotation's record is a
 * third key of the same Secret (`rotation.json`), so every replica can follow it, a restarted one
 * resumes it, and completing it (new root stored, record removed) is a single update. Needs only
 * what install's Role grants: create Secrets, get/update the one named meshctl-ca.
 */
import { CA_FILES, type CaMaterialPem, type CaStorage } from '../ca/storage.js';
import { ROTATION_FILE, type RotationRecordStore } from '../ca/rotation.js';
import type { KubeObject, KubeObjects } from '../../cluster/index.js';
import { CA_ROTATE_REQUEST_ANNOTATION, CA_SECRET } from '../../protocol/well-known.js';

/** The Secret's name (install's InstallNames.caSecret). */
export const CA_SECRET_NAME = CA_SECRET;

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/**
 * CA material in a Secret: `ca-cert.pem` and `ca-key.pem`, as the local platform's two files, plus
 * `rotation.json` while a root rotation is in progress.
 */
export class SecretCaStorage implements CaStorage, RotationRecordStore {
  constructor(
    private readonly objects: KubeObjects,
    readonly namespace: string,
    readonly name: string = CA_SECRET_NAME,
  ) {}

  describe(): string {
    return `secret ${this.namespace}/${this.name}`;
  }

  async load(): Promise<CaMaterialPem | undefined> {
    const data = (await this.read())?.data;
    const cert = data?.[CA_FILES.cert];
    const key = data?.[CA_FILES.key];
    if (!cert || !key) return undefined;
    return { certChainPem: decode(cert), keyPem: decode(key) };
  }

  async save(material: CaMaterialPem): Promise<void> {
    await this.write((data) => ({ ...data, ...encodeCa(material) }));
  }

  async loadRecord(): Promise<string | undefined> {
    const text = (await this.read())?.data?.[ROTATION_FILE];
    return text ? decode(text) : undefined;
  }

  /**
   * The id of a rotation `meshctl ca rotate` asked for (an annotation of the Secret), not yet started;
   * every write of this storage removes it, so starting the rotation (writing its record) consumes it.
   */
  async pendingRequest(): Promise<string | undefined> {
    return (await this.read())?.metadata.annotations?.[CA_ROTATE_REQUEST_ANNOTATION] || undefined;
  }

  async saveRecord(text: string): Promise<void> {
    await this.write((data) => ({ ...data, [ROTATION_FILE]: Buffer.from(text).toString('base64') }));
  }

  async finish(material: CaMaterialPem): Promise<void> {
    // One update: no replica ever reads the new root stored with the record still there, or the reverse.
    await this.write((data) => ({ ...withoutRecord(data), ...encodeCa(material) }));
  }

  async dropRecord(): Promise<void> {
    await this.write(withoutRecord);
  }

  private get ref(): { apiVersion: string; kind: string; namespace: string; name: string } {
    return { apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: this.name };
  }

  private read(): Promise<SecretObject | undefined> {
    return this.objects.get<SecretObject>(this.ref);
  }

  /** Creates or updates the Secret with `change` applied to its data (keys it does not touch are kept). */
  private async write(change: (data: Record<string, string>) => Record<string, string>): Promise<void> {
    const existing = await this.read();
    const { [CA_ROTATE_REQUEST_ANNOTATION]: _request, ...annotations } = existing?.metadata.annotations ?? {};
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' },
        // A PUT replaces the object: keep the annotations others set, minus a rotation request (consumed).
        ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
        ...(existing ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      type: 'Opaque',
      data: change({ ...(existing?.data ?? {}) }),
    };
    if (!existing) {
      await this.objects.create(body);
      return;
    }
    // An update with the read resourceVersion: a concurrent writer makes this fail (409) instead of being overwritten.
    await this.objects.rest.json({
      method: 'PUT',
      path: await this.objects.pathOf(this.ref),
      body,
      what: `updating ${this.describe()}`,
    });
  }
}

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

function encodeCa(material: CaMaterialPem): Record<string, string> {
  return {
    [CA_FILES.cert]: Buffer.from(material.certChainPem).toString('base64'),
    [CA_FILES.key]: Buffer.from(material.keyPem).toString('base64'),
  };
}

function withoutRecord(data: Record<string, string>): Record<string, string> {
  const { [ROTATION_FILE]: _dropped, ...rest } = data;
  return rest;
}
