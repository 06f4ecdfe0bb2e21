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
