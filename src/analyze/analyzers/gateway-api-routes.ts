/**
 * Gateway API mesh routes (HTTPRoute, GRPCRoute with Service parentRefs): a parentRef or a
 * backendRef (or a mirror's) naming a Service that does not exist, or a port that Service does not
 * expose, reported as for VirtualService destinations (MESH0102, MESH0107), checked when services
 * are known. A backendRef into another namespace (other than the route's parent Service) is
 * answered 500 (ReferenceGrant is not read): MESH0002.
 */
import {
  isServiceBackend,
  isServiceParent,
  type FieldPath,
  type GatewayHTTPRoute,
  type GRPCRoute,
} from '../../config/index.js';
import type { AnalysisContext, Analyzer, Typed } from '../context.js';
import type { ServiceInfo } from '../input.js';
import { Messages } from '../messages.js';

type Route = GatewayHTTPRoute | GRPCRoute;
interface Ref {
  readonly group?: string;
  readonly kind?: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
}

/** Every Service reference of a route: parents, backends, mirror targets, with their paths. */
function refsOf(route: Route): { ref: Ref; path: FieldPath; role: 'parentRef' | 'backendRef' | 'mirror' }[] {
  const out: { ref: Ref; path: FieldPath; role: 'parentRef' | 'backendRef' | 'mirror' }[] = [];
  route.spec.parentRefs?.forEach((p, i) => {
    if (isServiceParent(p)) out.push({ ref: p, path: ['spec', 'parentRefs', i], role: 'parentRef' });
  });
  route.spec.rules?.forEach((r, ri) => {
    r.filters?.forEach((f, fi) => {
      if (f.requestMirror && isServiceBackend(f.requestMirror.backendRef))
        out.push({
          ref: f.requestMirror.backendRef,
          path: ['spec', 'rules', ri, 'filters', fi, 'requestMirror', 'backendRef'],
          role: 'mirror',
        });
    });
    r.backendRefs?.forEach((b, bi) => {
      if (isServiceBackend(b)) out.push({ ref: b, path: ['spec', 'rules', ri, 'backendRefs', bi], role: 'backendRef' });
    });
  });
  return out;
}

function check(ctx: AnalysisContext, t: Typed<Route>, services: readonly ServiceInfo[]): void {
  const ns = t.res.metadata.namespace!;
  const what = `${t.res.kind}`;
  for (const { ref, path, role } of refsOf(t.res)) {
    const refNs = ref.namespace ?? ns;
    const isParent = (t.res.spec.parentRefs ?? []).some(
      (p) => isServiceParent(p) && p.name === ref.name && (p.namespace ?? ns) === refNs,
    );
    if (role !== 'parentRef' && refNs !== ns && !isParent) {
      ctx.report(
        Messages.UnsupportedField,
        t.r,
        `${role} Service "${ref.name}" is in namespace "${refNs}": cross-namespace backends other than the route's own parent Service need a ReferenceGrant, which meshctl does not read, so its requests are answered 500; move the route or the Service into one namespace.`,
        [...path, 'namespace'],
      );
      continue;
    }
    const svc = services.find((s) => s.name === ref.name && s.namespace === refNs);
    if (!svc) {
      ctx.report(
        Messages.ReferencedHostNotFound,
        t.r,
        role === 'parentRef'
          ? `${what} parentRef names Service "${ref.name}" in namespace "${refNs}", which does not exist: the route routes nothing; create the Service or fix parentRefs.`
          : `${role} Service "${ref.name}" in namespace "${refNs}" does not exist: its requests are answered 500; create it or fix the ${role}.`,
        [...path, 'name'],
      );
      continue;
    }
    const ports = svc.ports ?? [];
    if (ref.port !== undefined && ports.length > 0 && !ports.some((p) => p.port === ref.port))
      ctx.report(
        Messages.DestinationPortNotFound,
        t.r,
        `Service "${ref.name}" has no port ${ref.port} (it exposes ${ports.map((p) => p.port).join(', ')}); fix the ${role} port.`,
        [...path, 'port'],
      );
  }
}

/** The Gateway API route analyzer. */
export const gatewayApiRoutesAnalyzer: Analyzer = {
  name: 'gateway-api-routes',
  run(ctx) {
    const services = ctx.input.inventory.services;
    if (!services) return;
    for (const t of ctx.of('HTTPRoute', 'gateway.networking.k8s.io')) check(ctx, t, services);
    for (const t of ctx.of('GRPCRoute', 'gateway.networking.k8s.io')) check(ctx, t, services);
  },
};
