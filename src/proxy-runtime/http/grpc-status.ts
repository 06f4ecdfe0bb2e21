/**
 * Local replies to gRPC clients: HTTP 200 with grpc-status in a trailers-only response, since a
 * gRPC client reads the status there and not from the HTTP status (as Envoy does).
 */
import type { ProxyResponse } from '../ground/types.js';

const NO_TRAILERS = (): undefined => undefined;

/** HTTP status -> gRPC status (the mapping of grpc/doc/http-grpc-status-mapping.md). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/** A trailers-only gRPC reply carrying `code` and `message`. */
export function grpcLocalResponse(code: number, message: string): ProxyResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(message) },
    body: null,
    trailers: NO_TRAILERS,
    trailersOnly: true,
    local: true,
  };
}

/**
 * grpc-message as the gRPC spec percent-encodes it: only `%` and bytes outside printable ASCII
 * (encodeURIComponent also encoded `:` and friends, which clients then showed as `%3A`).
 */
function grpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8'))
    out +=
      b >= 0x20 && b <= 0x7e && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}
