/**
 * What the proxy records when a request or TCP connection finishes: the Istio metrics with the
 * labels derived from who called whom (this node, the endpoint's labels, the peer's metadata and
 * certificate), and the access log line.
 */
import type { Exchange } from '../http/exchange.js';
import { decodePeerMetadata, type NodeInfo, type PeerWorkload } from '../ground/peer-metadata.js';
import { AccessLog } from './access-log.js';
import { ISTIO_TCP_LABELS, ProxyMetrics } from './metrics.js';
import type { HttpSeries } from './http-series.js';
import type { Side } from './metric-plans.js';
import type { ConnectionInfo } from '../http/exchange.js';
import type { Runtime } from '../http/config-version.js';
import type { ProxyConfig } from '../../protocol/proxy-config/index.js';
import { SpanExporter } from './span-export.js';
import { spanOf } from './tracing.js';
import { compileLogFilter, type LogFilterInput, type TagValueInput } from '../../config/log-filter.js';

/** The facts of a finished TCP connection. */
export interface TcpRecord {
  listener: string;
  direction: 'inbound' | 'outbound';
  node: NodeInfo;
  cluster: string;
  service: string | undefined;
  upstreamHost: string;
  upstreamLabels: Readonly<Record<string, string>> | undefined;
  upstreamIdentity: string | undefined;
  peerIdentity: string | undefined;
  mtls: boolean;
  remote: string;
  startedAt: number;
  bytesReceived: number;
  bytesSent: number;
  flags: string;
  /** why the proxy closed the connection itself (an RBAC denial names the policy) */
  terminationDetails?: string | undefined;
}

const u = (v: string | undefined): string => v ?? 'unknown';

function serviceName(service: string): { name: string; namespace: string } {
  const parts = service.split('.');
  return { name: parts[0] ?? service, namespace: parts[1] ?? 'unknown' };
}

function endpoints(
  direction: 'inbound' | 'outbound',
  node: NodeInfo,
  peer: PeerWorkload | undefined,
  peerIdentity: string | undefined,
  upstreamLabels: Readonly<Record<string, string>> | undefined,
  upstreamIdentity: string | undefined,
  service: string,
  mtls: boolean,
): Record<string, string> {
  const svc = serviceName(service);
  if (direction === 'outbound') {
    const l = upstreamLabels ?? {};
    return {
      reporter: 'source',
      source_workload: node.workload,
      source_workload_namespace: node.namespace,
      source_principal: node.principal,
      source_app: node.app,
      source_version: node.version,
      source_cluster: node.cluster,
      destination_workload: u(l['workload'] ?? l['app']),
      destination_workload_namespace: u(l['namespace']),
      destination_principal: u(upstreamIdentity),
      destination_app: u(l['app']),
      destination_version: u(l['version']),
      destination_service: service,
      destination_service_name: svc.name,
      destination_service_namespace: l['namespace'] ?? svc.namespace,
      destination_cluster: u(l['cluster'] ?? node.cluster),
      connection_security_policy: 'unknown',
    };
  }
  return {
    reporter: 'destination',
    source_workload: u(peer?.workload),
    source_workload_namespace: u(peer?.namespace),
    source_principal: u(peerIdentity),
    source_app: u(peer?.app),
    source_version: u(peer?.version),
    source_cluster: u(peer?.cluster),
    destination_workload: node.workload,
    destination_workload_namespace: node.namespace,
    destination_principal: node.principal,
    destination_app: node.app,
    destination_version: node.version,
    destination_service: service,
    destination_service_name: svc.name,
    destination_service_namespace: svc.namespace === 'unknown' ? node.namespace : svc.namespace,
    destination_cluster: node.cluster,
    connection_security_policy: mtls ? 'mutual_tls' : 'none',
  };
}

/**
 * The series a connection's last request was counted in, with everything its key derived from
 * (the connection's own facts are fixed). A kept-alive connection mostly repeats the same
 * combination, so the next request finds its series by a few comparisons instead of building
 * and hashing the key string.
 */
