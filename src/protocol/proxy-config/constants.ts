/**
 * Values of the proxy config format that code on the proxy's path needs at run time: kept apart from schema.ts, which
 * loads TypeBox (about 3 MB of heap in every sidecar that imports it).
 */

/** The format name of the proxy config. */
export const PROXY_CONFIG_API_VERSION = 'proxy.meshctl.dev/v1';

/** The Istio metrics the proxy produces, by the names the Telemetry API gives them. */
export const ISTIO_METRIC_NAMES = [
  'REQUEST_COUNT',
  'REQUEST_DURATION',
  'REQUEST_SIZE',
  'RESPONSE_SIZE',
  'TCP_OPENED_CONNECTIONS',
  'TCP_CLOSED_CONNECTIONS',
  'TCP_SENT_BYTES',
  'TCP_RECEIVED_BYTES',
] as const;
