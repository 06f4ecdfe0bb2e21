/** The workload kinds inject reads, where each keeps its pod template, and whether a template opts out of injection. */
import { Annotations } from '../protocol/well-known.js';

/** A JSON object as found in manifests. */
export type JsonObject = Record<string, unknown>;

/** Where each workload kind keeps its pod template: the path from the object (for a Pod: the object itself). */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** The kinds inject transforms. */
export const WORKLOAD_KINDS = Object.keys(TEMPLATE_PATHS);

/** Whether a value is a plain JSON object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where the object keeps its pod template (`[]` for a Pod), or undefined for a kind that has none. */
export function templatePathOf(obj: JsonObject): readonly string[] | undefined {
  // Own keys only: `kind: toString` must not find Object.prototype's.
  return typeof obj.kind === 'string' && Object.hasOwn(TEMPLATE_PATHS, obj.kind) ? TEMPLATE_PATHS[obj.kind] : undefined;
}

/** The pod template of a workload, or undefined when the object has none (or a malformed one). */
export function podTemplateOf(obj: JsonObject): JsonObject | undefined {
  const path = templatePathOf(obj);
  if (!path) return undefined;
  let cur: unknown = obj;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return isObject(cur) && isObject(cur.spec) ? cur : undefined;
}

const DISABLED_VALUES = new Set(['disabled', 'false']);
const ISTIO_INJECT = 'sidecar.istio.io/inject';

/**
 * Whether a pod template's metadata opts out of injection: `meshctl.dev/inject: disabled` (or `false`), or
 * Istio's `sidecar.istio.io/inject: "false"` as a label or an annotation.
 */
export function injectionDisabled(meta: unknown): boolean {
  const get = (v: unknown, k: string): unknown => (isObject(v) && Object.hasOwn(v, k) ? v[k] : undefined);
  const own = get(get(meta, 'annotations'), Annotations.inject);
  return (
    (typeof own === 'string' && DISABLED_VALUES.has(own)) ||
    get(get(meta, 'labels'), ISTIO_INJECT) === 'false' ||
    get(get(meta, 'annotations'), ISTIO_INJECT) === 'false'
  );
}

/** How reports name an object: `deployment "web"`, as linkerd and kubectl do. */
export function describeObject(obj: JsonObject): string {
  const kind = typeof obj.kind === 'string' ? obj.kind.toLowerCase() : 'object';
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name =
    typeof meta.name === 'string'
      ? meta.name
      : typeof meta.generateName === 'string'
        ? `${meta.generateName}*`
        : '<unnamed>';
  return `${kind} "${name}"`;
}
