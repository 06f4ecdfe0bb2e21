/**
 * The span this proxy reports for a sampled request, with Istio's tags: a CLIENT span on the
 * source side (outbound), a SERVER span on the destination side (inbound). Its id is the one
 * `prepareTracing` propagated upstream and its parent the caller's, so the application's spans
 * and every proxy hop join in one trace.
 */
import { isIP } from 'node:net';
import type { Exchange, HexId } from '../http/exchange.js';
import type { CustomTagConfig } from '../../protocol/proxy-config/index.js';
import { spanConstants, type SpanConstants, type SpanRecord } from './span-encoding.js';

type Runtime = Exchange['runtime'];

/** What the spans of one config share: its canonical names and constant tags per upstream cluster, worked out once. */
interface RuntimeSpans {
  service: string;
  revision: string;
  serviceName: string;
  nodeTags: [string, string][];
  /** per cluster name (bounded by the config's clusters) */
  byCluster: Map<string, SpanConstants>;
  /** the cluster of the last span and its constants: most spans go where the one before went */
  lastCluster?: string;
  lastConstants?: SpanConstants;
  /** custom tags as [name, config] pairs; undefined when none */
  custom: [string, CustomTagConfig][] | undefined;
  /** a custom tag replaces a standard tag or has a name JSON orders first: spans carry a whole tags map then */
  customOverrides: boolean;
}

/** per config version (a new Runtime each time): a config change drops its entry with the Runtime */
const perRuntime = new WeakMap<Runtime, RuntimeSpans>();

/** The tags every span carries besides custom ones (a custom tag of one of these names replaces it). */
const STANDARD_TAGS = new Set([
  'node_id',
  'istio.canonical_service',
  'istio.canonical_revision',
  'istio.namespace',
  'istio.mesh_id',
  'component',
  'http.url',
  'http.method',
  'http.protocol',
  'http.status_code',
  'request_size',
  'response_size',
  'response_flags',
  'upstream_cluster',
  'upstream_cluster.name',
  'downstream_cluster',
  'peer.address',
  'guid:x-request-id',
  'user_agent',
  'error',
  '__proto__',
]);

/** Istio's canonical service and revision of this proxy's workload (the labels Istio reads, then app/version). */
function runtimeSpans(rt: Runtime): RuntimeSpans {
  let r = perRuntime.get(rt);
  if (r === undefined) {
    const n = rt.node;
    const service = n.labels['service.istio.io/canonical-name'] ?? n.app;
    const revision =
      n.labels['service.istio.io/canonical-revision'] ?? (n.version === 'unknown' ? 'latest' : n.version);
    const customCfg = rt.config.telemetry?.tracing?.customTags;
    const custom = customCfg ? Object.entries(customCfg) : undefined;
    r = {
      service,
      revision,
      serviceName: `${service}.${n.namespace}`,
      nodeTags: [
        ['node_id', n.id],
        ['istio.canonical_service', service],
        ['istio.canonical_revision', revision],
        ['istio.namespace', n.namespace],
        ['istio.mesh_id', 'cluster.local'],
        ['component', 'proxy'],
      ],
      byCluster: new Map(),
      custom: custom?.length ? custom : undefined,
      customOverrides: custom?.some(([name]) => STANDARD_TAGS.has(name) || /^[0-9]+$/.test(name)) ?? false,
    };
    perRuntime.set(rt, r);
  }
  return r;
}

const MAX_CACHED_CLUSTERS = 10_000;

function constantsOf(r: RuntimeSpans, clusterName: string): SpanConstants {
  if (r.lastCluster === clusterName && r.lastConstants !== undefined) return r.lastConstants;
  let c = r.byCluster.get(clusterName);
  if (c === undefined) {
    const cluster = clusterName || '-';
    c = spanConstants(r.serviceName, r.nodeTags, [
      ['upstream_cluster', cluster],
      ['upstream_cluster.name', cluster],
      ['downstream_cluster', '-'],
    ]);
    if (r.byCluster.size < MAX_CACHED_CLUSTERS) r.byCluster.set(clusterName, c);
  }
  r.lastCluster = clusterName;
  r.lastConstants = c;
  return c;
}

