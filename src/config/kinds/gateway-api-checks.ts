/**
 * The checks of the Gateway API route kinds beyond their schema: the upstream CRDs' CEL rules
 * (filter fields matching their type, path modifiers, redirect vs backendRefs, timeouts), RE2
 * expressions, header names and values, hostnames; and parentRefs/backendRefs that are not Services
 * (MESH0002: meshctl routes mesh traffic only).
 */
import type { ReportIssue } from '../kind.js';
import { regexProblem } from '../regex.js';
import { parseDuration } from '../duration.js';
import { BAD_HEADER_VALUE, HEADER_NAME } from './virtual-service.js';
import type { GRPCRouteSpec, HTTPRouteSpec } from './gateway-api.js';

/** Whether a parentRef names a Service (GAMMA mesh routing) rather than a Gateway. */
export function isServiceParent(p: { group?: string | undefined; kind?: string | undefined }): boolean {
  return (p.group === '' || p.group === 'core') && p.kind === 'Service';
}

/** Whether a backendRef (or mirror target) names a Service. */
export function isServiceBackend(b: { group?: string | undefined; kind?: string | undefined }): boolean {
  return (b.group === undefined || b.group === '' || b.group === 'core') && (b.kind ?? 'Service') === 'Service';
}

/** A hostname as the upstream CRD's pattern has it (RFC 1123, lowercase). */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

type NameValue = { name: string; value: string };
type Modifier = { set?: NameValue[]; add?: NameValue[]; remove?: string[] };

/** Header names and values a modifier writes: a bad one would make the proxy send unparseable requests. */
function checkModifier(m: Modifier | undefined, at: (string | number)[], report: ReportIssue): void {
  for (const op of ['set', 'add'] as const)
    m?.[op]?.forEach((h, i) => {
      if (!HEADER_NAME.test(h.name))
        report([...at, op, i, 'name'], `"${h.name}" is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~)`);
      if (BAD_HEADER_VALUE.test(h.value))
        report([...at, op, i, 'value'], 'the value contains a control character (CR, LF, NUL...); remove it');
    });
  m?.remove?.forEach((name, i) => {
    if (!HEADER_NAME.test(name)) report([...at, 'remove', i], `"${name}" is not a valid header name`);
  });
}

type AnyFilter = {
  type: string;
  requestHeaderModifier?: Modifier;
  responseHeaderModifier?: Modifier;
  requestRedirect?: { path?: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } };
  urlRewrite?: { path?: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } };
  requestMirror?: { percent?: number; fraction?: { numerator: number; denominator?: number } };
} & Record<string, unknown>;

const FIELD_OF: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
};

/** The upstream CRD's CEL rules on a list of filters. */
function checkFilters(filters: readonly AnyFilter[] | undefined, at: (string | number)[], report: ReportIssue): void {
  if (!filters) return;
  filters.forEach((f, i) => {
    const where = [...at, i];
    const own = FIELD_OF[f.type]!;
    if (f[own] === undefined) report([...where, own], `a ${f.type} filter needs its "${own}" field; add it`);
    for (const field of Object.values(FIELD_OF))
      if (field !== own && f[field] !== undefined)
        report([...where, field], `"${field}" belongs to a filter of another type than ${f.type}; remove it`);
    checkModifier(f.requestHeaderModifier, [...where, 'requestHeaderModifier'], report);
    checkModifier(f.responseHeaderModifier, [...where, 'responseHeaderModifier'], report);
    for (const kind of ['requestRedirect', 'urlRewrite'] as const) {
      const host = (f[kind] as { hostname?: string } | undefined)?.hostname;
      if (host !== undefined && !HOSTNAME.test(host))
        report([...where, kind, 'hostname'], `"${host}" is not a hostname (lowercase letters, digits, '-' and '.')`);
      const p = f[kind]?.path;
      if (!p) continue;
      const want = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      if (p[want] === undefined) report([...where, kind, 'path'], `path type ${p.type} needs "${want}"; add it`);
      const value = p[want];
      if (value !== undefined && !value.startsWith('/'))
        report([...where, kind, 'path', want], `"${value}" must start with "/"`);
      else if (value !== undefined && /[\s\u0000-\u001f\u007f]/.test(value))
        report([...where, kind, 'path', want], 'a path has no spaces or control characters; percent-encode them');
    }
    const m = f.requestMirror;
    if (m?.percent !== undefined && m.fraction)
      report([...where, 'requestMirror'], 'percent and fraction are exclusive; keep one');
    if (m?.fraction && m.fraction.numerator > (m.fraction.denominator ?? 100))
      report([...where, 'requestMirror', 'fraction'], 'numerator must not exceed denominator');
  });
  const types = filters.map((f) => f.type);
  if (types.includes('RequestRedirect') && types.includes('URLRewrite'))
    report(at, 'a RequestRedirect and a URLRewrite filter cannot be in one rule; keep one');
  for (const once of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'CORS'])
    if (types.filter((t) => t === once).length > 1) report(at, `the ${once} filter may appear once per rule`);
}

function checkRegex(value: string, path: (string | number)[], report: ReportIssue): void {
  const why = regexProblem(value);
  if (why) report(path, `invalid RE2 regular expression "${value}": ${why}`, 'regex');
}

