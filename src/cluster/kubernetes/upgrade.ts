/**
 * `meshctl upgrade` on Kubernetes: the new version's manifests server-side applied exactly as
 * install applies them (the root CA Secret is kept, never regenerated), the control plane rollout
 * waited for, then the injected proxies older than the CLI listed with the command that restarts
 * each workload. A dry run server-side applies with dryRun=All and lists what would change, field
 * by field; a second upgrade changes nothing.
 */
import { PlatformUnavailableError } from '../../errors.js';
import { Annotations } from '../../protocol/well-known.js';
import type { RootCaSource } from '../index.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import type { PodLike } from './readiness.js';
import { loadCrds } from '../../install/crds.js';
import { foreignOwner } from '../../install/objects.js';
import {
  installKubernetes,
  keepClosedValidator,
  type KubernetesInstallDeps,
  type KubernetesInstallReport,
} from './install.js';
import { InstallNames, renderComponents } from '../../install/manifests.js';
import type { InstallValues } from '../../install/values.js';

/** One object a dry run would create or change. */
export interface PlannedChange {
  object: string;
  action: 'create' | 'change';
  /** Changed field paths (`spec.template.spec.containers[0].image`), at most a few per object. */
  fields: string[];
}

/** A proxy older than the CLI, and how to restart it. */
export interface OutdatedProxy {
  pod: string;
  namespace: string;
  version: string;
  /** `deployment/reviews-v1`, or `pod/x` for a pod without a controller. */
  workload: string;
  restart: string;
}

/** What upgrade did (or, dry, would do). */
export interface UpgradeReport {
  install?: KubernetesInstallReport;
  planned?: PlannedChange[];
  outdated: OutdatedProxy[];
}

const VOLATILE_METADATA = ['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid'];

/** The object without what the API server maintains, for comparing live and would-be states. */
function comparable(o: KubeObject): Record<string, unknown> {
  const { status: _status, ...rest } = o as KubeObject & { status?: unknown };
  const metadata: Record<string, unknown> = { ...o.metadata };
  for (const k of VOLATILE_METADATA) delete metadata[k];
  const annotations = { ...(o.metadata.annotations ?? {}) };
  delete annotations['deployment.kubernetes.io/revision'];
  metadata.annotations = annotations;
  return { ...rest, metadata };
}

/** Leaf paths where two JSON values differ. */
function differingPaths(a: unknown, b: unknown, path: string, out: string[]): void {
  if (out.length >= 50) return;
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => differingPaths(x, b[i], `${path}[${i}]`, out));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort())
      differingPaths(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
        out,
      );
    return;
  }
  out.push(path || '(whole object)');
}

function describe(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

/** Server-side dry run of everything upgrade would apply: what would be created or changed. */
export async function planUpgrade(
  cluster: KubernetesCluster,
  values: InstallValues,
  version: string,
): Promise<PlannedChange[]> {
  const out: PlannedChange[] = [];
  const objects: KubeObject[] = [];
  for (const crd of await loadCrds()) {
    const live = await cluster.get({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: crd.metadata.name,
    });
    if (!live || !foreignOwner(live)) objects.push(crd as unknown as KubeObject);
  }
  objects.push(...(renderComponents(values, version) as unknown as KubeObject[]));
  for (const obj of objects) {
    const ref = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
    };
    const live = await cluster.get(ref);
    if (!live) {
      out.push({ object: describe(obj), action: 'create', fields: [] });
      continue;
    }
    // A CRD not yet established cannot be dry-run applied against; everything else can.
    const would = await cluster.apply(keepClosedValidator(obj, live), {
      dryRun: true,
      force: obj.kind !== 'Namespace',
    });
    const fields: string[] = [];
    differingPaths(comparable(live), comparable(would), '', fields);
    if (fields.length) out.push({ object: describe(obj), action: 'change', fields });
  }
  return out;
}