interface LastSeries {
  runtime: Runtime;
  clusterName: string;
  upstreamHost: string;
  /** the authority, when no cluster names the service */
  authority: string;
  status: number;
  flags: string;
  grpc: boolean;
  grpcStatus: string | undefined;
  peerMetadata: string | undefined;
  /** the metric plans' generation and the tag expressions' values the series was found under */
  generation: number;
  values: string;
  route: string;
  series: HttpSeries;
}

const NO_VALUES: readonly (string | undefined)[] = [];

/** Istio's node metadata keys a tag value can read, from what the proxy knows of itself. */
function nodeMetadata(node: NodeInfo, name: string): string | undefined {
  switch (name) {
    case 'NAMESPACE':
      return node.namespace;
    case 'WORKLOAD_NAME':
      return node.workload;
    case 'CLUSTER_ID':
      return node.cluster;
    case 'NAME':
      return node.id;
    default:
      return undefined;
  }
}

/** The attributes a tag expression reads for one exchange (built only when a Telemetry asks for expressions). */
function exchangeAttributes(ex: Exchange, status: number): TagValueInput {
  return {
    responseCode: status,
    method: ex.method,
    path: ex.path,
    host: ex.authority,
    protocol: ex.protocol,
    header: (n) => ex.header(n),
    sourceAddress: ex.conn.remoteAddress,
    sourcePort: ex.conn.remotePort,
    destinationAddress: ex.conn.destination.address,
    destinationPort: ex.conn.destination.port,
    mtls: ex.conn.mtls,
    nodeMetadata: (n) => nodeMetadata(ex.runtime.node, n),
  };
}

/** A TCP connection's attributes: request ones are absent (their tags read `unknown`, as in Istio). */
function connectionAttributes(r: TcpRecord): TagValueInput {
  const colon = r.remote.lastIndexOf(':');
  const upstream = r.upstreamHost.lastIndexOf(':');
  return {
    responseCode: undefined as unknown as number,
    method: undefined as unknown as string,
    path: undefined as unknown as string,
    host: undefined as unknown as string,
    protocol: 'tcp',
    header: () => undefined,
    sourceAddress: colon > 0 ? r.remote.slice(0, colon) : r.remote,
    sourcePort: colon > 0 ? Number(r.remote.slice(colon + 1)) : 0,
    destinationAddress: upstream > 0 ? r.upstreamHost.slice(0, upstream) : r.upstreamHost,
    destinationPort: upstream > 0 ? Number(r.upstreamHost.slice(upstream + 1)) : 0,
    mtls: r.mtls,
    nodeMetadata: (n) => nodeMetadata(r.node, n),
  };
}

const sideOf = (direction: 'inbound' | 'outbound'): Side => (direction === 'outbound' ? 'CLIENT' : 'SERVER');

/** Metrics, access log and spans of one proxy. */
export class Telemetry {
  readonly metrics = new ProxyMetrics();
  readonly accessLog: AccessLog;
  readonly spans = new SpanExporter<Exchange>(spanOf);
  private readonly lastSeries = new WeakMap<ConnectionInfo, LastSeries>();
  /** which requests the access log keeps (undefined: all); compiled when the config changes */
  private logFilter: ((r: LogFilterInput) => boolean) | undefined;
  private logFilterText: string | undefined;

  /** `accessLogOut`: where `stdout` access log lines go (undefined: the launcher turned the log off). */
  constructor(private readonly accessLogOut: NodeJS.WritableStream | undefined) {
    this.accessLog = new AccessLog(accessLogOut);
    this.metrics.watchSpans(this.spans.counters);
  }

  /** Applies a config's telemetry section (access log target and encoding, span export): no restart needed. */
  configure(cfg: ProxyConfig['telemetry']): void {
    this.accessLog.configure(cfg?.accessLog, cfg?.accessLogEncoding, this.accessLogOut);
    this.spans.configure(cfg?.tracing);
    this.metrics.series.configure(cfg?.metrics);
    if (cfg?.accessLogFilter !== this.logFilterText) {
      this.logFilterText = cfg?.accessLogFilter;
      // validated before the config was accepted (Proxy.applyNow), so this compiles
      this.logFilter = this.logFilterText === undefined ? undefined : compileLogFilter(this.logFilterText);
    }
  }

