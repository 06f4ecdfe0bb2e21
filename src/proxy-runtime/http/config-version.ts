/**
 * The immutable runtime of one config version: compiled listeners, route tables and clusters.
 * Built completely before it is used (validate -> build -> swap), so a config that cannot be
 * built is refused while the previous runtime keeps serving; requests keep the runtime they
 * started with, so a swap never changes a request midway. It sits on the HTTP floor, with the
 * exchange that carries it (layers and telemetry read its node facts and clusters); the proxy
 * above builds and swaps it.
 */
import type { ProxyConfig } from '../../protocol/proxy-config/index.js';
import { durationMs } from '../../protocol/proxy-config/index.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import type { ClusterStateRegistry } from '../upstream/state.js';
import { RouteTable } from './route/route-table.js';
import { ListenerRuntime } from './listener-runtime.js';
import type { JwtKeyMiss } from './authz/jwt.js';
import { encodePeerMetadata, type NodeInfo } from '../ground/peer-metadata.js';

/** One config version, compiled. */
export class Runtime {
  readonly version: string;
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  readonly routeTables: ReadonlyMap<string, RouteTable>;
  readonly listeners: ReadonlyMap<string, ListenerRuntime>;
  readonly drainPeriodMs: number;
  /** the peer-metadata header value this proxy sends on outbound requests (computed once) */
  readonly peerMetadata: string;

  constructor(
    readonly config: ProxyConfig,
    readonly node: NodeInfo,
    state: ClusterStateRegistry,
    keyMiss?: JwtKeyMiss,
  ) {
    this.version = config.version ?? 'unversioned';
    this.drainPeriodMs = durationMs(config.drainPeriod, 5_000);
    const clusters = new Map<string, ClusterRuntime>();
    (config.clusters ?? []).forEach((c, i) => {
      try {
        clusters.set(c.name, new ClusterRuntime(c, state));
      } catch (err) {
        // Its index, as validation names a cluster: the proxy adds the cluster's name, the control plane the object.
        throw new Error(`clusters[${i}]: ${(err as Error).message}`);
      }
    });
    this.clusters = clusters;
    const deps = {
      clusters,
      budgetFor: (cluster: string, b: { retryRatio: number; minRetriesPerSecond?: number; ttl?: string }) =>
        state.budget(cluster, b.retryRatio, b.minRetriesPerSecond ?? 10, durationMs(b.ttl, 10_000)),
    };
    const tables = new Map<string, RouteTable>();
    for (const r of config.routes ?? []) tables.set(r.name, new RouteTable(r, deps));
    this.routeTables = tables;
    const listeners = new Map<string, ListenerRuntime>();
    for (const l of config.listeners) listeners.set(l.name, new ListenerRuntime(l, tables, clusters, keyMiss));
    this.listeners = listeners;
    this.peerMetadata = encodePeerMetadata(node);
  }
}
