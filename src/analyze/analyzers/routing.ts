/**
 * VirtualService analyzers: subsets and hosts that routes reference, route weights, conflicting
 * VirtualServices, gateways, and retries that cannot fit in the route timeout.
 */
import {
  exportedTo,
  parseDuration,
  formatDuration,
  type Destination,
  type FieldPath,
  type VirtualService,
} from '../../config/index.js';
import type { AnalysisContext, Analyzer, Typed } from '../context.js';
import { hostMatches, hostsOverlap, resolveHost, serviceFqdn } from '../hosts.js';
import { Messages } from '../messages.js';

/** Every destination of a VirtualService (routes, mirrors; http, tcp, tls) with its path. */
export function destinationsOf(vs: VirtualService): { dest: Destination; path: FieldPath; mirror: boolean }[] {
  const out: { dest: Destination; path: FieldPath; mirror: boolean }[] = [];
  vs.spec.http?.forEach((h, i) => {
    h.route?.forEach((d, j) =>
      out.push({ dest: d.destination, path: ['spec', 'http', i, 'route', j, 'destination'], mirror: false }),
    );
    if (h.mirror) out.push({ dest: h.mirror, path: ['spec', 'http', i, 'mirror'], mirror: true });
    h.mirrors?.forEach((m, j) =>
      out.push({ dest: m.destination, path: ['spec', 'http', i, 'mirrors', j, 'destination'], mirror: true }),
    );
  });
  vs.spec.tcp?.forEach((t, i) =>
    t.route?.forEach((d, j) =>
      out.push({ dest: d.destination, path: ['spec', 'tcp', i, 'route', j, 'destination'], mirror: false }),
    ),
  );
  vs.spec.tls?.forEach((t, i) =>
    t.route?.forEach((d, j) =>
      out.push({ dest: d.destination, path: ['spec', 'tls', i, 'route', j, 'destination'], mirror: false }),
    ),
  );
  return out;
}

function checkSubsetsAndHosts(ctx: AnalysisContext, vs: Typed<VirtualService>): void {
  const cd = ctx.input.clusterDomain;
  const ns = vs.res.metadata.namespace!;
  // Only what exportTo lets the VirtualService's namespace see counts (a `hosts: ["*"]` ServiceEntry
  // exported to `.` hides no missing host elsewhere).
  const rules = ctx
    .of('DestinationRule')
    .filter((d) => exportedTo(d.res.spec.exportTo, d.res.metadata.namespace!, ns))
    .map((d) => ({
      host: resolveHost(d.res.spec.host, d.res.metadata.namespace!, cd),
      subsets: d.res.spec.subsets ?? [],
    }));
  const services = ctx.input.inventory.services?.filter((s) => exportedTo(s.exportTo, s.namespace, ns));
  // A VirtualService exported to named namespaces routes the sidecars there: its hosts must be
  // visible from each of them (as istioctl judges `exportTo`), not only from its own namespace.
  const seen = visibility(vs.res);
  const viewers = seen === 'all' || seen.size === 0 ? [ns] : [...seen];
  const knownFrom = (viewer: string, fqdn: string): boolean =>
    (ctx.input.inventory.services ?? []).some(
      (s) => exportedTo(s.exportTo, s.namespace, viewer) && serviceFqdn(s, cd) === fqdn,
    ) ||
    ctx
      .of('ServiceEntry')
      .some(
        (se) =>
          exportedTo(se.res.spec.exportTo, se.res.metadata.namespace!, viewer) &&
          se.res.spec.hosts.some((h) => hostMatches(resolveHost(h, se.res.metadata.namespace!, cd), fqdn)),
      );
  for (const { dest, path, mirror } of destinationsOf(vs.res)) {
    const fqdn = resolveHost(dest.host, ns, cd);
    if (dest.subset) {
      const defined = rules.some((r) => hostsOverlap(r.host, fqdn) && r.subsets.some((s) => s.name === dest.subset));
      if (!defined) {
        ctx.report(
          Messages.ReferencedSubsetNotFound,
          vs.r,
          `Referenced subset "${dest.subset}" is not defined in any DestinationRule for host "${dest.host}"; define it or fix the ${mirror ? 'mirror' : 'route'}.`,
          [...path, 'subset'],
        );
      }
    }
    const service = services?.find((s) => serviceFqdn(s, cd) === fqdn);
    if (service?.ports?.length && !mirror) checkPort(ctx, vs, dest, path, service.ports);
    if (services && !fqdn.includes('*')) {
      const blind = viewers.filter((v) => !knownFrom(v, fqdn));
      if (blind.length > 0) {
        const shown = fqdn === dest.host ? `"${dest.host}"` : `"${dest.host}" (${fqdn})`;
        const where =
          blind.length === 1 && blind[0] === ns
            ? ''
            : ` visible from namespace ${blind.map((b) => `"${b}"`).join(', ')}, where this VirtualService is exported`;
        ctx.report(
          Messages.ReferencedHostNotFound,
          vs.r,
          `Referenced host ${shown} is not defined by any Service or ServiceEntry${where}; create it or fix the ${mirror ? 'mirror' : 'route'} host${where ? ' or exportTo' : ''}.`,
          [...path, 'host'],
        );
      }
    }
  }
}

