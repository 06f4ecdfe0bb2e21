/**
 * Istio Gateway analyzers beyond credentials: two Gateways claiming the same host on the same port
 * of the same gateway workload (istioctl's ConflictingGateways), and server ports that no Service
 * of the gateway workload exposes (GatewayPortNotDefinedOnService), VirtualServices bound to a Gateway
 * that exposes none of their hosts (VirtualServiceHostNotFoundInGateway).
 */
import type { Gateway } from '../../config/index.js';
import type { Analyzer, Typed } from '../context.js';
import { hostsOverlap, labelsMatch } from '../hosts.js';
import type { WorkloadInfo } from '../input.js';
import { Messages } from '../messages.js';

const selectorText = (s: Readonly<Record<string, string>>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '(all)';

const sameSelector = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean =>
  Object.keys(a).length === Object.keys(b).length && labelsMatch(a, b);

/** The known workloads a Gateway's selector picks (any namespace, as Istio applies gateways by default). */
function runners(gw: Gateway, workloads: readonly WorkloadInfo[]): WorkloadInfo[] {
  const sel = gw.spec.selector ?? {};
  return Object.keys(sel).length === 0 ? [] : workloads.filter((w) => labelsMatch(sel, w.labels));
}

/**
 * Gateways that run on one workload (the same selector, or a known workload both select) with a
 * server on the same port and bind naming the same host: the gateway proxy serves that host from one
 * of them only.
 */
export const conflictingGatewaysAnalyzer: Analyzer = {
  name: 'conflicting-gateways',
  run(ctx) {
    const gateways = ctx.of('Gateway', 'networking.istio.io');
    const workloads = ctx.input.inventory.workloads ?? [];
    const shareWorkload = (a: Typed<Gateway>, b: Typed<Gateway>): boolean => {
      const sa = a.res.spec.selector ?? {};
      const sb = b.res.spec.selector ?? {};
      if (sameSelector(sa, sb)) return true;
      const onB = new Set(runners(b.res, workloads));
      return runners(a.res, workloads).some((w) => onB.has(w));
    };
    const id = (g: Typed<Gateway>): string => `${g.res.metadata.namespace}/${g.res.metadata.name}`;
    for (const gw of gateways) {
      gw.res.spec.servers.forEach((server, i) => {
        const others = gateways.filter(
          (o) =>
            o !== gw &&
            shareWorkload(gw, o) &&
            o.res.spec.servers.some(
              (s) =>
                s.port?.number === server.port?.number &&
                (s.bind ?? '') === (server.bind ?? '') &&
                s.hosts.some((h) => server.hosts.includes(h)),
            ),
        );
        if (others.length === 0) return;
        const names = others.map(id).sort().join(', ');
        ctx.report(
          Messages.ConflictingGateways,
          gw.r,
          `Gateway ${names} also declares host ${server.hosts.join(',')} on port ${server.port?.number} of the workload ${selectorText(gw.res.spec.selector ?? {})}: the gateway serves it from one of them only; merge the servers into one Gateway, or use different hosts or ports.`,
          ['spec', 'servers', i],
        );
      });
    }
  },
};

/**
 * Gateway server ports that no Service selecting the gateway's workloads exposes (as a targetPort,
 * or as a port when the Service maps it one to one). Judged only when the gateway's workloads and at
 * least one Service selecting them are known.
 */
export const gatewayServicePortAnalyzer: Analyzer = {
  name: 'gateway-service-ports',
  run(ctx) {
    const { workloads, services } = ctx.input.inventory;
    if (!workloads || !services) return;
    for (const gw of ctx.of('Gateway', 'networking.istio.io')) {
      const pods = runners(gw.res, workloads);
      const exposing = services.filter(
        (s) =>
          s.selector &&
          Object.keys(s.selector).length > 0 &&
          s.ports &&
          pods.some((w) => w.namespace === s.namespace && labelsMatch(s.selector!, w.labels)),
      );
      if (exposing.length === 0) continue; // nothing known about how the gateway is exposed
      const open = new Set<number>();
      for (const s of exposing) for (const p of s.ports ?? []) open.add(p.targetPort ?? p.port);
      // istioctl also accepts a Service port whose targetPort differs: the server port then matches the Service port.
      for (const s of exposing) for (const p of s.ports ?? []) open.add(p.port);
      gw.res.spec.servers.forEach((server, i) => {
        const port = server.port?.number;
        if (port === undefined || open.has(port)) return;
        ctx.report(
          Messages.GatewayPortNotOnService,
          gw.r,
          `Port ${port} is on no Service of the gateway workload ${selectorText(gw.res.spec.selector ?? {})} (${exposing.map((s) => `Service ${s.namespace}/${s.name}: ${(s.ports ?? []).map((p) => (p.targetPort !== undefined && p.targetPort !== p.port ? `${p.port}->${p.targetPort}` : p.port)).join(', ')}`).join('; ')}); clients cannot reach it: add the port to the Service or use one of its ports.`,
          ['spec', 'servers', i, 'port', 'number'],
        );
      });
    }
  },
};

/** A server host as written (`ns/host`, `./host`, `*\/host`, `host`): the namespaces it admits and the host. */
function serverHost(entry: string, gatewayNs: string): { ns: string; host: string } {
  const slash = entry.indexOf('/');
  if (slash < 0) return { ns: '*', host: entry };
  const ns = entry.slice(0, slash);
  return { ns: ns === '.' ? gatewayNs : ns, host: entry.slice(slash + 1) };
}

/** The hosts a gateway exposes, each with the namespaces whose VirtualServices it admits (`*`: all). */
type Exposed = { ns: string; host: string }[];

/** A gateway's exposed hosts, the hosts as written, and what carries them (servers or listeners). */
interface GatewayHosts {
  exposed: Exposed;
  offered: string[];
  part: 'server' | 'listener';
}

/**
 * The hosts of a Gateway API Gateway (gateway.networking.k8s.io) as Istio binds VirtualServices to
 * it: each listener's hostname (any host when absent) for the namespaces its allowedRoutes admit
 * (`Same`, the default: the Gateway's own; `All` and `Selector`, which needs namespace labels: any).
 */
function gatewayApiHosts(object: unknown, gwNs: string): GatewayHosts | undefined {
  const spec = (object as { spec?: { listeners?: unknown } } | null)?.spec;
  if (!spec || !Array.isArray(spec.listeners)) return undefined;
  const exposed: Exposed = [];
  for (const l of spec.listeners as unknown[]) {
    if (l === null || typeof l !== 'object') continue;
    const { hostname, allowedRoutes } = l as {
      hostname?: unknown;
      allowedRoutes?: { namespaces?: { from?: unknown } };
    };
    const from = allowedRoutes?.namespaces?.from;
    exposed.push({
      ns: from === 'All' || from === 'Selector' ? '*' : gwNs,
      host: typeof hostname === 'string' ? hostname : '*',
    });
  }
  return { exposed, offered: exposed.map((e) => e.host), part: 'listener' };
}

/**
 * VirtualServices naming a Gateway (in `spec.gateways`; an Istio Gateway or a Gateway API one)
 * none of whose server hosts, as admitted for the VirtualService's namespace, overlaps any of its
 * hosts: the gateway binds it to no server, as the gateway translation decides. A Gateway that does
 * not exist is MESH0105's finding.
 */
export const hostInGatewayAnalyzer: Analyzer = {
  name: 'virtual-service-host-in-gateway',
  run(ctx) {
    const gateways = new Map<string, GatewayHosts>();
    for (const r of ctx.input.resources) {
      const id = r.validation.identity;
      if (id.kind !== 'Gateway' || !id.apiVersion.startsWith('gateway.networking.k8s.io/') || !id.namespace) continue;
      const hosts = gatewayApiHosts(r.object, id.namespace);
      if (hosts) gateways.set(`${id.namespace}/${id.name}`, hosts);
    }
    for (const g of ctx.of('Gateway', 'networking.istio.io')) {
      const gwNs = g.res.metadata.namespace!;
      gateways.set(`${gwNs}/${g.res.metadata.name}`, {
        exposed: g.res.spec.servers.flatMap((s) => s.hosts.map((h) => serverHost(h, gwNs))),
        offered: g.res.spec.servers.flatMap((s) => s.hosts),
        part: 'server',
      });
    }
    for (const vs of ctx.of('VirtualService')) {
      const ns = vs.res.metadata.namespace!;
      const hosts = vs.res.spec.hosts ?? [];
      if (hosts.length === 0) continue; // a delegate: bound through its parent
      vs.res.spec.gateways?.forEach((ref, i) => {
        if (ref === 'mesh') return;
        const key = ref.includes('/') ? ref : `${ns}/${ref}`;
        const gw = gateways.get(key);
        if (!gw) return;
        const exposed = gw.exposed.filter((h) => h.ns === '*' || h.ns === ns);
        if (hosts.some((h) => exposed.some((e) => hostsOverlap(e.host, h)))) return;
        ctx.report(
          Messages.HostNotInGateway,
          vs.r,
          `Gateway ${key} exposes none of the hosts ${hosts.join(', ')} to namespace "${ns}" (its ${gw.part}s: ${gw.offered.join(', ')}): it never routes this VirtualService; add a host to a ${gw.part} of the Gateway, or fix spec.hosts.`,
          ['spec', 'gateways', i],
        );
      });
    }
  },
};