/** The proxy version of an injected pod: its injection record, else the proxy image's tag. */
export function proxyVersionOf(pod: PodLike): string | undefined {
  const status = pod.metadata.annotations?.[Annotations.status];
  if (status) {
    try {
      const v = (JSON.parse(status) as { version?: unknown }).version;
      if (typeof v === 'string') return v;
    } catch {
      // not JSON: fall back to the image
    }
  }
  const spec = pod.spec as
    | { containers?: { name: string; image?: string }[]; initContainers?: { name: string; image?: string }[] }
    | undefined;
  const proxy = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find((c) => c.name === 'mesh-proxy');
  const tag = proxy?.image?.match(/:([^:/@]+)(@.*)?$/)?.[1];
  return tag;
}

/** The workload that owns a pod, as `kind/name` for kubectl (a ReplicaSet is followed to its Deployment). */
async function ownerOf(cluster: KubernetesCluster, pod: PodLike): Promise<{ kind: string; name: string } | undefined> {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller) ?? pod.metadata.ownerReferences?.[0];
  if (!owner) return undefined;
  if (owner.kind === 'ReplicaSet') {
    const rs = await cluster
      .get({ apiVersion: 'apps/v1', kind: 'ReplicaSet', namespace: pod.metadata.namespace, name: owner.name })
      .catch(() => undefined);
    const dep = rs?.metadata.ownerReferences?.find((o) => o.kind === 'Deployment');
    if (dep) return { kind: 'deployment', name: dep.name };
  }
  return { kind: owner.kind.toLowerCase(), name: owner.name };
}

/** Injected pods whose proxy is older (or other) than `version`, with the restart command of each workload. */
export async function outdatedProxies(cluster: KubernetesCluster, version: string): Promise<OutdatedProxy[]> {
  const out: OutdatedProxy[] = [];
  for (const pod of await cluster.injectedPods()) {
    const v = proxyVersionOf(pod);
    if (!v || v === version) continue;
    const ns = pod.metadata.namespace ?? 'default';
    const owner = await ownerOf(cluster, pod);
    const restartable = owner && ['deployment', 'statefulset', 'daemonset'].includes(owner.kind);
    out.push({
      pod: pod.metadata.name,
      namespace: ns,
      version: v,
      workload: owner ? `${owner.kind}/${owner.name}` : `pod/${pod.metadata.name}`,
      restart: restartable
        ? `kubectl -n ${ns} rollout restart ${owner.kind}/${owner.name}`
        : `kubectl -n ${ns} delete pod ${pod.metadata.name}   # recreate it from its manifest${owner ? ` (owned by ${owner.kind}/${owner.name})` : ''}`,
    });
  }
  return out.sort((a, b) => `${a.namespace}/${a.pod}`.localeCompare(`${b.namespace}/${b.pod}`));
}

/** Upgrades the mesh: applies, waits for the rollout, lists outdated proxies (or, dry, plans). */
export async function upgradeKubernetes(
  deps: KubernetesInstallDeps,
  opts: { values: InstallValues; version: string; dryRun?: boolean; timeoutMs: number; rootCa: RootCaSource },
): Promise<UpgradeReport> {
  const { cluster } = deps;
  const ns = opts.values.namespace;
  const deployment = await cluster.get({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    namespace: ns,
    name: InstallNames.deployment,
  });
  if (!deployment) {
    throw new PlatformUnavailableError(
      `the mesh is not installed on ${cluster.describe()} (no deployment ${ns}/${InstallNames.deployment})`,
      'install it first: meshctl install --wait',
    );
  }
  if (opts.dryRun)
    return {
      planned: await planUpgrade(cluster, opts.values, opts.version),
      outdated: await outdatedProxies(cluster, opts.version),
    };
  const install = await installKubernetes(deps, {
    values: opts.values,
    version: opts.version,
    rootCa: opts.rootCa,
    wait: true,
    timeoutMs: opts.timeoutMs,
  });
  return { install, outdated: await outdatedProxies(cluster, opts.version) };
}