type Endpoint = { address: string; port: number } | undefined;

/** `address:port` or `[v6]:port` of an IP endpoint (no regex: this runs for every sampled request). */
function hostPort(hp: string): Endpoint {
  const colon = hp.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const address = hp.startsWith('[') && hp[colon - 1] === ']' ? hp.slice(1, colon - 1) : hp.slice(0, colon);
  const port = Number(hp.slice(colon + 1));
  if (!Number.isInteger(port) || colon + 1 === hp.length || isIP(address) === 0) return undefined;
  return { address, port };
}

/**
 * Upstream hosts already parsed: a proxy talks to a few endpoints, so a span looks its remote endpoint up instead of
 * parsing it (and asking isIP) again. Bounded: cleared when full.
 */
const upstreamEndpoints = new Map<string, Endpoint>();
const MAX_ENDPOINTS = 4096;

function upstreamEndpoint(hp: string): Endpoint {
  let e = upstreamEndpoints.get(hp);
  if (e === undefined && !upstreamEndpoints.has(hp)) {
    e = hostPort(hp);
    if (upstreamEndpoints.size >= MAX_ENDPOINTS) upstreamEndpoints.clear();
    upstreamEndpoints.set(hp, e);
  }
  return e;
}

/** Whether a peer address is an IP (cached like upstream hosts: the same few peers send most requests). */
const peerIsIp = new Map<string, boolean>();

function isIpAddress(address: string): boolean {
  let ok = peerIsIp.get(address);
  if (ok === undefined) {
    ok = isIP(address) !== 0;
    if (peerIsIp.size >= MAX_ENDPOINTS) peerIsIp.clear();
    peerIsIp.set(address, ok);
  }
  return ok;
}

function customTagValue(ex: Exchange, t: CustomTagConfig): string | undefined {
  if (t.literal) return t.literal.value;
  if (t.header) return ex.header(t.header.name.toLowerCase()) ?? t.header.defaultValue;
  if (t.environment) return process.env[t.environment.name] ?? t.environment.defaultValue;
  return undefined;
}

/** `performance.timeOrigin` is a getter that calls into the runtime; it never changes within a process. */
const TIME_ORIGIN = performance.timeOrigin;

/**
 * The one span record, filled for each sampled request: the exporter encodes it into its batches at once and keeps
 * nothing of it, so no object is allocated per span (at 100% sampling that is one per request).
 */
const record: SpanRecord = {
  traceId: '' as HexId,
  spanId: '' as HexId,
  parentId: undefined,
  kind: 'CLIENT',
  service: '',
  port: '',
  startUs: 0,
  durationUs: 0,
  error: false,
  constants: spanConstants('', [], []),
  scheme: '',
  authority: '',
  path: '',
  method: '',
  protocol: '',
  status: 0,
  requestSize: 0,
  responseSize: 0,
  flags: '',
  peerAddress: '',
  requestId: '',
  requestIdIsUuid: false,
  idBytes: undefined,
  idBytesAt: 0,
  requestIdBytes: undefined,
  requestIdAt: 0,
  userAgent: '',
  custom: undefined,
  remoteAddress: undefined,
  remotePort: 0,
  tags: undefined,
};

/** The last authority with a port that `spanOf` saw, and that port. */
let lastAuthority = '';
let lastAuthorityPort = '';

/**
 * The span of a finished exchange (only called for sampled requests while spans are exported). The record is reused:
 * it is valid until the next call, so it must be encoded (SpanExporter.offer) before then and never kept.
 */
