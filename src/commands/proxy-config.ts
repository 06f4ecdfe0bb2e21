/**
 * `meshctl proxy-config clusters|listeners|routes|endpoints|secrets|all NAME[.NS]`: what one
 * sidecar runs, read from its admin API (/clusters, /listeners, /routes, /certs), as istioctl's
 * tables or as JSON. Secrets show certificate metadata only: the admin API never serves keys.
 */
import { X509Certificate } from 'node:crypto';
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import type { ConfigObjectData, MeshPlatform } from '../cluster/index.js';
import { UsageError } from '../errors.js';
import { parseProxyName } from '../cluster/proxy-status.js';

interface ProxyConfigFlags {
  output?: string;
  level?: string;
}

const SECTIONS = ['clusters', 'listeners', 'routes', 'endpoints', 'secrets'] as const;
type Section = (typeof SECTIONS)[number];

/** A cluster as the admin API's /clusters describes it (the fields shown). */
interface AdminCluster {
  name: string;
  type: string;
  /** strict or logical when the proxy resolves the endpoints' names itself (ServiceEntry DNS). */
  dnsResolution?: string | null;
  service: string | null;
  /** health and outlier: null where the proxy does not report them. */
  endpoints: {
    address: string;
    port: number;
    health: string | null;
    outlier: { ejected: boolean; ejectionCount: number; consecutive5xx: number } | null;
  }[];
}
interface AdminListener {
  name: string;
  address: string;
  port: number;
  direction: string;
  mode: string;
  chains: {
    name?: string;
    match: { destinationPort?: number; destinationAddresses?: string[]; [k: string]: unknown } | null;
    protocol: string;
    routeConfig: string | null;
    tcpCluster: string | null;
    tls: string;
  }[];
}
type StringMatch = { exact?: string; prefix?: string; regex?: string };
interface AdminRouteConfig {
  name: string;
  virtualHosts: {
    name: string;
    domains: string[];
    routes: {
      name?: string;
      match?: {
        uri?: StringMatch;
        headers?: Record<string, StringMatch>;
        method?: StringMatch;
        [k: string]: unknown;
      }[];
    }[];
  }[];
}

/** `outbound|9080|v1|reviews.default.svc.cluster.local` -> its parts (Istio's cluster naming). */
function clusterParts(c: { name: string; service: string | null }): {
  fqdn: string;
  port: string;
  subset: string;
  direction: string;
} {
  const p = c.name.split('|');
  if (p.length === 4)
    return { direction: p[0]!.toUpperCase(), port: p[1] || '-', subset: p[2] || '-', fqdn: p[3] || c.service || '-' };
  return { direction: '-', port: '-', subset: '-', fqdn: c.name };
}

/** Envoy's name for a cluster's discovery type: a static cluster whose names the proxy resolves is DNS. */
function clusterType(t: string, dns: string | null | undefined): string {
  if (t === 'static' && dns === 'strict') return 'STRICT_DNS';
  if (t === 'static' && dns === 'logical') return 'LOGICAL_DNS';
  return (
    (
      {
        static: 'STATIC',
        originalDst: 'ORIGINAL_DST',
        strictDns: 'STRICT_DNS',
        logicalDns: 'LOGICAL_DNS',
        eds: 'EDS',
      } as Record<string, string>
    )[t] ?? t.toUpperCase()
  );
}

function stringMatch(m: StringMatch | undefined): string {
  if (!m) return '*';
  if (m.exact !== undefined) return m.exact;
  if (m.prefix !== undefined) return `${m.prefix}*`;
  if (m.regex !== undefined) return `~${m.regex}`;
  return '*';
}

function routeMatch(match: AdminRouteConfig['virtualHosts'][number]['routes'][number]['match']): string {
  if (!match?.length) return '/*';
  return match
    .map((b) => {
      const parts = [b.uri ? stringMatch(b.uri) : '/*'];
      for (const [h, m] of Object.entries(b.headers ?? {})) parts.push(`${h}=${stringMatch(m)}`);
      if (b.method) parts.push(`method=${stringMatch(b.method)}`);
      return parts.join(' ');
    })
    .join(' | ');
}

