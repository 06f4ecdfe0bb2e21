/**
 * `meshctl check --pre` on Kubernetes: can the mesh be installed here, by this user? The API
 * answers, the version is supported (native sidecars from 1.29, classic sidecars before), the user
 * may create every kind install applies (SelfSubjectAccessReview, as `kubectl auth can-i`), no other
 * mesh owns the CRD groups or injects pods, and the clocks agree.
 */
import { CheckFailure, type CheckCategory, type Checker } from '../types.js';
import type { KubeObject } from '../../cluster/index.js';
import { listSome, type KubernetesCheckContext } from './context.js';

const SKEW_WARN_MS = 10_000;
const MIN_SUPPORTED = { major: 1, minor: 21 } as const;

/** The first category of every Kubernetes run: nothing else can be checked without the API. */
export function apiCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'kubernetes-api',
    checkers: [
      {
        description: 'can reach the Kubernetes API',
        hint: 'check the kubeconfig and context (kubectl cluster-info), or pass --kubeconfig/--context',
        fatal: true,
        retryDeadlineMs: 60_000,
        async run(ctx) {
          const v = await ctx.cluster.serverVersion();
          return `${ctx.cluster.describe()}, ${v.gitVersion}`;
        },
      },
    ],
  };
}

const atLeast = (v: { major: number; minor: number }, min: { major: number; minor: number }) =>
  v.major > min.major || (v.major === min.major && v.minor >= min.minor);

function versionCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'kubernetes-version',
    checkers: [
      {
        description: `Kubernetes is ${MIN_SUPPORTED.major}.${MIN_SUPPORTED.minor} or newer`,
        hint: 'upgrade the cluster: the mesh needs admissionregistration/v1 and policy/v1 (PodDisruptionBudget)',
        fatal: true,
        async run(ctx) {
          const v = await ctx.cluster.serverVersion();
          if (!atLeast(v, MIN_SUPPORTED)) throw new CheckFailure(`the cluster runs ${v.gitVersion}`);
          return v.gitVersion;
        },
      },
      {
        description: 'Kubernetes supports native sidecars (1.29 or newer)',
        hint: 'proxies will be injected as classic sidecar containers (Jobs then need the proxy told to quit); upgrade to 1.29+ for native sidecars',
        warning: true,
        async run(ctx) {
          const { NATIVE_SIDECAR_MIN } = await import('../../install/objects.js');
          const v = await ctx.cluster.serverVersion();
          if (!atLeast(v, NATIVE_SIDECAR_MIN))
            throw new CheckFailure(
              `${v.gitVersion} has no native sidecars: install falls back to classic sidecar containers`,
            );
        },
      },
    ],
  };
}

/** One checker per kind install applies: may the user create and server-side apply it where install puts it? */
function permissionChecker(
  kind: string,
  sample: (objs: KubeObject[]) => KubeObject | undefined,
): Checker<KubernetesCheckContext> {
  return {
    description: `can create ${kind}s`,
    hint: `install needs create, get and patch (server-side apply) on ${kind}s: ask a cluster admin to install the mesh, or to grant them (kubectl auth can-i create ${kind.toLowerCase()}s shows the answer)`,
    async run(ctx) {
      const { crds, components } = await ctx.manifests();
      const obj = sample([...crds, ...components] as unknown as KubeObject[]);
      if (!obj) return;
      const resource = await ctx.cluster.objects.resourceOf(obj.apiVersion, obj.kind);
      const group = obj.apiVersion.includes('/') ? obj.apiVersion.slice(0, obj.apiVersion.indexOf('/')) : '';
      const where = resource.namespaced ? (obj.metadata.namespace ?? ctx.meshNamespace) : undefined;
      const denied: string[] = [];
      for (const verb of ['create', 'get', 'patch']) {
        const a = await ctx.platform.canI({
          verb,
          group,
          resource: resource.name,
          ...(where ? { namespace: where } : {}),
        });
        if (!a.allowed) denied.push(verb);
      }
      if (denied.length)
        throw new CheckFailure(
          `missing permission: ${denied.join(', ')} ${resource.name}${group ? `.${group}` : ''}${where ? ` in namespace ${where}` : ' (cluster-wide)'}`,
        );
    },
  };
}