  /** Flushes the access log and the span queues. */
  close(): void {
    this.accessLog.close();
    this.spans.close();
  }

  /** Records a finished HTTP exchange. */
  recordHttp(ex: Exchange, status: number, grpcStatus: string | undefined): void {
    const peerMetadata = ex.peerMetadata;
    const durationMs = performance.now() - ex.startedAt;
    const direction = ex.conn.listener.direction;
    const cluster = ex.clusterName ? ex.runtime.clusters.get(ex.clusterName) : undefined;
    const grpc = ex.isGrpc();
    const flags = ex.flags === '' ? '-' : ex.flags;
    const authority = cluster ? '' : ex.authority;
    const side = sideOf(direction);
    const series = this.metrics.series;
    // Tag expressions (Telemetry tagOverrides) are evaluated only when a Telemetry sets some.
    const exprs = series.expressions(side, 'http').evaluate;
    let values = NO_VALUES;
    let valuesKey = '';
    if (exprs.length > 0) {
      const attrs = exchangeAttributes(ex, status);
      values = exprs.map((e) => e(attrs));
      valuesKey = values.join('\u0001');
    }
    // The matched route's name (a ServiceProfile route, a VirtualService http[].name): per-route
    // series, as Linkerd's rt_route; '' when no route matched.
    const route = ex.route?.name ?? '';
    const last = this.lastSeries.get(ex.conn);
    let found: HttpSeries;
    if (
      last !== undefined &&
      last.runtime === ex.runtime &&
      last.status === status &&
      last.clusterName === ex.clusterName &&
      last.upstreamHost === ex.upstreamHost &&
      last.flags === flags &&
      last.grpc === grpc &&
      last.grpcStatus === grpcStatus &&
      last.peerMetadata === peerMetadata &&
      last.authority === authority &&
      last.generation === series.generation &&
      last.values === valuesKey &&
      last.route === route
    ) {
      found = last.series;
    } else {
      // Everything the labels derive from, as one cheap key: labels are built once per combination.
      const key = `${series.generation}|${ex.runtime.version}|${direction}|${ex.clusterName}|${ex.upstreamHost}|${cluster?.service ?? ex.authority}|${status}|${flags}|${grpc ? grpcStatus : '-'}|${ex.conn.mtls}|${ex.conn.peerIdentity}|${peerMetadata}|${route}|${valuesKey}`;
      found = series.http(
        key,
        side,
        () => {
          const service = cluster?.service ?? (ex.authority.replace(/:\d+$/, '') || 'unknown');
          const labels = endpoints(
            direction,
            ex.runtime.node,
            direction === 'inbound' ? decodePeerMetadata(peerMetadata) : undefined,
            ex.conn.peerIdentity,
            ex.upstreamEndpointLabels,
            ex.upstreamIdentity,
            service,
            ex.conn.mtls,
          );
          labels.request_protocol = grpc ? 'grpc' : 'http';
          labels.response_code = String(status);
          labels.grpc_response_status = grpcStatus ?? '';
          labels.response_flags = flags;
          labels.route = route;
          return labels;
        },
        values,
      );
      this.lastSeries.set(ex.conn, {
        runtime: ex.runtime,
        clusterName: ex.clusterName,
        upstreamHost: ex.upstreamHost,
        authority,
        status,
        flags,
        grpc,
        grpcStatus,
        peerMetadata,
        route,
        generation: series.generation,
        values: valuesKey,
        series: found,
      });
    }
    if (found.requests) found.requests.value++;
    found.duration?.observe(durationMs);
    found.requestBytes?.observe(ex.body.bytesReceived);
    found.responseBytes?.observe(ex.bytesSent);
    if (!this.accessLog.enabled && !(ex.sampled && this.spans.active)) return;
    const service = cluster?.service ?? (hostOf(ex.authority) || 'unknown');
    if (ex.sampled && this.spans.active) this.spans.defer(ex, status, service, durationMs);
    if (!this.accessLog.enabled) return;
    if (
      this.logFilter &&
      !this.logFilter({
        responseCode: status,
        method: ex.method,
        path: ex.path,
        host: ex.authority,
        protocol: ex.protocol,
        header: (n) => ex.header(n),
      })
    )
      return;
    const labelsFlags = flags;
    this.accessLog.write({
      start_time: new Date(Date.now() - durationMs).toISOString(),
      method: ex.method,
      path: ex.path,
      protocol: ex.protocol,
      response_code: status,
      response_flags: labelsFlags,
      grpc_status: grpc ? grpcStatus : undefined,
      duration: Math.round(durationMs * 1000) / 1000,
      bytes_received: ex.body.bytesReceived,
      bytes_sent: ex.bytesSent,
      upstream_service: service,
      upstream_cluster: ex.clusterName || '-',
      upstream_host: ex.upstreamHost || '-',
      authority: ex.authority,
      request_id: ex.requestId,
      trace_id: ex.traceId,
      downstream_remote_address: `${ex.conn.remoteAddress}:${ex.conn.remotePort}`,
      user_agent: ex.header('user-agent'),
      x_forwarded_for: ex.header('x-forwarded-for'),
      route_name: ex.route?.name,
      listener: ex.conn.listener.name,
      attempts: ex.attempts,
      response_code_details: ex.responseCodeDetails,
      rbac_audit_matched_policy: ex.authzAudit,
    });
  }

