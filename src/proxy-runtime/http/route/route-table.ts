/**
 * Route tables (VirtualService semantics): the virtual host is chosen by authority (exact, then
 * the longest `*.suffix`, then the longest `prefix.*`, then `*`, as Envoy), then the first route
 * whose match blocks accept the request wins. Destinations are weighted, with subsets.
 * Compiled once per config version; matching allocates nothing.
 */
import { compileCors, type CompiledCors } from './cors.js';
import type { RouteConfigConfig, RouteMatchConfig, RouteSpec } from '../../../protocol/proxy-config/index.js';
import { durationMs } from '../../../protocol/proxy-config/index.js';
import type { RE2JS } from 're2js';
import { re2 } from '../../../config/re2.js';
import type { ClusterRuntime } from '../../upstream/cluster.js';
import type { Exchange } from '../exchange.js';
import { compileHeaderOps, type HeaderOps } from '../headers/header-ops.js';
import { compileHeaderMatch, compileStringMatch, type ValuePredicate } from './string-match.js';
import { compileRetry, type CompiledRetry } from '../retry/retry-policy.js';
import type { RetryBudget } from '../../upstream/retry-budget.js';
import { compileFault, type CompiledFault } from '../fault/fault.js';

/** A weighted destination of a route. */
export interface CompiledDestination {
  readonly cluster: ClusterRuntime;
  readonly subset: string | undefined;
  readonly port: number | undefined;
  readonly weight: number;
  readonly requestHeaders: HeaderOps;
  readonly responseHeaders: HeaderOps;
}

/** One route, ready to serve. */
export interface CompiledRoute {
  readonly name: string;
  readonly virtualHost: string;
  readonly matches: readonly CompiledMatch[];
  readonly destinations: readonly CompiledDestination[];
  readonly totalWeight: number;
  readonly redirect: RouteSpec['redirect'];
  readonly directResponse: RouteSpec['directResponse'];
  readonly rewrite: RouteSpec['rewrite'];
  readonly timeoutMs: number;
  readonly retry: CompiledRetry | undefined;
  /** Linkerd-style budget shared by the routes to the same cluster */
  readonly budget: RetryBudget | undefined;
  readonly fault: CompiledFault | undefined;
  /** Every mirror destination (Istio `mirror` and each of `mirrors`), each with its share. */
  readonly mirrors: readonly {
    readonly cluster: ClusterRuntime;
    readonly subset: string | undefined;
    readonly fraction: number;
  }[];
  /** rewrite.uriRegex compiled: the RE2 pattern and the replacement in re2js's `$1` syntax. */
  readonly uriRegex: { readonly re: RE2JS; readonly replacement: string } | undefined;
  readonly requestHeaders: HeaderOps;
  readonly responseHeaders: HeaderOps;
  readonly cors: CompiledCors | undefined;
}

/** A compiled match block; `prefix` is the uri prefix it matched on (for rewrite). */
export interface CompiledMatch {
  readonly test: (ex: Exchange, nodeLabels: Readonly<Record<string, string>>) => boolean;
  readonly uriPrefix: string | undefined;
}

interface VirtualHostRuntime {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
}

function compileMatch(m: RouteMatchConfig): CompiledMatch {
  const tests: ((ex: Exchange, nodeLabels: Readonly<Record<string, string>>) => boolean)[] = [];
  if (m.uri) {
    const p = compileStringMatch(m.uri, m.ignoreUriCase);
    tests.push((ex) => p(ex.pathOnly()));
  }
  if (m.method) {
    const p = compileStringMatch(m.method);
    tests.push((ex) => p(ex.method));
  }
  if (m.authority) {
    const p = compileStringMatch(m.authority);
    tests.push((ex) => p(ex.authority));
  }
  if (m.scheme) {
    const p = compileStringMatch(m.scheme);
    tests.push((ex) => p(ex.scheme));
  }
  const headerTest = (name: string, p: ValuePredicate, negate: boolean) => {
    const n = name.toLowerCase();
    const read =
      n === ':path'
        ? (ex: Exchange) => ex.path
        : n === ':method'
          ? (ex: Exchange) => ex.method
          : n === ':authority'
            ? (ex: Exchange) => ex.authority
            : (ex: Exchange) => ex.header(n);
    tests.push(negate ? (ex) => !p(read(ex)) : (ex) => p(read(ex)));
  };
  for (const [name, hm] of Object.entries(m.headers ?? {})) headerTest(name, compileHeaderMatch(hm), false);
  for (const [name, hm] of Object.entries(m.withoutHeaders ?? {})) headerTest(name, compileHeaderMatch(hm), true);
  for (const [name, qm] of Object.entries(m.queryParams ?? {})) {
    const p = compileHeaderMatch(qm);
    tests.push((ex) => p(ex.queryParam(name)));
  }
  if (m.port !== undefined) {
    const port = m.port;
    tests.push((ex) => ex.conn.destination.port === port);
  }
  if (m.sourceLabels) {
    const want = Object.entries(m.sourceLabels);
    tests.push((_ex, labels) => want.every(([k, v]) => labels[k] === v));
  }
  const test =
    tests.length === 0
      ? () => true
      : tests.length === 1
        ? tests[0]!
        : (ex: Exchange, labels: Readonly<Record<string, string>>) => {
            for (const t of tests) if (!t(ex, labels)) return false;
            return true;
          };
  return { test, uriPrefix: m.uri?.prefix };
}

