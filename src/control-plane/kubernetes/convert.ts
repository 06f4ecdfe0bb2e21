/**
 * Kubernetes objects -> the mesh's model (pure): Services become MeshServices with their ClusterIPs
 * and ports, whose protocol is read as Istio reads it (appProtocol first, then the port name's
 * `<protocol>[-suffix]` prefix); Ready pods become workloads with their labels, IP, ServiceAccount and
 * whether they run the sidecar.
 */
import { INJECTED_LABEL } from '../../protocol/well-known.js';
import type { MeshService, MeshWorkload, PortProtocol, ServicePort } from '../translate/model.js';
import type { KubeObject } from '../../cluster/kubernetes/objects.js';

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

const PROTOCOL_PREFIXES: Readonly<Record<string, PortProtocol>> = {
  http: 'http',
  'http-web': 'http',
  'grpc-web': 'http',
  http2: 'http2',
  grpc: 'grpc',
  h2c: 'http2',
  tcp: 'tcp',
  // Opaque to the proxy: TLS it does not terminate, and server-first or binary protocols.
  https: 'tcp',
  tls: 'tcp',
  mongo: 'tcp',
  mysql: 'tcp',
  redis: 'tcp',
};

const APP_PROTOCOLS: Readonly<Record<string, PortProtocol>> = {
  'kubernetes.io/h2c': 'http2',
  'kubernetes.io/ws': 'http',
  'kubernetes.io/wss': 'tcp',
};

/**
 * A port's protocol: `appProtocol` when set (http, http2, grpc, kubernetes.io/h2c, ...), else the port
 * name's prefix before the first `-` (`http-web`, `grpc-api`, `tcp-db`), else `auto` (sniffed).
 */
export function portProtocol(name: string | undefined, appProtocol: string | undefined): PortProtocol {
  if (appProtocol) {
    const a = appProtocol.toLowerCase();
    const known = APP_PROTOCOLS[a] ?? PROTOCOL_PREFIXES[a];
    if (known) return known;
  }
  if (name) {
    const n = name.toLowerCase();
    if (PROTOCOL_PREFIXES[n]) return PROTOCOL_PREFIXES[n];
    const prefix = n.split('-')[0] ?? '';
    if (prefix === 'grpc' && n.startsWith('grpc-web')) return 'http';
    if (PROTOCOL_PREFIXES[prefix]) return PROTOCOL_PREFIXES[prefix];
  }
  return 'auto';
}

/** Whether a pod is Ready and has an address (not terminating). */
export function podServesTraffic(pod: PodObject): boolean {
  if (pod.metadata.deletionTimestamp || !pod.status?.podIP) return false;
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The workload of a Ready pod; undefined for a pod that cannot take traffic. */
export function workloadFromPod(pod: PodObject): MeshWorkload | undefined {
  if (!podServesTraffic(pod)) return undefined;
  const labels = pod.metadata.labels ?? {};
  return {
    name: pod.metadata.name,
    namespace: pod.metadata.namespace ?? 'default',
    serviceAccount: pod.spec?.serviceAccountName || 'default',
    labels: { ...labels },
    address: pod.status!.podIP!,
    meshed: labels[INJECTED_LABEL] === 'true',
  };
}

function selected(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}

/**
 * The MeshService of a Service. A named targetPort is resolved through the container ports of the
 * pods it selects (as kube-proxy does per endpoint; the mesh model holds one number, so the first
 * pod that names it wins), falling back to the service port. Non-TCP ports are left out.
 */
export function serviceFromObject(svc: ServiceObject, pods: readonly PodObject[]): MeshService {
  const spec = svc.spec ?? {};
  const namespace = svc.metadata.namespace ?? 'default';
  const addresses = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip && ip !== 'None');
  const podsOfService = pods.filter((p) => (p.metadata.namespace ?? 'default') === namespace && selected(spec.selector, p.metadata.labels));
  const ports: ServicePort[] = [];
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
    ports.push({ ...(p.name ? { name: p.name } : {}), port: p.port, targetPort, protocol: portProtocol(p.name, p.appProtocol) });
  }
  return {
    name: svc.metadata.name,
    namespace,
    addresses,
    ports,
    ...(spec.selector && Object.keys(spec.selector).length > 0 ? { selector: { ...spec.selector } } : {}),
  };
}
