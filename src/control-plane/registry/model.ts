/**
 * The mesh's view of what runs: services (Kubernetes Service objects, or created by `meshctl run
 * --service`), workloads (one per proxy: who it is, where it listens) and the endpoints that join
 * them. Each platform's registry fills the same records (the Kubernetes informers, the local
 * workload store); the push snapshot freezes them and the translation reads them as they are, so
 * what differs between platforms is a plain field here (membership, ports, capture), never a
 * platform-specific pass over the translation's output.
 */

/** Application protocol of a service port, from its name or appProtocol (Istio's naming rules). */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'auto';

/** A port of a service. */
export interface ServicePortRecord {
  readonly name?: string;
  readonly port: number;
  /** The workload port traffic goes to; the service port when absent. */
  readonly targetPort?: number;
  /**
   * A named targetPort (`targetPort: http-web`): a WorkloadEntry serves the port only when its
   * `ports` map names it (Istio's rule); pods and local workloads resolve it to `targetPort`.
   */
  readonly targetPortName?: string;
  /** From the port name or appProtocol, as Istio reads it; absent: detected (`auto`). */
  readonly protocol?: PortProtocol;
}

/** A service: a name clients use, its ports, and how its workloads are selected. */
export interface ServiceRecord {
  readonly name: string;
  readonly namespace: string;
  readonly ports: readonly ServicePortRecord[];
  /** Label selector; workloads matching it are endpoints. Absent: only explicit members. */
  readonly selector?: Readonly<Record<string, string>>;
  /** Virtual IPs clients may call it on (local: allocated by `meshctl run --transparent`). */
  readonly addresses?: readonly string[];
}

/** A workload instance: with its sidecar (a pod, `meshctl run`), or described by a WorkloadEntry. */
export interface WorkloadRecord {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Where its sidecar accepts mesh traffic (local platform: 127.0.0.1). */
  readonly address: string;
  /** Whether it runs a sidecar (and so speaks mTLS); absent: it does (every local workload). */
  readonly meshed?: boolean;
  /** Inbound port of its sidecar for mesh traffic (mTLS between sidecars). */
  readonly proxyPort?: number;
  /** The application's ports (a service port without targetPort goes to the only one). */
  readonly ports?: readonly number[];
  /** Services it serves explicitly (`meshctl run --service`), besides selector matches. */
  readonly services?: readonly string[];
  /** The port clients use for those services (`--service-port`; default the app port). */
  readonly servicePort?: number;
  /** The sidecar's admin port (127.0.0.1), for `proxy-config` and `check`. */
  readonly adminPort?: number;
  /** The sidecar's telemetry port (`/stats/prometheus`), on `address` (local `meshctl run`: 127.0.0.1). */
  readonly telemetryPort?: number;
  /** The sidecar's HTTP_PROXY listener on 127.0.0.1 (local platform, no traffic capture). */
  readonly outboundPort?: number;
  /**
   * Its traffic is captured by iptables (15001/15006): pods, `meshctl run --transparent`. Absent:
   * explicit mode (HTTP_PROXY listener on `outboundPort`, inbound on `proxyPort`).
   */
  readonly capture?: boolean;
  /**
   * Peers' apps dial its `address` and app ports directly (local `run --transparent`: no kube-proxy
   * or VIP in front), so every capturing peer gets an mTLS chain for each. Pods leave it unset: a
   * call to a pod IP passes through, as in Istio.
   */
  readonly peersDialAddress?: boolean;
  /** `meshctl run --transparent`: the namespace's IPv6 (ULA) address, when it has one; the sidecar then captures IPv6 too. */
  readonly ipv6Address?: string;
  /** The VIP of each service in `services` (same order), allocated by `meshctl run --transparent`. */
  readonly serviceAddresses?: readonly string[];
  /** `meshctl run --outbound`: sidecar listeners on 127.0.0.1:localPort to service:port (service: NAME or NAME.NAMESPACE). */
  readonly outboundPorts?: readonly { readonly service: string; readonly port: number; readonly localPort: number }[];
  /**
   * false: registered (its sidecar may connect and get config) but not an endpoint of any service:
   * `meshctl run` before its sidecar and app are ready, and while it withdraws before stopping.
   * Absent or true: serving.
   */
  readonly serving?: boolean;
  /**
   * Linkerd's default inbound policy for ports no Server covers (annotation
   * `config.linkerd.io/default-inbound-policy` of the pod, else of its namespace); absent: the
   * install-wide default (`proxy.defaultInboundPolicy`), else all-unauthenticated.
   */
  readonly defaultInboundPolicy?: string;
  /** `meshctl gateway run`: a gateway (router mode) binding `address`, Gateway port -> local port. */
  readonly gateway?: { readonly address: string; readonly ports: Readonly<Record<number, number>> };
  /**
   * `WorkloadEntry`: described by an Istio WorkloadEntry (a VM, a process outside the mesh), not a
   * proxy of the mesh: it is an endpoint only; no sidecar connects for it, none gets its config.
   */
  readonly source?: 'WorkloadEntry';
  /** A WorkloadEntry's `ports`: service port name (or named targetPort) -> the port it listens on. */
  readonly namedPorts?: Readonly<Record<string, number>>;
  /** A WorkloadEntry's `weight`: its share of a service's load balancing (absent: 1, as every pod). */
  readonly weight?: number;
}

