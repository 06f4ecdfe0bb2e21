/**
 * The protocol of a service port as Istio reads it, on every platform: `appProtocol` first, then
 * the port name's `<protocol>[-suffix]` prefix, else `auto` (the sidecar detects it).
 */
import type { PortProtocol } from './model.js';

const PROTOCOL_PREFIXES: Readonly<Record<string, PortProtocol>> = {
  http: 'http',
  'http-web': 'http',
  'grpc-web': 'http',
  http2: 'http2',
  grpc: 'grpc',
  h2c: 'http2',
  tcp: 'tcp',
  // Opaque to the proxy: TLS it does not terminate, and server-first or binary protocols.
  https: 'tcp',
  tls: 'tcp',
  mongo: 'tcp',
  mysql: 'tcp',
  redis: 'tcp',
};

const APP_PROTOCOLS: Readonly<Record<string, PortProtocol>> = {
  'kubernetes.io/h2c': 'http2',
  'kubernetes.io/ws': 'http',
  'kubernetes.io/wss': 'tcp',
};

/**
 * A port's protocol: `appProtocol` when set (http, http2, grpc, kubernetes.io/h2c, ...), else the port
 * name's prefix before the first `-` (`http-web`, `grpc-api`, `tcp-db`), else `auto` (sniffed).
 */
export function portProtocol(name: string | undefined, appProtocol: string | undefined): PortProtocol {
  if (appProtocol) {
    const a = appProtocol.toLowerCase();
    const known = APP_PROTOCOLS[a] ?? PROTOCOL_PREFIXES[a];
    if (known) return known;
  }
  if (name) {
    const n = name.toLowerCase();
    if (PROTOCOL_PREFIXES[n]) return PROTOCOL_PREFIXES[n];
    const prefix = n.split('-')[0] ?? '';
    if (prefix === 'grpc' && n.startsWith('grpc-web')) return 'http';
    if (PROTOCOL_PREFIXES[prefix]) return PROTOCOL_PREFIXES[prefix];
  }
  return 'auto';
}
