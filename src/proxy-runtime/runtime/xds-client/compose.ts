/**
 * The proxy applies whole configs; the stream delivers them per type. The composer keeps the last
 * accepted resources of each type and, for each response, builds the whole config with that type
 * replaced and hands it to the proxy's applyConfig: accepted -> ACK, refused -> NACK with the
 * proxy's reasons, and the proxy keeps serving its last good config.
 *
 * Removals race with the references to them (a cluster removed before the routes that name it are
 * updated): like Envoy keeping a cluster until nothing uses it, a cluster or route table still
 * named by the new config is carried over from the config in force until the references go.
 */
import {
  PROXY_CONFIG_API_VERSION,
  type ClusterConfig,
  type ListenerConfig,
  type ProxyConfig,
  type RouteConfigConfig,
} from '../../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../../protocol/stream/messages.js';
import { joinRouteTables } from '../../../protocol/stream/resources.js';
import type { ApplyResult } from './client.js';

/** What the composer drives: the proxy's applyConfig (never throws; says why it refused). */
export interface ConfigTarget {
  /** `source` 'stream': the proxy records the hash of what the control plane sent (proxy-status DIVERGED) */
  applyConfig(config: unknown, source?: 'stream'): Promise<{ ok: true } | { ok: false; error: string }>;
  /** Set by the config stream: told when a JWT names a key its issuer's keys lack (the Proxy has it). */
  jwtKeyMiss?: ((issuer: string, kid: string) => void) | undefined;
}

/** The parts of the config the stream does not carry (node, identity files, admin, telemetry). */
export type StaticParts = Omit<ProxyConfig, 'apiVersion' | 'version' | 'listeners' | 'routes' | 'clusters'>;

/**
 * The identity section of a proxy whose certificates come from the mesh CA (a CaIdentitySource
 * given to Proxy.start, which takes precedence over the section). The proxy config format asks for
 * an identity wherever mTLS is used, and names files; CA-issued material lives only in the proxy's
 * memory, which is what these entries say.
 */
export const CA_ISSUED_IDENTITY = {
  certChain: 'memory:ca-issued',
  privateKey: 'memory:ca-issued',
  trustRoots: 'memory:ca-issued',
} as const;

type TelemetrySection = NonNullable<ProxyConfig['telemetry']>;

/** The telemetry resource of a response (one, named `telemetry`) as the config's section; the proxy validates it. */
function telemetrySection(resources: unknown[]): TelemetrySection | undefined {
  const r = resources[0];
  if (r === null || typeof r !== 'object') return undefined;
  const { name: _name, ...section } = r as Record<string, unknown>;
  return section as TelemetrySection;
}

/** Builds whole configs from per-type responses. */
export class ConfigComposer {
  private clusters: ClusterConfig[] = [];
  private routes: RouteConfigConfig[] = [];
  private listeners: ListenerConfig[] = [];
  /** the stream's telemetry section (access log, tracing), laid over the bootstrap's (ports) */
  private telemetry: TelemetrySection | undefined;
  private inForce: ProxyConfig | undefined;

  constructor(
    private readonly target: ConfigTarget,
    private readonly staticParts: StaticParts = {},
  ) {}

  /** The config in force (last accepted). */
  get current(): ProxyConfig | undefined {
    return this.inForce;
  }

