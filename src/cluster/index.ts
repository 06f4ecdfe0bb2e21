/**
 * The platform interface: where the mesh runs, hidden behind one set of operations so commands
 * never care. Backends: `local` (a control plane daemon on this machine) and `kubernetes`.
 * The shapes here are the JSON both backends return; nothing here imports control-plane code.
 * Outside src/cluster/ this is the module to import: a backend's own types are re-exported below
 * (type-only, so naming them loads nothing), and its code is reached through the platform. Beside
 * it, two small modules that are no backend's internals: local-layout.ts (the files the local
 * control plane daemon writes and the local backend reads) and processes.ts (launcher, process identity).
 */
import type { KubernetesPlatform } from './kubernetes/platform.js';
import type { LocalPlatform } from './local/platform.js';
import type { RawCaptureSettings } from '../proxy-init/options.js';
import type { InstallValues } from '../install/values.js';
import type { UpgradeReport } from './kubernetes/upgrade.js';

export type { KubernetesPlatform } from './kubernetes/platform.js';
export type { LocalPlatform } from './local/platform.js';
export type { KubernetesCluster } from './kubernetes/index.js';
export type { KubeObject, KubeObjects } from './kubernetes/objects.js';
export type { PodLike, DeploymentReadiness } from './kubernetes/readiness.js';
export type { KubeRest } from './kubernetes/rest.js';
export type { AccessQuestion } from './kubernetes/access.js';
export type { ControlPlaneState, LocalLayout } from './local-layout.js';
export type { StartDaemonOptions } from './local/daemon-process.js';
export type { ClusterAnalysisData } from './kubernetes/analysis-inventory.js';
export type { UpgradeReport, PlannedChange, OutdatedProxy } from './kubernetes/upgrade.js';

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

/** One explicit outbound port of `meshctl run --outbound`: 127.0.0.1:localPort goes to service:port through the mesh. */
export interface OutboundPort {
  /** As written: `reviews` (the workload's namespace) or `reviews.prod`. */
  readonly service: string;
  readonly port: number;
  readonly localPort: number;
}

/** A workload to run with its sidecar on this machine (`meshctl run`), as its validate() checked it. */
export interface WorkloadSpec {
  name: string;
  namespace: string;
  service: string | undefined;
  servicePort: number | undefined;
  serviceAccount: string;
  labels: Record<string, string>;
  /** Pod-style annotations the local platform reads (config.linkerd.io/default-inbound-policy). */
  annotations?: Record<string, string>;
  /** The port the app listens on (given to it as $PORT). */
  port: number;
  command: string[];
  /** Load-balancing weight among its services' endpoints (`--workload-group`: the template's `weight`). */
  weight?: number;
}

/** A workload beside the others on the host (no --transparent): explicit outbound ports and the address it binds. */
export interface HostWorkloadSpec extends WorkloadSpec {
  /** --outbound: explicit outbound listeners of the sidecar. */
  outbound: OutboundPort[];
  /**
   * --address: where the sidecar's inbound and telemetry listeners bind, and where other workloads
   * reach this one. Default 127.0.0.1: nothing of the workload is reachable from other hosts.
   */
  address: string;
  /** --workload-group: the WorkloadGroup it is a member of (Services select it by the group's labels). */
  workloadGroup?: string;
}

/** How a host workload starts, announces itself and stops. */
export interface WorkloadLifecycle {
  readonly readyTimeoutMs: number;
  /** --ready-path: the app is ready when GET on it answers 200-399 (default: when its port accepts). */
  readonly readyPath: string | undefined;
  /** --drain-duration: how long in-flight requests get after the endpoint was withdrawn. */
  readonly drainMs: number;
  /** --access-log-max-size / --access-log-keep. */
  readonly accessLogRotation: { readonly maxBytes: number; readonly keep: number };
}

/** Options of a transparent run (`meshctl run --transparent`: own network namespace, iptables capture). */
export interface TransparentOptions {
  /** `--user`: NAME, UID, NAME:GROUP or UID:GID. */
  user?: string;
  readyTimeoutMs: number;
  /** `proxy init` settings (excludeOutboundPorts, excludeOutboundIpRanges, excludeInboundPorts, ...). */
  capture: RawCaptureSettings;
}

