/**
 * Where a captured connection was going, as the capture listeners (15001 outbound, 15006 inbound)
 * need it: SO_ORIGINAL_DST, with IPv4-mapped addresses unwrapped, and a connection that reached the
 * capture port directly (not through a REDIRECT rule) refused: forwarding it to its "original
 * destination" would connect the proxy to itself, forever.
 */
import type { Socket } from 'node:net';
import { originalDestination, type OriginalDestination } from './original-dst.js';

/** A connection made straight to a capture port: there is nowhere to forward it. */
export class NotRedirectedError extends Error {
  constructor(readonly destination: OriginalDestination) {
    super(
      `connection to ${hostPort(destination.address, destination.port)} reached the capture listener directly (no iptables REDIRECT): refused to avoid a loop`,
    );
    this.name = 'NotRedirectedError';
  }
}

/** `a.b.c.d:p` or `[v6]:p`. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Strips the `::ffff:` of an IPv4-mapped IPv6 address, as the rest of the proxy compares plain IPv4. */
export function unmapIpv4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/**
 * The original destination of a socket accepted on a capture listener. Throws NotRedirectedError
 * for a direct connection, and OriginalDestinationError / NativeBindingError when the kernel or
 * the binding cannot answer.
 */
export function captureDestination(socket: Socket): OriginalDestination {
  const dst = originalDestination(socket);
  const local = unmapIpv4(socket.localAddress ?? '');
  if (dst.port === socket.localPort && dst.address === local) throw new NotRedirectedError(dst);
  return dst;
}