/** One endpoint of a service port: a workload and the port its app listens on. */
export interface EndpointRecord {
  readonly workload: string;
  readonly namespace: string;
  readonly address: string;
  readonly port: number;
  readonly proxyPort?: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** Load-balancing weight (WorkloadEntry `weight`); absent: 1. */
  readonly weight?: number;
}

/** `name.namespace`, the key of a service. */
export function serviceKey(s: { name: string; namespace: string }): string {
  return `${s.name}.${s.namespace}`;
}

/** Whether `labels` carry every key/value of `selector` (no selector selects nothing; an empty one, its whole namespace). */
export function selectorMatches(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Endpoints of every service: workloads selected by label, or members by name, per service port. */
export function computeEndpoints(
  services: readonly ServiceRecord[],
  workloads: readonly WorkloadRecord[],
): Map<string, Map<number, EndpointRecord[]>> {
  const out = new Map<string, Map<number, EndpointRecord[]>>();
  // Candidates by (namespace, label) and by (namespace, member of): every service costs its
  // candidates, not a scan of every workload (1000 services x 2000 workloads on every snapshot).
  const index = new Map<string, number[]>();
  const add = (key: string, i: number): void => {
    const list = index.get(key);
    if (list) list.push(i);
    else index.set(key, [i]);
  };
  workloads.forEach((w, i) => {
    add(`n\0${w.namespace}`, i);
    for (const [k, v] of Object.entries(w.labels)) add(`l\0${w.namespace}\0${k}\0${v}`, i);
    for (const name of w.services ?? []) add(`m\0${w.namespace}\0${name}`, i);
  });
  for (const svc of services) {
    const byPort = new Map<number, EndpointRecord[]>();
    for (const p of svc.ports) byPort.set(p.port, []);
    const first = svc.selector ? Object.entries(svc.selector)[0] : undefined;
    const selected = !svc.selector
      ? []
      : first
        ? (index.get(`l\0${svc.namespace}\0${first[0]}\0${first[1]}`) ?? [])
        : (index.get(`n\0${svc.namespace}`) ?? []);
    const candidates = new Set<number>([...selected, ...(index.get(`m\0${svc.namespace}\0${svc.name}`) ?? [])]);
    for (const i of [...candidates].sort((a, b) => a - b)) {
      const w = workloads[i]!;
      // Not serving (not ready yet, or withdrawing before it stops): registered, but no endpoint.
      if (w.serving === false || !serves(svc, w)) continue;
      for (const p of svc.ports) {
        const target = endpointPortOn(p, w);
        if (target === undefined) continue;
        byPort.get(p.port)!.push({
          workload: w.name,
          namespace: w.namespace,
          address: w.address,
          port: target,
          ...(w.proxyPort !== undefined ? { proxyPort: w.proxyPort } : {}),
          labels: w.labels,
          serviceAccount: w.serviceAccount,
          ...(w.weight !== undefined ? { weight: w.weight } : {}),
        });
      }
    }
    out.set(serviceKey(svc), byPort);
  }
  return out;
}

/** Whether `service` has `workload` as an endpoint: selected by label, or a member by name. */
export function serves(service: ServiceRecord, workload: WorkloadRecord): boolean {
  if (service.namespace !== workload.namespace) return false;
  return (workload.services?.includes(service.name) ?? false) || selectorMatches(service.selector, workload.labels);
}

/** The port of `workload` a service port sends to: its targetPort, else the workload's only app port, else the port. */
export function targetPortOn(port: ServicePortRecord, workload: WorkloadRecord): number {
  return port.targetPort ?? (workload.ports?.length === 1 ? workload.ports[0]! : port.port);
}

/**
 * The port of `workload` a service port's endpoint is on, as Istio maps ports: a WorkloadEntry's
 * `ports` entry named by the named targetPort, else by the service port's name, else the numeric
 * targetPort, else the service port; undefined when a named targetPort is not in its `ports` (it is
 * no endpoint of that port). Every other workload: {@link targetPortOn}.
 */
export function endpointPortOn(port: ServicePortRecord, workload: WorkloadRecord): number | undefined {
  if (workload.source !== 'WorkloadEntry') return targetPortOn(port, workload);
  const byName = workload.namedPorts?.[port.targetPortName ?? port.name ?? ''];
  if (byName) return byName;
  if (port.targetPortName !== undefined) return undefined;
  return port.targetPort ?? port.port;
}

/**
 * Where peers reach `workload` for a service port: a gateway's local port, its sidecar's inbound
 * port in explicit mode, else the target port; undefined: not an endpoint of that port.
 */
export function peerPortOn(port: ServicePortRecord, workload: WorkloadRecord): number | undefined {
  if (workload.source === 'WorkloadEntry') return endpointPortOn(port, workload);
  const target = targetPortOn(port, workload);
  // A gateway (`meshctl gateway run`) serves each Gateway port on a local port of its own.
  if (workload.gateway) return workload.gateway.ports[target] ?? target;
  return workload.proxyPort ?? target;
}
