/**
 * The Kubernetes backend behind the platform interface (src/cluster/index.ts): mesh config is the
 * cluster's custom resources (validated by meshctl first, with file:line errors, then server-side
 * applied as `meshctl`), workloads are the pods running the sidecar, and the control plane is reached
 * through the API server's service proxy.
 */
import { ConfigInvalidError, ErrorCode, MeshError } from '../../errors.js';
import {
  MESH_KINDS,
  formatIssue,
  manifestObjects,
  recordAppliedFrom,
  parseDocuments,
  splitApiVersion,
  validateResource,
} from '../../config/index.js';
import { CONTROL_PLANE_SERVICE, ControlPlanePorts, INJECTED_LABEL, MESH_NAMESPACE } from '../../protocol/well-known.js';
import type {
  ConfigDocument,
  ConfigObjectData,
  ConfigObjectKey,
  ConfigOutcome,
  InstallRequest,
  MeshPlatform,
  OperationIo,
  OperationOutcome,
  UninstallRequest,
  UpgradeRequest,
  WorkloadInfo,
} from '../index.js';
import type { UpgradeReport } from './upgrade.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import { podProblem, podReady, type DeploymentReadiness, type PodLike } from './readiness.js';
import type { AccessQuestion } from './access.js';
import type { ClusterAnalysisData } from './analysis-inventory.js';
import { mergedSyncz, replicaConfigDump } from './control-plane-pods.js';
import { podAdminRequest, Slots } from './proxy-admin.js';
import type { KubernetesCaRotationClient } from './ca-rotation.js';

/** Drops what the API server adds (managedFields, status, uid...) so listed config reads like what was applied. */
function asConfig(o: KubeObject): ConfigObjectData {
  const { name, namespace, labels, annotations } = o.metadata;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    },
    ...(o.spec !== undefined ? { spec: o.spec } : {}),
  };
}

interface PodWithPorts extends KubeObject {
  spec?: {
    serviceAccountName?: string;
    containers?: { name: string; ports?: { containerPort: number; protocol?: string }[] }[];
  };
  status?: PodLike['status'];
}

/** The mesh on a Kubernetes cluster. */
export class KubernetesPlatform implements MeshPlatform {
  readonly kind = 'kubernetes' as const;

  constructor(
    readonly cluster: KubernetesCluster,
    /** The namespace the control plane was installed in. */
    readonly meshNamespace: string = MESH_NAMESPACE,
  ) {}

  describe(): string {
    return `cluster of ${this.cluster.describe()}`;
  }

  /**
   * Server-side applies the CRDs and the components `manifest generate` prints, creates the root CA
   * Secret once, and with `wait` waits for the control plane (per-pod reasons on timeout).
   */
  async install(request: InstallRequest, io: OperationIo): Promise<OperationOutcome> {
    const k = request.kubernetes;
    if (!k) throw new MeshError(ErrorCode.Internal, 'a Kubernetes install needs its values');
    const question = `Install meshctl ${request.version} into ${this.cluster.describe()} (namespace ${k.values.namespace})?`;
    if (!request.yes && !(await io.confirm(question, true))) return { declined: 'Nothing installed.' };
    const { installKubernetes } = await import('./install.js');
    const report = await installKubernetes(
      { cluster: this.cluster, progress: (l) => io.progress(l), warn: (m) => io.warn(m) },
      {
        values: k.values,
        version: request.version,
        rootCa: k.rootCa,
        ...(request.meshConfig ? { meshConfig: request.meshConfig } : {}),
        crdsOnly: k.crdsOnly,
        wait: k.wait,
        timeoutMs: request.timeoutMs,
      },
    );
    io.debug(
      `install report: ${JSON.stringify({ crds: report.crds.length, components: report.components.length, ca: report.caSecret })}`,
    );
    if (k.crdsOnly) return {};
    return {
      next:
        `\nNext:\n` +
        `  kubectl label namespace NS ${'meshctl.dev/inject'}=enabled     # automatic injection of new pods\n` +
        `  meshctl inject -f app.yaml | kubectl apply -f -\n` +
        `${k.wait ? '' : `  meshctl install --wait                    # or wait for the control plane (deployment ${k.values.namespace}/meshctl-control-plane)\n`}` +
        `Remove it with 'meshctl uninstall'.\n`,
    };
  }

