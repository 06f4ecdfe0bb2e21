/**
 * Kubernetes objects -> the registry's records (pure), the same records the local platform fills:
 * Services become ServiceRecords with their ClusterIPs and ports, whose protocol is read as Istio
 * reads it (appProtocol first, then the port name's `<protocol>[-suffix]` prefix); Ready pods become
 * WorkloadRecords with their labels, IP, ServiceAccount, container ports, whether they run the
 * sidecar, and capture mode (iptables sends their traffic to 15001/15006).
 */
import {
  DEFAULT_INBOUND_POLICY_ANNOTATION,
  GATEWAY_PORTS_ANNOTATION,
  INJECTED_LABEL,
} from '../../protocol/well-known.js';
import type { ServicePortRecord, ServiceRecord, WorkloadRecord } from '../registry/model.js';
import { portProtocol } from '../registry/port-protocol.js';

export { portProtocol } from '../registry/port-protocol.js';
import type { KubeObject } from '../../cluster/index.js';

/** The parts of a Service this module reads. */
export interface ServiceObject extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    selector?: Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }[];
  };
}

/** The parts of a Pod this module reads. */
export interface PodObject extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

/**
 * Whether a pod is an endpoint: Ready, with an address, and not terminating (a deletionTimestamp is
 * what the EndpointSlice controller reports as `terminating: true`, `ready: false`). Read from the pod
 * itself, the control plane sees a deletion as soon as the API server records it, before the
 * EndpointSlice controller has updated its slice.
 */
export function podServesTraffic(pod: PodObject): boolean {
  if (pod.metadata.deletionTimestamp || !pod.status?.podIP) return false;
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

export { DEFAULT_INBOUND_POLICY_ANNOTATION };

/** Whether a pod's containers may still run: it has an address and has not finished (Succeeded or Failed). */
function podIsLive(pod: PodObject): boolean {
  return Boolean(pod.status?.podIP) && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

/**
 * The workload of a pod that has an address and has not finished; undefined otherwise. A pod that
 * is not Ready yet, or is terminating, is a workload with `serving: false`: its own sidecar keeps
 * its inbound listeners and routes (it still serves the requests in flight and those sent by peers
 * that have not yet had the update), but no other proxy routes new requests to it. `services` names
 * the selector-less Services whose EndpointSlices list it (membership by name, as on the local platform).
 * `namespaceInboundPolicy`: the pod's namespace's default-inbound-policy annotation, which the
 * pod's own annotation overrides (as Linkerd's policy controller reads them).
 */
export function workloadFromPod(
  pod: PodObject,
  services?: readonly string[],
  namespaceInboundPolicy?: string,
): WorkloadRecord | undefined {
  if (!podIsLive(pod)) return undefined;
  const labels = pod.metadata.labels ?? {};
  const gateway = gatewayPorts(pod.metadata.annotations?.[GATEWAY_PORTS_ANNOTATION]);
  const ports = (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort),
  );
  return {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    labels: { ...labels },
    address: pod.status!.podIP!,
    // A gateway is reached over the protocols of its Gateway servers, not the mesh's mTLS.
    meshed: !gateway && labels[INJECTED_LABEL] === 'true',
    ports,
    capture: !gateway,
    ...(services?.length ? { services } : {}),
    ...(podServesTraffic(pod) ? {} : { serving: false }),
    ...((pod.metadata.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION] ?? namespaceInboundPolicy)
      ? {
          defaultInboundPolicy: pod.metadata.annotations?.[DEFAULT_INBOUND_POLICY_ANNOTATION] ?? namespaceInboundPolicy,
        }
      : {}),
    ...(gateway ? { gateway: { address: '0.0.0.0', ports: gateway } } : {}),
  };
}

/**
 * The gateway-ports annotation (`80=8080,443=8443`) read; undefined when absent or malformed (a
 * malformed one leaves the pod an ordinary workload rather than binding ports nobody asked for).
 */
export function gatewayPorts(text: string | undefined): Record<number, number> | undefined {
  if (text === undefined) return undefined;
  const out: Record<number, number> = {};
  const valid = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(\d{1,5})=(\d{1,5})$/.exec(pair);
    if (!m || !valid(Number(m[1])) || !valid(Number(m[2]))) return undefined;
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

function selected(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/**
 * The ServiceRecord of a Service. A named targetPort is resolved through the container ports of the
 * pods it selects (as kube-proxy does per endpoint; the mesh model holds one number, so the first
 * pod that names it wins), falling back to the service port. Non-TCP ports are left out.
 */
export function serviceFromObject(svc: ServiceObject, pods: readonly PodObject[]): ServiceRecord {
  const spec = svc.spec ?? {};
  const namespace = svc.metadata.namespace ?? 'default';
  const addresses = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(
    (ip) => ip && ip !== 'None',
  );
  const podsOfService = pods.filter(
    (p) => (p.metadata.namespace ?? 'default') === namespace && selected(spec.selector, p.metadata.labels),
  );
  const ports: ServicePortRecord[] = [];
  for (const p of spec.ports ?? []) {
    if ((p.protocol ?? 'TCP') !== 'TCP') continue;
    let targetPort = p.port;
    if (typeof p.targetPort === 'number') targetPort = p.targetPort;
    else if (typeof p.targetPort === 'string' && /^\d+$/.test(p.targetPort)) targetPort = Number(p.targetPort);
    else if (typeof p.targetPort === 'string') {
      const named = podsOfService
        .flatMap((pod) => pod.spec?.containers ?? [])
        .flatMap((c) => c.ports ?? [])
        .find((cp) => cp.name === p.targetPort);
      if (named) targetPort = named.containerPort;
    }
    ports.push({
      ...(p.name ? { name: p.name } : {}),
      port: p.port,
      targetPort,
      // A WorkloadEntry serves a named targetPort only when its `ports` map names it.
      ...(typeof p.targetPort === 'string' && !/^\d+$/.test(p.targetPort) ? { targetPortName: p.targetPort } : {}),
      protocol: portProtocol(p.name, p.appProtocol),
    });
  }
  return {
    name: svc.metadata.name,
    namespace,
    addresses,
    ports,
    ...(spec.selector && Object.keys(spec.selector).length > 0 ? { selector: { ...spec.selector } } : {}),
  };
}
