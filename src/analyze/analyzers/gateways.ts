/**
 * Istio Gateway analyzers beyond credentials: two Gateways claiming the same host on the same port
 * of the same gateway workload (istioctl's ConflictingGateways), and server ports that no Service
 * of the gateway workload exposes (GatewayPortNotDefinedOnService).
 */
import type { Gateway } from '../../config/index.js';
import type { Analyzer, Typed } from '../context.js';
import { labelsMatch } from '../hosts.js';
import type { WorkloadInfo } from '../input.js';
import { Messages } from '../messages.js';

const selectorText = (s: Readonly<Record<string, string>>): string =>
  Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(',') || '(all)';

const sameSelector = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean =>
  Object.keys(a).length === Object.keys(b).length && labelsMatch(a, b);

/** The known workloads a Gateway's selector picks (any namespace, as Istio applies gateways by default). */
function runners(gw: Gateway, workloads: readonly WorkloadInfo[]): WorkloadInfo[] {
  const sel = gw.spec.selector ?? {};
  return Object.keys(sel).length === 0 ? [] : workloads.filter((w) => labelsMatch(sel, w.labels));
}

/**
 * Gateways that run on one workload (the same selector, or a known workload both select) with a
 * server on the same port and bind naming the same host: the gateway proxy serves that host from one
 * of them only.
 */
export const conflictingGatewaysAnalyzer: Analyzer = {
  name: 'conflicting-gateways',
  run(ctx) {
    const gateways = ctx.of('Gateway', 'networking.istio.io');
    const workloads = ctx.input.inventory.workloads ?? [];
    const shareWorkload = (a: Typed<Gateway>, b: Typed<Gateway>): boolean => {
      const sa = a.res.spec.selector ?? {};
      const sb = b.res.spec.selector ?? {};
      if (sameSelector(sa, sb)) return true;
      const onB = new Set(runners(b.res, workloads));
      return runners(a.res, workloads).some((w) => onB.has(w));
    };
    const id = (g: Typed<Gateway>): string => `${g.res.metadata.namespace}/${g.res.metadata.name}`;
    for (const gw of gateways) {
      gw.res.spec.servers.forEach((server, i) => {
        const others = gateways.filter(
          (o) =>
            o !== gw &&
            shareWorkload(gw, o) &&
            o.res.spec.servers.some(
              (s) =>
                s.port?.number === server.port?.number &&
                (s.bind ?? '') === (server.bind ?? '') &&
                s.hosts.some((h) => server.hosts.includes(h)),
            ),
        );
        if (others.length === 0) return;
        const names = others.map(id).sort().join(', ');
        ctx.report(
          Messages.ConflictingGateways,
          gw.r,
          `Gateway ${names} also declares host ${server.hosts.join(',')} on port ${server.port?.number} of the workload ${selectorText(gw.res.spec.selector ?? {})}: the gateway serves it from one of them only; merge the servers into one Gateway, or use different hosts or ports.`,
          ['spec', 'servers', i],
        );
      });
    }
  },
};

/**
 * Gateway server ports that no Service selecting the gateway's workloads exposes (as a targetPort,
 * or as a port when the Service maps it one to one). Judged only when the gateway's workloads and at
 * least one Service selecting them are known.
 */
export const gatewayServicePortAnalyzer: Analyzer = {
  name: 'gateway-service-ports',
  run(ctx) {
    const { workloads, services } = ctx.input.inventory;
    if (!workloads || !services) return;
    for (const gw of ctx.of('Gateway', 'networking.istio.io')) {
      const pods = runners(gw.res, workloads);
      const exposing = services.filter(
        (s) =>
          s.selector &&
          Object.keys(s.selector).length > 0 &&
          s.ports &&
          pods.some((w) => w.namespace === s.namespace && labelsMatch(s.selector!, w.labels)),
      );
      if (exposing.length === 0) continue; // nothing known about how the gateway is exposed
      const open = new Set<number>();
      for (const s of exposing) for (const p of s.ports ?? []) open.add(p.targetPort ?? p.port);
      // istioctl also accepts a Service port whose targetPort differs: the server port then matches the Service port.
      for (const s of exposing) for (const p of s.ports ?? []) open.add(p.port);
      gw.res.spec.servers.forEach((server, i) => {
        const port = server.port?.number;
        if (port === undefined || open.has(port)) return;
        ctx.report(
          Messages.GatewayPortNotOnService,
          gw.r,
          `Port ${port} is on no Service of the gateway workload ${selectorText(gw.res.spec.selector ?? {})} (${exposing.map((s) => `Service ${s.namespace}/${s.name}: ${(s.ports ?? []).map((p) => (p.targetPort !== undefined && p.targetPort !== p.port ? `${p.port}->${p.targetPort}` : p.port)).join(', ')}`).join('; ')}); clients cannot reach it: add the port to the Service or use one of its ports.`,
          ['spec', 'servers', i, 'port', 'number'],
        );
      });
    }
  },
};
