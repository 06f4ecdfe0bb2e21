/**
 * The mesh's view of what runs: services (Kubernetes Service objects, or created by `meshctl run
 * --service`), workloads (one per proxy: who it is, where it listens) and the endpoints that join
 * them. Platform backends fill it; the push snapshot freezes it.
 */

/** A port of a service. */
export interface ServicePortRecord {
  readonly name?: string;
  readonly port: number;
  /** The workload port traffic goes to; the service port when absent. */
  readonly targetPort?: number;
  /** `http`, `http2`, `grpc`, `tcp`, … (from the port name or appProtocol, as Istio reads it). */
  readonly protocol?: string;
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

/** A workload instance with its sidecar. */
export interface WorkloadRecord {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Where its sidecar accepts mesh traffic (local platform: 127.0.0.1). */
  readonly address: string;
  /** Inbound port of its sidecar for mesh traffic (mTLS between sidecars). */
  readonly proxyPort?: number;
  /** The application's ports. */
  readonly ports: readonly number[];
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
  /** `meshctl run --transparent`: in its own network namespace behind iptables capture (15001/15006), reached at `address` on its app ports. */
  readonly capture?: boolean;
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
}

/** `name.namespace`, the key of a service. */
export function serviceKey(s: { name: string; namespace: string }): string {
  return `${s.name}.${s.namespace}`;
}

/** Whether `labels` carry every key/value of `selector` (an empty selector selects nothing, as Kubernetes Services). */
export function selectorMatches(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return false;
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Endpoints of every service: workloads selected by label, or members by name, per service port. */
export function computeEndpoints(services: readonly ServiceRecord[], workloads: readonly WorkloadRecord[]): Map<string, Map<number, EndpointRecord[]>> {
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
    for (const [k, v] of Object.entries(w.labels)) add(`l\0${w.namespace}\0${k}\0${v}`, i);
    for (const name of w.services ?? []) add(`m\0${w.namespace}\0${name}`, i);
  });
  for (const svc of services) {
    const byPort = new Map<number, EndpointRecord[]>();
    for (const p of svc.ports) byPort.set(p.port, []);
    const first = svc.selector ? Object.entries(svc.selector)[0] : undefined;
    const candidates = new Set<number>([...(first ? index.get(`l\0${svc.namespace}\0${first[0]}\0${first[1]}`) ?? [] : []), ...(index.get(`m\0${svc.namespace}\0${svc.name}`) ?? [])]);
    for (const i of [...candidates].sort((a, b) => a - b)) {
      const w = workloads[i]!;
      if (w.namespace !== svc.namespace || w.serving === false) continue;
      if (!(w.services?.includes(svc.name) || selectorMatches(svc.selector, w.labels))) continue;
      for (const p of svc.ports) {
        const target = p.targetPort ?? (w.ports.length === 1 ? w.ports[0]! : p.port);
        byPort.get(p.port)!.push({
          workload: w.name,
          namespace: w.namespace,
          address: w.address,
          port: target,
          ...(w.proxyPort !== undefined ? { proxyPort: w.proxyPort } : {}),
          labels: w.labels,
          serviceAccount: w.serviceAccount,
        });
      }
    }
    out.set(serviceKey(svc), byPort);
  }
  return out;
}
