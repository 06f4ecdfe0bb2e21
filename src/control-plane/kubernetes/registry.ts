/**
 * The control plane's Kubernetes mode: informers for Services, EndpointSlices, Pods, Namespaces and
 * every mesh CRD kind, turned into the MeshSnapshot the translation reads (and the SnapshotInputs of
 * the push pipeline). Each custom resource is validated as `meshctl analyze` validates a file; an
 * invalid update is reported and the last good version of that resource stays in force.
 * Changes are announced on `change`, debounced, with their reasons.
 */
import { EventEmitter } from 'node:events';
import { MESH_KINDS, validateResource, formatIssue, type MeshResource } from '../../config/index.js';
import { MESH_NAMESPACE, TRUST_DOMAIN } from '../../protocol/well-known.js';
import type { KubeObject, KubeObjects } from '../../cluster/kubernetes/objects.js';
import type { MeshSnapshot, MeshWorkload } from '../translate/model.js';
import type { SnapshotInputs, ConfigObject } from '../push/snapshot.js';
import type { ServiceRecord, WorkloadRecord } from '../registry/model.js';
import { ListWatch, type WatchEventType } from './list-watch.js';
import { serviceFromObject, workloadFromPod, type PodObject, type ServiceObject } from './convert.js';

/** Options of the registry. */
export interface KubernetesRegistryOptions {
  trustDomain?: string;
  /** Istio's root namespace: where namespace-wide policies apply mesh-wide (default mesh-system). */
  rootNamespace?: string;
  /** Full relist period of every informer. */
  resyncMs?: number;
  /** Quiet period before `change` fires (default 100 ms). */
  debounceMs?: number;
  log?: (line: string) => void;
}

/** A custom resource the registry refused, and what is in force instead. */
export interface RejectedResource {
  kind: string;
  namespace: string;
  name: string;
  problems: string[];
  /** Whether an earlier valid version is still in force. */
  keptLastGood: boolean;
}

interface EndpointSliceObject extends KubeObject {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean }; targetRef?: { kind?: string; name?: string; namespace?: string } }[];
}