/** A destination's port must be one its Service exposes, and is required when it exposes several. */
function checkPort(
  ctx: AnalysisContext,
  vs: Typed<VirtualService>,
  dest: Destination,
  path: FieldPath,
  ports: readonly { port: number; name?: string }[],
): void {
  const list = ports.map((p) => p.port).join(', ');
  const n = dest.port?.number;
  if (n !== undefined && !ports.some((p) => p.port === n)) {
    ctx.report(
      Messages.DestinationPortNotFound,
      vs.r,
      `Host "${dest.host}" has no port ${n} (its Service exposes ${list}); fix port.number.`,
      [...path, 'port', 'number'],
    );
  } else if (n === undefined && ports.length > 1) {
    ctx.report(
      Messages.DestinationPortRequired,
      vs.r,
      `Host "${dest.host}" exposes several ports (${list}) and the destination names none; add port.number.`,
      path,
    );
  }
}

function checkWeights(ctx: AnalysisContext, vs: Typed<VirtualService>): void {
  const groups: { route: { weight?: number }[]; path: FieldPath }[] = [];
  vs.res.spec.http?.forEach((h, i) => h.route && groups.push({ route: h.route, path: ['spec', 'http', i, 'route'] }));
  vs.res.spec.tcp?.forEach((t, i) => t.route && groups.push({ route: t.route, path: ['spec', 'tcp', i, 'route'] }));
  vs.res.spec.tls?.forEach((t, i) => t.route && groups.push({ route: t.route, path: ['spec', 'tls', i, 'route'] }));
  for (const g of groups) {
    if (g.route.length < 2) continue;
    const sum = g.route.reduce((a, d) => a + (d.weight ?? 0), 0);
    if (sum !== 100) {
      const shares = g.route.map((d) => d.weight ?? 0).join(' + ');
      ctx.report(
        Messages.RouteWeightsNotSumTo100,
        vs.r,
        `Route weights ${shares} sum to ${sum}, not 100; traffic is split in proportion to them, so set them to add up to 100.`,
        g.path,
      );
    }
  }
}

function checkRetries(ctx: AnalysisContext, vs: Typed<VirtualService>): void {
  vs.res.spec.http?.forEach((h, i) => {
    if (!h.timeout || !h.retries?.perTryTimeout) return;
    const timeout = parseDuration(h.timeout);
    const perTry = parseDuration(h.retries.perTryTimeout);
    const attempts = h.retries.attempts ?? 2;
    if (!timeout || !perTry || attempts <= 0) return;
    if (perTry * attempts > timeout) {
      ctx.report(
        Messages.RetriesExceedTimeout,
        vs.r,
        `Retries need up to ${attempts} x ${h.retries.perTryTimeout} = ${formatDuration(perTry * attempts)} but the route times out after ${h.timeout}, so the last retries never complete; raise timeout to at least ${formatDuration(perTry * attempts)} or lower attempts or perTryTimeout.`,
        ['spec', 'http', i, 'retries'],
      );
    }
  });
}

