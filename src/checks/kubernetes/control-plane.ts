/**
 * `meshctl check` on Kubernetes: the installed mesh. The CRDs are there and the same as this
 * meshctl's templates/crds/; the control plane Deployment is rolled out and answers; the injection
 * webhook's caBundle parses and is the mesh root that signed the webhook's serving certificate, and
 * the API server really reaches the webhook (a server-side dry-run pod goes through it); the root CA
 * is valid for more than 30 days; every replica runs the CLI's version.
 */
import { X509Certificate } from 'node:crypto';
import { CheckFailure, type CheckCategory } from '../types.js';
import { rootCaCheckers, type CaInfo } from '../root-ca.js';
import type { KubeObject } from '../../cluster/index.js';
import { INJECT_NAMESPACE_LABEL, INJECTED_LABEL } from '../../protocol/well-known.js';
import { listSome, type KubernetesCheckContext } from './context.js';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: unknown;
}
interface Crd extends KubeObject {
  spec: { group: string; names: { kind: string }; versions: CrdVersion[] };
}
interface WebhookConfiguration extends KubeObject {
  webhooks?: {
    name: string;
    clientConfig?: { caBundle?: string; service?: { name: string; namespace: string; port?: number } };
  }[];
}

/** JSON with sorted keys: the same schema prints the same text whatever order the API server keeps. */
function canonical(v: unknown): string {
  const sort = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(sort);
    if (x && typeof x === 'object')
      return Object.fromEntries(
        Object.keys(x)
          .sort()
          .map((k) => [k, sort((x as Record<string, unknown>)[k])]),
      );
    return x;
  };
  return JSON.stringify(sort(v));
}

/** How a live CRD differs from the template's (empty when current). */
export function crdDifferences(template: Crd, live: Crd): string[] {
  const out: string[] = [];
  for (const want of template.spec.versions) {
    const have = live.spec.versions.find((v) => v.name === want.name);
    if (!have) out.push(`version ${want.name} missing`);
    else if (canonical(have.schema) !== canonical(want.schema)) out.push(`version ${want.name} has another schema`);
    else if (Boolean(have.served) !== Boolean(want.served) || Boolean(have.storage) !== Boolean(want.storage))
      out.push(`version ${want.name} served/storage differ`);
  }
  return out;
}

function controlPlaneCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'control-plane',
    checkers: [
      {
        description: 'the mesh namespace exists',
        hint: 'install the mesh: meshctl install --wait',
        fatal: true,
        async run(ctx) {
          const ns = await ctx.cluster.get({ apiVersion: 'v1', kind: 'Namespace', name: ctx.meshNamespace });
          if (!ns)
            throw new CheckFailure(
              `namespace ${ctx.meshNamespace} does not exist: the mesh is not installed on ${ctx.cluster.describe()}`,
            );
          return ctx.meshNamespace;
        },
      },
      {
        description: 'the control plane Deployment is ready',
        hint: 'see why its pods are not ready in the lines above, or with kubectl -n mesh-system describe pods -l app=meshctl-control-plane',
        fatal: true,
        retryDeadlineMs: 5 * 60_000,
        async run(ctx) {
          const { InstallNames } = await import('../../install/manifests.js');
          const r = await ctx.platform.deploymentReadiness(ctx.meshNamespace, InstallNames.deployment);
          if (!r.ready) throw new CheckFailure([r.summary, ...r.podProblems].join('\n'));
          return r.summary;
        },
      },
      {
        description: 'the control plane answers on its debug API',
        hint: 'the API server reaches it through the Service meshctl-control-plane (port 15014): kubectl -n mesh-system get endpointslices; its log says more (kubectl -n mesh-system logs deploy/meshctl-control-plane)',
        fatal: true,
        retryDeadlineMs: 60_000,
        async run(ctx) {
          await ctx.platform.controlPlaneGet('/ready');
        },
      },
      {
        description: 'the control plane version matches the CLI',
        hint: 'run meshctl upgrade with this meshctl, or use the meshctl of the installed version',
        warning: true,
        async run(ctx) {
          const pods = await ctx.platform.controlPlanePods(ctx.meshNamespace);
          const versions = await Promise.all(
            pods.map(async (p) => ({
              pod: p.metadata.name,
              version: (
                await ctx.platform.replicaGet<{ version: string }>(ctx.meshNamespace, p.metadata.name, '/debug/info')
              ).version,
            })),
          );
          const other = versions.filter((v) => v.version !== ctx.cliVersion).map((v) => `${v.pod} runs ${v.version}`);
          if (other.length) throw new CheckFailure(`${other.join(', ')}; the CLI is ${ctx.cliVersion}`);
          return ctx.cliVersion;
        },
      },
    ],
  };
}

function crdCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'crds',
    checkers: [
      {
        description: 'the mesh CRDs are installed',
        hint: 'install them: meshctl install (or meshctl install --crds-only)',
        async run(ctx) {
          const { crds } = await ctx.manifests();
          const missing: string[] = [];
          for (const crd of crds)
            if (
              !(await ctx.cluster.get({
                apiVersion: 'apiextensions.k8s.io/v1',
                kind: 'CustomResourceDefinition',
                name: crd.metadata.name,
              }))
            )
              missing.push(crd.metadata.name);
          if (missing.length) throw new CheckFailure(`missing: ${listSome(missing)}`);
          return `${crds.length} CRDs`;
        },
      },
      {
        description: "the mesh CRDs are current (the same as this meshctl's)",
        hint: "apply this version's CRDs: meshctl upgrade (CRDs owned by another mesh are left alone: see check --pre)",
        async run(ctx) {
          const { crds } = await ctx.manifests();
          const { foreignOwner } = await import('../../install/objects.js');
          const stale: string[] = [];
          let foreign = 0;
          for (const crd of crds as unknown as Crd[]) {
            const live = await ctx.cluster.get<Crd>({
              apiVersion: 'apiextensions.k8s.io/v1',
              kind: 'CustomResourceDefinition',
              name: crd.metadata.name,
            });
            if (!live) continue;
            if (foreignOwner(live)) {
              foreign++;
              continue;
            }
            const diff = crdDifferences(crd, live);
            if (diff.length) stale.push(`${crd.metadata.name} (${diff.join('; ')})`);
          }
          if (stale.length) throw new CheckFailure(`out of date: ${listSome(stale, 5)}`);
          if (foreign) return `${foreign} owned by another installation, not compared`;
        },
      },
    ],
  };
}

/** The webhook configuration install applied, read once per checker (a retry reads it again). */
async function webhookConfiguration(ctx: KubernetesCheckContext): Promise<WebhookConfiguration> {
  const { InstallNames } = await import('../../install/manifests.js');
  const cfg = await ctx.cluster.get<WebhookConfiguration>({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    name: InstallNames.webhook,
  });
  if (!cfg) throw new CheckFailure(`mutatingwebhookconfiguration ${InstallNames.webhook} does not exist`);
  return cfg;
}

function webhookCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'injection-webhook',
    checkers: [
      {
        description: 'the injection webhook is configured',
        hint: 'apply it again: meshctl install (or meshctl upgrade)',
        async run(ctx) {
          const { InstallNames } = await import('../../install/manifests.js');
          const cfg = await webhookConfiguration(ctx);
          const hooks = cfg.webhooks ?? [];
          if (!hooks.length)
            throw new CheckFailure(`mutatingwebhookconfiguration ${cfg.metadata.name} has no webhooks`);
          const wrong = hooks
            .filter(
              (w) =>
                w.clientConfig?.service?.name !== InstallNames.service ||
                w.clientConfig.service.namespace !== ctx.meshNamespace,
            )
            .map((w) => w.name);
          if (wrong.length)
            throw new CheckFailure(
              `webhook(s) ${wrong.join(', ')} do not point at service ${ctx.meshNamespace}/${InstallNames.service}`,
            );
          return `${hooks.length} webhooks`;
        },
      },
      {
        description: 'the webhook caBundle is valid and is the mesh root CA',
        hint: "the control plane leader sets the caBundle and puts it back within 30 s; if it stays wrong, see the leader's log (kubectl -n mesh-system logs deploy/meshctl-control-plane) or re-run meshctl install",
        retryDeadlineMs: 60_000,
        async run(ctx) {
          const cfg = await webhookConfiguration(ctx);
          const ca = await ctx.platform.controlPlaneGet<CaInfo>('/debug/ca');
          const root = new X509Certificate(ca.rootPem ?? '');
          const problems: string[] = [];
          for (const w of cfg.webhooks ?? []) {
            const where = `caBundle of webhook ${w.name} (mutatingwebhookconfiguration ${cfg.metadata.name})`;
            const bundle = w.clientConfig?.caBundle;
            if (!bundle) {
              problems.push(`${where} is empty: the API server cannot verify the webhook`);
              continue;
            }
            const pem = Buffer.from(bundle, 'base64').toString('utf8');
            const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
            let certs: X509Certificate[];
            try {
              if (!blocks.length) throw new Error('no PEM certificate in it');
              certs = blocks.map((b) => new X509Certificate(b));
            } catch (err) {
              problems.push(`${where} does not parse as a PEM certificate: ${(err as Error).message}`);
              continue;
            }
            // The webhook's serving certificate is issued by the mesh root: the bundle must hold it.
            if (!certs.some((c) => c.fingerprint256 === root.fingerprint256)) {
              problems.push(
                `${where} is not the mesh root CA (${root.subject.replace(/\n/g, ', ')}) that signs the webhook's serving certificate: it holds ${certs.map((c) => c.subject.replace(/\n/g, ', ')).join('; ')}`,
              );
            }
          }
          if (problems.length) throw new CheckFailure(problems.join('\n'));
        },
      },
      {
        description: 'the API server reaches the webhook and it injects',
        hint: `a server-side dry-run pod (label ${INJECT_NAMESPACE_LABEL}=enabled) went through admission without the sidecar: fix the caBundle or the Service endpoints named above (kubectl -n mesh-system get endpointslices)`,
        retryDeadlineMs: 60_000,
        async run(ctx) {
          const namespace = 'default';
          // Nothing is stored: dryRun=All runs admission (the webhook included) and validation only.
          const pod = {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { generateName: 'meshctl-check-', namespace, labels: { [INJECT_NAMESPACE_LABEL]: 'enabled' } },
            spec: { containers: [{ name: 'check', image: 'meshctl-check.invalid/none:0' }] },
          };
          let created: KubeObject;
          try {
            created = await ctx.cluster.rest.json<KubeObject>({
              method: 'POST',
              path: `/api/v1/namespaces/${namespace}/pods`,
              query: { dryRun: 'All' },
              body: pod,
              what: `a dry-run pod in namespace ${namespace}`,
            });
          } catch (err) {
            throw new CheckFailure(`admission of a dry-run pod failed: ${(err as Error).message}`);
          }
          if (created.metadata.labels?.[INJECTED_LABEL] !== 'true') {
            throw new CheckFailure(
              `a dry-run pod in namespace ${namespace} labelled ${INJECT_NAMESPACE_LABEL}=enabled came back without the sidecar: the webhook was not called or failed (failurePolicy Ignore hides why)`,
            );
          }
        },
      },
    ],
  };
}

function identityCategory(): CheckCategory<KubernetesCheckContext> {
  return {
    id: 'identity',
    checkers: rootCaCheckers<KubernetesCheckContext>({
      invalid:
        'replace the root CA: supply a valid one with meshctl install --set ca.cert=FILE --set ca.key=FILE (secret mesh-system/meshctl-ca), then restart the control plane and the workloads',
      expiring: "rotate the root CA before it expires, with no failed request: 'meshctl ca rotate'",
    }),
  };
}

/** The categories of `meshctl check` for an installed mesh (after the API category). */
export function kubernetesInstallChecks(): CheckCategory<KubernetesCheckContext>[] {
  return [controlPlaneCategory(), crdCategory(), webhookCategory(), identityCategory()];
}
