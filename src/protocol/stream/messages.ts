/**
 * TypeScript shapes of the messages in mesh.proto, as @grpc/proto-loader decodes them
 * (keepCase: snake_case fields; longs as numbers; bytes as Buffer), and the resource type URLs.
 */

/**
 * Resource types of the config stream. A push sends them in subscription order, and proxies
 * subscribe in dependency order: clusters, then routes (which name clusters), then listeners
 * (which name routes), so each response is complete against what the proxy already has.
 */
export const TypeUrl = {
  clusters: 'proxy.meshctl.dev/v1/clusters',
  endpoints: 'proxy.meshctl.dev/v1/endpoints',
  routes: 'proxy.meshctl.dev/v1/routes',
  listeners: 'proxy.meshctl.dev/v1/listeners',
  /** access log and tracing settings (from the mesh's MeshConfig) */
  telemetry: 'proxy.meshctl.dev/v1/telemetry',
} as const;
export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** Every type a proxy subscribes to by default, in push order. */
export const ALL_TYPE_URLS: readonly string[] = [
  TypeUrl.clusters,
  TypeUrl.endpoints,
  TypeUrl.routes,
  TypeUrl.listeners,
];

/** The short name of a type URL (`clusters`), for tables and logs. */
export function shortTypeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** Who a proxy is, as it says in its first request. */
export interface NodeMetadata {
  workload_name: string;
  namespace: string;
  labels: Record<string, string>;
  service_account: string;
  proxy_version: string;
}

export interface NodeMessage {
  id: string;
  metadata?: NodeMetadata | null;
}

export interface StatusMessage {
  code: number;
  message: string;
}

export interface DiscoveryRequest {
  version_info: string;
  node?: NodeMessage | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: StatusMessage | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: Buffer[];
  type_url: string;
  nonce: string;
}

/** One named, versioned resource of a delta response (`resource` is UTF-8 JSON). */
export interface ResourceMessage {
  name: string;
  version: string;
  resource: Buffer;
}

/** A token the proxy met whose `kid` its keys of that issuer lack (mesh.proto UnknownJwtKey). */
export interface UnknownJwtKeyMessage {
  issuer: string;
  kid: string;
}

export interface DeltaDiscoveryRequest {
  node?: NodeMessage | null;
  type_url: string;
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: StatusMessage | null;
  /** a hint only (see mesh.proto): the request means nothing else */
  unknown_jwt_keys?: UnknownJwtKeyMessage[];
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: ResourceMessage[];
  type_url: string;
  nonce: string;
  removed_resources: string[];
}

export interface CreateCertificateRequest {
  csr: string;
  credential: string;
  ttl_seconds: number;
}

export interface CreateCertificateResponse {
  cert_chain: string[];
  /** Every root to trust (old + new during a root rotation); absent from older control planes. */
  trust_bundle?: string[];
}