function checkGateways(ctx: AnalysisContext, vs: Typed<VirtualService>): void {
  const ns = vs.res.metadata.namespace!;
  const gateways = new Set(ctx.of('Gateway').map((g) => `${g.res.metadata.namespace}/${g.res.metadata.name}`));
  // A VirtualService may name a Gateway API Gateway (gateway.networking.k8s.io), which is no mesh kind.
  for (const r of ctx.input.resources) {
    const id = r.validation.identity;
    if (id.kind === 'Gateway' && id.apiVersion.startsWith('gateway.networking.k8s.io/'))
      gateways.add(`${id.namespace ?? ns}/${id.name}`);
  }
  const refs: { name: string; path: FieldPath }[] = [];
  vs.res.spec.gateways?.forEach((g, i) => refs.push({ name: g, path: ['spec', 'gateways', i] }));
  vs.res.spec.http?.forEach((h, i) =>
    h.match?.forEach((m, j) =>
      m.gateways?.forEach((g, k) => refs.push({ name: g, path: ['spec', 'http', i, 'match', j, 'gateways', k] })),
    ),
  );
  for (const ref of refs) {
    // `mesh`, and the names Istio generates for Gateway API gateways (`ns/gateway~istio-autogenerated-k8s-gateway~x`).
    if (ref.name === 'mesh' || ref.name.includes('~')) continue;
    const key = ref.name.includes('/') ? ref.name : `${ns}/${ref.name}`;
    const shown = key === ref.name ? `"${key}"` : `"${ref.name}" (${key})`;
    if (!gateways.has(key))
      ctx.report(
        Messages.GatewayNotFound,
        vs.r,
        `Referenced gateway ${shown} is not found; create the Gateway or fix the name (use namespace/name for a Gateway in another namespace).`,
        ref.path,
      );
  }
}

/** The namespaces that see a VirtualService: `all`, or a set (empty for `~`). */
function visibility(vs: VirtualService): 'all' | Set<string> {
  const e = vs.spec.exportTo;
  if (!e || e.length === 0 || e.includes('*')) return 'all';
  return new Set(e.filter((x) => x !== '~').map((x) => (x === '.' ? vs.metadata.namespace! : x)));
}

function overlap(a: 'all' | Set<string>, b: 'all' | Set<string>): boolean {
  if (a === 'all') return b === 'all' || b.size > 0;
  if (b === 'all') return a.size > 0;
  return [...a].some((n) => b.has(n));
}

/**
 * VirtualServices for the sidecars (mesh) that route the same host where both are visible: only one
 * takes effect. As istioctl, every VirtualService of a conflict is reported, naming the others.
 */
function checkConflicts(ctx: AnalysisContext, all: Typed<VirtualService>[]): void {
  const cd = ctx.input.clusterDomain;
  const entries: { vs: Typed<VirtualService>; index: number; host: string; fqdn: string }[] = [];
  for (const vs of all) {
    const gws = vs.res.spec.gateways?.length ? vs.res.spec.gateways : ['mesh'];
    if (!gws.includes('mesh')) continue; // gateways merge VirtualServices for one host; sidecars do not
    vs.res.spec.hosts?.forEach((host, index) =>
      entries.push({ vs, index, host, fqdn: resolveHost(host, vs.res.metadata.namespace!, cd) }),
    );
  }
  const name = (v: Typed<VirtualService>): string => `${v.res.metadata.name}.${v.res.metadata.namespace}`;
  // One finding per VirtualService, at its first conflicting host, naming every other one.
  for (const vs of all) {
    const mine = entries.filter((e) => e.vs === vs);
    const clashes = mine.flatMap((e) =>
      entries
        .filter((o) => o.vs !== vs && hostsOverlap(e.fqdn, o.fqdn) && overlap(visibility(vs.res), visibility(o.vs.res)))
        .map((o) => ({ e, o })),
    );
    if (clashes.length === 0) continue;
    const first = clashes[0]!.e;
    const others = [...new Set(clashes.map((c) => name(c.o.vs)))];
    const hosts = [...new Set(clashes.map((c) => `"${c.e.host}"`))];
    ctx.report(
      Messages.ConflictingVirtualServices,
      vs.r,
      `VirtualService ${name(vs)} and ${others.join(', ')} route host ${hosts.join(', ')} for the sidecars (mesh) where both are visible; only one of them takes effect, so merge their routes into one VirtualService.`,
      ['spec', 'hosts', first.index],
    );
  }
}

/** The VirtualService analyzers. */
export const routingAnalyzer: Analyzer = {
  name: 'virtual-service',
  run(ctx) {
    const all = ctx.of('VirtualService');
    for (const vs of all) {
      checkSubsetsAndHosts(ctx, vs);
      checkWeights(ctx, vs);
      checkRetries(ctx, vs);
      checkGateways(ctx, vs);
    }
    checkConflicts(ctx, all);
  },
};
