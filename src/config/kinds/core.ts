/**
 * The core Kubernetes kinds the analyzers read (and the ones `-f` input commonly carries): services,
 * namespaces, workloads with their pod templates, secrets and service accounts. They are not mesh
 * kinds: they get no CRD and only the metadata checks; their specs are read defensively.
 */
import type { ObjectMeta } from '../schema.js';

/** What a core kind means to the analyzers. */
export type CoreRole = 'service' | 'namespace' | 'workload' | 'secret' | 'serviceaccount' | 'other';

/** A core Kubernetes kind meshctl recognises. */
export interface CoreKind {
  readonly group: string;
  readonly kind: string;
  readonly role: CoreRole;
  readonly namespaced: boolean;
}

/** A core Kubernetes object, typed only as far as its metadata. */
export interface CoreObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  [key: string]: unknown;
}

/** The core kinds, by `group/kind` (group '' for the core API). */
export const CORE_KINDS: readonly CoreKind[] = [
  { group: '', kind: 'Service', role: 'service', namespaced: true },
  { group: '', kind: 'Namespace', role: 'namespace', namespaced: false },
  { group: '', kind: 'Pod', role: 'workload', namespaced: true },
  { group: '', kind: 'ReplicationController', role: 'workload', namespaced: true },
  { group: '', kind: 'Secret', role: 'secret', namespaced: true },
  { group: '', kind: 'ServiceAccount', role: 'serviceaccount', namespaced: true },
  { group: '', kind: 'ConfigMap', role: 'other', namespaced: true },
  { group: 'apps', kind: 'Deployment', role: 'workload', namespaced: true },
  { group: 'apps', kind: 'StatefulSet', role: 'workload', namespaced: true },
  { group: 'apps', kind: 'DaemonSet', role: 'workload', namespaced: true },
  { group: 'apps', kind: 'ReplicaSet', role: 'workload', namespaced: true },
  { group: 'batch', kind: 'Job', role: 'workload', namespaced: true },
  { group: 'batch', kind: 'CronJob', role: 'workload', namespaced: true },
];

/** The pod template of a workload object (the object itself for a Pod), or undefined. */
export function podTemplateOf(obj: CoreObject): { metadata: ObjectMeta; spec: Record<string, unknown> } | undefined {
  const rec = (v: unknown): Record<string, unknown> | undefined =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  if (obj.kind === 'Pod') return { metadata: obj.metadata, spec: rec(obj.spec) ?? {} };
  let spec = rec(obj.spec);
  if (obj.kind === 'CronJob') spec = rec(rec(spec?.jobTemplate)?.spec);
  const template = rec(spec?.template);
  if (!template) return undefined;
  const meta = (rec(template.metadata) ?? {}) as ObjectMeta;
  return { metadata: meta, spec: rec(template.spec) ?? {} };
}
