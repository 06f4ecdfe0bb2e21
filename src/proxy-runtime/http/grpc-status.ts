/**
 * Local replies to gRPC clients: HTTP 200 with grpc-status in a trailers-only response, since a
 * gRPC client reads the status there and not from the HTTP status (as Envoy does).
 */
import type { ProxyResponse } from './types.js';

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
    headers: { 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) },
    body: null,
    trailers: NO_TRAILERS,
    trailersOnly: true,
    local: true,
  };
}
