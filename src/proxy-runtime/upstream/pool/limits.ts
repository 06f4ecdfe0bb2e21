/**
 * Circuit breaking (Istio ConnectionPoolSettings as Envoy applies them, per cluster):
 * active requests above maxConnections + http1MaxPendingRequests (HTTP/1.1) or above
 * http2MaxRequests (any protocol) are refused at once with 503 UO, and concurrent retries above
 * maxRetries are not attempted. Counters live across config versions of the cluster.
 */
import type { ConnectionPoolConfig } from '../../../protocol/proxy-config/index.js';

const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Live counters of one cluster. */
export class ClusterCounters {
  activeRequests = 0;
  activeRetries = 0;
  overflows = 0;
}

/** The admission limits of one cluster config. */
export class ClusterLimits {
  readonly maxConnections: number;
  private readonly maxActive: number;
  private readonly maxRetries: number;

  constructor(
    cfg: ConnectionPoolConfig | undefined,
    readonly counters: ClusterCounters,
  ) {
    this.maxConnections = cfg?.tcp?.maxConnections ?? UNLIMITED;
    const pending = cfg?.http?.http1MaxPendingRequests ?? UNLIMITED;
    const h2max = cfg?.http?.http2MaxRequests ?? UNLIMITED;
    this.maxActive = Math.min(
      h2max,
      this.maxConnections === UNLIMITED || pending === UNLIMITED ? UNLIMITED : this.maxConnections + pending,
    );
    this.maxRetries = cfg?.http?.maxRetries ?? UNLIMITED;
  }

  /** Admits a request (returns false on overflow: answer 503 UO). Pair with `release()`. */
  admit(): boolean {
    if (this.counters.activeRequests >= this.maxActive) {
      this.counters.overflows++;
      return false;
    }
    this.counters.activeRequests++;
    return true;
  }

  release(): void {
    this.counters.activeRequests--;
  }

  /** Admits a retry; pair with `releaseRetry()`. */
  admitRetry(): boolean {
    if (this.counters.activeRetries >= this.maxRetries) return false;
    this.counters.activeRetries++;
    return true;
  }

  releaseRetry(): void {
    this.counters.activeRetries--;
  }
}