/** What compiling routes needs from the runtime being built. */
export interface RouteDeps {
  readonly clusters: ReadonlyMap<string, ClusterRuntime>;
  budgetFor(cluster: string, budget: NonNullable<NonNullable<RouteSpec['retries']>['budget']>): RetryBudget;
}

function compileRoute(r: RouteSpec, vhost: string, index: number, deps: RouteDeps): CompiledRoute {
  const clusters = deps.clusters;
  const destinations = (r.route ?? []).map((d) => ({
    cluster: clusters.get(d.cluster)!,
    subset: d.subset,
    port: d.port,
    weight: d.weight ?? (r.route!.length === 1 ? 100 : 0),
    requestHeaders: compileHeaderOps(d.headers?.request),
    responseHeaders: compileHeaderOps(d.headers?.response),
  }));
  return {
    name: r.name ?? `${vhost}/${index}`,
    virtualHost: vhost,
    matches: (r.match ?? []).map(compileMatch),
    destinations,
    totalWeight: destinations.reduce((s, d) => s + d.weight, 0),
    redirect: r.redirect,
    directResponse: r.directResponse,
    rewrite: r.rewrite,
    timeoutMs: durationMs(r.timeout, 0),
    retry: r.retries ? compileRetry(r.retries) : undefined,
    budget: r.retries?.budget && r.route?.[0] ? deps.budgetFor(r.route[0].cluster, r.retries.budget) : undefined,
    fault: r.fault ? compileFault(r.fault) : undefined,
    mirrors: [...(r.mirror ? [r.mirror] : []), ...(r.mirrors ?? [])].map((m) => ({
      cluster: clusters.get(m.cluster)!,
      subset: m.subset,
      fraction: (m.percentage?.value ?? 100) / 100,
    })),
    // Envoy's substitution writes groups as \1; re2js replaceAll takes $1 (a literal $ is $$).
    uriRegex: r.rewrite?.uriRegex
      ? {
          re: re2().compile(r.rewrite.uriRegex.match),
          replacement: r.rewrite.uriRegex.rewrite.replace(/\$/g, '$$$$').replace(/\\(\d)/g, '$$$1'),
        }
      : undefined,
    requestHeaders: compileHeaderOps(r.headers?.request),
    responseHeaders: compileHeaderOps(r.headers?.response),
    cors: r.cors ? compileCors(r.cors) : undefined,
  };
}

/** A compiled route table. */
export class RouteTable {
  private readonly exact = new Map<string, VirtualHostRuntime>();
  private readonly suffixes: [string, VirtualHostRuntime][] = [];
  private readonly prefixes: [string, VirtualHostRuntime][] = [];
  private wildcard: VirtualHostRuntime | undefined;

  constructor(
    readonly cfg: RouteConfigConfig,
    deps: RouteDeps,
  ) {
    for (const vh of cfg.virtualHosts) {
      const rt: VirtualHostRuntime = {
        name: vh.name,
        routes: vh.routes.map((r, i) => compileRoute(r, vh.name, i, deps)),
      };
      for (const d of vh.domains) {
        const domain = d.toLowerCase();
        if (domain === '*') this.wildcard ??= rt;
        else if (domain.startsWith('*')) this.suffixes.push([domain.slice(1), rt]);
        else if (domain.endsWith('*')) this.prefixes.push([domain.slice(0, -1), rt]);
        else if (!this.exact.has(domain)) this.exact.set(domain, rt);
      }
    }
    this.suffixes.sort((a, b) => b[0].length - a[0].length);
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
  }

  private virtualHost(authority: string): VirtualHostRuntime | undefined {
    const a = authority.toLowerCase();
    const found = this.lookup(a);
    if (found) return found;
    const colon = a.lastIndexOf(':');
    if (colon > 0 && a.indexOf(']') < colon) return this.lookup(a.slice(0, colon)) ?? this.wildcard;
    return this.wildcard;
  }

  private lookup(a: string): VirtualHostRuntime | undefined {
    const e = this.exact.get(a);
    if (e) return e;
    for (const [s, vh] of this.suffixes) if (a.endsWith(s)) return vh;
    for (const [p, vh] of this.prefixes) if (a.startsWith(p)) return vh;
    return undefined;
  }

  /** The first matching route and the match block that accepted it; undefined: no route (NR). */
  match(
    ex: Exchange,
    nodeLabels: Readonly<Record<string, string>>,
  ): { route: CompiledRoute; matched: CompiledMatch | undefined } | undefined {
    const vh = this.virtualHost(ex.authority);
    if (!vh) return undefined;
    for (const route of vh.routes) {
      if (route.matches.length === 0) return { route, matched: undefined };
      for (const m of route.matches) if (m.test(ex, nodeLabels)) return { route, matched: m };
    }
    return undefined;
  }

  /** Whether any virtual host serves this authority (for http-proxy mode CONNECT). */
  servesAuthority(authority: string): VirtualHostRuntime | undefined {
    return this.virtualHost(authority);
  }
}

/** Picks a destination by weight. */
export function pickDestination(route: CompiledRoute): CompiledDestination {
  const ds = route.destinations;
  if (ds.length === 1) return ds[0]!;
  let point = Math.random() * route.totalWeight;
  for (const d of ds) {
    point -= d.weight;
    if (point < 0) return d;
  }
  return ds[ds.length - 1]!;
}