type Spec = HTTPRouteSpec | GRPCRouteSpec;

/** What both route kinds check: parents, backends, filters. */
function checkCommon(spec: Spec, report: ReportIssue): void {
  spec.parentRefs?.forEach((p, i) => {
    if (!isServiceParent(p))
      report(
        ['spec', 'parentRefs', i],
        `parentRef ${p.kind ?? 'Gateway'} "${p.name}" is not a Service: meshctl routes only mesh traffic (GAMMA parentRefs with group: "" and kind: Service); for ingress use an Istio Gateway and a VirtualService`,
        'unsupported',
      );
  });
  spec.rules?.forEach((r, ri) => {
    const at = ['spec', 'rules', ri];
    checkFilters(r.filters as AnyFilter[] | undefined, [...at, 'filters'], report);
    r.backendRefs?.forEach((b, bi) => {
      checkFilters(b.filters as AnyFilter[] | undefined, [...at, 'backendRefs', bi, 'filters'], report);
      if (!isServiceBackend(b))
        report(
          [...at, 'backendRefs', bi],
          `backendRef ${b.kind} "${b.name}" is not a Service: requests to it are answered 500, as the Gateway API requires`,
          'unsupported',
        );
      else if (b.port === undefined)
        report([...at, 'backendRefs', bi, 'port'], 'a Service backendRef needs a port; add the Service port');
    });
  });
}

/** HTTPRoute: the upstream CRD's CEL rules, RE2 and header checks. */
export function checkHttp(spec: HTTPRouteSpec, report: ReportIssue): void {
  checkCommon(spec, report);
  spec.rules?.forEach((r, ri) => {
    r.matches?.forEach((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi];
      const p = m.path;
      if (p?.value !== undefined) {
        if (p.type === 'RegularExpression') checkRegex(p.value, [...at, 'path', 'value'], report);
        else if (!p.value.startsWith('/')) report([...at, 'path', 'value'], `path "${p.value}" must start with "/"`);
        else if (/\/\/|\/\.\.?(\/|$)|%2f|%2F|#/.test(p.value))
          report([...at, 'path', 'value'], `path "${p.value}" must not contain "//", "/./", "/../", "%2f" or "#"`);
      }
      m.headers?.forEach((h, hi) => {
        if (!HEADER_NAME.test(h.name)) report([...at, 'headers', hi, 'name'], `"${h.name}" is not a valid header name`);
        if (h.type === 'RegularExpression') checkRegex(h.value, [...at, 'headers', hi, 'value'], report);
      });
      m.queryParams?.forEach((q, qi) => {
        if (q.type === 'RegularExpression') checkRegex(q.value, [...at, 'queryParams', qi, 'value'], report);
      });
    });
    const t = r.timeouts;
    const req = t?.request !== undefined ? parseDuration(t.request) : undefined;
    const be = t?.backendRequest !== undefined ? parseDuration(t.backendRequest) : undefined;
    if (req !== undefined && be !== undefined && req !== 0 && be > req)
      report(['spec', 'rules', ri, 'timeouts', 'backendRequest'], 'backendRequest must not exceed request');
    const filters = r.filters ?? [];
    if (filters.some((f) => f.type === 'RequestRedirect') && (r.backendRefs?.length ?? 0) > 0)
      report(['spec', 'rules', ri], 'a rule with a RequestRedirect filter cannot have backendRefs; remove them');
    const prefixMatches = (r.matches ?? [{}]).every((m) => (m.path?.type ?? 'PathPrefix') === 'PathPrefix');
    for (const kind of ['requestRedirect', 'urlRewrite'] as const)
      filters.forEach((f, fi) => {
        if (f[kind]?.path?.type === 'ReplacePrefixMatch' && !prefixMatches)
          report(
            ['spec', 'rules', ri, 'filters', fi, kind, 'path'],
            'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
          );
      });
  });
}

/** GRPCRoute: the upstream CRD's CEL rules, gRPC names, RE2 and header checks. */
export function checkGrpc(spec: GRPCRouteSpec, report: ReportIssue): void {
  checkCommon(spec, report);
  spec.rules?.forEach((r, ri) =>
    r.matches?.forEach((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi, 'method'];
      const x = m.method;
      if (!x) return;
      if (x.service === undefined && x.method === undefined)
        report(at, 'a method match needs service or method (or both); add one');
      if (x.type === 'RegularExpression') {
        if (x.service !== undefined) checkRegex(x.service, [...at, 'service'], report);
        if (x.method !== undefined) checkRegex(x.method, [...at, 'method'], report);
      } else {
        if (x.service !== undefined && !/^(?:[^.\s/]+\.)*[^.\s/]+$/.test(x.service))
          report([...at, 'service'], `"${x.service}" is not a gRPC service name (e.g. helloworld.Greeter)`);
        if (x.method !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(x.method))
          report([...at, 'method'], `"${x.method}" is not a gRPC method name (e.g. SayHello)`);
      }
      m.headers?.forEach((h, hi) => {
        if (h.type === 'RegularExpression')
          checkRegex(h.value, ['spec', 'rules', ri, 'matches', mi, 'headers', hi, 'value'], report);
      });
    }),
  );
}
