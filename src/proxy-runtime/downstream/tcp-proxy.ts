/**
 * Opaque TCP proxying: pick an endpoint of the cluster (or the original destination), dial it
 * (mTLS with ALPN meshctl-tcp to a peer sidecar), then splice bytes both ways with backpressure
 * and half-close. Used for opaque ports, undetected protocols, CONNECT tunnels and upgrades.
 */
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { Endpoint } from '../ground/endpoint.js';
import { dial } from '../ground/dial/connect.js';
import { MESH_ALPN_TCP } from '../ground/tls/contexts.js';
import type { ConnectionInfo } from '../http/exchange.js';
import type { ProxyContext } from './context.js';
import { Flags } from '../ground/types.js';

/** Options of one TCP proxying. */
export interface TcpProxyOptions {
  /** where an originalDst cluster connects (default: the connection's original destination) */
  target?: { address: string; port: number };
  /** bytes to send upstream before splicing (CONNECT's early data) */
  head?: Buffer;
  /** ALPN for mTLS peers (default meshctl-tcp) */
  alpn?: string[];
  /** called once the upstream is connected, before bytes flow (CONNECT writes its 200 here) */
  onConnected?: (upstream: Socket) => void;
  /** called instead of destroying the downstream when no upstream could be reached */
  onFailed?: (flag: string) => void;
  /** close both sides after this long with no bytes either way (0: never) */
  idleTimeoutMs?: number;
  /** the authorization policies refused the connection: close it, record it with this detail */
  denied?: string;
}

/** Picks the endpoint for a TCP connection; undefined: none healthy. */
export function tcpEndpoint(
  cluster: ClusterRuntime,
  conn: ConnectionInfo,
  target: { address: string; port: number } | undefined,
): Endpoint | undefined {
  if (cluster.type === 'originalDst') {
    const t = target ?? conn.destination;
    return cluster.originalDestination(t.address, t.port);
  }
  return cluster.select(undefined, conn.remoteAddress, Date.now()).endpoint;
}

/** Proxies `downstream` to `cluster`. */
export function proxyTcp(
  ctx: ProxyContext,
  conn: ConnectionInfo,
  downstream: Duplex,
  cluster: ClusterRuntime,
  o: TcpProxyOptions = {},
): void {
  const runtime = ctx.current();
  const startedAt = performance.now();
  let flags = '';
  let bytesReceived = 0;
  let bytesSent = 0;
  const ep = o.denied !== undefined ? undefined : tcpEndpoint(cluster, conn, o.target);
  let recorded = false;
  const facts = () => ({
    listener: conn.listener.name,
    direction: conn.listener.direction,
    node: runtime.node,
    cluster: cluster.name,
    service: cluster.service,
    upstreamHost: ep?.key ?? '',
    upstreamLabels: ep?.labels,
    upstreamIdentity: ep?.mtls ? ep.identity : undefined,
    peerIdentity: conn.peerIdentity,
    mtls: conn.mtls,
    remote: `${conn.remoteAddress}:${conn.remotePort}`,
    startedAt,
    bytesReceived,
    bytesSent,
    flags,
    terminationDetails: o.denied,
  });
  const record = (): void => {
    if (recorded) return;
    recorded = true;
    ctx.requestFinished(conn.listener.direction === 'inbound');
    ctx.telemetry.recordTcp(facts());
  };
  ctx.requestStarted(conn.listener.direction === 'inbound');
  const fail = (flag: string): void => {
    flags = flag;
    if (o.onFailed) o.onFailed(flag);
    else downstream.destroy();
    record();
  };
  if (o.denied !== undefined) {
    downstream.destroy();
    return record();
  }
  if (!ep) return fail(Flags.noHealthyUpstream);
  if (!cluster.limits.admit()) return fail(Flags.upstreamOverflow);
  ep.health.activeRequests++;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    ep.health.activeRequests--;
    cluster.limits.release();
  };
  downstream.on('error', () => undefined);
  const upstream = dial(
    {
      address: ep.address,
      port: ep.port,
      localAddress: ep.localAddress,
      dns: ep.dns,
      connectTimeoutMs: cluster.connectTimeoutMs,
      tls:
        ep.mtls && ctx.mesh()
          ? { mesh: ctx.mesh()!, expectedIdentity: ep.identity, alpn: o.alpn ?? [MESH_ALPN_TCP] }
          : undefined,
    },
    (up) => {
      cluster.outlier.record(ep, 200, cluster.endpoints, Date.now());
      ctx.telemetry.tcpOpened(facts());
      o.onConnected?.(up);
      if (o.head && o.head.length > 0) {
        bytesReceived += o.head.length;
        up.write(o.head);
      }
      downstream.on('data', (c: Buffer) => (bytesReceived += c.length));
      up.on('data', (c: Buffer) => (bytesSent += c.length));
      downstream.pipe(up);
      up.pipe(downstream);
      const idle = o.idleTimeoutMs ?? 0;
      if (idle > 0 && 'setTimeout' in downstream) {
        // Every byte either way passes through the downstream socket (read, or written to it).
        (downstream as Socket).setTimeout(idle, () => {
          flags = flags || Flags.streamIdleTimeout;
          downstream.destroy();
          up.destroy();
        });
      }
      const close = (): void => {
        release();
        record();
      };
      up.once('close', () => {
        if (!downstream.destroyed && !downstream.writableEnded) downstream.destroy();
        close();
      });
      downstream.once('close', () => {
        if (!up.destroyed) up.end();
        // A peer that never half-closes back must not hold the socket forever.
        setTimeout(() => up.destroy(), 5_000).unref();
        close();
      });
      up.on('error', () => {
        flags = flags || Flags.upstreamConnectionTermination;
        downstream.destroy();
      });
    },
    () => {
      release();
      cluster.outlier.record(ep, 'connect-failure', cluster.endpoints, Date.now());
      fail(Flags.upstreamConnectFailure);
    },
  );
  upstream.on('error', () => undefined);
}