  /**
   * Refuses while injected pods run (unless forced); removes what install applied and what the
   * control plane created; keeps the CRDs, the root CA Secret and the namespace unless purging.
   */
  async uninstall(request: UninstallRequest, io: OperationIo): Promise<OperationOutcome> {
    const k = request.kubernetes ?? { namespace: this.meshNamespace, force: false, dryRun: false };
    const what = request.purge
      ? 'the mesh, its CRDs (and every VirtualService, DestinationRule, policy... stored in them), the root CA and namespace'
      : 'the mesh control plane and webhook';
    if (!request.yes && !k.dryRun && !(await io.confirm(`Remove ${what} from ${this.cluster.describe()}?`, true)))
      return { declined: 'Nothing removed.' };
    const { uninstallKubernetes } = await import('./install.js');
    const report = await uninstallKubernetes(
      { cluster: this.cluster, progress: (l) => io.progress(l), warn: (m) => io.warn(m) },
      { namespace: k.namespace, force: k.force, purge: request.purge, dryRun: k.dryRun },
    );
    for (const r of report.removed) io.progress(`  ${k.dryRun ? 'would remove' : 'removed'} ${r}`);
    for (const r of report.kept) io.progress(`  kept ${r}`);
    return {};
  }

  /**
   * Applies this version's manifests as install does (the root CA kept), waits for the rollout and
   * lists the injected proxies still older; a dry run lists what would change, field by field.
   */
  async upgrade(request: UpgradeRequest, io: OperationIo): Promise<OperationOutcome & { report: UpgradeReport }> {
    const question = `Upgrade the mesh in ${this.cluster.describe()} (namespace ${request.values.namespace}) to meshctl ${request.version}?`;
    if (!request.dryRun && !request.yes && !(await io.confirm(question, true)))
      return { declined: 'Nothing changed.', report: { outdated: [] } };
    const { upgradeKubernetes } = await import('./upgrade.js');
    const report = await upgradeKubernetes(
      { cluster: this.cluster, progress: (l) => io.progress(l), warn: (m) => io.warn(m) },
      {
        values: request.values,
        version: request.version,
        rootCa: request.rootCa,
        dryRun: request.dryRun,
        timeoutMs: request.timeoutMs,
      },
    );
    return { report };
  }

  /** What `meshctl analyze` reads of the cluster: the mesh config and the inventory it refers to. */
  async readForAnalysis(): Promise<ClusterAnalysisData> {
    const { readClusterForAnalysis } = await import('./analysis-inventory.js');
    return readClusterForAnalysis(this);
  }

  // What the Kubernetes check categories (src/checks/kubernetes/) ask of the cluster, so they reach
  // it through the platform and never import a backend module.

  /** Whether the current user may do `q` (a SelfSubjectAccessReview, as `kubectl auth can-i`). */
  async canI(q: AccessQuestion): Promise<{ allowed: boolean; reason?: string }> {
    const { canI } = await import('./access.js');
    return canI(this.cluster, q);
  }

  /** The API server's clock minus this machine's, in ms (certificates fail on a large skew). */
  async clockSkewMs(now: () => Date): Promise<number> {
    const { clockSkewMs } = await import('./access.js');
    return clockSkewMs(this.cluster, now);
  }

  /** Whether a Deployment rolled out, and what keeps its pods from it. */
  async deploymentReadiness(namespace: string, name: string): Promise<DeploymentReadiness> {
    const { deploymentReadiness } = await import('./readiness.js');
    return deploymentReadiness(this.cluster.objects, namespace, name);
  }

  /** Why a pod is not ready (image pull, crash loop, pending...), or undefined. */
  podProblem(pod: PodLike): string | undefined {
    return podProblem(pod);
  }

