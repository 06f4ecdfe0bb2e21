/**
 * Two of istioctl analyze's checks the mesh shares: an application that runs as the proxy's UID
 * (1337), whose traffic the capture rules let through untouched, and routing on JWT claims through
 * a gateway that no RequestAuthentication validates tokens for (the claims are then never there).
 */
import { formatFieldPath, type VirtualService } from '../../config/index.js';
import { proxyUidProblem, proxyUidUses } from '../../inject/proxy-uid.js';
import type { Analyzer, Typed } from '../context.js';
import { labelsMatch } from '../hosts.js';
import { Messages } from '../messages.js';

const CLAIM_HEADER = '@request.auth.claims.';

/** Workloads (Pods and pod templates in the input) with an application container that runs as UID 1337: one finding per field. */
export const applicationUidAnalyzer: Analyzer = {
  name: 'application-uid',
  run(ctx) {
    for (const r of ctx.input.resources) {
      if (r.validation.core?.role !== 'workload' || !r.core) continue;
      for (const use of proxyUidUses(r.core as unknown as Record<string, unknown>))
        ctx.report(
          Messages.ApplicationUidReserved,
          r,
          `${formatFieldPath(use.path)}: ${proxyUidProblem(use)}.`,
          use.path,
        );
    }
    // Pods running on the platform (their sidecar is there, so is the bypass), named by identity.
    for (const w of ctx.input.inventory.workloads ?? [])
      for (const use of w.proxyUid ?? [])
        ctx.report(
          Messages.ApplicationUidReserved,
          { apiVersion: 'v1', kind: w.kind, name: w.name, namespace: w.namespace },
          `${formatFieldPath(use.path)}: ${proxyUidProblem(use)}.`,
          use.path,
        );
  },
};

function claimMatchPath(vs: VirtualService): (string | number)[] | undefined {
  for (const [i, h] of (vs.spec.http ?? []).entries()) {
    for (const [j, m] of (h.match ?? []).entries()) {
      const key = Object.keys(m.headers ?? {}).find((k) => k.startsWith(CLAIM_HEADER));
      if (key) return ['spec', 'http', i, 'match', j, 'headers', key];
    }
  }
  return undefined;
}

/** VirtualServices on a gateway that route on JWT claims while no RequestAuthentication applies to that gateway. */
export const jwtClaimRouteAnalyzer: Analyzer = {
  name: 'jwt-claim-route',
  run(ctx) {
    const requestAuthns = ctx.of('RequestAuthentication');
    for (const vs of ctx.of('VirtualService') as Typed<VirtualService>[]) {
      const path = claimMatchPath(vs.res);
      if (!path) continue;
      const ns = vs.res.metadata.namespace!;
      for (const ref of vs.res.spec.gateways ?? []) {
        if (ref === 'mesh') continue;
        const [gwNs, gwName] = ref.includes('/') ? ref.split('/', 2) : [ns, ref];
        const gw = ctx.of('Gateway').find((g) => g.res.metadata.namespace === gwNs && g.res.metadata.name === gwName);
        if (!gw) continue;
        const selector = gw.res.spec.selector ?? {};
        const runners = (ctx.input.inventory.workloads ?? []).filter(
          (w) => Object.keys(selector).length > 0 && labelsMatch(selector, w.labels),
        );
        const where = new Set([
          ...(runners.length ? runners.map((w) => w.namespace) : [gwNs!]),
          ...ctx.input.rootNamespaces,
        ]);
        const covered = requestAuthns.some((ra) => {
          if (!where.has(ra.res.metadata.namespace!)) return false;
          const sel = ra.res.spec.selector?.matchLabels;
          return !sel || labelsMatch(sel, runners[0]?.labels ?? selector);
        });
        if (covered) continue;
        ctx.report(
          Messages.JwtClaimRoutingWithoutRequestAuthentication,
          vs.r,
          `Routes on a JWT claim (${String(path[path.length - 1])}) through gateway "${ref}", but no RequestAuthentication applies to that gateway, so the claim is never set and the route never matches; add a RequestAuthentication selecting the gateway pods.`,
          path,
        );
      }
    }
  },
};
