/**
 * `meshctl check --proxy [-n NS]` on Kubernetes: the data plane. Every injected pod (label
 * meshctl.dev/injected=true) has a proxy connected to a control plane replica, each proxy ACKed the
 * latest config of every type and runs what it was sent (its own admin API, through pods/exec, says
 * so), holds an unexpired certificate and runs the CLI's version, and the
 * namespaces' injection labels agree with the pods in them.
 */
import { CheckFailure, type CheckCategory } from '../types.js';
import type { KubeObject } from '../../cluster/kubernetes/index.js';
import { Annotations, INJECT_NAMESPACE_LABEL, INJECTED_LABEL } from '../../protocol/well-known.js';
import { listSome, podRef, type KubernetesCheckContext } from './context.js';
import { isDiverged, type ConfigHashes } from '../../protocol/stream/sync-status.js';

interface SyncView {
  proxy: { id: string; workload: string; namespace: string; proxyVersion: string };
  controlPlane: string;
  certificateExpiry?: string;
  types: Record<string, { status: string; lastNack?: { message: string } }>;
}
interface Pod extends KubeObject {
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

async function syncz(ctx: KubernetesCheckContext): Promise<SyncView[] & { unreachable?: string[] }> {
  const all = await ctx.platform.controlPlaneGet<{ proxies: SyncView[]; unreachable?: string[] }>('/debug/syncz');
  return Object.assign(
    all.proxies.filter((p) => !ctx.proxyNamespace || p.proxy.namespace === ctx.proxyNamespace),
    { unreachable: all.unreachable ?? [] },
  );
}

/** Injected pods that should have a proxy running: not finished, not being deleted. */
async function injectedPods(ctx: KubernetesCheckContext): Promise<Pod[]> {
  const pods = (await ctx.cluster.injectedPods(ctx.proxyNamespace)) as Pod[];
  return pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
}

/** The data-plane category. */
export function kubernetesProxyChecks(): CheckCategory<KubernetesCheckContext>[] {
  return [
    {
      id: 'data-plane',
      checkers: [
        {
          description: "every injected pod's proxy is connected to the control plane",
          hint: "the proxy's log says why it cannot connect: kubectl -n NS logs POD -c mesh-proxy (control plane address, token audience, root CA ConfigMap meshctl-ca-root)",
          retryDeadlineMs: 2 * 60_000,
          async run(ctx) {
            const [pods, proxies] = await Promise.all([injectedPods(ctx), syncz(ctx)]);
            const connected = new Set(proxies.map((p) => p.proxy.id));
            const missing = pods.filter((p) => !connected.has(`${p.metadata.name}.${p.metadata.namespace}`));
            if (missing.length) {
              const { podProblem } = await import('../../cluster/kubernetes/readiness.js');
              const silent = proxies.unreachable?.length
                ? `\n(control plane replica(s) ${proxies.unreachable.join(', ')} did not answer: proxies connected to them look disconnected)`
                : '';
              throw new CheckFailure(
                `no connected proxy for ${missing.length === 1 ? 'pod' : 'pods'}:\n${missing.map((p) => `${podRef(p)}${podProblem(p) ? ` (${podProblem(p)})` : ''}`).join('\n')}${silent}`,
              );
            }
            return `${pods.length} ${pods.length === 1 ? 'pod' : 'pods'}`;
          },
        },
        {
          description: 'every proxy runs the latest config (no NACK, nothing stale)',
          hint: "see 'meshctl proxy-status' for the proxy and type; a NACK names what the proxy rejected, 'meshctl analyze' the config behind it",
          retryDeadlineMs: 30_000,
          async run(ctx) {
            const problems: string[] = [];
            for (const p of await syncz(ctx)) {
              for (const [type, s] of Object.entries(p.types)) {
                const short = type.slice(type.lastIndexOf('/') + 1);
                if (s.status === 'NACKED')
                  problems.push(`${p.proxy.id} rejected ${short}: ${s.lastNack?.message ?? 'no reason given'}`);
                else if (s.status !== 'SYNCED') problems.push(`${p.proxy.id} ${short} is ${s.status}`);
              }
            }
            if (problems.length) throw new CheckFailure(problems.join('\n'));
          },
        },
        {
          description: 'every proxy runs the config it was sent (none changed through its admin API)',
          hint: "restart a DIVERGED pod to give its proxy the control plane's config again (kubectl -n NS delete pod POD), and find out who holds its admin token: only its own container can read it",
          async run(ctx) {
            const proxies = await syncz(ctx);
            const problems: string[] = [];
            // Each answer is a pods/exec round trip (the platform runs a few at a time).
            await Promise.all(
              proxies.map(async (p) => {
                const target = { name: p.proxy.workload, namespace: p.proxy.namespace };
                try {
                  const hash = await ctx.platform.proxyAdminGet<ConfigHashes>(target, '/config_hash');
                  if (isDiverged(hash))
                    problems.push(
                      `${p.proxy.id} is DIVERGED: it runs a config the control plane did not send (changed through its admin API)`,
                    );
                } catch (err) {
                  problems.push(`${p.proxy.id}: cannot ask its proxy which config it runs: ${(err as Error).message}`);
                }
              }),
            );
            if (problems.length) throw new CheckFailure(problems.sort().join('\n'));
            return `${proxies.length} ${proxies.length === 1 ? 'proxy' : 'proxies'}`;
          },
        },
        {
          description: 'proxy certificates are valid',
          hint: 'a proxy renews its certificate at half-life; one that expired cannot reach the CA: restart its pod (kubectl -n NS delete pod POD)',
          async run(ctx) {
            const now = ctx.now().getTime();
            const expired = (await syncz(ctx))
              .filter((p) => p.certificateExpiry && Date.parse(p.certificateExpiry) < now)
              .map((p) => `${p.proxy.id} (expired ${p.certificateExpiry})`);
            if (expired.length) throw new CheckFailure(`expired: ${expired.join(', ')}`);
          },
        },
        {
          description: 'proxies run the CLI version',
          hint: 'restart their workloads to get the current proxy: kubectl -n NS rollout restart deployment NAME (meshctl upgrade lists them)',
          warning: true,
          async run(ctx) {
            const old = (await syncz(ctx))
              .filter((p) => p.proxy.proxyVersion !== ctx.cliVersion)
              .map((p) => `${p.proxy.id} (${p.proxy.proxyVersion})`);
            if (old.length) throw new CheckFailure(`older proxies: ${listSome(old)}`);
          },
        },
        {
          description: 'namespace injection labels agree with the pods in them',
          hint: `pods created before their namespace was labelled ${INJECT_NAMESPACE_LABEL}=enabled run without the sidecar until restarted: kubectl -n NS rollout restart deployment NAME`,
          warning: true,
          async run(ctx) {
            const namespaces = ctx.proxyNamespace
              ? [await ctx.cluster.get({ apiVersion: 'v1', kind: 'Namespace', name: ctx.proxyNamespace })].filter(
                  (n): n is KubeObject => n !== undefined,
                )
              : (await ctx.cluster.list({ apiVersion: 'v1', kind: 'Namespace' })).items;
            const problems: string[] = [];
            for (const ns of namespaces) {
              const label = ns.metadata.labels?.[INJECT_NAMESPACE_LABEL];
              if (label !== 'enabled' || ns.metadata.name === ctx.meshNamespace) continue;
              const pods = (await ctx.cluster.list<Pod>({ apiVersion: 'v1', kind: 'Pod', namespace: ns.metadata.name }))
                .items;
              const bare = pods.filter(
                (p) =>
                  !p.metadata.deletionTimestamp &&
                  p.status?.phase === 'Running' &&
                  p.metadata.labels?.[INJECTED_LABEL] !== 'true' &&
                  p.metadata.annotations?.[Annotations.inject] !== 'disabled' &&
                  p.metadata.labels?.[INJECT_NAMESPACE_LABEL] !== 'disabled',
              );
              if (bare.length)
                problems.push(
                  `namespace ${ns.metadata.name} is labelled ${INJECT_NAMESPACE_LABEL}=enabled but runs pods without the sidecar: ${listSome(bare.map((p) => p.metadata.name))}`,
                );
            }
            if (problems.length) throw new CheckFailure(problems.join('\n'));
          },
        },
      ],
    },
  ];
}