export function spanOf(ex: Exchange, status: number, service: string, durationMs: number): SpanRecord {
  const r = runtimeSpans(ex.runtime);
  const outbound = ex.conn.listener.direction === 'outbound';
  const authority = ex.authority;
  const span = record;
  if (authority === lastAuthority) span.port = lastAuthorityPort;
  else {
    const colon = portColon(authority);
    if (colon >= 0) {
      // most spans name the authority of the span before: its port is not cut out again
      span.port = lastAuthorityPort = authority.slice(colon + 1);
      lastAuthority = authority;
    } else span.port = String(ex.conn.destination.port);
  }
  if (outbound) {
    const remote = upstreamEndpoint(ex.upstreamHost);
    span.remoteAddress = remote?.address;
    span.remotePort = remote?.port ?? 0;
  } else if (isIpAddress(ex.conn.remoteAddress)) {
    span.remoteAddress = ex.conn.remoteAddress;
    span.remotePort = ex.conn.remotePort;
  } else {
    span.remoteAddress = undefined;
    span.remotePort = 0;
  }
  span.traceId = ex.traceId;
  span.spanId = ex.spanId;
  span.parentId = ex.parentSpanId;
  span.kind = outbound ? 'CLIENT' : 'SERVER';
  span.service = service;
  span.startUs = Math.round((TIME_ORIGIN + ex.startedAt) * 1000);
  span.durationUs = Math.round(durationMs * 1000);
  span.error = status === 0 || status >= 500;
  span.constants = constantsOf(r, ex.clusterName);
  span.scheme = ex.scheme;
  span.authority = authority;
  span.path = ex.path;
  span.method = ex.method;
  span.protocol = ex.protocol;
  span.status = status;
  span.requestSize = ex.body.bytesReceived;
  span.responseSize = ex.bytesSent;
  span.flags = ex.flags === '' ? '-' : ex.flags;
  span.peerAddress = ex.conn.remoteAddress;
  span.requestId = ex.requestId;
  span.requestIdIsUuid = ex.requestIdIsUuid;
  span.idBytes = ex.idBytes;
  span.idBytesAt = ex.idBytesAt;
  span.requestIdBytes = ex.requestIdBytes;
  span.requestIdAt = ex.requestIdAt;
  span.userAgent = ex.header('user-agent') ?? '-';
  span.custom = undefined;
  span.tags = undefined;
  if (r.custom === undefined) return span;
  const custom: string[] = [];
  for (const [name, cfg] of r.custom) {
    const v = customTagValue(ex, cfg);
    if (v !== undefined) custom.push(name, v);
  }
  if (r.customOverrides) span.tags = tagsMap(span, custom);
  else span.custom = custom;
  return span;
}

/**
 * Where the authority's `:port` starts: the colon before a non-empty run of digits that ends the string, or -1. Scans
 * back over the digits only (lastIndexOf is a call into the runtime, and this runs for every span).
 */
function portColon(s: string): number {
  let i = s.length - 1;
  while (i >= 0) {
    const c = s.charCodeAt(i);
    if (c === 0x3a) return i < s.length - 1 ? i : -1;
    if (c < 0x30 || c > 0x39) return -1;
    i--;
  }
  return -1;
}

/** The whole tags map in its historic order, for the rare config whose custom tags replace standard ones. */
function tagsMap(s: SpanRecord, custom: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of s.constants.nodeTags) tags[k] = v;
  tags['http.url'] = `${s.scheme}://${s.authority}${s.path}`;
  tags['http.method'] = s.method;
  tags['http.protocol'] = s.protocol;
  tags['http.status_code'] = String(s.status);
  tags.request_size = String(s.requestSize);
  tags.response_size = String(s.responseSize);
  tags.response_flags = s.flags;
  for (const [k, v] of s.constants.clusterTags) tags[k] = v;
  tags['peer.address'] = s.peerAddress;
  tags['guid:x-request-id'] = s.requestId;
  tags.user_agent = s.userAgent;
  for (let i = 0; i < custom.length; i += 2) tags[custom[i]!] = custom[i + 1]!;
  return tags;
}
