/** What every part of the node agent shares: node facts, API access, images, the pod network. */
import type { V1Pod } from '@kubernetes/client-node';
import type { NodeFacts } from './env.js';
import type { LocalImage } from './image-table.js';
import type { ClusterDns } from './pod-dns.js';
import type { PodNetworker } from './pod-network.js';
import type { VolumeSources } from './volumes.js';

/** The API calls pods need from the agent. */
export interface PodApi {
  patchStatus(pod: V1Pod, status: Record<string, unknown>): Promise<void>;
  /** The kubelet's final delete (grace period 0, precondition on the UID) once everything has stopped. */
  deletePod(pod: V1Pod): Promise<void>;
  event(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void;
}

/** The agent's shared state, passed to every pod worker. */
export interface AgentContext {
  nodeName: string;
  kubeletVersion: string;
  podsDir: string;
  images: Map<string, LocalImage>;
  networker: PodNetworker;
  node: Omit<NodeFacts, 'podIP'>;
  /** The cluster DNS pods use, and the node's own resolv.conf (dnsPolicy Default). */
  dns: { cluster: ClusterDns; nodeResolvConf: string };
  sources: VolumeSources;
  api: PodApi;
  /** Crash back-off: first restart immediate, then base, doubling up to max (kubelet: 10 s, 5 min). */
  backoffBaseMs: number;
  backoffMaxMs: number;
  log(message: string): void;
}

/** A Kubernetes timestamp (RFC 3339, seconds). */
export function kubeTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}
