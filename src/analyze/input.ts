/**
 * What the analyzers look at: the resources (validated), plus an inventory of what exists around
 * them (services, workloads, namespaces, secrets). Today the input comes from `-f`; a platform
 * backend (cluster or local mesh) feeds a PlatformSnapshot, and the `-f` resources overlay it, so
 * analysis answers "what happens if I apply these files". An inventory part left undefined is
 * unknown, and the analyzers that need it stay silent rather than guess.
 */
import {
  manifestObjects,
  parseDocuments,
  podTemplateOf,
  serviceExportTo,
  splitApiVersion,
  validateResource,
  type CoreObject,
  type FieldPath,
  type MeshResource,
  type ResourceInput,
  type SourceText,
  type ValidationResult,
} from '../config/index.js';
import { InputParseError, type SourcePosition } from '../errors.js';
import { MESH_NAMESPACE } from '../protocol/well-known.js';

/** A Kubernetes Service: the hosts of the registry. */
export interface ServiceInfo {
  readonly name: string;
  readonly namespace: string;
  /** Pod selector; undefined for a Service without selector (manual endpoints). */
  readonly selector?: Readonly<Record<string, string>>;
  /** Its ports; undefined when unknown. */
  readonly ports?: readonly { readonly port: number; readonly name?: string; readonly targetPort?: number }[];
  /** Namespaces that see it (`networking.istio.io/exportTo` annotation); undefined: all. */
  readonly exportTo?: readonly string[];
}

/** A workload (pod, or the pod template of a Deployment and the like). */
export interface WorkloadInfo {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  /** Labels of its pods. */
  readonly labels: Readonly<Record<string, string>>;
  /** Annotations of its pods (injection opt-in/out, injection status). */
  readonly annotations: Readonly<Record<string, string>>;
  readonly serviceAccount?: string;
  /**
   * A platform's running pod with a sidecar: the fields that make an application container run as the sidecar's
   * UID (src/inject/proxy-uid.ts). Workloads in files are checked as the resources they are.
   */
  readonly proxyUid?: readonly {
    readonly path: readonly (string | number)[];
    readonly containers: readonly string[];
  }[];
}

/** A namespace and its labels (injection is switched on by label). */
export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A Secret, by name only: the analyzers never read secret data. */
export interface SecretInfo {
  readonly name: string;
  readonly namespace: string;
}

/** What exists besides the mesh config. Undefined parts are unknown. */
export interface Inventory {
  services?: ServiceInfo[];
  workloads?: WorkloadInfo[];
  namespaces?: NamespaceInfo[];
  secrets?: SecretInfo[];
}

/** What a platform backend feeds: the config applied there, and its inventory. */
export interface PlatformSnapshot {
  /** Applied objects (mesh kinds; core objects may be included too). */
  readonly objects: readonly unknown[];
  readonly inventory: Inventory;
  /** A name for findings' origin, e.g. `cluster kind-dev` or `local mesh`. */
  readonly origin: string;
}

/** One object under analysis, validated, with where it came from. */
export interface AnalyzedResource {
  readonly validation: ValidationResult;
  /** The typed mesh resource when it validated without error. */
  readonly mesh?: MeshResource;
  /** The core Kubernetes object when it is one. */
  readonly core?: CoreObject;
  /** The object as read, before validation (kinds meshctl does not type, e.g. Gateway API Gateways, are read from it). */
  readonly object: unknown;
  /** Where it came from: a file, or the platform. */
  readonly source: 'file' | 'platform';
  /** Position of a field of this object in its file (the object start when the field is absent). */
  locate(path: FieldPath): SourcePosition | undefined;
}

/** A file that could not be parsed at all. */
export interface ParseFailure {
  readonly position: SourcePosition;
  readonly message: string;
}

/** Everything the analyzers receive. */
export interface AnalysisInput {
  readonly resources: readonly AnalyzedResource[];
  readonly inventory: Inventory;
  readonly parseFailures: readonly ParseFailure[];
  /** The cluster domain (`cluster.local`), for FQDNs and ServiceProfile names. */
  readonly clusterDomain: string;
  /** Namespaces whose policies are mesh-wide (Istio's root namespace, and the mesh's). */
  readonly rootNamespaces: readonly string[];
}

/** Options of building the input. */
export interface BuildInputOptions {
  readonly files: readonly SourceText[];
  readonly platform?: PlatformSnapshot;
  /** Namespace of objects without one. */
  readonly defaultNamespace: string;
  readonly clusterDomain?: string;
  readonly rootNamespaces?: readonly string[];
}

function identityKey(v: ValidationResult): string {
  const { group } = splitApiVersion(v.identity.apiVersion);
  const kindGroup = v.kind?.group ?? v.core?.group ?? group;
  return `${kindGroup}/${v.identity.kind}/${v.identity.namespace ?? ''}/${v.identity.name}`;
}

function analyzed(input: ResourceInput, source: 'file' | 'platform', defaultNamespace: string): AnalyzedResource {
  const validation = validateResource(input, { defaultNamespace });
  const prefix = input.path ?? [];
  return {
    validation,
    ...(validation.resource ? { mesh: validation.resource } : {}),
    ...(validation.coreObject ? { core: validation.coreObject } : {}),
    object: input.object,
    source,
    locate: (path) => input.document?.positionOf([...prefix, ...path]),
  };
}