/** The VirtualService behind a virtual host: the admin config carries no origin, so it is found by host. */
function virtualServiceFor(vhostName: string, virtualServices: readonly ConfigObjectData[]): string {
  const fqdn = vhostName.replace(/:\d+$/, '');
  for (const vs of virtualServices) {
    const ns = vs.metadata.namespace ?? 'default';
    const hosts = ((vs.spec as { hosts?: string[] } | undefined)?.hosts ?? []).map((h) =>
      h.includes('.') ? h : `${h}.${ns}.svc.cluster.local`,
    );
    if (hosts.some((h) => h === fqdn || fqdn.startsWith(`${h}.`))) return `${vs.metadata.name}.${ns}`;
  }
  return '-';
}

/** Shortest domain of a virtual host, with how many more it answers to. */
function domains(list: readonly string[]): string {
  if (!list.length) return '-';
  const shortest = [...list].sort((a, b) => a.length - b.length)[0]!;
  return list.length > 1 ? `${shortest} +${list.length - 1} more` : shortest;
}

/** The rows of each section, from the admin API (and, for ROOTCA and VS names, the control plane). */
async function section(
  platform: MeshPlatform,
  target: { name: string; namespace: string },
  kind: Section,
  now: Date,
): Promise<{ json: unknown; headers: string[]; rows: string[][] }> {
  if (kind === 'clusters' || kind === 'endpoints') {
    const clusters = await platform.proxyAdminGet<AdminCluster[]>(target, '/clusters');
    if (kind === 'clusters') {
      return {
        json: clusters,
        headers: ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'],
        rows: clusters.map((c) => {
          const p = clusterParts(c);
          return [p.fqdn, p.port, p.subset, p.direction, clusterType(c.type, c.dnsResolution)];
        }),
      };
    }
    const eps = clusters.flatMap((c) => c.endpoints.map((e) => ({ cluster: c.name, ...e })));
    return {
      json: eps,
      headers: ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'],
      rows: eps.map((e) => [
        `${e.address}:${e.port}`,
        !e.outlier ? 'UNKNOWN' : e.outlier.ejected ? 'EJECTED' : 'HEALTHY',
        !e.outlier ? '-' : e.outlier.ejected ? `FAILED (ejected ${e.outlier.ejectionCount}x)` : 'OK',
        e.cluster,
      ]),
    };
  }
  if (kind === 'listeners') {
    const listeners = await platform.proxyAdminGet<AdminListener[]>(target, '/listeners');
    return {
      json: listeners,
      headers: ['ADDRESS', 'PORT', 'MATCH', 'DESTINATION'],
      rows: listeners.flatMap((l) =>
        l.chains.map((c) => {
          const m = c.match
            ? Object.entries(c.match)
                .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
                .join(' ')
            : 'ALL';
          const dest =
            [
              c.routeConfig ? `Route: ${c.routeConfig}` : '',
              c.tcpCluster && c.tcpCluster !== c.routeConfig
                ? `Cluster: ${c.tcpCluster}`
                : c.tcpCluster && !c.routeConfig
                  ? `Cluster: ${c.tcpCluster}`
                  : '',
            ]
              .filter(Boolean)
              .join(', ') || '-';
          return [
            l.address,
            String(l.port),
            `${l.direction} ${l.mode}${m === 'ALL' ? '' : ` ${m}`}${c.tls !== 'disable' ? ` (tls ${c.tls})` : ''}`,
            dest,
          ];
        }),
      ),
    };
  }
  if (kind === 'routes') {
    const [routes, vss] = await Promise.all([
      platform.proxyAdminGet<AdminRouteConfig[]>(target, '/routes'),
      platform.listConfig({ kind: 'VirtualService' }).catch(() => []),
    ]);
    return {
      json: routes,
      headers: ['NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'],
      rows: routes.flatMap((rc) =>
        rc.virtualHosts.flatMap((vh) =>
          vh.routes.map((r) => [
            rc.name,
            domains(vh.domains),
            routeMatch(r.match),
            r.name === 'default' ? '-' : virtualServiceFor(vh.name, vss),
          ]),
        ),
      ),
    };
  }
  // serialNumber and validFrom: null when the proxy reports only the expiry.
  const certs = await platform.proxyAdminGet<{
    identity: {
      spiffeId: string | null;
      serialNumber: string | null;
      validFrom: string | null;
      validTo: string;
    } | null;
    roots?: { serialNumber: string; validFrom: string; validTo: string }[];
  }>(target, '/certs');
  // ROOTCA rows are the roots this proxy trusts (two during a root rotation), not the control plane's
  // current root: the point of the view is what the proxy will accept. A proxy that does not report
  // them (an older build) falls back to the control plane's root.
  const roots =
    certs.roots ??
    (
      await platform
        .controlPlaneGet<{ rootPem?: string }>('/debug/ca')
        .then((ca) => (ca.rootPem ? [new X509Certificate(ca.rootPem)] : []))
        .catch(() => [])
    ).map((c) => ({
      serialNumber: c.serialNumber,
      validFrom: new Date(c.validFrom).toISOString(),
      validTo: new Date(c.validTo).toISOString(),
    }));
  const entries: {
    resourceName: string;
    type: string;
    status: string;
    valid: boolean;
    serialNumber: string;
    notAfter: string;
    notBefore: string;
    identity?: string;
  }[] = [];
  if (certs.identity) {
    const valid =
      (certs.identity.validFrom === null || Date.parse(certs.identity.validFrom) <= now.getTime()) &&
      now.getTime() < Date.parse(certs.identity.validTo);
    entries.push({
      resourceName: 'default',
      type: 'Cert Chain',
      status: 'ACTIVE',
      valid,
      serialNumber: certs.identity.serialNumber ?? '-',
      notAfter: certs.identity.validTo,
      notBefore: certs.identity.validFrom ?? '-',
      ...(certs.identity.spiffeId ? { identity: certs.identity.spiffeId } : {}),
    });
  }
  for (const root of roots) {
    entries.push({
      resourceName: 'ROOTCA',
      type: 'CA',
      status: 'ACTIVE',
      valid: Date.parse(root.validFrom) <= now.getTime() && now.getTime() < Date.parse(root.validTo),
      serialNumber: root.serialNumber,
      notAfter: root.validTo,
      notBefore: root.validFrom,
    });
  }
  return {
    json: entries,
    headers: ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID', 'SERIAL', 'NOT AFTER', 'NOT BEFORE'],
    rows: entries.map((e) => [
      e.resourceName,
      e.type,
      e.status,
      String(e.valid),
      e.serialNumber,
      e.notAfter,
      e.notBefore,
    ]),
  };
}