function key(o: { kind: string; metadata: { namespace?: string; name: string } }, group = ''): string {
  return `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Keeps only what validation and translation read (managedFields and status are noise to them). */
function forValidation(o: KubeObject): KubeObject {
  const { name, namespace, labels, annotations, generation } = o.metadata;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}), ...(generation ? { generation } : {}) },
    ...(o.spec !== undefined ? { spec: o.spec } : {}),
  };
}

/** The registry: informers plus the derived snapshot. Emits `change` (reasons: string[]) and `rejected` (RejectedResource). */
export class KubernetesRegistry extends EventEmitter {
  private readonly services: ListWatch<ServiceObject>;
  private readonly pods: ListWatch<PodObject>;
  private readonly namespaces: ListWatch;
  private readonly endpointSlices: ListWatch<EndpointSliceObject>;
  private readonly meshInformers: ListWatch[] = [];
  /** Last good version of each custom resource, by group/kind/ns/name. */
  private readonly resources = new Map<string, MeshResource>();
  private readonly rejectedByKey = new Map<string, RejectedResource>();
  private version = 0;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly trustDomain: string;
  private readonly rootNamespace: string;

  constructor(
    private readonly objects: KubeObjects,
    private readonly opts: KubernetesRegistryOptions = {},
  ) {
    super();
    this.trustDomain = opts.trustDomain ?? TRUST_DOMAIN;
    this.rootNamespace = opts.rootNamespace ?? MESH_NAMESPACE;
    const common = { resyncMs: opts.resyncMs, log: opts.log };
    const changed = (what: string) => (type: WatchEventType, o: KubeObject) => this.changed(`${what} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name} ${type.toLowerCase()}`);
    this.services = new ListWatch<ServiceObject>(objects, { ...common, apiVersion: 'v1', kind: 'Service', onEvent: changed('service') });
    this.pods = new ListWatch<PodObject>(objects, { ...common, apiVersion: 'v1', kind: 'Pod', onEvent: changed('pod') });
    this.namespaces = new ListWatch(objects, { ...common, apiVersion: 'v1', kind: 'Namespace', onEvent: changed('namespace') });
    this.endpointSlices = new ListWatch<EndpointSliceObject>(objects, { ...common, apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', onEvent: changed('endpointslice') });
    for (const def of MESH_KINDS) {
      const apiVersion = `${def.group}/${def.storageVersion}`;
      this.meshInformers.push(
        new ListWatch(objects, { ...common, apiVersion, kind: def.kind, onEvent: (type, o) => this.meshResourceEvent(def.group, type, o) }),
      );
    }
  }

  /** Starts every informer; resolves once each has listed once (or failed its first list: it keeps retrying). */
  async start(): Promise<void> {
    await Promise.all([this.services, this.pods, this.namespaces, this.endpointSlices, ...this.meshInformers].map((i) => i.start()));
  }

  /**
   * Waits until every informer has listed, except kinds the API server does not serve, for at most
   * `timeoutMs`; returns the kinds still missing then. What the daemon waits on before serving.
   */
  async waitForSync(timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const missing = () => this.informers().filter((i) => !i.synced && !i.notServed);
    while (missing().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return missing().map((i) => i.description);
  }

  private informers(): ListWatch[] {
    return [this.services, this.pods, this.namespaces, this.endpointSlices, ...this.meshInformers] as ListWatch[];
  }

  /** Stops every informer and pending notification. */
  stop(): void {
    for (const i of [this.services, this.pods, this.namespaces, this.endpointSlices, ...this.meshInformers]) i.stop();
    if (this.timer) clearTimeout(this.timer);
  }

  /** Kinds whose informer has not listed successfully (CRD missing, no permission). */
  unsynced(): string[] {
    return [this.services, this.pods, this.namespaces, this.endpointSlices, ...this.meshInformers].filter((i) => !i.synced).map((i) => i.description);
  }

  /** Custom resources currently refused. */
  rejected(): RejectedResource[] {
    return [...this.rejectedByKey.values()];
  }

  /** A pod as last seen, ready or not (a proxy asks for config before its pod is Ready). */
  pod(namespace: string, name: string): PodObject | undefined {
    return this.pods.get(namespace, name);
  }

  /** Labels of a namespace (for injection decisions); undefined when unknown. */
  namespaceLabels(name: string): Record<string, string> | undefined {
    return this.namespaces.get(undefined, name)?.metadata.labels;
  }

  private meshResourceEvent(group: string, type: WatchEventType, o: KubeObject): void {
    const k = key(o, group);
    const where = `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (type === 'DELETED') {
      this.resources.delete(k);
      this.rejectedByKey.delete(k);
      this.changed(`${where} deleted`);
      return;
    }
    const result = validateResource({ object: forValidation(o) });
    if (result.errors.length > 0 || !result.resource) {
      const problems = result.errors.map(formatIssue);
      const rejected: RejectedResource = { kind: o.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name, problems, keptLastGood: this.resources.has(k) };
      this.rejectedByKey.set(k, rejected);
      this.opts.log?.(`${where} rejected (${rejected.keptLastGood ? 'last good version kept' : 'not in force'}): ${problems.join('; ')}`);
      this.emit('rejected', rejected);
      return;
    }
    this.rejectedByKey.delete(k);
    this.resources.set(k, result.resource);
    this.changed(`${where} ${type.toLowerCase()}`);
  }

  private changed(reason: string): void {
    this.pending.push(reason);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const reasons = this.pending;
      this.pending = [];
      this.version++;
      this.emit('change', reasons);
    }, this.opts.debounceMs ?? 100);
    this.timer.unref();
  }

  private workloads(): MeshWorkload[] {
    return this.pods.list().flatMap((p) => workloadFromPod(p) ?? []);
  }

  /** The current state as the translation's MeshSnapshot. */
  snapshot(): MeshSnapshot {
    const pods = this.pods.list();
    return {
      version: String(this.version),
      trustDomain: this.trustDomain,
      rootNamespace: this.rootNamespace,
      services: this.services.list().map((s) => serviceFromObject(s, pods)),
      workloads: this.workloads(),
      resources: [...this.resources.values()],
    };
  }

  /**
   * The same state as the push pipeline's inputs. Services without a selector get their members from
   * their EndpointSlices (endpoints that point at a pod).
   */
  snapshotInputs(): SnapshotInputs {
    const snap = this.snapshot();
    const services: ServiceRecord[] = snap.services.map((s) => ({
      name: s.name,
      namespace: s.namespace,
      ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort, protocol: p.protocol })),
      ...(s.selector ? { selector: s.selector } : {}),
    }));
    const explicit = new Map<string, string[]>();
    for (const slice of this.endpointSlices.list()) {
      const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc || snap.services.find((s) => s.name === svc && s.namespace === slice.metadata.namespace)?.selector) continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.targetRef?.kind !== 'Pod' || !ep.targetRef.name || ep.conditions?.ready === false) continue;
        const k = `${slice.metadata.namespace}/${ep.targetRef.name}`;
        explicit.set(k, [...(explicit.get(k) ?? []), svc]);
      }
    }
    const pods = new Map(this.pods.list().map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
    const workloads: WorkloadRecord[] = snap.workloads.map((w) => {
      const pod = pods.get(`${w.namespace}/${w.name}`);
      const ports = (pod?.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort));
      const member = explicit.get(`${w.namespace}/${w.name}`);
      return { name: w.name, namespace: w.namespace, serviceAccount: w.serviceAccount, labels: w.labels, address: w.address, ports, ...(member ? { services: member } : {}) };
    });
    return { configs: snap.resources as unknown as ConfigObject[], services, workloads };
  }
}