function strings(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

/** Merges known lists: entries from `overlay` replace same-named entries of `base`. */
function merge<T extends { name: string; namespace?: string }>(
  base: T[] | undefined,
  overlay: T[],
  seenAny: boolean,
): T[] | undefined {
  if (!base && !seenAny) return undefined;
  const key = (t: T) => `${t.namespace ?? ''}/${t.name}`;
  const out = new Map((base ?? []).map((t) => [key(t), t]));
  for (const t of overlay) out.set(key(t), t);
  return [...out.values()];
}

/** Parses and validates the `-f` sources, overlays them on the platform snapshot, and derives the inventory. */
export function buildAnalysisInput(opts: BuildInputOptions): AnalysisInput {
  const byKey = new Map<string, AnalyzedResource>();
  const unnamed: AnalyzedResource[] = [];
  const put = (r: AnalyzedResource) => {
    if (
      r.validation.errors.length > 0 &&
      (r.validation.identity.name === '<no name>' || r.validation.identity.kind === '<no kind>')
    )
      unnamed.push(r);
    else byKey.set(identityKey(r.validation), r);
  };
  for (const obj of opts.platform?.objects ?? []) put(analyzed({ object: obj }, 'platform', opts.defaultNamespace));
  const parseFailures: ParseFailure[] = [];
  for (const file of opts.files) {
    let docs;
    try {
      docs = parseDocuments(file.text, file.name);
    } catch (err) {
      // Anything the YAML engine throws (syntax, alias bombs, nesting) is a finding about the file, never a crash.
      if (err instanceof InputParseError)
        parseFailures.push({ position: err.position, message: err.message.slice(err.message.indexOf(': ') + 2) });
      else
        parseFailures.push({
          position: { file: file.name, line: 1, column: 1 },
          message: `cannot read: ${err instanceof Error ? err.message : String(err)}`,
        });
      continue;
    }
    for (const mo of manifestObjects(docs)) put(analyzed(mo, 'file', opts.defaultNamespace));
  }
  const resources = [...byKey.values(), ...unnamed];

  const fromFiles = {
    services: [] as ServiceInfo[],
    workloads: [] as WorkloadInfo[],
    namespaces: [] as NamespaceInfo[],
    secrets: [] as SecretInfo[],
  };
  const seen = { services: false, workloads: false, namespaces: false, secrets: false };
  for (const r of resources) {
    const core = r.core;
    const role = r.validation.core?.role;
    if (!core || !role) continue;
    const name = core.metadata.name ?? '';
    const namespace = core.metadata.namespace ?? opts.defaultNamespace;
    const spec = (core.spec ?? {}) as Record<string, unknown>;
    if (role === 'service') {
      seen.services = true;
      const selector = spec.selector !== undefined ? strings(spec.selector) : undefined;
      const ports = Array.isArray(spec.ports)
        ? (spec.ports as unknown[]).flatMap((p) => {
            const r = p !== null && typeof p === 'object' ? (p as Record<string, unknown>) : {};
            return typeof r.port === 'number'
              ? [
                  {
                    port: r.port,
                    ...(typeof r.name === 'string' ? { name: r.name } : {}),
                    // A named targetPort resolves only against the pod's container ports: left out.
                    ...(typeof r.targetPort === 'number' ? { targetPort: r.targetPort } : {}),
                  },
                ]
              : [];
          })
        : undefined;
      const exportTo = serviceExportTo(strings(core.metadata.annotations));
      fromFiles.services.push({
        name,
        namespace,
        ...(selector ? { selector } : {}),
        ...(ports ? { ports } : {}),
        ...(exportTo ? { exportTo } : {}),
      });
    } else if (role === 'workload') {
      seen.workloads = true;
      const tpl = podTemplateOf(core);
      if (!tpl) continue;
      const sa = tpl.spec.serviceAccountName;
      fromFiles.workloads.push({
        kind: core.kind,
        name,
        namespace,
        labels: strings(tpl.metadata.labels),
        annotations: strings(tpl.metadata.annotations),
        ...(typeof sa === 'string' ? { serviceAccount: sa } : {}),
      });
    } else if (role === 'namespace') {
      seen.namespaces = true;
      fromFiles.namespaces.push({ name, labels: strings(core.metadata.labels) });
    } else if (role === 'secret') {
      seen.secrets = true;
      fromFiles.secrets.push({ name, namespace });
    }
  }
  const base = opts.platform?.inventory ?? {};
  const inventory: Inventory = {};
  const services = merge(base.services, fromFiles.services, seen.services);
  const workloads = merge(base.workloads, fromFiles.workloads, seen.workloads);
  const namespaces = merge(base.namespaces, fromFiles.namespaces, seen.namespaces);
  const secrets = merge(base.secrets, fromFiles.secrets, seen.secrets);
  if (services) inventory.services = services;
  // WorkloadEntries are endpoints as pods are (src/control-plane/registry/workload-entries.ts): where workloads
  // are known, a Service selector or DestinationRule subset matching an entry's labels selects something.
  const entries: WorkloadInfo[] = resources.flatMap((r) =>
    r.mesh?.kind === 'WorkloadEntry'
      ? [
          {
            kind: 'WorkloadEntry',
            name: r.mesh.metadata.name ?? '',
            namespace: r.mesh.metadata.namespace ?? opts.defaultNamespace,
            labels: { ...r.mesh.spec.labels },
            annotations: {},
            ...(r.mesh.spec.serviceAccount ? { serviceAccount: r.mesh.spec.serviceAccount } : {}),
          },
        ]
      : [],
  );
  if (workloads) inventory.workloads = entries.length ? [...workloads, ...entries] : workloads;
  if (namespaces) inventory.namespaces = namespaces;
  if (secrets) inventory.secrets = secrets;
  return {
    resources,
    inventory,
    parseFailures,
    clusterDomain: opts.clusterDomain ?? 'cluster.local',
    rootNamespaces: opts.rootNamespaces ?? ['istio-system', MESH_NAMESPACE],
  };
}