const command: CommandDefinition = {
  name: 'proxy-config',
  summary: "Show a proxy's clusters, listeners, routes, endpoints or certificates",
  define(cmd, bind) {
    cmd
      .argument('<type>', `what to show: ${SECTIONS.join(', ')}, all, or log (show or set the log level)`)
      .argument('<name>', 'the proxy: NAME or NAME.NAMESPACE (see meshctl proxy-status)')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .option(
        '--level <level>',
        "with log: set the proxy's log level (off, error, warn, info, debug); needs its admin token",
      )
      .addHelpText(
        'after',
        examples([
          'meshctl proxy-config clusters productpage-v1',
          'meshctl proxy-config routes productpage-v1.default -o json',
          'meshctl proxy-config endpoints reviews-v2',
          'meshctl proxy-config all ratings-v1',
          'meshctl proxy-config log reviews-v1',
          'meshctl proxy-config log reviews-v1.default --level debug',
        ]),
      );
    bind<ProxyConfigFlags>(cmd, async (ctx, args, flags) => {
      const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
      const type = args[0]!;
      if (type === 'log') {
        const log = await import('./proxy-config-log.js');
        return log.run(ctx, log.validate(args[1]!, flags.level, format, ctx.namespace()));
      }
      if (flags.level !== undefined)
        throw new UsageError(
          `--level applies to proxy-config log, not ${type}`,
          `e.g. meshctl proxy-config log ${args[1]} --level ${flags.level}`,
        );
      if (type !== 'all' && !(SECTIONS as readonly string[]).includes(type)) {
        throw new UsageError(`${type}: not a proxy config type`, `use one of: ${SECTIONS.join(', ')}, all, log`);
      }
      const target = parseProxyName(args[1]!, ctx.namespace());
      const platform = await ctx.platform();
      const kinds = type === 'all' ? SECTIONS : [type as Section];
      const results = [];
      for (const k of kinds) results.push({ kind: k, ...(await section(platform, target, k, ctx.now())) });
      if (format === 'json') {
        const { toJson } = await import('../ui/printers.js');
        ctx.out(toJson(type === 'all' ? Object.fromEntries(results.map((r) => [r.kind, r.json])) : results[0]!.json));
        return 0;
      }
      const { renderTable } = await import('../ui/table.js');
      ctx.out(
        results
          .map(
            (r) =>
              `${type === 'all' ? `${ctx.style.bold(r.kind.toUpperCase())}\n` : ''}${renderTable(r.headers, r.rows)}`,
          )
          .join('\n'),
      );
      return 0;
    });
  },
};
export default command;
