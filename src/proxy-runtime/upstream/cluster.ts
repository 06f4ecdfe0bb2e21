/**
 * A cluster as one config version sees it: endpoints (with long-lived health), subsets, balancer,
 * outlier detector, circuit-breaking limits and upstream pools. Built by the runtime builder,
 * never mutated after; the live state it points to (EndpointHealth, counters, pools, budget)
 * comes from the ClusterStateRegistry so that a config swap keeps connections and ejections.
 */
import type { ClusterConfig } from '../../protocol/proxy-config/index.js';
import { durationMs } from '../../protocol/proxy-config/index.js';
import { EndpointHealth, hostPort, INBOUND_PASSTHROUGH_SOURCE_IPV4, type Endpoint } from '../ground/endpoint.js';
import { makeBalancer, type Balancer } from './lb/balancer.js';
import { OutlierDetector } from './outlier/outlier.js';
import { ClusterLimits } from './pool/limits.js';
import type { H1ConnectionPool } from './pool/in-flight.js';
import type { H2Pool } from './pool/h2-pool.js';
import type { ClusterStateRegistry } from './state.js';
import type { SecureContext } from 'node:tls';
import { isIP } from 'node:net';
import { compileOrigination, originationContext } from '../ground/dial/connect.js';

/** How a request picks its hash key for consistent hashing. */
export type HashPolicy =
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string; path: string; ttlMs: number }
  | { kind: 'query'; name: string }
  | { kind: 'sourceIp' };

/** Result of choosing an endpoint. */
export type Selection = { endpoint: Endpoint; panic: boolean } | { endpoint: undefined; panic: boolean };

/** One cluster of one config version. */
export class ClusterRuntime {
  readonly name: string;
  readonly type: 'static' | 'originalDst';
  readonly protocol: 'auto' | 'http1' | 'http2';
  readonly service: string | undefined;
  readonly endpoints: readonly Endpoint[];
  readonly subsets: ReadonlyMap<string, readonly Endpoint[]>;
  readonly outlier: OutlierDetector;
  readonly limits: ClusterLimits;
  readonly hashPolicy: HashPolicy | undefined;
  readonly connectTimeoutMs: number;
  readonly mtls: boolean;
  readonly h1: H1ConnectionPool;
  readonly h2: H2Pool;
  /** The SecureContext of upstreamTls, shared by every endpoint of this cluster version. */
  private readonly originationContext: SecureContext | undefined;
  private readonly balancers = new Map<string, Balancer>();

  constructor(
    readonly cfg: ClusterConfig,
    state: ClusterStateRegistry,
  ) {
    this.name = cfg.name;
    this.type = cfg.type ?? 'static';
    this.protocol = cfg.protocol ?? 'auto';
    this.service = cfg.service;
    this.mtls = cfg.tls === 'mutual';
    const upstreamTls = cfg.upstreamTls;
    this.originationContext = upstreamTls ? originationContext(upstreamTls) : undefined;
    this.endpoints = (cfg.endpoints ?? []).map((e) => {
      const key = hostPort(e.address, e.port);
      return {
        ...(upstreamTls ? { originate: compileOrigination(upstreamTls, this.originationContext!, e.address) } : {}),
        key,
        address: e.address,
        port: e.port,
        weight: e.weight ?? 1,
        labels: e.labels ?? {},
        identity: e.identity,
        mtls: !upstreamTls && (e.tls ?? cfg.tls) === 'mutual',
        health: state.health(cfg.name, key),
        ...(cfg.dnsResolution && isIP(e.address) === 0 ? { dns: cfg.dnsResolution } : {}),
      };
    });
    const subsets = new Map<string, readonly Endpoint[]>();
    for (const s of cfg.subsets ?? []) {
      subsets.set(
        s.name,
        this.endpoints.filter((e) => Object.entries(s.labels).every(([k, v]) => e.labels[k] === v)),
      );
    }
    this.subsets = subsets;
    this.outlier = new OutlierDetector(cfg.outlierDetection);
    this.limits = new ClusterLimits(cfg.connectionPool, state.counters(cfg.name));
    this.connectTimeoutMs = durationMs(cfg.connectionPool?.tcp?.connectTimeout, 10_000);
    const ch = cfg.loadBalancer?.consistentHash;
    this.hashPolicy = ch?.httpHeaderName
      ? { kind: 'header', name: ch.httpHeaderName.toLowerCase() }
      : ch?.httpCookie
        ? {
            kind: 'cookie',
            name: ch.httpCookie.name,
            path: ch.httpCookie.path ?? '/',
            ttlMs: durationMs(ch.httpCookie.ttl, 0),
          }
        : ch?.httpQueryParameterName
          ? { kind: 'query', name: ch.httpQueryParameterName }
          : ch?.useSourceIp
            ? { kind: 'sourceIp' }
            : undefined;
    const pools = state.pools(cfg);
    this.h1 = pools.h1;
    this.h2 = pools.h2;
    this.balancers.set('', makeBalancer(cfg.loadBalancer));
    for (const name of subsets.keys()) this.balancers.set(name, makeBalancer(cfg.loadBalancer));
  }

  /**
   * Chooses an endpoint of `subset` (or of the whole cluster), honouring outlier ejections. `avoid`
   * (a retry: the endpoint of the attempt before) is left out while another one is available, as
   * Istio's previous_hosts retry predicate does: that endpoint may be the one going away.
   */
  select(subset: string | undefined, hashKey: string | undefined, now: number, avoid?: string): Selection {
    const all = subset === undefined ? this.endpoints : (this.subsets.get(subset) ?? []);
    if (all.length === 0) return { endpoint: undefined, panic: false };
    let { endpoints, panic } = this.outlier.available(all, now);
    if (endpoints.length === 0) return { endpoint: undefined, panic };
    if (avoid !== undefined && endpoints.length > 1) {
      const others = endpoints.filter((e) => e.key !== avoid);
      if (others.length > 0) endpoints = others;
    }
    return { endpoint: this.balancers.get(subset ?? '')!.pick(endpoints, hashKey), panic };
  }

  /** The endpoint of an originalDst cluster: where the connection or proxy request was going. */
  originalDestination(address: string, port: number): Endpoint {
    const key = hostPort(address, port);
    if (this.cfg.inboundPassthrough) {
      // The pod's own address, dialled by the proxy's UID over lo, is what MESH_IN_REDIRECT sends back to
      // 15006 (the pod calling itself through its Service): only the 127.0.0.6 source escapes that. IPv6
      // has no such address on lo by default, so IPv6 goes to the app on [::1], as the relay does.
      if (address.includes(':'))
        return {
          key,
          address: '::1',
          port,
          weight: 1,
          labels: {},
          identity: undefined,
          mtls: false,
          health: new EndpointHealth(),
        };
      return {
        key,
        address,
        port,
        weight: 1,
        labels: {},
        identity: undefined,
        mtls: false,
        health: new EndpointHealth(),
        localAddress: INBOUND_PASSTHROUGH_SOURCE_IPV4,
      };
    }
    const originate = this.cfg.upstreamTls
      ? compileOrigination(this.cfg.upstreamTls, this.originationContext!, address)
      : undefined;
    return {
      key,
      address,
      port,
      weight: 1,
      labels: {},
      identity: undefined,
      mtls: false,
      health: new EndpointHealth(),
      ...(originate ? { originate } : {}),
    };
  }
}
