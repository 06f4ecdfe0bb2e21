/**
 * HTTP/1.1 upgrades (WebSocket and others) passed through: the request is routed like any other
 * (route, rewrite, header operations), then its head is written to the endpoint and the two
 * connections are spliced; the upstream's `101 Switching Protocols` (or refusal) flows back as is.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Exchange, type ConnectionInfo } from './exchange.js';
import { RequestBody } from './retry/request-body.js';
import type { ProxyContext } from '../runtime/context.js';
import { pickDestination } from './route/route-table.js';
import { applyHeaderOps } from './headers/header-ops.js';
import { dial } from '../clusters/pool/connect.js';
import { tcpEndpoint } from '../tcp/tcp-proxy.js';
import { Flags, type HeaderMap } from './types.js';
import { prepareTracing } from '../telemetry/trace.js';
import { PEER_METADATA_HEADER } from '../runtime/runtime.js';
import { authorize } from './authz/authz-layer.js';

function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  socket.destroy();
}

/** Handles a request carrying `Upgrade:`. */
export function handleUpgrade(ctx: ProxyContext, conn: ConnectionInfo, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const runtime = ctx.current();
  const headers: HeaderMap = { ...(req.headers as HeaderMap) };
  const authority = (headers.host as string | undefined) ?? '';
  delete headers.host;
  const ex = new Exchange(runtime, conn, req.method ?? 'GET', req.url ?? '/', authority, 'http', headers, 'HTTP/1.1', new RequestBody(null), performance.now());
  socket.on('error', () => undefined);
  prepareTracing(ex);
  let status = 0;
  ctx.requestStarted();
  const finish = (): void => {
    ctx.requestFinished();
    ctx.telemetry.recordHttp(ex, status, undefined);
  };
  const az = conn.listener.authz;
  if (az === undefined) return upgrade(ctx, ex, headers, socket, head, finish, (s) => (status = s));
  // An upgrade is a request like any other: the listener's policies decide before the app sees it.
  authorize(ex, az).then(
    (refused) => {
      if (refused === null) return upgrade(ctx, ex, headers, socket, head, finish, (s) => (status = s));
      status = refused.status;
      refuse(socket, refused.status, refused.status === 401 ? 'Unauthorized' : refused.status === 403 ? 'Forbidden' : 'Bad Request');
      finish();
    },
    () => {
      status = 500;
      refuse(socket, 500, 'Internal Server Error');
      finish();
    },
  );
}

/** The upgrade itself, once authorized: route, dial, splice. */
function upgrade(
  ctx: ProxyContext,
  ex: Exchange,
  headers: HeaderMap,
  socket: Duplex,
  head: Buffer,
  finish: () => void,
  setStatus: (s: number) => void,
): void {
  const runtime = ex.runtime;
  const conn = ex.conn;
  let status = 0;
  const done = (): void => {
    setStatus(status);
    finish();
  };
  const found = conn.chain.routes?.match(ex, runtime.node.labels);
  if (!found || !found.route.destinations.length) {
    ex.flag(Flags.noRoute);
    status = 404;
    refuse(socket, 404, 'Not Found');
    return done();
  }
  ex.route = found.route;
  applyHeaderOps(headers, found.route.requestHeaders);
  if (found.route.rewrite?.authority) ex.authority = found.route.rewrite.authority;
  const dest = pickDestination(found.route);
  const cluster = dest.cluster;
  ex.clusterName = cluster.name;
  const byUrl = conn.listener.mode === 'http-proxy' ? /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(ex.authority) : null;
  const ep = tcpEndpoint(cluster, conn, byUrl ? { address: byUrl[1]!, port: byUrl[2] ? Number(byUrl[2]) : 80 } : undefined);
  if (!ep) {
    ex.flag(Flags.noHealthyUpstream);
    status = 503;
    refuse(socket, 503, 'Service Unavailable');
    return done();
  }
  ex.upstreamHost = ep.key;
  ex.upstreamEndpointLabels = ep.labels;
  if (ep.mtls && conn.listener.direction === 'outbound') headers[PEER_METADATA_HEADER] = runtime.peerMetadata;
  let text = `${ex.method} ${ex.path} HTTP/1.1\r\nhost: ${ex.authority}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  }
  text += '\r\n';
  const mesh = ctx.mesh();
  const up = dial(
    { address: ep.address, port: ep.port, localAddress: ep.localAddress, connectTimeoutMs: cluster.connectTimeoutMs, tls: ep.mtls && mesh ? { mesh, expectedIdentity: ep.identity, alpn: ['http/1.1'] } : undefined },
    (upstream) => {
      upstream.write(text);
      if (head.length > 0) upstream.write(head);
      upstream.once('data', (first: Buffer) => {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, 16));
        status = m ? Number(m[1]) : 502;
      });
      upstream.pipe(socket);
      socket.pipe(upstream);
      upstream.once('close', () => {
        socket.destroy();
      });
      socket.once('close', () => {
        upstream.destroy();
        done();
      });
      upstream.on('error', () => socket.destroy());
    },
    () => {
      ex.flag(Flags.upstreamConnectFailure);
      status = 503;
      refuse(socket, 503, 'Service Unavailable');
      done();
    },
  );
  up.on('error', () => undefined);
}
