/**
 * The innermost layer: picks a destination by weight, an endpoint by the cluster's balancer
 * (503 UH when none is healthy), admits the request under the cluster's limits (503 UO on
 * overflow), and sends it over the pool of the right protocol. Outcomes feed outlier detection.
 */
import { discard, type HttpHandler } from './layer.js';
import { pickDestination } from './route/route-table.js';
import { applyHeaderOps, hasHeaderOps } from './headers/header-ops.js';
import { UpstreamFailure, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../ground/types.js';
import type { Exchange } from './exchange.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { Endpoint } from '../ground/endpoint.js';
import type { InFlight } from '../upstream/pool/in-flight.js';
import { NOT_SENT_HEADER, PEER_METADATA_HEADER } from '../ground/peer-metadata.js';

/** Header a client sidecar adds when it carries an HTTP/1.1 request over h2 to a peer sidecar. */
export const ORIG_PROTO_HEADER = 'x-meshctl-orig-proto';

function hashKey(ex: Exchange, c: ClusterRuntime): string | undefined {
  const hp = c.hashPolicy;
  if (!hp) return undefined;
  switch (hp.kind) {
    case 'header':
      return ex.header(hp.name);
    case 'query':
      return ex.queryParam(hp.name);
    case 'sourceIp':
      return ex.conn.remoteAddress;
    case 'cookie': {
      const cookies = ex.header('cookie');
      if (cookies) {
        for (const part of cookies.split(';')) {
          const eq = part.indexOf('=');
          if (eq > 0 && part.slice(0, eq).trim() === hp.name) return part.slice(eq + 1).trim();
        }
      }
      // No cookie yet: make one (when a ttl is set, as Envoy) so the client sticks from now on.
      if (hp.ttlMs > 0) {
        const value = Math.random().toString(16).slice(2, 18);
        ex.hashCookie = `${hp.name}=${value}; Max-Age=${Math.floor(hp.ttlMs / 1000)}; Path=${hp.path}; HttpOnly`;
        return value;
      }
      return undefined;
    }
  }
}

/**
 * Between sidecars, HTTP/1.1 requests go as HTTP/1.1 over pooled mTLS connections (the fast path
 * measured faster than node:http2 multiplexing on the bench; see the README's proxy section), as
 * Istio does by default (h2UpgradePolicy DO_NOT_UPGRADE); HTTP/2 and gRPC stay HTTP/2 end to end.
 * A cluster that caps tcp.maxConnections multiplexes over h2 instead, so the cap limits
 * connections, not concurrency (http2MaxRequests does that), as Envoy applies these settings.
 */

/** The upstream protocol of a request: the cluster's, else the downstream's (see above between sidecars). */
export function protocolFor(c: ClusterRuntime, ep: Endpoint, ex: Exchange): 'h1' | 'h2' {
  if (c.protocol === 'http1') return 'h1';
  if (c.protocol === 'http2') return 'h2';
  if (ep.mtls && c.limits.maxConnections !== Number.MAX_SAFE_INTEGER) return 'h2';
  return (ex.origProto ?? ex.protocol) === 'HTTP/2' ? 'h2' : 'h1';
}

function endpointFor(ex: Exchange, c: ClusterRuntime, subset: string | undefined, port: number | undefined): Endpoint {
  if (c.type === 'originalDst') {
    const t = ex.target ?? ex.conn.destination;
    return c.originalDestination(t.address, port ?? t.port);
  }
  // A retry prefers another endpoint than the attempt before.
  const sel = c.select(subset, hashKey(ex, c), Date.now(), ex.attempts > 0 ? ex.upstreamHost : undefined);
  if (!sel.endpoint)
    throw new UpstreamFailure(
      'no-healthy',
      `no healthy upstream in cluster ${c.name}${subset ? ` subset ${subset}` : ''}`,
    );
  if (port !== undefined && port !== sel.endpoint.port)
    return { ...sel.endpoint, port, key: `${sel.endpoint.address}:${port}` };
  return sel.endpoint;
}

/** Sends the exchange to one endpoint of the chosen destination. */
export const forward: HttpHandler = async (ex) => {
  const route = ex.route!;
  const dest = pickDestination(route);
  const cluster = dest.cluster;
  ex.clusterName = cluster.name;
  const ep = endpointFor(ex, cluster, dest.subset, dest.port);
  ex.upstreamHost = ep.key;
  ex.upstreamEndpointLabels = ep.labels;
  ex.upstreamIdentity = ep.mtls ? ep.identity : undefined;
  if (!cluster.limits.admit())
    throw new UpstreamFailure('overflow', `upstream overflow: cluster ${cluster.name} is at its connection pool limit`);
  ex.attempts++;
  const proto = protocolFor(cluster, ep, ex);
  let headers: HeaderMap = ex.headers;
  if (hasHeaderOps(dest.requestHeaders)) {
    headers = { ...ex.headers };
    applyHeaderOps(headers, dest.requestHeaders);
  }
  if (ep.mtls) {
    if (ex.conn.listener.direction === 'outbound') headers[PEER_METADATA_HEADER] = ex.runtime.peerMetadata;
    if (proto === 'h2' && ex.protocol === 'HTTP/1.1') headers[ORIG_PROTO_HEADER] = 'HTTP/1.1';
    else delete headers[ORIG_PROTO_HEADER];
  }
  if (proto === 'h2' && ex.isGrpc()) headers.te = 'trailers';
  else if (headers.te !== undefined) delete headers.te;
  const head: UpstreamRequestHead = {
    method: ex.method,
    path: ex.path,
    authority: ex.authority,
    scheme: 'http',
    headers,
  };
  const inFlight = (proto === 'h2' ? cluster.h2 : cluster.h1).send(ep, head, ex.body.open());
  // The exchange cancels its attempt in flight when the downstream goes away (Exchange.downstreamGone).
  ex.inFlight = inFlight;
  ep.health.activeRequests++;
  let res: ProxyResponse;
  try {
    res = await inFlight.response;
  } catch (err) {
    release(ex, cluster, ep, inFlight);
    if (err instanceof UpstreamFailure) {
      if (err.kind !== 'downstream-closed')
        cluster.outlier.record(
          ep,
          err.kind === 'timeout' ? 'timeout' : err.kind === 'connect-failure' ? 'connect-failure' : 'reset',
          cluster.endpoints,
          Date.now(),
        );
      throw err;
    }
    throw new UpstreamFailure('reset', (err as Error).message);
  }
  if (res.headers[NOT_SENT_HEADER] !== undefined) {
    delete res.headers[NOT_SENT_HEADER];
    if (ep.mtls && res.status === 503) {
      // The peer sidecar could not reach its app: the request never reached an application.
      discard(res);
      release(ex, cluster, ep, inFlight);
      cluster.outlier.record(ep, 'connect-failure', cluster.endpoints, Date.now());
      throw new UpstreamFailure('connect-failure', `upstream ${ep.key}: its sidecar could not connect to the app`);
    }
  }
  cluster.outlier.record(ep, res.status, cluster.endpoints, Date.now());
  if (res.complete !== undefined || res.body === null) release(ex, cluster, ep, inFlight);
  else releaseWhenDone(ex, cluster, ep, inFlight, res.body);
  if (hasHeaderOps(dest.responseHeaders)) applyHeaderOps(res.headers, dest.responseHeaders);
  if (ex.hashCookie) {
    const sc = res.headers['set-cookie'];
    res.headers['set-cookie'] =
      sc === undefined ? [ex.hashCookie] : [...(Array.isArray(sc) ? sc : [sc]), ex.hashCookie];
  }
  return res;
};

/** The attempt is over: its endpoint and cluster slots are free, and a downstream leaving no longer cancels it. */
function release(ex: Exchange, cluster: ClusterRuntime, ep: Endpoint, inFlight: InFlight): void {
  ep.health.activeRequests--;
  cluster.limits.release();
  if (ex.inFlight === inFlight) ex.inFlight = undefined;
}

/** Releases the attempt once its streamed response body ended or broke (once). */
function releaseWhenDone(
  ex: Exchange,
  cluster: ClusterRuntime,
  ep: Endpoint,
  inFlight: InFlight,
  body: NodeJS.ReadableStream,
): void {
  let released = false;
  const once = (): void => {
    if (released) return;
    released = true;
    release(ex, cluster, ep, inFlight);
  };
  body.once('end', once);
  body.once('close', once);
}
