/**
 * The live state of clusters that must outlive a config version: endpoint health (outlier
 * ejections, active requests), circuit-breaker counters, upstream connection pools and retry
 * budgets. The runtime builder asks here by cluster name; after a swap, `sweep` retires what the
 * new version no longer uses (pools close as their in-flight requests finish).
 */
import type { ClusterConfig } from '../../protocol/proxy-config/index.js';
import { durationMs } from '../../protocol/proxy-config/index.js';
import { EndpointHealth } from '../ground/endpoint.js';
import type { MeshTls } from '../ground/tls/contexts.js';
import { ClusterCounters } from './pool/limits.js';
import { H2Pool } from './pool/h2-pool.js';
import { FastH1Pool } from './pool/h1-pool.js';
import type { H1ConnectionPool } from './pool/in-flight.js';
import { RetryBudget } from './retry-budget.js';

interface PoolPair {
  h1: H1ConnectionPool;
  h2: H2Pool;
}

const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

/** Long-lived cluster state, keyed by cluster name. */
export class ClusterStateRegistry {
  private readonly healths = new Map<string, EndpointHealth>();
  private readonly counterMap = new Map<string, ClusterCounters>();
  private readonly poolMap = new Map<string, { settings: string; pools: PoolPair; used: boolean }>();

  private readonly budgets = new Map<string, RetryBudget>();

  constructor(private mesh: MeshTls | undefined) {}

  /** The retry budget of a cluster (one per cluster and budget setting). */
  budget(cluster: string, retryRatio: number, minRetriesPerSecond: number, ttlMs: number): RetryBudget {
    const key = `${cluster}\u0000${retryRatio}/${minRetriesPerSecond}/${ttlMs}`;
    let b = this.budgets.get(key);
    if (!b) {
      b = new RetryBudget(retryRatio, minRetriesPerSecond, ttlMs);
      this.budgets.set(key, b);
    }
    return b;
  }

  /** Sets the identity used by pools made from now on (the old pools are retired by `rotate`). */
  setMesh(mesh: MeshTls | undefined): void {
    this.mesh = mesh;
  }

  health(cluster: string, endpointKey: string): EndpointHealth {
    const key = `${cluster}\u0000${endpointKey}`;
    let h = this.healths.get(key);
    if (!h) {
      h = new EndpointHealth();
      this.healths.set(key, h);
    }
    return h;
  }

  counters(cluster: string): ClusterCounters {
    let c = this.counterMap.get(cluster);
    if (!c) {
      c = new ClusterCounters();
      this.counterMap.set(cluster, c);
    }
    return c;
  }

  /**
   * The pools of a cluster; new ones when the pool-relevant settings changed. Old pools are only
   * retired by `sweep`, after the new runtime is in place, so a failed build leaves them serving.
   */
  pools(cfg: ClusterConfig): PoolPair {
    const cp = cfg.connectionPool;
    // New TLS origination settings (a rotated client certificate or CA) need new connections.
    const key = `${cfg.name}\u0000${JSON.stringify([cp ?? null, cfg.tls ?? null, cfg.upstreamTls ?? null])}`;
    const existing = this.poolMap.get(key);
    if (existing) {
      existing.used = true;
      return existing.pools;
    }
    const connectTimeoutMs = durationMs(cp?.tcp?.connectTimeout, 10_000);
    const idleTimeoutMs = durationMs(cp?.http?.idleTimeout, DEFAULT_IDLE_TIMEOUT_MS);
    const maxRequestsPerConnection = cp?.http?.maxRequestsPerConnection ?? 0;
    const pools: PoolPair = {
      h1: new FastH1Pool({
        maxConnections: cp?.tcp?.maxConnections ?? Infinity,
        maxRequestsPerConnection,
        idleTimeoutMs,
        connectTimeoutMs,
        mesh: this.mesh,
      }),
      h2: new H2Pool({ maxRequestsPerConnection, idleTimeoutMs, connectTimeoutMs, mesh: this.mesh }),
    };
    this.poolMap.set(key, { settings: key, pools, used: true });
    return pools;
  }

  /** Call before building a runtime: marks every pool unused until the build asks for it. */
  beginBuild(): void {
    for (const p of this.poolMap.values()) p.used = false;
  }

  /** After a swap: retires pools the new runtime does not use, and forgets health of removed clusters. */
  sweep(liveClusters: ReadonlySet<string>): void {
    for (const [key, p] of this.poolMap) {
      if (!p.used) {
        retirePair(p.pools);
        this.poolMap.delete(key);
      }
    }
    for (const key of this.healths.keys())
      if (!liveClusters.has(key.slice(0, key.indexOf('\u0000')))) this.healths.delete(key);
  }

  /**
   * The certificate of the same identity was renewed: mTLS connections are replaced make-before-break
   * (a new one per peer must connect before the old ones go: pool/handover.ts).
   */
  renewed(): void {
    for (const p of this.poolMap.values()) {
      p.pools.h1.renew();
      p.pools.h2.renew();
    }
  }

  /** A new identity source: mTLS connections are replaced as they finish, new ones use the new identity. */
  rotate(): void {
    for (const [name, p] of this.poolMap) {
      retirePair(p.pools);
      this.poolMap.delete(name);
    }
  }

  close(): void {
    for (const p of this.poolMap.values()) {
      p.pools.h1.close();
      p.pools.h2.close();
    }
    this.poolMap.clear();
  }
}

function retirePair(p: PoolPair): void {
  p.h1.retire();
  p.h2.retire();
}
