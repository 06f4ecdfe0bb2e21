/**
 * Metrics with Istio's names and labels (so Istio dashboards, Kiali and alerts work unchanged),
 * plus the proxy's own gauges. Label sets are cached per distinct combination: recording a
 * request is a map lookup and two increments.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

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

const DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
const SIZE_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000];

interface HttpSeries {
  requests: { inc(): void };
  duration: { observe(v: number): void };
  reqBytes: { observe(v: number): void };
  respBytes: { observe(v: number): void };
}

interface TcpSeries {
  sent: { inc(v: number): void };
  received: { inc(v: number): void };
  opened: { inc(): void };
  closed: { inc(): void };
}

/** The metric registry of a proxy. */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'istio_requests_total', help: 'Requests handled, by source, destination and response', labelNames: ISTIO_LABELS, registers: [this.registry] });
  private readonly duration = new Histogram({ name: 'istio_request_duration_milliseconds', help: 'Request duration', labelNames: ISTIO_LABELS, buckets: DURATION_BUCKETS, registers: [this.registry] });
  private readonly reqBytes = new Histogram({ name: 'istio_request_bytes', help: 'Request body sizes', labelNames: ISTIO_LABELS, buckets: SIZE_BUCKETS, registers: [this.registry] });
  private readonly respBytes = new Histogram({ name: 'istio_response_bytes', help: 'Response body sizes', labelNames: ISTIO_LABELS, buckets: SIZE_BUCKETS, registers: [this.registry] });
  private readonly tcpSent = new Counter({ name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent to the downstream on TCP connections', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpReceived = new Counter({ name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the downstream on TCP connections', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpOpened = new Counter({ name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  private readonly tcpClosed = new Counter({ name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: ISTIO_TCP_LABELS, registers: [this.registry] });
  /** Downstream connections open now. */
  readonly downstreamConnections = new Gauge({ name: 'meshctl_proxy_downstream_connections', help: 'Downstream connections currently open', labelNames: ['listener'], registers: [this.registry] });
  /** Requests in flight now. */
  readonly activeRequests = new Gauge({ name: 'meshctl_proxy_active_requests', help: 'Requests in flight', registers: [this.registry] });
  /** The applied config version (value 1, version in the label). */
  readonly configVersion = new Gauge({ name: 'meshctl_proxy_config_version_info', help: 'Applied config version (the label)', labelNames: ['version'], registers: [this.registry] });
  /** Config applications by result (accepted / rejected). */
  readonly configApplies = new Counter({ name: 'meshctl_proxy_config_applies_total', help: 'Config applications, by result', labelNames: ['result'], registers: [this.registry] });
  /** Expiry of the workload certificate. */
  readonly certExpiry = new Gauge({ name: 'meshctl_proxy_certificate_expiry_timestamp_seconds', help: 'Expiry of the workload certificate (unix seconds)', labelNames: ['spiffe_id'], registers: [this.registry] });

  private readonly httpCache = new Map<string, HttpSeries>();
  private readonly tcpCache = new Map<string, TcpSeries>();

  /** The series for a label combination (cached). */
  http(labels: LabelValues): HttpSeries {
    let key = '';
    for (const l of ISTIO_LABELS) key += labels[l] + '\u0001';
    let s = this.httpCache.get(key);
    if (!s) {
      s = { requests: this.requests.labels(labels), duration: this.duration.labels(labels), reqBytes: this.reqBytes.labels(labels), respBytes: this.respBytes.labels(labels) };
      if (this.httpCache.size > 10_000) this.httpCache.clear();
      this.httpCache.set(key, s);
    }
    return s;
  }

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
    return this.registry.metrics();
  }
}