  /** The control plane's pods in `namespace`. */
  async controlPlanePods(namespace: string): Promise<PodLike[]> {
    const { controlPlanePods } = await import('./control-plane-pods.js');
    return controlPlanePods(this.cluster, namespace);
  }

  /** GET on one control plane replica's debug API, through the API server's pod proxy. */
  async replicaGet<T>(namespace: string, pod: string, path: string): Promise<T> {
    const { replicaGet } = await import('./control-plane-pods.js');
    return replicaGet<T>(this.cluster, namespace, pod, path);
  }

  async applyConfig(
    documents: readonly ConfigDocument[],
    opts: { defaultNamespace: string },
  ): Promise<ConfigOutcome[]> {
    const problems: string[] = [];
    const objects: KubeObject[] = [];
    for (const doc of documents) {
      for (const input of manifestObjects(parseDocuments(doc.text, doc.file))) {
        // Where it came from, so a proxy's refusal can name the file and line (see proxy-status).
        recordAppliedFrom(input);
        const r = validateResource(input, { defaultNamespace: opts.defaultNamespace });
        const subject = `${r.identity.kind} ${r.identity.namespace ? `${r.identity.namespace}/` : ''}${r.identity.name}`;
        if (r.errors.length) problems.push(...r.errors.map((e) => `${subject}: ${formatIssue(e)}`));
        else if (!r.kind || !r.resource)
          problems.push(
            `${subject}: not a mesh kind; apply it with kubectl (meshctl apply takes the mesh's Istio, Linkerd and SMI kinds)`,
          );
        else objects.push(r.resource as unknown as KubeObject);
      }
    }
    // All or nothing, as on the local platform: one invalid object and the cluster is not touched.
    if (problems.length)
      throw new ConfigInvalidError(
        `${problems.length === 1 ? 'one object' : `${problems.length} objects`} of the input`,
        problems,
      );
    const out: ConfigOutcome[] = [];
    for (const obj of objects) {
      const ref = {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
      };
      const before = await this.cluster.get(ref);
      const after = await this.cluster.apply(obj);
      const action = !before
        ? 'created'
        : before.metadata.resourceVersion === after.metadata.resourceVersion
          ? 'unchanged'
          : 'configured';
      out.push({ key: this.keyOf(obj), apiVersion: obj.apiVersion, action });
    }
    return out;
  }

  private keyOf(o: KubeObject): ConfigObjectKey {
    return {
      group: splitApiVersion(o.apiVersion).group,
      kind: o.kind,
      namespace: o.metadata.namespace ?? 'default',
      name: o.metadata.name,
    };
  }

  async deleteConfig(keys: readonly ConfigObjectKey[]): Promise<ConfigOutcome[]> {
    const out: ConfigOutcome[] = [];
    for (const key of keys) {
      const def = MESH_KINDS.find((k) => k.group === key.group && k.kind === key.kind);
      const apiVersion = def ? `${def.group}/${def.storageVersion}` : key.group ? `${key.group}/v1` : 'v1';
      const gone = await this.cluster.delete({ apiVersion, kind: key.kind, namespace: key.namespace, name: key.name });
      out.push({ key, apiVersion, action: gone ? 'deleted' : 'not found' });
    }
    return out;
  }

  async listConfig(filter: { kind?: string; namespace?: string } = {}): Promise<ConfigObjectData[]> {
    const out: ConfigObjectData[] = [];
    for (const def of MESH_KINDS) {
      if (filter.kind && def.kind !== filter.kind) continue;
      // Read at the newest version served (what kubectl prefers), as users write them today.
      const apiVersion = `${def.group}/${def.versions[def.versions.length - 1] ?? def.storageVersion}`;
      // A kind whose CRD is not installed (or owned by a mesh that serves other versions) lists as empty.
      if (!(await this.cluster.objects.serves(apiVersion, def.kind))) continue;
      const list = await this.cluster.list({ apiVersion, kind: def.kind, namespace: filter.namespace });
      out.push(...list.items.map(asConfig));
    }
    return out;
  }

