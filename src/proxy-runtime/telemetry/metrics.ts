/**
 * Metrics with Istio's names and labels (so Istio dashboards, Kiali and alerts work unchanged),
 * plus the proxy's own gauges. Label sets are cached per distinct combination: recording a
 * request is a map lookup and two increments.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { HttpSeriesSet } from './http-series.js';

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

/** Istio's TCP labels (no request/response labels). */
export const ISTIO_TCP_LABELS = ISTIO_LABELS.filter((l) => !['request_protocol', 'response_code', 'grpc_response_status'].includes(l));

type LabelValues = Record<string, string>;

interface TcpSeries {
  sent: { inc(v: number): void };
  received: { inc(v: number): void };
  opened: { inc(): void };
  closed: { inc(): void };
}

/** The metric registry of a proxy. */
export class ProxyMetrics {
  readonly registry = new Registry();
  /** The Istio HTTP series (kept outside prom-client for speed; rendered at scrape). */
  readonly httpSeries = new HttpSeriesSet();
  private readonly tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent to the downstream on TCP connections', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the downstream on TCP connections', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  /** Downstream connections open now. */
  readonly downstreamConnections = new Gauge({ name: 'meshctl_proxy_downstream_connections', help: 'Downstream connections currently open', labelNames: ['listener'], registers: [this.registry] });
  /** Requests in flight now: a plain counter on the hot path, read into the gauge when scraped. */
  readonly activeRequests = new InFlightCount();
  private readonly activeRequestsGauge = new Gauge({
    name: 'meshctl_proxy_active_requests',
    help: 'Requests in flight',
    registers: [this.registry],
    collect: (): void => {
      this.activeRequestsGauge.set(this.activeRequests.value);
    },
  });
  /** The applied config version (value 1, version in the label). */
  readonly configVersion = new Gauge({ name: 'meshctl_proxy_config_version_info', help: 'Applied config version (the label)', labelNames: ['version'], registers: [this.registry] });
  /** Config applications by result (accepted / rejected). */
  readonly configApplies = new Counter({ name: 'meshctl_proxy_config_applies_total', help: 'Config applications, by result', labelNames: ['result'], registers: [this.registry] });
  /** Expiry of the workload certificate. */
  readonly certExpiry = new Gauge({ name: 'meshctl_proxy_certificate_expiry_timestamp_seconds', help: 'Expiry of the workload certificate (unix seconds)', labelNames: ['spiffe_id'], registers: [this.registry] });

  private readonly tcpCache = new Map<string, TcpSeries>();

  tcp(labels: LabelValues): TcpSeries {
    let key = '';
    for (const l of ISTIO_TCP_LABELS) key += labels[l] + '\u0001';
    let s = this.tcpCache.get(key);
    if (!s) {
      s = { sent: this.tcpSent.labels(labels), received: this.tcpReceived.labels(labels), opened: this.tcpOpened.labels(labels), closed: this.tcpClosed.labels(labels) };
      if (this.tcpCache.size > 10_000) this.tcpCache.clear();
      this.tcpCache.set(key, s);
    }
    return s;
  }

  /** Prometheus text exposition. */
  async exposition(): Promise<string> {
    return this.httpSeries.render() + (await this.registry.metrics());
  }
}

/** A number of requests in flight, counted without prom-client's per-call label handling. */
export class InFlightCount {
  value = 0;
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
}
