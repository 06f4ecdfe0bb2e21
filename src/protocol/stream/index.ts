/** The config stream and CA wire protocol shared by the control plane and the proxy: messages, type URLs, sync states, the proto loader. */
export { ALL_TYPE_URLS, TypeUrl, shortTypeName } from './messages.js';
export type {
  CreateCertificateRequest,
  CreateCertificateResponse,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  ResourceMessage,
  NodeMessage,
  NodeMetadata,
  StatusMessage,
} from './messages.js';
export { deriveSyncStatus, type SyncStatus, type TypeSyncState } from './sync-status.js';
export {
  ADS_DELTA_METHOD,
  ADS_METHOD,
  CA_METHOD,
  loadMeshProto,
  protoPath,
  type Grpc,
  type MeshProto,
} from './grpc.js';
export {
  assembleResources,
  byName,
  joinRouteTables,
  nameResources,
  resourceNameOf,
  splitRouteConfig,
  type NamedResource,
} from './resources.js';
