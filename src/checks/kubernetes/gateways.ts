/**
 * `meshctl check` on Kubernetes, category "gateways": the gateways install deployed are rolled out
 * and reachable (their Service has an address: a LoadBalancer ingress, NodePorts, or a ClusterIP).
 * A gateway install did not deploy (gateways.X.enabled=false) is reported, not failed.
 */
import { CheckFailure, type CheckCategory, type Checker } from '../types.js';
import type { KubeObject } from '../../cluster/index.js';
import type { KubernetesCheckContext } from './context.js';
import { GatewayNames, type GatewayKind } from '../../install/gateways.js';

interface ServiceObject extends KubeObject {
  spec?: { type?: string; clusterIP?: string; ports?: { port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

/** Where clients reach a gateway Service, or undefined while it has no address. */
export function serviceAddress(svc: ServiceObject): string | undefined {
  const type = svc.spec?.type ?? 'ClusterIP';
  if (type === 'LoadBalancer') {
    const ingress = svc.status?.loadBalancer?.ingress?.[0];
    return ingress ? `LoadBalancer ${ingress.ip ?? ingress.hostname}` : undefined;
  }
  if (type === 'NodePort') {
    const ports = (svc.spec?.ports ?? []).filter((p) => p.nodePort).map((p) => `${p.port}->${p.nodePort}`);
    return ports.length ? `NodePort ${ports.join(', ')}` : undefined;
  }
  return svc.spec?.clusterIP && svc.spec.clusterIP !== 'None' ? `ClusterIP ${svc.spec.clusterIP}` : undefined;
}

function gatewayCheckers(kind: GatewayKind): Checker<KubernetesCheckContext>[] {
  const name = GatewayNames[kind];
  return [
    {
      description: `the ${kind} gateway Deployment is ready`,
      hint: `see its pods: kubectl -n mesh-system describe pods -l app=${name}; its log: kubectl -n mesh-system logs deploy/${name}`,
      warning: kind === 'egress',
      retryDeadlineMs: 2 * 60_000,
      async run(ctx) {
        const dep = await ctx.cluster.get({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          namespace: ctx.meshNamespace,
          name,
        });
        if (!dep) return `not deployed; meshctl install --set gateways.${kind}.enabled=true deploys it`;
        const r = await ctx.platform.deploymentReadiness(ctx.meshNamespace, name);
        if (!r.ready) throw new CheckFailure([r.summary, ...r.podProblems].join('\n'));
        return r.summary;
      },
    },
    {
      description: `the ${kind} gateway Service has an address`,
      hint:
        kind === 'ingress'
          ? 'a LoadBalancer Service waits for the cluster to give it an address (a cloud load balancer, MetalLB); without one, use --set gateways.ingress.serviceType=NodePort'
          : `kubectl -n mesh-system describe service ${name}`,
      warning: true,
      retryDeadlineMs: 60_000,
      async run(ctx) {
        const svc = await ctx.cluster.get<ServiceObject>({
          apiVersion: 'v1',
          kind: 'Service',
          namespace: ctx.meshNamespace,
          name,
        });
        if (!svc) return 'not deployed';
        const address = serviceAddress(svc);
        if (!address)
          throw new CheckFailure(
            `service ${ctx.meshNamespace}/${name} (type ${svc.spec?.type ?? 'ClusterIP'}) has no address yet`,
          );
        return address;
      },
    },
  ];
}

/** The gateways category. */
export function gatewayCategory(): CheckCategory<KubernetesCheckContext> {
  return { id: 'gateways', checkers: [...gatewayCheckers('ingress'), ...gatewayCheckers('egress')] };
}
