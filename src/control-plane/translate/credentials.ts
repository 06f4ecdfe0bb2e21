/**
 * TLS credentials from Secrets, read as Istio reads them for `credentialName`: type
 * kubernetes.io/tls (tls.crt, tls.key, optionally ca.crt) or generic (tls.crt/tls.key/ca.crt, or
 * cert/key/cacert), in `data` (base64) or `stringData`. A client CA may also live in a separate
 * `<name>-cacert` Secret (Istio's convention). Only the proxies that use a credential receive it.
 */
import type { MeshSnapshot } from './model.js';

/** PEM material of one credential. */
export interface TlsCredential {
  /** `namespace/name` of the Secret, for notes and proxy-config. */
  readonly source: string;
  readonly certChain?: string;
  readonly privateKey?: string;
  readonly caCertificates?: string;
}

interface SecretLike {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

function secret(snapshot: MeshSnapshot, namespace: string, name: string): SecretLike | undefined {
  return (snapshot.resources as unknown as SecretLike[]).find(
    (r) => r.kind === 'Secret' && r.metadata.name === name && (r.metadata.namespace ?? 'default') === namespace,
  );
}

function field(s: SecretLike, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const text = s.stringData?.[k];
    if (typeof text === 'string' && text) return text;
    const b64 = s.data?.[k];
    if (typeof b64 === 'string' && b64) return Buffer.from(b64, 'base64').toString('utf8');
  }
  return undefined;
}

/** The credential `name` in `namespace`, or undefined when no such Secret exists. */
export function credentialFor(snapshot: MeshSnapshot, namespace: string, name: string): TlsCredential | undefined {
  const s = secret(snapshot, namespace, name);
  if (!s) return undefined;
  const separateCa = secret(snapshot, namespace, `${name}-cacert`);
  const ca = field(s, 'ca.crt', 'cacert') ?? (separateCa ? field(separateCa, 'ca.crt', 'cacert') : undefined);
  const certChain = field(s, 'tls.crt', 'cert');
  const privateKey = field(s, 'tls.key', 'key');
  return {
    source: `${namespace}/${name}`,
    ...(certChain ? { certChain } : {}),
    ...(privateKey ? { privateKey } : {}),
    ...(ca ? { caCertificates: ca } : {}),
  };
}
