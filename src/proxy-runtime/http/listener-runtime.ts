/**
 * A listener as one config version sees it: its filter chains compiled, and the chain chosen for
 * a connection from WHERE IT WAS GOING (the original destination), which for explicit listeners is
 * the listener itself and for capture listeners comes from SO_ORIGINAL_DST.
 */
import type { FilterChainConfig, ListenerConfig } from '../../protocol/proxy-config/index.js';
import { compileSubnets, durationMs, type SubnetTest } from '../../protocol/proxy-config/index.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { RouteTable } from './route/route-table.js';
import { ServerTlsTerminator, serverNameMatches } from '../ground/tls/server-tls.js';
import { ListenerAuthz } from './authz/authz-layer.js';
import type { JwtKeyMiss } from './authz/jwt.js';
import { limiterFor, type LocalRateLimiter } from './ratelimit/token-bucket.js';
import { performance } from 'node:perf_hooks';

/** A compiled filter chain. */
export interface ChainRuntime {
  readonly name: string;
  readonly cfg: FilterChainConfig;
  readonly protocol: 'auto' | 'http1' | 'http2' | 'tcp';
  readonly routes: RouteTable | undefined;
  readonly tcpCluster: ClusterRuntime | undefined;
  readonly tls: 'strict' | 'permissive' | 'disable';
  /** Gateway: TLS this chain terminates with its own certificates. */
  readonly serverTls: ServerTlsTerminator | undefined;
  /** Inbound HTTP: local rate limits (kept across config versions); undefined: none. */
  readonly rateLimit: LocalRateLimiter | undefined;
  /** The cluster of one opaque TCP connection: by weight when the chain has several, else `tcpCluster`. */
  readonly pickTcpCluster: () => ClusterRuntime | undefined;
  /** Compiled `match.destinationSubnets`; undefined: any destination. */
  readonly destinationSubnets: SubnetTest | undefined;
}

/** A per-connection weighted choice among clusters (Envoy tcp_proxy weighted_clusters). */
function weightedPick(
  weighted: FilterChainConfig['tcpWeightedClusters'],
  clusters: ReadonlyMap<string, ClusterRuntime>,
  fallback: ClusterRuntime | undefined,
): () => ClusterRuntime | undefined {
  const choices = (weighted ?? [])
    .filter((w) => w.weight > 0)
    .map((w) => ({ cluster: clusters.get(w.cluster), weight: w.weight }));
  if (choices.length === 0) return () => fallback;
  if (choices.length === 1) return () => choices[0]!.cluster;
  const total = choices.reduce((n, c) => n + c.weight, 0);
  return () => {
    let r = Math.random() * total;
    for (const c of choices) if ((r -= c.weight) < 0) return c.cluster;
    return choices[choices.length - 1]!.cluster;
  };
}

/** A compiled listener. */
export class ListenerRuntime {
  readonly name: string;
  readonly direction: 'inbound' | 'outbound';
  readonly mode: 'explicit' | 'http-proxy' | 'capture';
  readonly detectTimeoutMs: number;
  /** idle timeout of connections that detection handed to the TCP proxy */
  readonly tcpIdleTimeoutMs: number;
  readonly chains: readonly ChainRuntime[];
  /** JWT authentication and authorization policies (inbound), compiled; undefined: none */
  readonly authz: ListenerAuthz | undefined;

  constructor(
    readonly cfg: ListenerConfig,
    routes: ReadonlyMap<string, RouteTable>,
    clusters: ReadonlyMap<string, ClusterRuntime>,
    keyMiss?: JwtKeyMiss,
  ) {
    this.name = cfg.name;
    this.direction = cfg.direction;
    this.mode = cfg.mode ?? 'explicit';
    this.detectTimeoutMs = durationMs(cfg.detectTimeout, 5_000);
    this.tcpIdleTimeoutMs = durationMs(cfg.tcpIdleTimeout, 3_600_000);
    this.authz = cfg.authz ? new ListenerAuthz(cfg.authz, `listeners[${cfg.name}].authz`, keyMiss) : undefined;
    this.chains = cfg.chains.map((c, i) => {
      const tcpCluster = c.tcpCluster !== undefined ? clusters.get(c.tcpCluster) : undefined;
      return {
        name: c.name ?? `${cfg.name}/${i}`,
        cfg: c,
        protocol: c.protocol ?? 'auto',
        routes: c.routeConfig !== undefined ? routes.get(c.routeConfig) : undefined,
        tcpCluster,
        pickTcpCluster: weightedPick(c.tcpWeightedClusters, clusters, tcpCluster),
        destinationSubnets: c.match?.destinationSubnets?.length
          ? compileSubnets(c.match.destinationSubnets)
          : undefined,
        tls: c.tls ?? 'disable',
        serverTls: c.serverTls
          ? new ServerTlsTerminator(
              c.serverTls,
              c.protocol === 'http1' ? ['http/1.1'] : c.protocol === 'tcp' ? [] : ['h2', 'http/1.1'],
            )
          : undefined,
        rateLimit: c.rateLimit ? limiterFor(`${cfg.name}/${c.name ?? i}`, c.rateLimit, performance.now()) : undefined,
      };
    });
    this.needsSni = this.chains.some((c) => c.cfg.match?.serverNames?.length);
  }

  /** Whether a chain matches on SNI: connections are peeked for their ClientHello first. */
  readonly needsSni: boolean;

  /**
   * Whether a connection to `destination` must be peeked for its SNI: a chain that could take it
   * matches on server names. Other connections (server-first protocols too) are never held back.
   */
  needsSniFor(destination: { address: string; port: number }, labels: Readonly<Record<string, string>>): boolean {
    if (!this.needsSni) return false;
    for (const c of this.chains) {
      if (!this.addressMatches(c, destination, labels)) continue;
      // The first chain the address alone selects decides: it either needs the name or takes the connection.
      return Boolean(c.cfg.match?.serverNames?.length);
    }
    return false;
  }

  private addressMatches(
    c: ChainRuntime,
    destination: { address: string; port: number },
    labels: Readonly<Record<string, string>>,
  ): boolean {
    const m = c.cfg.match;
    if (!m) return true;
    if (m.destinationPort !== undefined && m.destinationPort !== destination.port) return false;
    if (m.destinationAddress !== undefined && m.destinationAddress !== destination.address) return false;
    if (c.destinationSubnets && !c.destinationSubnets(destination.address)) return false;
    if (m.sourceLabels && !Object.entries(m.sourceLabels).every(([k, v]) => labels[k] === v)) return false;
    return true;
  }

  /**
   * The first chain whose match accepts the destination (and this proxy's own `labels`, for
   * `sourceLabels`); a chain without match is a default.
   */
  chainFor(
    destination: { address: string; port: number },
    serverName?: string,
    labels: Readonly<Record<string, string>> = {},
  ): ChainRuntime | undefined {
    for (const c of this.chains) {
      const m = c.cfg.match;
      if (!m) return c;
      if (!this.addressMatches(c, destination, labels)) continue;
      if (
        m.serverNames?.length &&
        (serverName === undefined || !m.serverNames.some((n) => serverNameMatches(n, serverName)))
      )
        continue;
      return c;
    }
    return undefined;
  }
}
