/**
 * Outlier detection (Istio/Envoy semantics): consecutive 5xx or gateway errors eject an endpoint
 * for baseEjectionTime x (number of its ejections); at most maxEjectionPercent of a cluster is
 * ejected (at least one host may always be); when the healthy share falls below minHealthPercent
 * the cluster is in panic and balances over every endpoint, ejected or not.
 * Local failures (connect failure, reset, timeout) count as 503, as Envoy does by default.
 */
import type { OutlierDetectionConfig } from '../../../protocol/proxy-config/index.js';
import { durationMs } from '../../../protocol/proxy-config/index.js';
import type { Endpoint } from '../../ground/endpoint.js';

/** What happened on one request to an endpoint. */
export type AttemptOutcome = number | 'connect-failure' | 'reset' | 'timeout';

/** Compiled outlier settings of a cluster. */
export class OutlierDetector {
  private readonly consecutive5xx: number;
  private readonly consecutiveGateway: number;
  private readonly intervalMs: number;
  private readonly baseEjectionMs: number;
  private readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;
  readonly enabled: boolean;

  constructor(cfg: OutlierDetectionConfig | undefined) {
    this.enabled = cfg !== undefined;
    this.consecutive5xx =
      cfg?.consecutive5xxErrors ??
      (cfg && cfg.consecutiveErrors === undefined && cfg.consecutiveGatewayErrors === undefined ? 5 : 0);
    this.consecutiveGateway = cfg?.consecutiveGatewayErrors ?? cfg?.consecutiveErrors ?? 0;
    this.intervalMs = durationMs(cfg?.interval, 10_000);
    this.baseEjectionMs = durationMs(cfg?.baseEjectionTime, 30_000);
    this.maxEjectionPercent = cfg?.maxEjectionPercent ?? 10;
    this.minHealthPercent = cfg?.minHealthPercent ?? 0;
  }

  /** Records an outcome for `ep`; ejects it when a threshold is reached and the cap allows. */
  record(ep: Endpoint, outcome: AttemptOutcome, all: readonly Endpoint[], now: number): void {
    const h = ep.health;
    h.totalRequests++;
    const status = typeof outcome === 'number' ? outcome : 503;
    if (status < 500) {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return;
    }
    h.totalFailures++;
    if (!this.enabled) return;
    h.consecutive5xx++;
    if (status === 502 || status === 503 || status === 504) h.consecutiveGateway++;
    else h.consecutiveGateway = 0;
    const tripped =
      (this.consecutive5xx > 0 && h.consecutive5xx >= this.consecutive5xx) ||
      (this.consecutiveGateway > 0 && h.consecutiveGateway >= this.consecutiveGateway);
    if (!tripped || h.isEjected(now)) return;
    const ejected = all.filter((e) => e.health.isEjected(now)).length;
    if (ejected > 0 && ((ejected + 1) * 100) / all.length > this.maxEjectionPercent) return;
    // The multiplier decays while the endpoint stays healthy, one step per interval (as Envoy).
    if (h.lastUnejectedAt > 0)
      h.ejectionCount = Math.max(0, h.ejectionCount - Math.floor((now - h.lastUnejectedAt) / this.intervalMs));
    h.ejectionCount++;
    h.ejectedUntil = now + this.baseEjectionMs * h.ejectionCount;
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
  }

  /**
   * The endpoints to balance over: the non-ejected ones, or all of them in panic mode.
   * `panic` is reported so the access log and /clusters can show it.
   */
  available(endpoints: readonly Endpoint[], now: number): { endpoints: readonly Endpoint[]; panic: boolean } {
    if (!this.enabled) return { endpoints, panic: false };
    let healthy: Endpoint[] | undefined;
    for (let i = 0; i < endpoints.length; i++) {
      const ep = endpoints[i]!;
      if (ep.health.isEjected(now)) {
        healthy ??= endpoints.slice(0, i);
      } else if (healthy) healthy.push(ep);
    }
    if (!healthy) return { endpoints, panic: false };
    if (
      endpoints.length > 0 &&
      this.minHealthPercent > 0 &&
      (healthy.length * 100) / endpoints.length < this.minHealthPercent
    ) {
      return { endpoints, panic: true };
    }
    return { endpoints: healthy, panic: false };
  }
}
