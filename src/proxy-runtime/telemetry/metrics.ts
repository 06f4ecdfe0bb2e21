/**
 * Metrics with Istio's names and labels (so Istio dashboards, Kiali and alerts work unchanged),
 * plus the proxy's own gauges. Label sets are cached per distinct combination: recording a
 * request is a map lookup and two increments.
 */
import { MetricRegistry } from './prom-metrics.js';
import { IstioSeriesSet } from './http-series.js';

/** Istio's standard labels, in the order they are declared. */
export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/**
 * The labels of the HTTP series: Istio's, then `route`, the name of the route that matched (Linkerd's
 * `rt_route`; Istio adds such a dimension through Telemetry): `sum by (route)` gives per-route rates
 * as `linkerd viz routes` shows them. Last, so Istio's dashboards and queries read the same.
 */
export const HTTP_LABELS = [...ISTIO_LABELS, 'route'] as const;

/** Istio's TCP labels (no request/response labels). */
export const ISTIO_TCP_LABELS = ISTIO_LABELS.filter(
  (l) => !['request_protocol', 'response_code', 'grpc_response_status'].includes(l),
);

/** The metric registry of a proxy. */
export class ProxyMetrics {
  readonly registry = new MetricRegistry();
  /** The Istio HTTP and TCP series (kept outside the registry for speed; rendered at scrape). */
  readonly series = new IstioSeriesSet(HTTP_LABELS, ISTIO_TCP_LABELS);
  /** Downstream connections open now. */
  readonly downstreamConnections = this.registry.gauge(
    'meshctl_proxy_downstream_connections',
    'Downstream connections currently open',
    ['listener'],
  );
  /** Requests in flight now: a plain counter on the hot path, read into the gauge when scraped. */
  readonly activeRequests = new InFlightCount();
  private readonly activeRequestsGauge = this.registry.gauge('meshctl_proxy_active_requests', 'Requests in flight');
  /** The applied config version (value 1, version in the label). */
  readonly configVersion = this.registry.gauge(
    'meshctl_proxy_config_version_info',
    'Applied config version (the label)',
    ['version'],
  );
  /** Config applications by result (accepted / rejected). */
  readonly configApplies = this.registry.counter(
    'meshctl_proxy_config_applies_total',
    'Config applications, by result',
    ['result'],
  );
  /** Errors that escaped every handler and reached the last-resort guard (each one a bug to fix). */
  readonly internalErrors = this.registry.counter(
    'meshctl_proxy_internal_errors_total',
    'Errors caught by the last-resort guard, by kind',
    ['kind'],
  );
  /** Expiry of the workload certificate. */
  readonly certExpiry = this.registry.gauge(
    'meshctl_proxy_certificate_expiry_timestamp_seconds',
    'Expiry of the workload certificate (unix seconds)',
    ['spiffe_id'],
  );

  private readonly spansExported = this.registry.counter(
    'meshctl_proxy_spans_exported_total',
    'Spans a collector accepted',
  );
  private readonly spansDropped = this.registry.counter(
    'meshctl_proxy_spans_dropped_total',
    'Spans dropped: export queue full (collector slow or down) or the collector refused or failed a batch',
  );

  constructor() {
    this.activeRequestsGauge.collect = () => this.activeRequestsGauge.set(this.activeRequests.value);
  }

  /** Renders the span exporter's counters (read at scrape time: nothing is done per span). */
  watchSpans(counters: { readonly exported: number; readonly dropped: number }): void {
    const follow = (metric: typeof this.spansExported, read: () => number) => {
      let seen = 0;
      const child = metric.labels();
      metric.collect = () => {
        const now = read();
        child.inc(now - seen);
        seen = now;
      };
    };
    follow(this.spansExported, () => counters.exported);
    follow(this.spansDropped, () => counters.dropped);
  }

  /** Prometheus text exposition. */
  exposition(): Promise<string> {
    return Promise.resolve(this.series.render() + this.registry.metrics());
  }
}

/** A number of requests in flight, counted without any per-call label handling. */
export class InFlightCount {
  value = 0;
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
}
