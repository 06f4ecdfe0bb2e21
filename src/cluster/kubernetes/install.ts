/**
 * `meshctl install` / `uninstall` on a Kubernetes cluster (KubernetesPlatform.install/uninstall): preconditions (API reachable, version,
 * another mesh's CRDs), then server-side apply of exactly what `manifest generate` prints (CRDs,
 * waited for Established, then the components), the root CA Secret created only when absent, and
 * the control plane waited for with per-pod reasons. A second install changes nothing.
 * Uninstall removes what install applied, refuses while injected pods exist (unless forced), and
 * keeps the CRDs, the CA Secret and so the mesh namespace unless purging.
 */
import { TimeoutError, UninstallRefusedError } from '../../errors.js';
import { CA_ROOT_CONFIGMAP } from '../../protocol/well-known.js';
import type { RootCaSource } from '../index.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import { loadCrds } from '../../install/crds.js';
import { ensureCaSecret, type CaSecretOutcome } from './ca-secret.js';
import { GatewayNames, renderGateways } from '../../install/gateways.js';
import { InstallNames, renderComponents } from '../../install/manifests.js';
import { foreignOwner, NATIVE_SIDECAR_MIN } from '../../install/objects.js';
import type { InstallValues } from '../../install/values.js';

/** What install needs from its caller (the command's context, or a test). */
export interface KubernetesInstallDeps {
  cluster: KubernetesCluster;
  /** One progress line (`✔ CRDs applied`), for stdout. */
  progress: (line: string) => void;
  /** A warning, for stderr. */
  warn: (message: string) => void;
}

/** Install options beyond the rendered values. */
export interface KubernetesInstallOptions {
  values: InstallValues;
  /** Istio MeshConfig (from an IstioOperator or --set meshConfig.*), rendered into the mesh ConfigMap. */
  meshConfig?: Record<string, unknown>;
  /** The meshctl version stamped on the control plane. */
  version: string;
  /** Where the root CA comes from when the cluster has no CA Secret yet. */
  rootCa: RootCaSource;
  /** Only the CRDs. */
  crdsOnly?: boolean;
  /** Wait for the control plane Deployment to be ready. */
  wait?: boolean;
  /** Deadline for every wait (CRDs Established, control plane ready). Default 5 minutes. */
  timeoutMs?: number;
}

/** What happened to one applied object. */
export interface AppliedObject {
  kind: string;
  name: string;
  namespace?: string;
  /** created, configured (changed), or unchanged (same resourceVersion as before). */
  result: 'created' | 'configured' | 'unchanged';
}

/** What install did. */
export interface KubernetesInstallReport {
  serverVersion: string;
  nativeSidecar: boolean;
  crds: AppliedObject[];
  /** CRDs left alone because another installation owns them. */
  skippedCrds: { name: string; owner: string }[];
  components: AppliedObject[];
  caSecret?: CaSecretOutcome;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/**
 * The validating webhook is installed open (failurePolicy Ignore) and the control plane closes it
 * (Fail) once the API server calls it. A re-install leaves a closed webhook closed: it omits the
 * field, which the control plane's patch took over, so the object stays unchanged.
 */
export function keepClosedValidator(obj: KubeObject, live: KubeObject | undefined): KubeObject {
  type Hooks = { webhooks?: { name?: string; failurePolicy?: string }[] };
  if (obj.kind !== 'ValidatingWebhookConfiguration' || !live) return obj;
  const closed = new Set(((live as Hooks).webhooks ?? []).filter((w) => w.failurePolicy === 'Fail').map((w) => w.name));
  if (closed.size === 0) return obj;
  return {
    ...obj,
    webhooks: ((obj as Hooks).webhooks ?? []).map((w) => {
      if (!closed.has(w.name)) return w;
      const { failurePolicy: _kept, ...rest } = w;
      return rest;
    }),
  } as KubeObject;
}

async function applyTracked(cluster: KubernetesCluster, obj: KubeObject, force: boolean): Promise<AppliedObject> {
  const ref = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: obj.metadata.name,
    namespace: obj.metadata.namespace,
  };
  const before = await cluster.get(ref);
  const after = await cluster.apply(keepClosedValidator(obj, before), { force });
  const result = !before
    ? 'created'
    : before.metadata.resourceVersion === after.metadata.resourceVersion
      ? 'unchanged'
      : 'configured';
  return {
    kind: obj.kind,
    name: obj.metadata.name,
    ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
    result,
  };
}

