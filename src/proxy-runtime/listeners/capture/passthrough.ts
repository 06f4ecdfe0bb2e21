/**
 * The plain-TCP path of the capture listeners: a captured connection whose destination the mesh
 * does not route is relayed byte for byte, without reading it (so server-first protocols work):
 *
 * - outbound (15001): to the original destination (outboundTrafficPolicy ALLOW_ANY), or closed at
 *   once (REGISTRY_ONLY, destination not in the registry; Envoy's BlackHoleCluster);
 * - inbound (15006): to the app on the original port over loopback, where the capture rules never
 *   catch the proxy's own connection.
 *
 * Streams are piped (backpressure, no buffering) with half-close kept, so a client that shuts
 * down its write side still gets the whole answer.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { captureDestination, hostPort, NotRedirectedError, unmapIpv4 } from './destination.js';

/** What the capture listener did with one connection (for access logs and tests). */
export interface CaptureEvent {
  direction: 'inbound' | 'outbound';
  source: string;
  /** The original destination, when it could be recovered. */
  destination?: string;
  /** passthrough: relayed; blocked: REGISTRY_ONLY; refused: not redirected or no original destination; failed: upstream unreachable. */
  action: 'passthrough' | 'blocked' | 'refused' | 'failed';
  /** Where the bytes went (inbound: the loopback address and port). */
  upstream?: string;
  reason?: string;
  bytesIn?: number;
  bytesOut?: number;
}

/** Options of one passthrough capture listener. */
export interface PassthroughCaptureOptions {
  direction: 'inbound' | 'outbound';
  port: number;
  /** Bind address: `::` (dual stack, default) catches IPv4 and IPv6 redirects alike. */
  host?: string;
  /** Outbound only: ALLOW_ANY relays unknown destinations, REGISTRY_ONLY closes them. */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** Outbound with REGISTRY_ONLY: destinations that are allowed (known services). */
  isRegistered?: (destination: { address: string; port: number }) => boolean;
  connectTimeoutMs?: number;
  onEvent?: (event: CaptureEvent) => void;
}

/** Starts a passthrough capture listener; resolves once it listens. */
export async function startPassthroughCapture(o: PassthroughCaptureOptions): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
    handle(o, socket),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: o.host ?? '::', port: o.port, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function handle(o: PassthroughCaptureOptions, client: Socket): void {
  const source = hostPort(unmapIpv4(client.remoteAddress ?? '?'), client.remotePort ?? 0);
  const emit = (e: Omit<CaptureEvent, 'direction' | 'source'>) => o.onEvent?.({ direction: o.direction, source, ...e });
  client.on('error', () => client.destroy());
  let dst;
  try {
    dst = captureDestination(client);
  } catch (err) {
    emit({
      action: 'refused',
      reason: err instanceof NotRedirectedError ? err.message : err instanceof Error ? err.message : String(err),
    });
    client.destroy();
    return;
  }
  const destination = hostPort(dst.address, dst.port);
  if (o.direction === 'outbound' && o.outboundTrafficPolicy === 'REGISTRY_ONLY' && !o.isRegistered?.(dst)) {
    emit({
      destination,
      action: 'blocked',
      reason: 'outboundTrafficPolicy REGISTRY_ONLY: destination not in the registry',
    });
    client.destroy();
    return;
  }
  const target =
    o.direction === 'inbound' ? { address: dst.family === 'IPv6' ? '::1' : '127.0.0.1', port: dst.port } : dst;
  const upstream = connect({ host: target.address, port: target.port, allowHalfOpen: true, noDelay: true });
  const timer = setTimeout(
    () => upstream.destroy(new Error(`connect timeout to ${hostPort(target.address, target.port)}`)),
    o.connectTimeoutMs ?? 10_000,
  );
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  });
  upstream.on('error', (err) => {
    clearTimeout(timer);
    if (!connected)
      emit({ destination, upstream: hostPort(target.address, target.port), action: 'failed', reason: err.message });
    // Closing the client with a reset tells it the destination refused, as a direct connection would.
    client.resetAndDestroy();
  });
  client.on('error', () => upstream.destroy());
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => {
    if (connected)
      emit({
        destination,
        upstream: hostPort(target.address, target.port),
        action: 'passthrough',
        bytesIn: client.bytesRead,
        bytesOut: client.bytesWritten,
      });
    // The upstream is fully closed: finish writing what is queued to the client, then close.
    if (!client.destroyed) client.end();
  });
}
