/**
 * CONNECT in http-proxy mode (clients honouring HTTPS_PROXY, Node fetch with NODE_USE_ENV_PROXY=1,
 * curl): the target authority picks the cluster through the route table (a virtual host for that
 * authority routes it), else the chain's tcpCluster (typically an originalDst passthrough); then
 * `200 Connection Established` and an opaque TCP splice.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo } from '../http/exchange.js';
import type { ProxyContext } from './context.js';
import { proxyTcp } from './tcp-proxy.js';
import type { ClusterRuntime } from '../upstream/cluster.js';

function reply(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  socket.destroy();
}

/** Handles a CONNECT request. */
export function handleConnect(
  ctx: ProxyContext,
  conn: ConnectionInfo,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const authority = req.url ?? '';
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(authority);
  if (!m || conn.listener.mode !== 'http-proxy') return reply(socket, 400, 'Bad Request');
  const target = { address: m[1]!, port: Number(m[2]) };
  let cluster: ClusterRuntime | undefined;
  const vh = conn.chain.routes?.servesAuthority(authority);
  const first = vh?.routes.find((r) => r.destinations.length > 0);
  if (first && vh!.name !== '*') cluster = first.destinations[0]!.cluster;
  cluster ??= conn.chain.tcpCluster;
  if (!cluster) return reply(socket, 403, 'Forbidden');
  proxyTcp(ctx, conn, socket, cluster, {
    target,
    head,
    onConnected: () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
    onFailed: (flag) => reply(socket, flag === 'UO' ? 503 : 502, 'Bad Gateway'),
  });
}