  async listWorkloads(namespace?: string): Promise<WorkloadInfo[]> {
    const pods = await this.cluster.list<PodWithPorts>(
      { apiVersion: 'v1', kind: 'Pod', namespace },
      { labelSelector: `${INJECTED_LABEL}=true` },
    );
    return pods.items
      .filter((p) => podReady(p as PodLike) && p.status?.podIP && !p.metadata.deletionTimestamp)
      .map((p) => ({
        name: p.metadata.name,
        namespace: p.metadata.namespace ?? 'default',
        serviceAccount: p.spec?.serviceAccountName || 'default',
        labels: p.metadata.labels ?? {},
        address: p.status!.podIP!,
        ports: (p.spec?.containers ?? []).flatMap((c) =>
          (c.ports ?? []).filter((cp) => (cp.protocol ?? 'TCP') === 'TCP').map((cp) => cp.containerPort),
        ),
      }));
  }

  /**
   * The debug API through the API server's proxy. `/debug/syncz` merges every ready replica (each
   * holds the streams of its own proxies; every entry says which replica); `/debug/config_dump?proxy=`
   * asks the replica holding that proxy; anything else goes to the Service (any replica answers alike).
   */
  async controlPlaneGet<T>(path: string): Promise<T> {
    const bare = path.split('?')[0];
    if (bare === '/debug/syncz') return (await mergedSyncz(this.cluster, this.meshNamespace)) as unknown as T;
    if (bare === '/debug/config_dump') {
      const id = new URLSearchParams(path.slice(path.indexOf('?') + 1)).get('proxy') ?? '';
      return replicaConfigDump<T>(this.cluster, this.meshNamespace, id);
    }
    const r = await this.cluster.proxy(
      { kind: 'service', namespace: this.meshNamespace, name: CONTROL_PLANE_SERVICE, port: ControlPlanePorts.debug },
      { path },
    );
    return JSON.parse(r.text) as T;
  }

  /** Asks the control plane for a root CA rotation (`meshctl ca rotate`), or follows the one under way. */
  async startCaRotation<T>(): Promise<T> {
    const { KubernetesCaRotationClient } = await import('./ca-rotation.js');
    this.rotationClient = new KubernetesCaRotationClient(this.cluster, this.meshNamespace);
    return (await this.rotationClient.start()) as T;
  }

  /** The progress of the rotation startCaRotation asked for or joined. */
  async caRotationProgress<T>(): Promise<T> {
    if (!this.rotationClient) {
      const { KubernetesCaRotationClient } = await import('./ca-rotation.js');
      this.rotationClient = new KubernetesCaRotationClient(this.cluster, this.meshNamespace);
    }
    return (await this.rotationClient.progress()) as T;
  }

  private rotationClient: KubernetesCaRotationClient | undefined;

  /**
   * The pod's own admin API, through pods/exec (`meshctl proxy request` in the proxy's container, as
   * istioctl runs `pilot-agent request`): what the proxy really runs, so a proxy changed through its
   * admin API shows DIVERGED in proxy-status.
   */
  async proxyAdminGet<T>(workload: { name: string; namespace: string }, path: string): Promise<T> {
    return this.execSlots.run(() => podAdminRequest<T>(this.cluster, workload, 'GET', path));
  }

  /** The same for a change (`/logging?level=debug`): the command in the pod adds the pod's admin token. */
  async proxyAdminPost<T>(workload: { name: string; namespace: string }, path: string): Promise<T> {
    return this.execSlots.run(() => podAdminRequest<T>(this.cluster, workload, 'POST', path));
  }

  /** Each admin request starts a process in a pod: proxy-status over many pods runs a few at a time. */
  private readonly execSlots = new Slots(8);

  async waitForReady(timeoutMs: number): Promise<void> {
    await this.cluster.waitForDeployment(this.meshNamespace, CONTROL_PLANE_SERVICE, { timeoutMs });
  }
}
