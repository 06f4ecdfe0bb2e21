/**
 * The control plane's Kubernetes mode: informers for Services, EndpointSlices, Pods, Namespaces and
 * every mesh CRD kind, turned into the registry's records (the same the local platform fills) and
 * the push pipeline's SnapshotInputs. Each custom resource is validated as `meshctl analyze`
 * validates a file; an invalid update is reported and the last good version of that resource stays
 * in force. Every event is announced at once on `change` as a ChangeSet (what changed, and why):
 * the push pipeline's debouncer is the only one. Namespace events go to `namespace` (the leader's
 * reconciliation), and to the pipeline only when a namespace's Linkerd default inbound policy
 * annotation changed (it is part of its pods' workload records).
 */
import { EventEmitter } from 'node:events';
import { MESH_KINDS, validateResource, formatIssue, type MeshResource } from '../../config/index.js';
import { DEFAULT_INBOUND_POLICY_ANNOTATION, MESH_NAMESPACE, TRUST_DOMAIN } from '../../protocol/well-known.js';
import type { KubeObject, KubeObjects } from '../../cluster/index.js';
import { configChange, registryChange, type ChangeSet, type RegistryChange } from '../push/change.js';
import { PushSnapshot, type SnapshotInputs } from '../push/snapshot.js';
import type { WorkloadRecord } from '../registry/model.js';
import { withEntryWorkloads } from '../registry/workload-entries.js';
import { ListWatch, type WatchEventType } from './list-watch.js';
import { serviceFromObject, workloadFromPod, type PodObject, type ServiceObject } from './convert.js';

/** Options of the registry. */
export interface KubernetesRegistryOptions {
  trustDomain?: string;
  /** Istio's root namespace: where namespace-wide policies apply mesh-wide (default mesh-system). */
  rootNamespace?: string;
  /** Where gateway credential Secrets are read (the gateways' namespace; default the root namespace). */
  credentialNamespace?: string;
  /** Full relist period of every informer. */
  resyncMs?: number;
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

/** A Secret as a gateway's `credentialName` reads it. */
interface SecretObject extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

/** Secret types that can hold a TLS credential (Istio reads kubernetes.io/tls and generic ones). */
const CREDENTIAL_SECRET_TYPES = new Set(['kubernetes.io/tls', 'Opaque']);

interface EndpointSliceObject extends KubeObject {
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean };
    targetRef?: { kind?: string; name?: string; namespace?: string };
  }[];
}

