/**
 * The platform interface: where the mesh runs, hidden behind one set of operations so commands
 * never care. Backends: `local` (a control plane daemon on this machine) and `kubernetes`.
 * The shapes here are the JSON both backends return; nothing here imports control-plane code.
 * Outside src/cluster/ this is the only module to import: a backend's own types are re-exported
 * below (type-only, so naming them loads nothing), and its code is reached through the platform.
 */
import type { KubernetesPlatform } from './kubernetes/platform.js';
import type { LocalPlatform } from './local/platform.js';

export type { KubernetesPlatform } from './kubernetes/platform.js';
export type { LocalPlatform } from './local/platform.js';
export type { KubernetesCluster } from './kubernetes/index.js';
export type { KubeObject, KubeObjects } from './kubernetes/objects.js';
export type { PodLike, DeploymentReadiness } from './kubernetes/readiness.js';
export type { KubeRest } from './kubernetes/rest.js';
export type { AccessQuestion } from './kubernetes/access.js';
export type { ControlPlaneState, LocalLayout } from './local/layout.js';
export type { StartDaemonOptions } from './local/daemon-process.js';
export type { ClusterAnalysisData } from './kubernetes/analysis-inventory.js';

/** Where the mesh runs: a Kubernetes cluster, or the embedded single-machine platform. */
export type PlatformKind = 'kubernetes' | 'local';

/**
 * What a platform operation that runs in the foreground (a workload started by `meshctl run`) needs
 * from the invocation: its environment, its output streams, a dim style for notes and debug logging.
 * The CLI's context is one; the platform never sees the rest of it.
 */
export interface InvocationIo {
  readonly io: { readonly env: NodeJS.ProcessEnv; readonly cwd: string };
  readonly errStyle: { dim(text: string): string };
  readonly logger: { debug(message: string): void };
  /** The local platform's home (`$MESHCTL_HOME`). */
  meshHome(): string;
  /** Aborted on SIGINT/SIGTERM: the workload stops cleanly. */
  readonly signal: AbortSignal;
  out(text: string): void;
  err(text: string): void;
}

/** A config source document as the user gave it (file name for error positions). */
export interface ConfigDocument {
  readonly file: string;
  readonly text: string;
}

/** The key of a config object. */
export interface ConfigObjectKey {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** What happened to one object of an apply or delete. */
export interface ConfigOutcome {
  readonly key: ConfigObjectKey;
  readonly apiVersion: string;
  readonly action: 'created' | 'configured' | 'unchanged' | 'deleted' | 'not found';
}

/** A stored config object (apiVersion, kind, metadata, spec). */
export type ConfigObjectData = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** A workload the platform knows, with its sidecar. */
export interface WorkloadInfo {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Pod-style annotations; the local platform reads config.linkerd.io/default-inbound-policy. */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly address: string;
  readonly ports: readonly number[];
  readonly services?: readonly string[];
  readonly servicePort?: number;
  /** The sidecar's inbound (mTLS) port, its admin port and its HTTP_PROXY port on 127.0.0.1. */
  readonly proxyPort?: number;
  readonly adminPort?: number;
  readonly outboundPort?: number;
  /** false: registered but not (yet, or no longer) an endpoint of its services. */
  readonly serving?: boolean;
  /** The sidecar's telemetry port (`/stats/prometheus`) on `address`. */
  readonly telemetryPort?: number;
  /** A gateway (`meshctl gateway run`): the address it binds, Gateway port -> local port. */
  readonly gateway?: { readonly address: string; readonly ports: Readonly<Record<number, number>> };
  /** Its load-balancing weight among its services' endpoints (a WorkloadGroup's `template.weight`); absent: 1. */
  readonly weight?: number;
}

/** A mesh platform. */
export interface MeshPlatform {
  readonly kind: PlatformKind;
  /** One line: where the mesh is (`local control plane in ~/.meshctl`, `cluster of context kind-dev`). */
  describe(): string;
  /** Validates and stores config objects; throws ConfigInvalidError naming file, line and field when any is invalid (nothing applied). */
  applyConfig(documents: readonly ConfigDocument[], opts: { defaultNamespace: string }): Promise<ConfigOutcome[]>;
  deleteConfig(keys: readonly ConfigObjectKey[]): Promise<ConfigOutcome[]>;
  listConfig(filter?: { kind?: string; namespace?: string }): Promise<ConfigObjectData[]>;
  listWorkloads(namespace?: string): Promise<WorkloadInfo[]>;
  /** GET on the control plane's debug API (`/debug/syncz`, `/debug/config_dump?proxy=…`), parsed JSON. */
  controlPlaneGet<T>(path: string): Promise<T>;
  /** Starts or joins a root CA rotation (`meshctl ca rotate`); absent where it is not built yet (Kubernetes). */
  startCaRotation?<T>(): Promise<T>;
  /** The progress of the root CA rotation the control plane runs. */
  caRotationProgress?<T>(): Promise<T>;
  /** GET on a workload's proxy admin API (`/config_dump`, `/clusters`), parsed JSON. */
  proxyAdminGet<T>(workload: { name: string; namespace: string }, path: string): Promise<T>;
  /**
   * POST on a workload's proxy admin API (`/logging?level=debug`), authenticated with that proxy's
   * admin token; the backend reads the token where the proxy wrote it and never returns or prints it.
   */
  proxyAdminPost<T>(workload: { name: string; namespace: string }, path: string): Promise<T>;
  /** Resolves when the control plane answers ready; throws TimeoutError after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void>;
}

/** How to reach the platform: the local mesh home, and for Kubernetes the kubeconfig flags as kubectl reads them. */
export interface PlatformOptions {
  readonly home: string;
  /** `--kubeconfig` / `--context` and the environment (KUBECONFIG, HOME) to read them with. */
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kubernetes: without a kubeconfig, use the pod's service account (the control plane runs in the cluster). */
  readonly inClusterFallback?: boolean;
}

/** The platform on a Kubernetes cluster, with what only a cluster has (RBAC, Deployments, control plane pods). */
export function isKubernetesPlatform(platform: MeshPlatform): platform is KubernetesPlatform {
  return platform.kind === 'kubernetes';
}

/** The platform on this machine, with its files (`$MESHCTL_HOME` layout). */
export function isLocalPlatform(platform: MeshPlatform): platform is LocalPlatform {
  return platform.kind === 'local';
}

/** The platform of an invocation (loads the backend lazily). */
export async function platformFor(kind: PlatformKind, opts: PlatformOptions): Promise<MeshPlatform> {
  if (kind === 'local') {
    const { LocalPlatform } = await import('./local/platform.js');
    return new LocalPlatform(opts.home);
  }
  const [{ KubernetesCluster }, { KubernetesPlatform }] = await Promise.all([
    import('./kubernetes/index.js'),
    import('./kubernetes/platform.js'),
  ]);
  const cluster = await KubernetesCluster.connect({
    ...(opts.kubeconfig ? { kubeconfig: opts.kubeconfig } : {}),
    ...(opts.context ? { context: opts.context } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.inClusterFallback ? { inClusterFallback: true } : {}),
  });
  return new KubernetesPlatform(cluster);
}
