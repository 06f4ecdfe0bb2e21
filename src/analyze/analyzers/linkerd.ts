/** Linkerd and SMI analyzers: TrafficSplit services and weights, ServiceProfile names. */
import { parseQuantity } from '../../config/index.js';
import type { Analyzer } from '../context.js';
import { Messages } from '../messages.js';

const LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';

/** TrafficSplits whose services are missing (services known) or whose weights are all zero. */
export const trafficSplitAnalyzer: Analyzer = {
  name: 'traffic-split',
  run(ctx) {
    const services = ctx.input.inventory.services;
    for (const ts of ctx.of('TrafficSplit')) {
      const ns = ts.res.metadata.namespace!;
      const exists = (name: string) => services!.some((s) => s.namespace === ns && s.name === name);
      if (services) {
        if (!exists(ts.res.spec.service)) {
          ctx.report(
            Messages.TrafficSplitServiceNotFound,
            ts.r,
            `Root service "${ts.res.spec.service}" of the split is not found in namespace "${ns}"; create the Service clients call, or fix spec.service.`,
            ['spec', 'service'],
          );
        }
        ts.res.spec.backends.forEach((b, i) => {
          if (!exists(b.service))
            ctx.report(
              Messages.TrafficSplitServiceNotFound,
              ts.r,
              `Backend service "${b.service}" is not found in namespace "${ns}"; create it or fix the name (its share of traffic would fail).`,
              ['spec', 'backends', i, 'service'],
            );
        });
      }
      const weights = ts.res.spec.backends.map((b) => parseQuantity(b.weight));
      if (weights.every((w) => w === 0)) {
        ctx.report(
          Messages.TrafficSplitWeightsZero,
          ts.r,
          `Every backend has weight 0, so no backend receives traffic; give at least one backend a positive weight.`,
          ['spec', 'backends'],
        );
      }
    }
  },
};

/** ServiceProfiles named other than `<service>.<namespace>.svc.<cluster-domain>`. */
export const serviceProfileNameAnalyzer: Analyzer = {
  name: 'service-profile-name',
  run(ctx) {
    const cd = ctx.input.clusterDomain;
    const shape = new RegExp(`^(${LABEL})\\.(${LABEL})\\.svc\\.(.+)$`);
    for (const sp of ctx.of('ServiceProfile')) {
      const name = sp.res.metadata.name ?? '';
      const ns = sp.res.metadata.namespace!;
      const m = shape.exec(name);
      if (m && m[5] === cd) continue;
      const service = m?.[1] ?? name.split('.')[0] ?? name;
      const serviceNs = m?.[3] ?? ns;
      const why = m ? `ends in .svc.${m[5]} but the cluster domain is ${cd}` : `is not <service>.<namespace>.svc.${cd}`;
      ctx.report(
        Messages.ServiceProfileNameInvalid,
        sp.r,
        `ServiceProfile name "${name}" ${why}, so Linkerd never applies it; rename it to "${service}.${serviceNs}.svc.${cd}".`,
        ['metadata', 'name'],
      );
    }
  },
};