function permissionsCategory(): CheckCategory<KubernetesCheckContext> {
  // The kinds in the order install applies them; one sample object of each tells scope and namespace.
  const kinds = [
    'CustomResourceDefinition',
    'Namespace',
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Role',
    'RoleBinding',
    'ConfigMap',
    'Secret',
    'Service',
    'Deployment',
    'PodDisruptionBudget',
    'MutatingWebhookConfiguration',
  ];
  return {
    id: 'pre-kubernetes-setup',
    // The CA Secret is not among the rendered manifests: install creates it once (never re-applied).
    checkers: kinds.map((kind) =>
      permissionChecker(kind, (objs) =>
        kind === 'Secret'
          ? { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'meshctl-ca' } }
          : objs.find((o) => o.kind === kind),
      ),
    ),
  };
}

/** Webhook names of other meshes' injectors. */
const FOREIGN_INJECTORS = /istio|linkerd|kuma|consul|osm|sidecar-injector|proxy-injector/i;

function conflictsCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'pre-kubernetes-conflicts',
    checkers: [
      {
        description: "no other mesh owns the mesh's CRDs",
        hint: 'install leaves CRDs of another mesh as they are and reads their resources; check that they serve the versions your config uses (kubectl get crd NAME -o yaml)',
        warning: true,
        async run(ctx) {
          const { foreignOwner } = await import('../../install/objects.js');
          const { crds } = await ctx.manifests();
          const owned: string[] = [];
          for (const crd of crds) {
            const live = await ctx.cluster.get({
              apiVersion: 'apiextensions.k8s.io/v1',
              kind: 'CustomResourceDefinition',
              name: crd.metadata.name,
            });
            const owner = live ? foreignOwner(live) : undefined;
            if (owner) owned.push(`${crd.metadata.name} (${owner})`);
          }
          if (owned.length) throw new CheckFailure(`owned by another installation: ${listSome(owned, 6)}`);
        },
      },
      {
        description: "no other mesh's injection webhook",
        hint: "two injectors on the same pods give each pod two sidecars: disable the other mesh's injection for namespaces you label meshctl.dev/inject=enabled",
        warning: true,
        async run(ctx) {
          const { InstallNames } = await import('../../install/manifests.js');
          const hooks = await ctx.cluster.list<KubeObject & { webhooks?: { name: string }[] }>({
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
          });
          const foreign = hooks.items
            .filter(
              (h) =>
                h.metadata.name !== InstallNames.webhook &&
                (FOREIGN_INJECTORS.test(h.metadata.name) ||
                  (h.webhooks ?? []).some((w) => FOREIGN_INJECTORS.test(w.name))),
            )
            .map((h) => h.metadata.name);
          if (foreign.length) throw new CheckFailure(`other injectors: ${foreign.join(', ')}`);
        },
      },
    ],
  };
}

function clockCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'clock',
    checkers: [
      {
        description: "this machine's clock agrees with the API server's",
        hint: 'synchronise the clocks (NTP): certificates are valid from the moment they are issued, and a skewed clock makes fresh ones look not yet valid or expiries look wrong',
        warning: true,
        async run(ctx) {
          const skew = await ctx.platform.clockSkewMs(ctx.now);
          if (Math.abs(skew) > SKEW_WARN_MS)
            throw new CheckFailure(
              `the API server's clock is ${(Math.abs(skew) / 1000).toFixed(0)} s ${skew > 0 ? 'ahead of' : 'behind'} this machine's`,
            );
          return skew === 0 ? 'within a second' : `${(skew / 1000).toFixed(1)} s`;
        },
      },
    ],
  };
}

/** Every category of `check --pre` on Kubernetes, in order. */
export function kubernetesPreChecks(): CheckCategory<KubernetesCheckContext>[] {
  return [apiCategory(), versionCategory(), permissionsCategory(), conflictsCategory(), clockCategory()];
}
