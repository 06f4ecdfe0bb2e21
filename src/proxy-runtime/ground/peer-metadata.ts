/**
 * Who a proxy is and how it tells its peers: the node facts (telemetry labels, sourceLabels
 * matching) and the peer-metadata and not-sent headers that sidecars exchange. Ground floor:
 * upstream requests, layers and telemetry all read them.
 */
import type { ProxyConfig } from '../../protocol/proxy-config/index.js';

/** Who this proxy is (telemetry labels, sourceLabels matching). */
export interface NodeInfo {
  readonly id: string;
  readonly workload: string;
  readonly namespace: string;
  readonly cluster: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly app: string;
  readonly version: string;
  /** SPIFFE ID of the proxy identity, when it has one */
  readonly principal: string;
}

/** Builds the node facts from the config (and the identity's SPIFFE ID). */
export function nodeInfo(config: ProxyConfig, principal: string | undefined): NodeInfo {
  const n = config.node ?? {};
  const labels = n.labels ?? {};
  const workload = n.workload ?? labels.app ?? 'unknown';
  return {
    id: n.id ?? `sidecar~${workload}.${n.namespace ?? 'default'}`,
    workload,
    namespace: n.namespace ?? 'default',
    cluster: n.cluster ?? 'Kubernetes',
    labels,
    app: labels.app ?? labels['app.kubernetes.io/name'] ?? workload,
    version: labels.version ?? labels['app.kubernetes.io/version'] ?? 'unknown',
    principal:
      principal ??
      (n.serviceAccount ? `spiffe://cluster.local/ns/${n.namespace ?? 'default'}/sa/${n.serviceAccount}` : 'unknown'),
  };
}

/**
 * Peer metadata exchange (what Istio does with x-envoy-peer-metadata): the client sidecar says
 * who the calling workload is, so the server sidecar can label `source_*` in its metrics.
 */
export const PEER_METADATA_HEADER = 'x-meshctl-peer-metadata';

/**
 * Set by a destination sidecar on its local reply when it could not even connect to its app (the
 * app has exited or not started): the request never reached an application, so the source sidecar
 * retries it as a connect failure, whatever its method (a POST to a pod whose app just stopped goes
 * to another endpoint). Honoured only from a peer sidecar over mTLS, and removed from every
 * response a proxy forwards, so no app can make a peer replay its requests.
 */
export const NOT_SENT_HEADER = 'x-meshctl-upstream-not-sent';

/** The peer-metadata header value of node `n`. */
export function encodePeerMetadata(n: NodeInfo): string {
  return Buffer.from(
    JSON.stringify({ w: n.workload, ns: n.namespace, app: n.app, v: n.version, c: n.cluster }),
  ).toString('base64');
}

/** The source workload a peer-metadata header describes. */
export interface PeerWorkload {
  workload: string;
  namespace: string;
  app: string;
  version: string;
  cluster: string;
}

/** Decodes a peer-metadata header; undefined when absent or malformed. */
export function decodePeerMetadata(value: string | undefined): PeerWorkload | undefined {
  if (!value || value.length > 2048) return undefined;
  try {
    const o = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as Record<string, unknown>;
    const s = (k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : 'unknown');
    return { workload: s('w'), namespace: s('ns'), app: s('app'), version: s('v'), cluster: s('c') };
  } catch {
    return undefined;
  }
}