  /** The XdsClient `apply` callback. */
  readonly apply = async (typeUrl: string, resources: unknown[], version: string): Promise<ApplyResult> => {
    const next = { clusters: this.clusters, routes: this.routes, listeners: this.listeners, telemetry: this.telemetry };
    if (typeUrl === TypeUrl.clusters) next.clusters = resources as ClusterConfig[];
    else if (typeUrl === TypeUrl.telemetry) next.telemetry = telemetrySection(resources);
    // Route tables may arrive split, one resource per virtual host: join them back.
    else if (typeUrl === TypeUrl.routes) next.routes = joinRouteTables(resources) as RouteConfigConfig[];
    else if (typeUrl === TypeUrl.listeners) next.listeners = resources as ListenerConfig[];
    else return { ok: false, error: `resource type ${typeUrl} is not supported by this proxy` };
    const telemetry =
      next.telemetry || this.staticParts.telemetry ? { ...this.staticParts.telemetry, ...next.telemetry } : undefined;
    // The workload's labels the control plane sent fill in what the bootstrap did not know (a
    // Kubernetes sidecar starts with its pod's name only); the bootstrap's own labels win.
    const workloadLabels = telemetry?.workloadLabels;
    const node =
      workloadLabels && this.staticParts.node
        ? { ...this.staticParts.node, labels: { ...workloadLabels, ...this.staticParts.node.labels } }
        : this.staticParts.node;
    const candidate: ProxyConfig = {
      ...this.staticParts,
      ...(node ? { node } : {}),
      ...(telemetry ? { telemetry } : {}),
      apiVersion: PROXY_CONFIG_API_VERSION,
      version,
      listeners: next.listeners,
      routes: this.withRetained(next.routes, referencedRoutes(next.listeners), this.inForce?.routes ?? []),
      clusters: next.clusters,
    };
    candidate.clusters = this.withRetained(next.clusters, referencedClusters(candidate), this.inForce?.clusters ?? []);
    const result = await this.target.applyConfig(candidate, 'stream');
    if (!result.ok) return { ok: false, error: nameResources(result.error, candidate) };
    this.clusters = next.clusters;
    this.routes = next.routes;
    this.listeners = next.listeners;
    this.telemetry = next.telemetry;
    this.inForce = candidate;
    return { ok: true };
  };

  private withRetained<T extends { name: string }>(fresh: T[], referenced: Set<string>, previous: readonly T[]): T[] {
    const have = new Set(fresh.map((x) => x.name));
    const carried = previous.filter((x) => referenced.has(x.name) && !have.has(x.name));
    return carried.length ? [...fresh, ...carried] : fresh;
  }
}

function referencedRoutes(listeners: readonly ListenerConfig[]): Set<string> {
  const out = new Set<string>();
  for (const l of listeners) for (const c of l.chains) if (c.routeConfig) out.add(c.routeConfig);
  return out;
}

function referencedClusters(cfg: ProxyConfig): Set<string> {
  const out = new Set<string>();
  for (const l of cfg.listeners) {
    for (const c of l.chains) {
      if (c.tcpCluster) out.add(c.tcpCluster);
      for (const w of c.tcpWeightedClusters ?? []) out.add(w.cluster);
    }
  }
  for (const rc of cfg.routes ?? []) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        for (const d of r.route ?? []) out.add(d.cluster);
        if (r.mirror) out.add(r.mirror.cluster);
        for (const m of r.mirrors ?? []) out.add(m.cluster);
      }
    }
  }
  return out;
}

/**
 * Adds the resource's name after each `clusters[N]`, `listeners[N]`, `routes[N]` and
 * `routes[N].virtualHosts[M]` of a refusal: an index into the composed config means nothing to the
 * control plane or to someone reading proxy-status; a name leads to the object that made it.
 */
export function nameResources(error: string, cfg: ProxyConfig): string {
  return error.replace(
    /\b(clusters|listeners|routes)\[(\d+)\](\.virtualHosts\[(\d+)\])?/g,
    (whole, kind: string, i: string, vh: string | undefined, j: string | undefined) => {
      const list = (kind === 'clusters' ? cfg.clusters : kind === 'listeners' ? cfg.listeners : cfg.routes) as
        { name?: string; virtualHosts?: { name?: string }[] }[] | undefined;
      const r = list?.[Number(i)];
      if (!r?.name) return whole;
      const host = vh !== undefined ? r.virtualHosts?.[Number(j)]?.name : undefined;
      const what = kind === 'clusters' ? 'cluster' : kind === 'listeners' ? 'listener' : 'route table';
      return `${whole} (${what} "${r.name}"${host ? `, virtual host "${host}"` : ''})`;
    },
  );
}