/** A gateway to run on this machine (`meshctl gateway run`): the proxy in router mode, selected by its labels. */
export interface GatewaySpec {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Record<string, string>;
  /** Gateway server port -> local port */
  readonly ports: Record<number, number>;
  readonly address: string;
  readonly readyTimeoutMs: number;
}

/** A root CA's PEM material: the signing certificate (plus any chain up to the root) and its PKCS#8 key. */
export interface CaMaterial {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/**
 * Where install takes the root CA from when the platform has none yet. The CA code is the control
 * plane's (above the platform in the house), so the command hands it in.
 */
export interface RootCaSource {
  /** The user's CA (`--set ca.cert=FILE --set ca.key=FILE`), read and checked; stored, never replacing a different one. */
  readonly supplied?: CaMaterial;
  /** A new root, made only when the platform has none and none was supplied. */
  generate(): Promise<CaMaterial>;
}

/** What install, uninstall and upgrade need from the invocation: progress lines, warnings, a confirmation. */
export interface OperationIo {
  /** One line for stdout; `✔ ...` lines are shown with the success mark. */
  progress(line: string): void;
  /** A warning, for stderr. */
  warn(message: string): void;
  /** Asks on a terminal; `fallback` where nobody can answer. */
  confirm(message: string, fallback: boolean): Promise<boolean>;
  /** Debug detail (`-v`). */
  debug(message: string): void;
}

/** `meshctl install`: what to install; each platform reads the part that is its own (validate() chose it). */
export interface InstallRequest {
  /** The meshctl version stamped on what is installed. */
  readonly version: string;
  /** How long to wait for the control plane. */
  readonly timeoutMs: number;
  /** -y: do not ask before changing a cluster. */
  readonly yes: boolean;
  /** Istio MeshConfig (an IstioOperator's spec.meshConfig, --set meshConfig.*), on both platforms. */
  readonly meshConfig?: Record<string, unknown>;
  /** Kubernetes: the resolved values, the root CA, --crds-only and --wait. */
  readonly kubernetes?: {
    readonly values: InstallValues;
    readonly rootCa: RootCaSource;
    readonly crdsOnly: boolean;
    readonly wait: boolean;
  };
  /** Local: the control plane flags as daemon arguments, the environment it starts with. */
  readonly local?: {
    readonly daemonArgs: readonly string[];
    readonly env: NodeJS.ProcessEnv;
  };
}

/** `meshctl uninstall`. */
export interface UninstallRequest {
  /** Also delete the mesh state: Kubernetes: CRDs (with the config in them), root CA, namespace; local: CA, config, workloads, logs. */
  readonly purge: boolean;
  readonly yes: boolean;
  /** Kubernetes: the mesh namespace, --force (even while injected pods run), --dry-run. */
  readonly kubernetes?: { readonly namespace: string; readonly force: boolean; readonly dryRun: boolean };
}

/** `meshctl upgrade` (Kubernetes): the new version's values and the root CA as at install. */
export interface UpgradeRequest {
  readonly values: InstallValues;
  readonly rootCa: RootCaSource;
  readonly version: string;
  readonly dryRun: boolean;
  readonly yes: boolean;
  readonly timeoutMs: number;
}

/** What an install, uninstall or upgrade ended with. */
export interface OperationOutcome {
  /** The user said no at the confirmation, as the line to show (`Nothing removed.`): nothing was changed (exit code 1). */
  readonly declined?: string;
  /** What to do next, shown after the progress lines. */
  readonly next?: string;
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
  /** Installs the mesh (or re-applies it; a second install changes nothing). */
  install(request: InstallRequest, io: OperationIo): Promise<OperationOutcome>;
  /** Removes the mesh; with `purge` its state too. */
  uninstall(request: UninstallRequest, io: OperationIo): Promise<OperationOutcome>;
  /** Moves the installed mesh to this version; absent where a restart is the upgrade (local). */
  upgrade?(request: UpgradeRequest, io: OperationIo): Promise<OperationOutcome & { report: UpgradeReport }>;
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
