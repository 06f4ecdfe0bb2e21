/**
 * The push snapshot as the translation (src/control-plane/translate) reads it. Two local-platform
 * facts the translation's model has no field for are expressed here:
 * - members of a service by name (`meshctl run --service`): the implicit service selects a label
 *   that only its members carry (`member.meshctl.dev/<service>`);
 * - where peers reach a workload without traffic capture: its sidecar's inbound port, as the
 *   workload's `inboundPorts` for every target port of the services that select it.
 */
import type { MeshResource } from '../../config/index.js';
import { TRUST_DOMAIN, MESH_NAMESPACE } from '../../protocol/well-known.js';
import type { MeshService, MeshSnapshot, MeshWorkload, PortProtocol } from '../translate/model.js';
import { servicesSelecting } from '../translate/index.js';
import type { ServiceRecord, WorkloadRecord } from '../registry/model.js';
import type { PushSnapshot } from '../push/snapshot.js';

/** Label carried (in the translation's view only) by explicit members of a service. */
export function memberLabel(service: string): string {
  return `member.meshctl.dev/${service}`;
}

function protocolOf(p: { protocol?: string }): PortProtocol {
  const known: readonly string[] = ['http', 'http2', 'grpc', 'tcp'];
  return p.protocol && known.includes(p.protocol) ? (p.protocol as PortProtocol) : p.protocol === 'grpc-web' ? 'http' : 'auto';
}

function meshService(s: ServiceRecord, hasObject: boolean): MeshService {
  return {
    name: s.name,
    namespace: s.namespace,
    addresses: [...(s.addresses ?? [])],
    ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort: p.targetPort ?? p.port, protocol: protocolOf(p) })),
    // A Service object selects by its own selector; an implicit service by membership.
    selector: hasObject ? (s.selector ? { ...s.selector } : undefined) : { [memberLabel(s.name)]: 'true' },
  };
}

function meshWorkload(w: WorkloadRecord, services: readonly MeshService[]): MeshWorkload {
  const labels: Record<string, string> = { ...w.labels };
  for (const name of w.services ?? []) labels[memberLabel(name)] = 'true';
  const inboundPorts: Record<number, number> = {};
  if (w.proxyPort !== undefined) {
    // Indexed: thousands of workloads x thousands of services on every snapshot.
    for (const s of servicesSelecting(services, { namespace: w.namespace, labels })) {
      if (!s.selector || !Object.entries(s.selector).every(([k, v]) => labels[k] === v)) continue;
      for (const p of s.ports) inboundPorts[p.targetPort] = w.proxyPort;
    }
  }
  return { name: w.name, namespace: w.namespace, serviceAccount: w.serviceAccount, labels, address: w.address, meshed: true, ...(w.proxyPort !== undefined ? { inboundPorts } : {}), ...(w.serving === false ? { serving: false } : {}) };
}

/** Converts a push snapshot to the translation's input. */
export function toMeshSnapshot(snap: PushSnapshot): MeshSnapshot {
  const objectNames = new Set(snap.configs('Service').filter((o) => o.apiVersion === 'v1').map((o) => `${o.metadata.name}.${o.metadata.namespace ?? 'default'}`));
  const services = snap.services.map((s) => meshService(s, objectNames.has(`${s.name}.${s.namespace}`)));
  const resources: MeshResource[] = [];
  for (const kind of snap.kinds()) {
    if (kind === 'Service') continue;
    for (const c of snap.configs(kind)) resources.push(c as unknown as MeshResource);
  }
  return {
    version: snap.version,
    trustDomain: TRUST_DOMAIN,
    rootNamespace: MESH_NAMESPACE,
    services,
    workloads: snap.workloads.map((w) => meshWorkload(w, services)),
    resources,
  };
}
