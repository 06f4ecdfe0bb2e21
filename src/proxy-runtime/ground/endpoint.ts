/**
 * An upstream endpoint as the proxy tracks it: address, labels, weight, expected peer identity,
 * and live state (active requests for LEAST_REQUEST, outlier counters and ejection). The live
 * state object survives config swaps while the endpoint stays in its cluster.
 */

import type { Origination } from './dial/connect.js';
import type { DnsMode } from './dial/dns-cache.js';

/** Outlier and load state of one endpoint; long-lived across config versions. */
export class EndpointHealth {
  activeRequests = 0;
  consecutive5xx = 0;
  consecutiveGateway = 0;
  ejectedUntil = 0;
  ejectionCount = 0;
  lastUnejectedAt = 0;
  totalRequests = 0;
  totalFailures = 0;

  /** Whether the endpoint is ejected at `now` (ms); an ejection that ran out is lifted here. */
  isEjected(now: number): boolean {
    if (this.ejectedUntil === 0) return false;
    if (now < this.ejectedUntil) return true;
    this.ejectedUntil = 0;
    this.lastUnejectedAt = now;
    this.consecutive5xx = 0;
    this.consecutiveGateway = 0;
    return false;
  }
}

/** An endpoint of a cluster in one config version. */
export interface Endpoint {
  /** `address:port`, the key of the endpoint's state and pools. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** Expected SPIFFE ID of the peer (mTLS). */
  readonly identity: string | undefined;
  readonly mtls: boolean;
  readonly health: EndpointHealth;
  /** Local address to connect from (Envoy's upstream_bind_config); absent: the kernel chooses. */
  readonly localAddress?: string;
  /** TLS origination to a server outside the mesh (DestinationRule tls SIMPLE/MUTUAL). */
  readonly originate?: Origination;
  /** The address is a name the proxy resolves itself, with the record's TTL (ServiceEntry DNS resolution). */
  readonly dns?: DnsMode;
}

/** Source of the proxy's connections to its own pod's app: returned by the capture rules (Istio's 127.0.0.6). */
export const INBOUND_PASSTHROUGH_SOURCE_IPV4 = '127.0.0.6';

/** Formats `address:port`, bracketing IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
