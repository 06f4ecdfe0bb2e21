/**
 * What every rendered install object is, and the labels on all of them: the floor that the control
 * plane's manifests (manifests.ts) and the gateways' (gateways.ts) both build on.
 */

/** A Kubernetes object as applied. */
export type KubeObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/** The label on everything install creates (so uninstall and check can find it). */
export const MANAGED_BY = {
  'app.kubernetes.io/managed-by': 'meshctl',
  'app.kubernetes.io/part-of': 'meshctl',
} as const;

/** The Kubernetes version from which native sidecars (restartPolicy: Always init containers) are on by default. */
export const NATIVE_SIDECAR_MIN = { major: 1, minor: 29 } as const;

/** Who owns an existing object when it is not meshctl (labels, then field managers); undefined when meshctl does. */
export function foreignOwner(obj: {
  metadata: { labels?: Record<string, string>; managedFields?: unknown };
}): string | undefined {
  const labels = obj.metadata.labels ?? {};
  if (labels['app.kubernetes.io/part-of'] === 'meshctl' || labels['app.kubernetes.io/managed-by'] === 'meshctl')
    return undefined;
  const managers = ((obj.metadata.managedFields as { manager?: string }[] | undefined) ?? []).map(
    (m) => m.manager ?? '',
  );
  if (managers.includes('meshctl')) return undefined;
  return (
    labels['app.kubernetes.io/managed-by'] ??
    labels['app.kubernetes.io/part-of'] ??
    labels.release ??
    (managers.filter(Boolean).join(', ') || 'another installation')
  );
}
