/**
 * The span this proxy reports for a sampled request, with Istio's tags: a CLIENT span on the
 * source side (outbound), a SERVER span on the destination side (inbound). Its id is the one
 * `prepareTracing` propagated upstream and its parent the caller's, so the application's spans
 * and every proxy hop join in one trace.
 */
import { isIP } from 'node:net';
import type { Exchange } from '../http/exchange.js';
import type { CustomTagConfig } from '../../protocol/proxy-config/index.js';
import type { SpanRecord } from './span-export.js';

type Node = Exchange['runtime']['node'];
/** per node (one per config version): its canonical names and Zipkin service name, worked out once */
const canonicals = new WeakMap<Node, { service: string; revision: string; serviceName: string }>();

/** Istio's canonical service and revision of this proxy's workload (the labels Istio reads, then app/version). */
function canonical(ex: Exchange): { service: string; revision: string; serviceName: string } {
  const n = ex.runtime.node;
  let c = canonicals.get(n);
  if (c === undefined) {
    const service = n.labels['service.istio.io/canonical-name'] ?? n.app;
    const revision =
      n.labels['service.istio.io/canonical-revision'] ?? (n.version === 'unknown' ? 'latest' : n.version);
    c = { service, revision, serviceName: `${service}.${n.namespace}` };
    canonicals.set(n, c);
  }
  return c;
}

/** `address:port` or `[v6]:port` of an IP endpoint (no regex: this runs for every sampled request). */
function hostPort(hp: string): { address: string; port: number } | undefined {
  const colon = hp.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const address = hp.startsWith('[') && hp[colon - 1] === ']' ? hp.slice(1, colon - 1) : hp.slice(0, colon);
  const port = Number(hp.slice(colon + 1));
  if (!Number.isInteger(port) || colon + 1 === hp.length || isIP(address) === 0) return undefined;
  return { address, port };
}

function customTagValue(ex: Exchange, t: CustomTagConfig): string | undefined {
  if (t.literal) return t.literal.value;
  if (t.header) return ex.header(t.header.name.toLowerCase()) ?? t.header.defaultValue;
  if (t.environment) return process.env[t.environment.name] ?? t.environment.defaultValue;
  return undefined;
}

/** The span of a finished exchange (only called for sampled requests while spans are exported). */
export function spanOf(ex: Exchange, status: number, service: string, durationMs: number): SpanRecord {
  const n = ex.runtime.node;
  const c = canonical(ex);
  const outbound = ex.conn.listener.direction === 'outbound';
  const colon = ex.authority.lastIndexOf(':');
  const tail = colon < 0 ? '' : ex.authority.slice(colon + 1);
  const port = tail !== '' && /^\d+$/.test(tail) ? tail : String(ex.conn.destination.port);
  const tags: Record<string, string> = {
    node_id: n.id,
    'istio.canonical_service': c.service,
    'istio.canonical_revision': c.revision,
    'istio.namespace': n.namespace,
    'istio.mesh_id': 'cluster.local',
    component: 'proxy',
    'http.url': `${ex.scheme}://${ex.authority}${ex.path}`,
    'http.method': ex.method,
    'http.protocol': ex.protocol,
    'http.status_code': String(status),
    request_size: String(ex.body.bytesReceived),
    response_size: String(ex.bytesSent),
    response_flags: ex.flags === '' ? '-' : ex.flags,
    upstream_cluster: ex.clusterName || '-',
    'upstream_cluster.name': ex.clusterName || '-',
    downstream_cluster: '-',
    'peer.address': ex.conn.remoteAddress,
    'guid:x-request-id': ex.requestId,
    user_agent: ex.header('user-agent') ?? '-',
  };
  const custom = ex.runtime.config.telemetry?.tracing?.customTags;
  if (custom) {
    for (const name in custom) {
      const v = customTagValue(ex, custom[name]!);
      if (v !== undefined) tags[name] = v;
    }
  }
  return {
    traceId: ex.traceId,
    spanId: ex.spanId,
    parentId: ex.parentSpanId,
    kind: outbound ? 'CLIENT' : 'SERVER',
    name: `${service}:${port}/*`,
    startUs: Math.round((performance.timeOrigin + ex.startedAt) * 1000),
    durationUs: Math.round(durationMs * 1000),
    serviceName: c.serviceName,
    error: status === 0 || status >= 500,
    tags,
    remote: outbound
      ? hostPort(ex.upstreamHost)
      : isIP(ex.conn.remoteAddress)
        ? { address: ex.conn.remoteAddress, port: ex.conn.remotePort }
        : undefined,
  };
}
