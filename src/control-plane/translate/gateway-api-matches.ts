/**
 * The matches of Gateway API mesh routes as the proxy's route matches, and the precedence the
 * Gateway API specifies between them (as Istio sorts them, sortHTTPRoutes in
 * pilot/pkg/config/kube/gateway/conversion.go). See gateway-api.ts for the whole conversion.
 */
import type { GatewayHTTPRoute, GRPCRoute, GRPCRouteSpec, HTTPRouteSpec } from '../../config/index.js';
import type { RouteMatchConfig } from '../../protocol/proxy-config/index.js';
import { compact } from './destination-rules.js';

type HttpRule = NonNullable<HTTPRouteSpec['rules']>[number];
type GrpcRule = NonNullable<GRPCRouteSpec['rules']>[number];
type MeshRoute = GatewayHTTPRoute | GRPCRoute;

/** A match before expansion, with what the ordering compares. */
export interface Candidate {
  readonly match: RouteMatchConfig | undefined;
  /** PathPrefix value, when the match is one (expanded into exact + `prefix/`). */
  readonly segmentPrefix?: string;
  readonly rank: number;
  readonly length: number;
  readonly method: boolean;
  readonly headers: number;
  readonly queries: number;
  readonly route: MeshRoute;
  readonly rule: HttpRule | GrpcRule;
  readonly ruleIndex: number;
}

const URI_RANK = { exact: 3, prefix: 2, regex: 1 } as const;

/** Header or query matches as the proxy's conditions (header names lowercased). */
function nameValue(list: readonly { name: string; value: string; type?: string }[] | undefined, lower: boolean) {
  if (!list || list.length === 0) return undefined;
  return Object.fromEntries(
    list.map((h) => [
      lower ? h.name.toLowerCase() : h.name,
      h.type === 'RegularExpression' ? { regex: h.value } : { exact: h.value },
    ]),
  );
}

/** The matches of an HTTPRoute, one candidate per (rule, match). */
export function httpCandidates(route: GatewayHTTPRoute): Candidate[] {
  const out: Candidate[] = [];
  (route.spec.rules ?? [{}]).forEach((rule, ruleIndex) => {
    const matches = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
    for (const m of matches) {
      const type = m.path?.type ?? 'PathPrefix';
      const value = m.path?.value ?? '/';
      const trimmed = type === 'PathPrefix' && value.length > 1 ? value.replace(/\/+$/, '') : value;
      const uri =
        type === 'Exact'
          ? { exact: value }
          : type === 'RegularExpression'
            ? { regex: value }
            : trimmed === '/'
              ? { prefix: '/' }
              : { exact: trimmed };
      const match = compact<RouteMatchConfig>({
        uri,
        method: m.method ? { exact: m.method } : undefined,
        headers: nameValue(m.headers, true),
        queryParams: nameValue(m.queryParams, false),
      });
      out.push({
        match,
        ...(type === 'PathPrefix' && trimmed !== '/' ? { segmentPrefix: trimmed } : {}),
        rank: URI_RANK[type === 'Exact' ? 'exact' : type === 'RegularExpression' ? 'regex' : 'prefix'],
        length: type === 'PathPrefix' ? trimmed.length : value.length,
        method: m.method !== undefined,
        headers: m.headers?.length ?? 0,
        queries: m.queryParams?.length ?? 0,
        route,
        rule,
        ruleIndex,
      });
    }
  });
  return out;
}

/** A GRPCRoute method match as a path match, as Istio converts it (Exact service+method: exact path). */
function grpcPath(m: NonNullable<NonNullable<GrpcRule['matches']>[number]['method']>): {
  uri: RouteMatchConfig['uri'];
  rank: number;
} {
  if (m.type === 'RegularExpression')
    return { uri: { regex: `/${m.service ?? '[^/]+'}/${m.method ?? '[^/]+'}` }, rank: URI_RANK.regex };
  if (m.service !== undefined && m.method !== undefined)
    return { uri: { exact: `/${m.service}/${m.method}` }, rank: URI_RANK.exact };
  if (m.service !== undefined) return { uri: { prefix: `/${m.service}/` }, rank: URI_RANK.prefix };
  // A method of any service: RE2 with the method name quoted.
  return { uri: { regex: `/[^/]+/${m.method ?? ''}` }, rank: URI_RANK.regex };
}

/** The matches of a GRPCRoute, one candidate per (rule, match). */
export function grpcCandidates(route: GRPCRoute): Candidate[] {
  const out: Candidate[] = [];
  (route.spec.rules ?? [{}]).forEach((rule, ruleIndex) => {
    const matches = rule.matches && rule.matches.length > 0 ? rule.matches : [{}];
    for (const m of matches) {
      const path = m.method ? grpcPath(m.method) : undefined;
      const match = compact<RouteMatchConfig>({ uri: path?.uri, headers: nameValue(m.headers, true) });
      const uri = path?.uri;
      const length = uri ? (('exact' in uri ? uri.exact : 'prefix' in uri ? uri.prefix : uri.regex) ?? '').length : 0;
      out.push({
        match,
        rank: path?.rank ?? 0,
        length,
        method: false,
        headers: m.headers?.length ?? 0,
        queries: 0,
        route,
        rule,
        ruleIndex,
      });
    }
  });
  return out;
}

/** The Gateway API precedence between matches (Istio's sortHTTPRoutes); a catch-all sorts last. */
export function precedence(a: Candidate, b: Candidate): number {
  const emptyA = a.match === undefined || Object.keys(a.match).length === 0;
  const emptyB = b.match === undefined || Object.keys(b.match).length === 0;
  if (emptyA !== emptyB) return emptyA ? 1 : -1;
  if (a.rank !== b.rank) return b.rank - a.rank;
  if (a.length !== b.length) return b.length - a.length;
  if (a.method !== b.method) return a.method ? -1 : 1;
  if (a.headers !== b.headers) return b.headers - a.headers;
  return b.queries - a.queries;
}
