/**
 * The `meshctl.dev/status` annotation: a record of exactly what inject added or changed, so that
 * re-injection (including of a manifest injected by an older meshctl) and uninject are exact.
 * Its shape is versioned (`v`) and only ever extended: old records must stay readable.
 */
import { isObject, type JsonObject } from './workloads.js';

/** What one injection did to a pod template. */
export interface InjectStatus {
  v: 1;
  /** meshctl version that injected. */
  version: string;
  proxyImage: string;
  native: boolean;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  /** Annotation and label keys inject added (they did not exist before). */
  annotations: string[];
  labels: string[];
  /** Fields inject created because they were absent: removed again by uninject. */
  created: string[];
  /** `<container>/<probeKind>` -> the original probe handler. */
  probes: Record<string, JsonObject>;
  /**
   * App containers inject gave the preStop hook that holds them until the pod's peers stopped
   * sending (`lifecycle` too when it is listed in `createdLifecycle`). Absent in older records.
   */
  preStops?: string[];
  /** Of `preStops`, the containers that had no `lifecycle` at all. */
  createdLifecycle?: string[];
}

const stringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Parses a status annotation; returns undefined when it is not a record this meshctl can undo. */
export function parseStatus(text: string): InjectStatus | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v) || v.v !== 1) return undefined;
  const ok =
    typeof v.version === 'string' &&
    typeof v.proxyImage === 'string' &&
    typeof v.native === 'boolean' &&
    stringArray(v.initContainers) &&
    stringArray(v.containers) &&
    stringArray(v.volumes) &&
    stringArray(v.annotations) &&
    stringArray(v.labels) &&
    stringArray(v.created) &&
    isObject(v.probes) &&
    (v.preStops === undefined || stringArray(v.preStops)) &&
    (v.createdLifecycle === undefined || stringArray(v.createdLifecycle));
  return ok ? (v as unknown as InjectStatus) : undefined;
}

/** Serialises a status compactly (it lives in an annotation). */
export function formatStatus(s: InjectStatus): string {
  return JSON.stringify(s);
}
