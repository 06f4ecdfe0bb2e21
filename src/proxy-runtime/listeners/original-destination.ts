/**
 * "Where was this connection going?" is an INPUT of the listener pipeline. Explicit listeners
 * answer it with their own address; capture listeners (15001 outbound, 15006 inbound, behind
 * iptables REDIRECT) answer with SO_ORIGINAL_DST, a resolver the capture layer provides.
 */
import type { Socket } from 'node:net';

/** The destination a connection was sent to before any redirection. */
export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
}

/** Recovers the original destination of an accepted socket; undefined when unknown. */
export type OriginalDestinationResolver = (socket: Socket) => OriginalDestination | undefined;

/** The resolver of explicit listeners: the socket's local address is where it was going. */
export const localAddressAsDestination: OriginalDestinationResolver = (socket) =>
  socket.localAddress !== undefined && socket.localPort !== undefined
    ? { address: socket.localAddress, port: socket.localPort }
    : undefined;
