/**
 * The original-destination input of the proxy's listener pipeline for `mode: capture` listeners
 * (15001, 15006): SO_ORIGINAL_DST with IPv4-mapped addresses unwrapped. It answers `undefined`
 * when there is no destination to forward to (a connection made straight to the capture port,
 * or no NAT entry): the listener must then close the connection, never fall back to its own
 * address, which would make a passthrough chain connect the proxy to itself.
 */
import type { Socket } from 'node:net';
import { captureDestination } from './destination.js';

/** Structurally the listener layer's OriginalDestinationResolver. */
export type CaptureResolver = (socket: Socket) => { address: string; port: number } | undefined;

/** Builds the resolver; `onRefused` hears why a connection had no usable destination (for a debug log). */
export function captureOriginalDestinationResolver(
  onRefused?: (reason: string, socket: Socket) => void,
): CaptureResolver {
  return (socket) => {
    try {
      const d = captureDestination(socket);
      return { address: d.address, port: d.port };
    } catch (err) {
      onRefused?.(err instanceof Error ? err.message : String(err), socket);
      return undefined;
    }
  };
}
