/** The control plane's Kubernetes mode: informers -> MeshSnapshot, and the root CA kept in a Secret. */
export { ListWatch, type ListWatchOptions, type WatchEventType } from './list-watch.js';
export {
  podServesTraffic,
  portProtocol,
  serviceFromObject,
  workloadFromPod,
  type PodObject,
  type ServiceObject,
} from './convert.js';
export { KubernetesRegistry, type KubernetesRegistryOptions, type RejectedResource } from './registry.js';
export { CA_SECRET_NAME, SecretCaStorage } from './ca-secret-storage.js';