  private tcpLabels(r: TcpRecord): Record<string, string> {
    const labels = endpoints(
      r.direction,
      r.node,
      undefined,
      r.peerIdentity,
      r.upstreamLabels,
      r.upstreamIdentity,
      r.service ?? r.cluster,
      r.mtls,
    );
    labels.response_flags = r.flags === '' ? '-' : r.flags;
    return labels;
  }

  /** The TCP series of a connection (its labels as known now: flags may change before it closes). */
  private tcpSeries(r: TcpRecord, labels: Record<string, string>) {
    const side = sideOf(r.direction);
    const series = this.metrics.series;
    const exprs = series.expressions(side, 'tcp').evaluate;
    let values = NO_VALUES;
    if (exprs.length > 0) {
      const attrs = connectionAttributes(r);
      values = exprs.map((e) => e(attrs));
    }
    let key = `${series.generation}|${side}|`;
    for (const l of ISTIO_TCP_LABELS) key += labels[l] + '\u0001';
    if (values.length) key += '|' + values.join('\u0001');
    return series.tcp(key, side, () => labels, values);
  }

  /** Counts a TCP connection to an upstream as opened (flags as known at that time). */
  tcpOpened(r: TcpRecord): void {
    const s = this.tcpSeries(r, this.tcpLabels(r));
    if (s.opened) s.opened.value++;
  }

  /** Records a finished TCP connection. */
  recordTcp(r: TcpRecord): void {
    const labels = this.tcpLabels(r);
    const s = this.tcpSeries(r, labels);
    if (s.closed) s.closed.value++;
    if (s.sent) s.sent.value += r.bytesSent;
    if (s.received) s.received.value += r.bytesReceived;
    const durationMs = performance.now() - r.startedAt;
    this.accessLog.write({
      start_time: new Date(Date.now() - durationMs).toISOString(),
      protocol: 'tcp',
      response_code: 0,
      response_flags: labels.response_flags ?? '-',
      duration: Math.round(durationMs * 1000) / 1000,
      bytes_received: r.bytesReceived,
      bytes_sent: r.bytesSent,
      upstream_service: r.service,
      upstream_cluster: r.cluster,
      upstream_host: r.upstreamHost || '-',
      downstream_remote_address: r.remote,
      listener: r.listener,
      connection_termination_details: r.terminationDetails,
    });
  }
}

/** The authority without a trailing `:digits` port (what `/:\d+$/` removes, without a regex per span). */
function hostOf(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon < 0 || colon === authority.length - 1) return authority;
  for (let i = colon + 1; i < authority.length; i++) {
    const c = authority.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return authority;
  }
  return authority.slice(0, colon);
}