function key(o: { kind: string; metadata: { namespace?: string; name: string } }, group = ''): string {
  return `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Keeps only what validation and translation read (managedFields and status are noise to them). */
export function forValidation(o: KubeObject): KubeObject {
  const { name, namespace, labels, annotations, generation } = o.metadata;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
      ...(generation ? { generation } : {}),
    },
    ...(o.spec !== undefined ? { spec: o.spec } : {}),
  };
}

/**
 * The registry: informers plus the derived records. Emits `change` (ChangeSet), `namespace` (reason)
 * and `rejected` (RejectedResource).
 */
export class KubernetesRegistry extends EventEmitter {
  private readonly services: ListWatch<ServiceObject>;
  private readonly pods: ListWatch<PodObject>;
  private readonly namespaces: ListWatch;
  private readonly endpointSlices: ListWatch<EndpointSliceObject>;
  /** TLS credentials of Gateways (credentialName) and DestinationRules; only proxies using one get it. */
  private readonly secrets: ListWatch<SecretObject>;
  private readonly meshInformers: ListWatch[] = [];
  /** Last good version of each custom resource, by group/kind/ns/name. */
  private readonly resources = new Map<string, MeshResource>();
  private readonly rejectedByKey = new Map<string, RejectedResource>();
  private version = 0;
  private readonly trustDomain: string;
  private readonly rootNamespace: string;
  /** Namespaces' config.linkerd.io/default-inbound-policy annotations, by namespace. */
  private readonly namespacePolicies = new Map<string, string>();

  constructor(
    private readonly objects: KubeObjects,
    private readonly opts: KubernetesRegistryOptions = {},
  ) {
    super();
    this.trustDomain = opts.trustDomain ?? TRUST_DOMAIN;
    this.rootNamespace = opts.rootNamespace ?? MESH_NAMESPACE;
    const common = { resyncMs: opts.resyncMs, log: opts.log };
    const reason = (what: string, type: WatchEventType, o: KubeObject): string =>
      `${what} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name} ${type.toLowerCase()}`;
    // What each informer's objects feed: Services and named target ports (pods) make services;
    // pods make workloads; EndpointSlices make the membership of selector-less services.
    const changed = (what: string, facts: RegistryChange[]) => (type: WatchEventType, o: KubeObject) =>
      this.changed(registryChange(facts, reason(what, type, o)));
    this.services = new ListWatch<ServiceObject>(objects, {
      ...common,
      apiVersion: 'v1',
      kind: 'Service',
      onEvent: changed('service', ['services', 'endpoints']),
    });
    this.pods = new ListWatch<PodObject>(objects, {
      ...common,
      apiVersion: 'v1',
      kind: 'Pod',
      onEvent: changed('pod', ['workloads', 'endpoints', 'services']),
    });
    this.namespaces = new ListWatch(objects, {
      ...common,
      apiVersion: 'v1',
      kind: 'Namespace',
      onEvent: (type, o) => {
        this.emit('namespace', reason('namespace', type, o));
        // The namespace's default inbound policy is part of its pods' workload records.
        const policy = type === 'DELETED' ? undefined : o.metadata.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION];
        if (policy !== this.namespacePolicies.get(o.metadata.name)) {
          if (policy === undefined) this.namespacePolicies.delete(o.metadata.name);
          else this.namespacePolicies.set(o.metadata.name, policy);
          this.changed(registryChange(['workloads'], reason('namespace', type, o)));
        }
      },
    });
    this.endpointSlices = new ListWatch<EndpointSliceObject>(objects, {
      ...common,
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      onEvent: changed('endpointslice', ['workloads', 'endpoints']),
    });
    this.secrets = new ListWatch<SecretObject>(objects, {
      ...common,
      apiVersion: 'v1',
      kind: 'Secret',
      namespace: opts.credentialNamespace ?? this.rootNamespace,
      onEvent: (type, o) => {
        if (!CREDENTIAL_SECRET_TYPES.has(o.type ?? 'Opaque')) return;
        const k = [{ group: '', kind: 'Secret', namespace: o.metadata.namespace ?? 'default', name: o.metadata.name }];
        // The reason names the Secret, never its content.
        this.changed(configChange(k, reason('secret', type, o)));
      },
    });
    for (const def of MESH_KINDS) {
      const apiVersion = `${def.group}/${def.storageVersion}`;
      this.meshInformers.push(
        new ListWatch(objects, {
          ...common,
          apiVersion,
          kind: def.kind,
          onEvent: (type, o) => this.meshResourceEvent(def.group, type, o),
        }),
      );
    }
  }

  /** Starts every informer; resolves once each has listed once (or failed its first list: it keeps retrying). */
  async start(): Promise<void> {
    await Promise.all(
      [this.services, this.pods, this.namespaces, this.endpointSlices, this.secrets, ...this.meshInformers].map((i) =>
        i.start(),
      ),
    );
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
    return [
      this.services,
      this.pods,
      this.namespaces,
      this.endpointSlices,
      this.secrets,
      ...this.meshInformers,
    ] as ListWatch[];
  }

  /** Stops every informer and pending notification. */
  stop(): void {
    for (const i of [
      this.services,
      this.pods,
      this.namespaces,
      this.endpointSlices,
      this.secrets,
      ...this.meshInformers,
    ])
      i.stop();
  }

  /** Kinds whose informer has not listed successfully (CRD missing, no permission). */
  unsynced(): string[] {
    return [this.services, this.pods, this.namespaces, this.endpointSlices, this.secrets, ...this.meshInformers]
      .filter((i) => !i.synced)
      .map((i) => i.description);
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
    const configKey = [{ group, kind: o.kind, namespace: o.metadata.namespace ?? 'default', name: o.metadata.name }];
    if (type === 'DELETED') {
      this.resources.delete(k);
      this.rejectedByKey.delete(k);
      this.changed(configChange(configKey, `${where} deleted`));
      return;
    }
    const result = validateResource({ object: forValidation(o) });
    if (result.errors.length > 0 || !result.resource) {
      const problems = result.errors.map(formatIssue);
      const rejected: RejectedResource = {
        kind: o.kind,
        namespace: o.metadata.namespace ?? '',
        name: o.metadata.name,
        problems,
        keptLastGood: this.resources.has(k),
      };
      this.rejectedByKey.set(k, rejected);
      this.opts.log?.(
        `${where} rejected (${rejected.keptLastGood ? 'last good version kept' : 'not in force'}): ${problems.join('; ')}`,
      );
      this.emit('rejected', rejected);
      return;
    }
    this.rejectedByKey.delete(k);
    this.resources.set(k, result.resource);
    this.changed(configChange(configKey, `${where} ${type.toLowerCase()}`));
  }

  private changed(change: ChangeSet): void {
    this.version++;
    this.emit('change', change);
  }

  /**
   * The push pipeline's inputs: Services with their ClusterIPs, Ready pods as captured workloads,
   * and as members by name the pods that selector-less Services' EndpointSlices list; plus the
   * WorkloadEntries' workloads.
   */
  snapshotInputs(): SnapshotInputs {
    const pods = this.pods.list();
    const services = this.services.list().map((s) => serviceFromObject(s, pods));
    const members = new Map<string, string[]>();
    for (const slice of this.endpointSlices.list()) {
      const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc || services.find((s) => s.name === svc && s.namespace === slice.metadata.namespace)?.selector) continue;
      for (const ep of slice.endpoints ?? []) {
        // Membership only: whether the pod is an endpoint now (Ready, not terminating) is read from the pod.
        if (ep.targetRef?.kind !== 'Pod' || !ep.targetRef.name) continue;
        const k = `${slice.metadata.namespace}/${ep.targetRef.name}`;
        members.set(k, [...(members.get(k) ?? []), svc]);
      }
    }
    const workloads: WorkloadRecord[] = pods.flatMap(
      (p) =>
        workloadFromPod(
          p,
          members.get(`${p.metadata.namespace}/${p.metadata.name}`),
          this.namespacePolicies.get(p.metadata.namespace ?? 'default'),
        ) ?? [],
    );
    const secrets = this.secrets
      .list()
      .filter((o) => CREDENTIAL_SECRET_TYPES.has(o.type ?? 'Opaque'))
      .map((o) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace ?? 'default' },
        type: o.type,
        data: o.data ?? {},
      })) as unknown as MeshResource[];
    const configs = [...this.resources.values()];
    return {
      configs: [...configs, ...secrets],
      services,
      // WorkloadEntries (VMs, processes outside the cluster) are endpoints of the Services selecting them, as pods.
      workloads: withEntryWorkloads(workloads, configs),
      trustDomain: this.trustDomain,
      rootNamespace: this.rootNamespace,
    };
  }

  /** The current state as one snapshot (what the next push would see). */
  snapshot(): PushSnapshot {
    return new PushSnapshot(String(this.version), this.snapshotInputs());
  }
}
