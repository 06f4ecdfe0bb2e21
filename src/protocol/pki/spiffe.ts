/**
 * SPIFFE workload identities: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, as Istio
 * writes them, so policies (AuthorizationPolicy principals) read the same in both meshes.
 */
import { TRUST_DOMAIN } from '../well-known.js';

/** A workload's identity: where it runs and as which service account. */
export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// DNS-1123 labels: what Kubernetes allows for namespace and service account names.
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Whether `value` can be a namespace name. */
export function isValidNamespace(value: string): boolean {
  return NAME.test(value);
}

/** Whether `value` can be a service account name. */
export function isValidServiceAccount(value: string): boolean {
  return SA_NAME.test(value);
}

/** The SPIFFE URI of an identity. */
export function spiffeUri(id: { namespace: string; serviceAccount: string; trustDomain?: string }): string {
  return `spiffe://${id.trustDomain ?? TRUST_DOMAIN}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parses a mesh SPIFFE URI; undefined when it is not of the `/ns/<ns>/sa/<sa>` form. */
export function parseSpiffeUri(uri: string): WorkloadIdentity | undefined {
  const m = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(uri);
  if (!m || !isValidNamespace(m[2]!) || !isValidServiceAccount(m[3]!)) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}