function summarize(objects: AppliedObject[]): string {
  const counts = new Map<string, number>();
  for (const o of objects) counts.set(o.result, (counts.get(o.result) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n} ${r}`).join(', ') || 'nothing to apply';
}

async function waitEstablished(cluster: KubernetesCluster, names: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = names;
  while (pending.length > 0) {
    const still: string[] = [];
    for (const name of pending) {
      const crd = await cluster.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        name,
      });
      if (!crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) still.push(name);
    }
    pending = still;
    if (pending.length === 0) return;
    if (Date.now() >= deadline)
      throw new TimeoutError(
        `waiting for CRDs to be Established: ${pending.join(', ')}`,
        'check them with kubectl get crd NAME -o yaml (status.conditions)',
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Installs (or re-applies) the mesh on the cluster. */
export async function installKubernetes(
  deps: KubernetesInstallDeps,
  opts: KubernetesInstallOptions,
): Promise<KubernetesInstallReport> {
  const { cluster, progress, warn } = deps;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const version = await cluster.serverVersion();
  progress(`✔ Kubernetes API reachable (${cluster.describe()}, ${version.gitVersion})`);
  let values = opts.values;
  const nativeOk =
    version.major > NATIVE_SIDECAR_MIN.major ||
    (version.major === NATIVE_SIDECAR_MIN.major && version.minor >= NATIVE_SIDECAR_MIN.minor);
  if (!nativeOk && values.nativeSidecar) {
    warn(
      `Kubernetes ${version.gitVersion} is older than ${NATIVE_SIDECAR_MIN.major}.${NATIVE_SIDECAR_MIN.minor}: native sidecars are off, proxies are injected as classic sidecar containers (nativeSidecar=false)`,
    );
    values = { ...values, nativeSidecar: false };
  }
  const report: KubernetesInstallReport = {
    serverVersion: version.gitVersion,
    nativeSidecar: values.nativeSidecar,
    crds: [],
    skippedCrds: [],
    components: [],
  };

  const crds = await loadCrds();
  const toApply: KubeObject[] = [];
  for (const crd of crds) {
    const existing = await cluster.get({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: crd.metadata.name,
    });
    const owner = existing ? foreignOwner(existing) : undefined;
    if (owner) {
      report.skippedCrds.push({ name: crd.metadata.name, owner });
      warn(
        `CRD ${crd.metadata.name} already exists and belongs to ${owner}: left as it is (meshctl reads its resources; check --pre reports the versions it serves)`,
      );
    } else {
      toApply.push(crd as unknown as KubeObject);
    }
  }
  // CRDs are wholly meshctl's (labelled part-of meshctl): its fields win over a stray manual edit.
  for (const crd of toApply) report.crds.push(await applyTracked(cluster, crd, true));
  await waitEstablished(
    cluster,
    toApply.map((c) => c.metadata.name),
    timeoutMs,
  );
  progress(
    `✔ CRDs applied (${summarize(report.crds)}${report.skippedCrds.length ? `; ${report.skippedCrds.length} owned by another installation left alone` : ''})`,
  );
  if (opts.crdsOnly) return report;

  const components = renderComponents(values, opts.version, opts.meshConfig) as unknown as KubeObject[];
  const ns = values.namespace;
  for (const obj of components) {
    // The namespace may predate the mesh and carry its owner's labels: no forcing there. Everything
    // else is install's own object, so its fields win over a manual edit (GitOps-style re-apply).
    report.components.push(await applyTracked(cluster, obj, obj.kind !== 'Namespace'));
    if (obj.kind === 'RoleBinding') {
      // The CA Secret goes in before the control plane starts, so both replicas load the same root.
      const ca = await ensureCaSecret(cluster, ns, opts.rootCa);
      report.caSecret = ca.outcome;
      progress(
        ca.outcome === 'kept'
          ? `✔ Root CA kept (secret ${ns}/${InstallNames.caSecret} already exists)`
          : `✔ Root CA ${ca.outcome === 'created' ? 'created' : 'stored from the supplied files'} in secret ${ns}/${InstallNames.caSecret}`,
      );
    }
  }
  progress(`✔ Control plane applied (${summarize(report.components)})`);
  // A gateway turned off since the last install/upgrade (gateways.X.enabled=false) goes away.
  const disabled = (['ingress', 'egress'] as const).filter((k) => !values.gateways[k].enabled);
  const all = {
    ...values,
    gateways: {
      ingress: { ...values.gateways.ingress, enabled: true },
      egress: { ...values.gateways.egress, enabled: true },
    },
  };
  for (const obj of renderGateways(all, opts.version).reverse()) {
    if (!disabled.some((k) => obj.metadata.name === GatewayNames[k])) continue;
    const ref = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
    };
    const live = await cluster.get(ref);
    if (live && !foreignOwner(live) && (await cluster.delete(ref)))
      progress(`✔ Removed ${obj.kind} ${ns}/${obj.metadata.name} (gateway disabled)`);
  }
  if (opts.wait) {
    await cluster.waitForDeployment(ns, InstallNames.deployment, {
      timeoutMs,
      onProgress: (line) => progress(`  … control plane: ${line}`),
    });
    progress('✔ Control plane ready');
    for (const k of ['ingress', 'egress'] as const) {
      if (!values.gateways[k].enabled) continue;
      await cluster.waitForDeployment(ns, GatewayNames[k], {
        timeoutMs,
        onProgress: (line) => progress(`  … ${k} gateway: ${line}`),
      });
      progress(`✔ ${k[0]!.toUpperCase()}${k.slice(1)} gateway ready (service ${ns}/${GatewayNames[k]})`);
    }
  }
  return report;
}

/** Uninstall options. */
export interface KubernetesUninstallOptions {
  /** The mesh namespace (values.namespace of the install). */
  namespace: string;
  /** Go ahead even while injected pods exist (their proxies lose their control plane). */
  force?: boolean;
  /** Also remove the CRDs (and so every mesh resource), the CA Secret and the mesh namespace. */
  purge?: boolean;
  /** Server-side dry run: report what would be removed (the API server checks each delete), remove nothing. */
  dryRun?: boolean;
}

/** What uninstall removed and kept. */
export interface KubernetesUninstallReport {
  removed: string[];
  kept: string[];
  /** Injected pods that were running (only non-empty with force). */
  injectedPods: string[];
}

/** Removes the mesh from the cluster. */
export async function uninstallKubernetes(
  deps: KubernetesInstallDeps,
  opts: KubernetesUninstallOptions,
): Promise<KubernetesUninstallReport> {
  const { cluster, progress, warn } = deps;
  const ns = opts.namespace;
  const injected = (await cluster.injectedPods()).map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
  if (injected.length > 0 && !opts.force) {
    const shown = injected.slice(0, 20);
    throw new UninstallRefusedError(
      `${injected.length} pod(s) still run the mesh's sidecar:\n  ${shown.join('\n  ')}${injected.length > shown.length ? `\n  … and ${injected.length - shown.length} more` : ''}`,
      'remove their sidecars first (meshctl uninject, or drop the meshctl.dev/inject label and restart them), or pass --force to uninstall anyway (their traffic then fails)',
    );
  }
  if (injected.length > 0)
    warn(
      `${injected.length} injected pod(s) keep running without a control plane: ${injected.slice(0, 5).join(', ')}${injected.length > 5 ? ', …' : ''}`,
    );

  const removed: string[] = [];
  const kept: string[] = [];
  const remove = async (ref: { apiVersion: string; kind: string; name: string; namespace?: string }): Promise<void> => {
    if (await cluster.delete(ref, { dryRun: opts.dryRun }))
      removed.push(`${ref.kind}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`);
  };
  // Values do not change names or kinds, only the namespace; render with defaults to get the list.
  const { defaultValues } = await import('../../install/values.js');
  // Every gateway, enabled or not: one may have been turned on by --set at install time.
  const d = defaultValues('unused');
  const every = {
    ...d,
    namespace: ns,
    gateways: { ingress: { ...d.gateways.ingress, enabled: true }, egress: { ...d.gateways.egress, enabled: true } },
  };
  const components = renderComponents(every, 'unused') as unknown as KubeObject[];
  // Reverse order: the webhook first (new pods stop calling a control plane that is going away), the namespace last.
  for (const obj of [...components].reverse()) {
    if (obj.kind === 'Namespace') continue;
    await remove({
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata.name,
      namespace: obj.metadata.namespace,
    });
  }
  // What the control plane itself created: its leader Lease and the root CA published into namespaces.
  await remove({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: ns, name: InstallNames.leaderLease });
  const published = await cluster.list(
    { apiVersion: 'v1', kind: 'ConfigMap' },
    { fieldSelector: `metadata.name=${CA_ROOT_CONFIGMAP}`, labelSelector: 'app.kubernetes.io/managed-by=meshctl' },
  );
  for (const cm of published.items)
    await remove({ apiVersion: 'v1', kind: 'ConfigMap', namespace: cm.metadata.namespace, name: cm.metadata.name });
  const would = opts.dryRun ? ' (dry run: nothing removed)' : '';
  progress(`✔ Control plane removed (${removed.length} objects)${would}`);

  const ownCrds = (await loadCrds()).map((c) => c.metadata.name);
  if (opts.purge) {
    for (const name of ownCrds) {
      const crd = await cluster.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
      if (!crd) continue;
      const owner = foreignOwner(crd);
      if (owner) kept.push(`CustomResourceDefinition/${name} (owned by ${owner})`);
      else await remove({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
    }
    await remove({ apiVersion: 'v1', kind: 'Secret', namespace: ns, name: InstallNames.caSecret });
    const nsObj = await cluster.get({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    if (nsObj && !foreignOwner(nsObj)) await remove({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    else if (nsObj) kept.push(`Namespace/${ns} (not created by meshctl)`);
    progress(`✔ CRDs, root CA and mesh namespace removed (--purge)${would}`);
  } else {
    kept.push(
      `CustomResourceDefinitions (${ownCrds.length}) and the mesh resources stored in them`,
      `Secret/${ns}/${InstallNames.caSecret} (the root CA)`,
      `Namespace/${ns} (holds the root CA)`,
    );
    progress(`✔ Kept the CRDs, the root CA secret and namespace ${ns} (meshctl uninstall --purge removes them)`);
  }
  return { removed, kept, injectedPods: opts.force ? injected : [] };
}
