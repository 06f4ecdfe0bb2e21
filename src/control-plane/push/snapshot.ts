/**
 * The push context: an immutable snapshot of everything generators read (config objects, services,
 * workloads, endpoints), built once per debounced change and shared by every proxy's generation.
 * Immutable so a push in progress never sees half of the next change. It is the translation's
 * MeshSnapshot as it is: both platforms' registries fill the same records, so nothing converts it.
 */
import type { MeshResource } from '../../config/index.js';
import { MESH_NAMESPACE, TRUST_DOMAIN } from '../../protocol/well-known.js';
import {
  computeEndpoints,
  serviceKey,
  type EndpointRecord,
  type ServiceRecord,
  type WorkloadRecord,
} from '../registry/model.js';
import type { MeshSnapshot } from '../translate/model.js';

/** A config object as validated (the YAML users applied, namespace defaulted). */
export type ConfigObject = MeshResource;

/** Names one config object: (API group), kind, namespace, name. */
export interface ConfigKey {
  /** The API group; absent: any group of that kind. */
  readonly group?: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** The inputs of a snapshot. */
export interface SnapshotInputs {
  readonly configs: readonly ConfigObject[];
  readonly services: readonly ServiceRecord[];
  readonly workloads: readonly WorkloadRecord[];
  /** JSON Web Key Sets fetched for RequestAuthentication jwksUris (pushed inline to sidecars) */
  readonly jwks?: ReadonlyMap<string, string>;
  /** Default cluster.local. */
  readonly trustDomain?: string;
  /** Istio's root namespace (namespace-wide policies there apply mesh-wide); default mesh-system. */
  readonly rootNamespace?: string;
  /** Istio's MeshConfig (an IstioOperator's spec.meshConfig), as the platform keeps it; read by the telemetry generator. */
  readonly meshConfig?: Readonly<Record<string, unknown>>;
  /** Linkerd's install-wide default inbound policy (`proxy.defaultInboundPolicy`); absent: all-unauthenticated. */
  readonly defaultInboundPolicy?: string;
}

/** One immutable push context. */
export class PushSnapshot implements MeshSnapshot {
  private readonly byKind = new Map<string, readonly ConfigObject[]>();
  private readonly servicesByKey = new Map<string, ServiceRecord>();
  private readonly workloadsByKey = new Map<string, WorkloadRecord>();
  private readonly endpoints: Map<string, Map<number, EndpointRecord[]>>;
  readonly services: readonly ServiceRecord[];
  readonly workloads: readonly WorkloadRecord[];
  /** Fetched key sets by jwksUri. */
  readonly jwks: ReadonlyMap<string, string>;
  /** Every config object, by kind then namespace/name (own fields: views spread the snapshot). */
  readonly resources: readonly ConfigObject[];
  readonly trustDomain: string;
  readonly rootNamespace: string;
  readonly meshConfig: Readonly<Record<string, unknown>> | undefined;
  readonly defaultInboundPolicy: string | undefined;

  constructor(
    /** The version proxies see as version_info: `<time>/<sequence>`, like istiod's. */
    readonly version: string,
    inputs: SnapshotInputs,
    readonly createdAt = new Date(),
  ) {
    const grouped = new Map<string, ConfigObject[]>();
    for (const c of inputs.configs) {
      const list = grouped.get(c.kind) ?? [];
      list.push(deepFreeze(structuredClone(c)));
      grouped.set(c.kind, list);
    }
    for (const [k, list] of [...grouped].sort((a, b) => a[0].localeCompare(b[0]))) {
      list.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      this.byKind.set(k, Object.freeze(list));
    }
    this.resources = Object.freeze([...this.byKind.values()].flat());
    this.trustDomain = inputs.trustDomain ?? TRUST_DOMAIN;
    this.rootNamespace = inputs.rootNamespace ?? MESH_NAMESPACE;
    this.meshConfig = inputs.meshConfig ? deepFreeze(structuredClone(inputs.meshConfig)) : undefined;
    this.services = deepFreeze(structuredClone([...inputs.services]));
    this.workloads = deepFreeze(structuredClone([...inputs.workloads]));
    for (const s of this.services) this.servicesByKey.set(serviceKey(s), s);
    // Looked up for every proxy on every push: a map, not a scan of thousands of workloads.
    // A WorkloadEntry is no proxy's workload: only endpoints.
    for (const w of this.workloads)
      if (w.source !== 'WorkloadEntry') this.workloadsByKey.set(`${w.namespace}/${w.name}`, w);
    this.endpoints = computeEndpoints(this.services, this.workloads);
    this.jwks = new Map(inputs.jwks ?? []);
    this.defaultInboundPolicy = inputs.defaultInboundPolicy;
    Object.freeze(this);
  }

  /** Config objects of a kind (sorted by namespace/name), optionally in one namespace. */
  configs(kind: string, namespace?: string): readonly ConfigObject[] {
    const all = this.byKind.get(kind) ?? [];
    return namespace === undefined ? all : all.filter((c) => (c.metadata.namespace ?? 'default') === namespace);
  }

  /** Every kind present. */
  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  service(name: string, namespace: string): ServiceRecord | undefined {
    return this.servicesByKey.get(`${name}.${namespace}`);
  }

  /** Endpoints of a service port. */
  endpointsOf(name: string, namespace: string, port: number): readonly EndpointRecord[] {
    return this.endpoints.get(`${name}.${namespace}`)?.get(port) ?? [];
  }

  workload(name: string, namespace: string): WorkloadRecord | undefined {
    return this.workloadsByKey.get(`${namespace}/${name}`);
  }
}

/** `kind/namespace/name` of a config object. */
export function keyOf(c: ConfigObject): string {
  return `${c.kind}/${c.metadata.namespace ?? 'default'}/${c.metadata.name}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
