/**
 * The retryOn conditions, one list for the VirtualService kind's validation and the proxy config's (no TypeBox here:
 * the proxy imports it).
 */

/**
 * The retryOn conditions the proxy understands: every one Istio documents (Envoy's names, the gRPC
 * ones included). retriable-headers and http3-post-connect-failure match nothing here, as in
 * Envoy when no retriable headers are configured (Istio has no field for them) and no HTTP/3 is used.
 */
export const RETRY_ON: ReadonlySet<string> = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'refused-stream',
  'retriable-4xx',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);
