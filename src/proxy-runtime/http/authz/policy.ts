/**
 * Authorization policies as the destination sidecar runs them, with Istio's semantics (the RBAC
 * filters Istio generates for Envoy): DENY first, then ALLOW (a workload with ALLOW policies
 * denies what none of them matches), AUDIT only logs. CUSTOM policies arrive as DENY: the control
 * plane fails them closed, since no external authorizer is run. Policies are compiled
 * once per config into predicates; a request allocates nothing beyond its facts object.
 *
 * TCP connections see each rule as Istio's TCP filter does: an ALLOW rule that needs an HTTP-only
 * field never matches, a DENY/AUDIT rule is evaluated without its HTTP-only fields (so it denies
 * more, never less).
 */
import { BlockList, isIP } from 'node:net';
import type { AuthzPolicyConfig, AuthzRuleConfig } from '../../../protocol/proxy-config/index.js';

/** What a rule can look at: the connection, and (HTTP only) the request and its verified JWT. */
export interface AuthzFacts {
  /** peer SPIFFE ID without `spiffe://` (mTLS), else undefined */
  readonly principal: string | undefined;
  readonly sourceIp: string;
  readonly remoteIp: string;
  readonly destinationIp: string;
  readonly destinationPort: number;
  readonly sni: string | undefined;
  /** undefined on TCP connections */
  readonly http: HttpFacts | undefined;
}

/** The HTTP part of the facts. */
export interface HttpFacts {
  readonly method: string;
  readonly authority: string;
  /** normalized path without the query */
  readonly path: string;
  header(name: string): string | undefined;
  /** `iss/sub` of the verified JWT, or undefined (no token) */
  readonly requestPrincipal: string | undefined;
  readonly claims: Readonly<Record<string, unknown>> | undefined;
}

type Pred = (f: AuthzFacts) => boolean;

/** The outcome: allowed or not, and the Envoy-style detail naming the policy and rule that decided. */
export interface AuthzDecision {
  readonly allowed: boolean;
  /** `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[N]]` (or `[none]`) when denied */
  readonly details: string | undefined;
  /** the AUDIT policy rule that matched, if any */
  readonly audit: string | undefined;
}

interface CompiledRule {
  readonly id: string;
  readonly http: Pred;
  /** null: never matches a TCP connection */
  readonly tcp: Pred | null;
  /** the HTTP form split: the part that reads only the connection (the same for all its requests)... */
  readonly connection: Pred;
  /** ...and the part that reads the request (null: none, the connection part decides) */
  readonly request: Pred | null;
}

/** The rules of each action whose connection part matched one connection: its requests check only these. */
interface ConnectionRules {
  readonly audit: readonly CompiledRule[];
  readonly deny: readonly CompiledRule[];
  readonly allow: readonly CompiledRule[];
}

interface CompiledPolicy {
  readonly action: 'ALLOW' | 'DENY' | 'AUDIT';
  readonly rules: readonly CompiledRule[];
}

const ALLOWED: AuthzDecision = { allowed: true, details: undefined, audit: undefined };
const DENIED_NONE: AuthzDecision = {
  allowed: false,
  details: 'rbac_access_denied_matched_policy[none]',
  audit: undefined,
};

/** A compiled set of policies for one listener. */
export class AuthzPolicies {
  private readonly deny: CompiledRule[] = [];
  private readonly allow: CompiledRule[] = [];
  private readonly audit: CompiledRule[] = [];
  /** some ALLOW policy exists (even one without rules): no match means deny */
  private readonly hasAllow: boolean;
  /** per connection (of this config: a new config compiles anew and starts empty) */
  private readonly byConnection = new WeakMap<object, ConnectionRules>();

  /** Compiles; throws an Error naming the field path (`policies[i].rules[j]...`) of anything invalid. */
  constructor(policies: readonly AuthzPolicyConfig[], path = 'policies') {
    const compiled: CompiledPolicy[] = policies.map((p, i) => ({
      action: p.action,
      rules: p.rules.map((r, j) => {
        const rulePath = `${path}[${i}].rules[${j}]`;
        return compileRule(r, `${p.name}-rule[${j}]`, p.action, rulePath);
      }),
    }));
    for (const p of compiled)
      (p.action === 'DENY' ? this.deny : p.action === 'ALLOW' ? this.allow : this.audit).push(...p.rules);
    this.hasAllow = compiled.some((p) => p.action === 'ALLOW');
  }

  /** Decides for an HTTP request (facts.http set) or a TCP connection (facts.http undefined). */
  decide(f: AuthzFacts): AuthzDecision {
    const tcp = f.http === undefined;
    let audit: string | undefined;
    for (const r of this.audit) {
      const p = tcp ? r.tcp : r.http;
      if (p !== null && p(f)) {
        audit = r.id;
        break;
      }
    }
    for (const r of this.deny) {
      const p = tcp ? r.tcp : r.http;
      if (p !== null && p(f)) return { allowed: false, details: `rbac_access_denied_matched_policy[${r.id}]`, audit };
    }
    if (!this.hasAllow) return audit === undefined ? ALLOWED : { allowed: true, details: undefined, audit };
    for (const r of this.allow) {
      const p = tcp ? r.tcp : r.http;
      if (p !== null && p(f)) return audit === undefined ? ALLOWED : { allowed: true, details: undefined, audit };
    }
    return audit === undefined ? DENIED_NONE : { ...DENIED_NONE, audit };
  }

  /**
   * Decides for an HTTP request on `conn` (any object fixed for the connection whose facts `f` reads): what rules
   * read of the connection (principal, addresses, ports, SNI) is evaluated once per connection, so a request checks
   * only the rules its connection could match, and of those only their request part. The same answer as `decide`.
   */
  decideRequest(conn: object, f: AuthzFacts): AuthzDecision {
    let rules = this.byConnection.get(conn);
    if (rules === undefined) {
      const keep = (list: readonly CompiledRule[]) => list.filter((r) => r.connection(f));
      rules = { audit: keep(this.audit), deny: keep(this.deny), allow: keep(this.allow) };
      this.byConnection.set(conn, rules);
    }
    let audit: string | undefined;
    for (const r of rules.audit) {
      if (r.request === null || r.request(f)) {
        audit = r.id;
        break;
      }
    }
    for (const r of rules.deny) {
      if (r.request === null || r.request(f))
        return { allowed: false, details: `rbac_access_denied_matched_policy[${r.id}]`, audit };
    }
    if (!this.hasAllow) return audit === undefined ? ALLOWED : { allowed: true, details: undefined, audit };
    for (const r of rules.allow) {
      if (r.request === null || r.request(f))
        return audit === undefined ? ALLOWED : { allowed: true, details: undefined, audit };
    }
    return audit === undefined ? DENIED_NONE : { ...DENIED_NONE, audit };
  }
}

const ANY: Pred = () => true;

function and(preds: Pred[]): Pred {
  if (preds.length === 0) return ANY;
  if (preds.length === 1) return preds[0]!;
  return (f) => {
    for (const p of preds) if (!p(f)) return false;
    return true;
  };
}

function or(preds: Pred[]): Pred {
  if (preds.length === 1) return preds[0]!;
  return (f) => {
    for (const p of preds) if (p(f)) return true;
    return false;
  };
}

/**
 * One rule, for HTTP and for TCP. `from` entries are ORed, `to` entries ORed, `when` ANDed; the
 * three parts ANDed. An HTTP-only field in an ALLOW rule makes its TCP form match nothing; in a
 * DENY or AUDIT rule it is left out of the TCP form.
 */
function compileRule(r: AuthzRuleConfig, id: string, action: 'ALLOW' | 'DENY' | 'AUDIT', path: string): CompiledRule {
  let httpOnly = false;
  /** the rule's conjuncts, each marked when it reads the request (not only the connection) */
  const parts = (tcp: boolean): Part[] => {
    const out: Part[] = [];
    const anyOf = (
      entries: readonly Record<string, readonly string[] | undefined>[],
      fields: Record<string, FieldCompiler>,
      at: (i: number) => string,
    ) => {
      const each = entries.map((e, i) => fieldPreds(e, fields, tcp, at(i), () => (httpOnly = true)));
      out.push({ pred: or(each.map((ps) => and(ps.map((p) => p.pred)))), request: each.some(reads) });
    };
    if (r.from?.length)
      anyOf(
        r.from.map((f) => f.source ?? {}),
        SOURCE_FIELDS,
        (i) => `${path}.from[${i}].source`,
      );
    if (r.to?.length)
      anyOf(
        r.to.map((t) => t.operation ?? {}),
        OPERATION_FIELDS,
        (i) => `${path}.to[${i}].operation`,
      );
    r.when?.forEach((c, i) => {
      const p = conditionPred(c.key, c.values, c.notValues, `${path}.when[${i}]`);
      if (p.httpOnly) {
        httpOnly = true;
        if (tcp) return;
      }
      out.push({ pred: p.pred, request: p.request });
    });
    return out;
  };
  const httpParts = parts(false);
  const http = and(httpParts.map((p) => p.pred));
  const connection = and(httpParts.filter((p) => !p.request).map((p) => p.pred));
  const requestParts = httpParts.filter((p) => p.request);
  const request = requestParts.length ? and(requestParts.map((p) => p.pred)) : null;
  httpOnly = false;
  const tcpParts = parts(true);
  const tcp = httpOnly && action === 'ALLOW' ? null : and(tcpParts.map((p) => p.pred));
  return { id, http, tcp, connection, request };
}

/** A predicate and whether it reads the request (else only the connection's facts). */
interface Part {
  pred: Pred;
  request: boolean;
}

function reads(parts: readonly Part[]): boolean {
  return parts.some((p) => p.request);
}

/** httpOnly: not on TCP connections; request: reads the request (remote.ip reads X-Forwarded-For), not the connection alone */
type FieldCompiler = {
  httpOnly: boolean;
  request: boolean;
  compile: (values: readonly string[], path: string) => Pred;
};

const SOURCE_FIELDS: Record<string, FieldCompiler> = {
  principals: { httpOnly: false, request: false, compile: (v) => onString(globs(v), (f) => f.principal) },
  requestPrincipals: {
    httpOnly: true,
    request: true,
    compile: (v) => onString(globs(v), (f) => f.http?.requestPrincipal),
  },
  namespaces: { httpOnly: false, request: false, compile: (v) => onString(globs(v), (f) => namespaceOf(f.principal)) },
  serviceAccounts: {
    httpOnly: false,
    request: false,
    compile: (v) => onString(globs(v), (f) => serviceAccountOf(f.principal)),
  },
  trustDomains: {
    httpOnly: false,
    request: false,
    compile: (v) => onString(globs(v), (f) => trustDomainOf(f.principal)),
  },
  ipBlocks: { httpOnly: false, request: false, compile: (v, p) => onIp(blocks(v, p), (f) => f.sourceIp) },
  remoteIpBlocks: { httpOnly: false, request: true, compile: (v, p) => onIp(blocks(v, p), (f) => f.remoteIp) },
};

const OPERATION_FIELDS: Record<string, FieldCompiler> = {
  hosts: { httpOnly: true, request: true, compile: (v) => hostPred(v) },
  ports: { httpOnly: false, request: false, compile: (v, p) => portPred(v, p) },
  methods: { httpOnly: true, request: true, compile: (v) => onString(globs(v), (f) => f.http?.method) },
  paths: { httpOnly: true, request: true, compile: (v) => onString(v.map(pathGlob), (f) => f.http?.path) },
};

/** Predicates of one source or operation: `x` and `notX` for each field present. */
function fieldPreds(
  obj: Record<string, readonly string[] | undefined>,
  fields: Record<string, FieldCompiler>,
  tcp: boolean,
  path: string,
  sawHttpOnly: () => void,
): Part[] {
  const out: Part[] = [];
  for (const [key, values] of Object.entries(obj)) {
    if (values === undefined) continue;
    const negated = key.startsWith('not') && key.length > 3;
    const base = negated ? key[3]!.toLowerCase() + key.slice(4) : key;
    const fc = fields[base];
    if (!fc) throw new Error(`${path}.${key}: unknown field`);
    if (fc.httpOnly) {
      sawHttpOnly();
      if (tcp) continue;
    }
    if (values.length === 0) continue;
    const p = fc.compile(values, `${path}.${key}`);
    out.push({ pred: negated ? (f) => !p(f) : p, request: fc.request });
  }
  return out;
}

type StrPred = (v: string) => boolean;

/**
 * Istio's string match: `*` any non-empty value, `abc*` prefix, `*abc` suffix, else exact.
 */
function glob(pattern: string, ignoreCase = false): StrPred {
  const p = ignoreCase ? pattern.toLowerCase() : pattern;
  const norm = ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  if (p === '*') return (v) => v.length > 0;
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (v) => norm(v).startsWith(prefix);
  }
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (v) => norm(v).endsWith(suffix);
  }
  return (v) => norm(v) === p;
}

function globs(values: readonly string[]): StrPred[] {
  return values.map((v) => glob(v));
}

/**
 * A path pattern: Istio's globs, plus the path templates `{*}` (one segment) and `{**}` (any
 * number of segments, at the end) where a pattern uses them.
 */
function pathGlob(pattern: string): StrPred {
  if (!pattern.includes('{*}') && !pattern.includes('{**}')) return glob(pattern);
  const re = new RegExp(
    '^' +
      pattern
        .split(/(\{\*\*\}|\{\*\})/)
        .map((part) =>
          part === '{**}' ? '.*' : part === '{*}' ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('') +
      '$',
  );
  return (v) => re.test(v);
}

function onString(matchers: readonly StrPred[], get: (f: AuthzFacts) => string | undefined): Pred {
  return (f) => {
    const v = get(f);
    if (v === undefined) return false;
    for (const m of matchers) if (m(v)) return true;
    return false;
  };
}

/** The namespace of a principal `TD/ns/NS/sa/SA`. */
function namespaceOf(principal: string | undefined): string | undefined {
  if (principal === undefined) return undefined;
  const i = principal.indexOf('/ns/');
  if (i < 0) return undefined;
  const rest = principal.slice(i + 4);
  const j = rest.indexOf('/');
  return j < 0 ? rest : rest.slice(0, j);
}

/** The trust domain of a principal `TD/ns/NS/sa/SA`. */
function trustDomainOf(principal: string | undefined): string | undefined {
  if (principal === undefined) return undefined;
  const i = principal.indexOf('/');
  return i < 0 ? principal : principal.slice(0, i);
}

/** `NS/SA` of a principal `TD/ns/NS/sa/SA`. */
function serviceAccountOf(principal: string | undefined): string | undefined {
  const m = principal === undefined ? null : /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(principal);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** Strips the IPv4-mapped IPv6 prefix node reports for IPv4 peers on dual-stack sockets. */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

function blocks(values: readonly string[], path: string): BlockList {
  const list = new BlockList();
  values.forEach((v, i) => {
    const [addr, bits] = v.split('/');
    const family = isIP(addr ?? '');
    if (family === 0) throw new Error(`${path}[${i}]: "${v}" is not an IP address or CIDR`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) return list.addAddress(addr!, type);
    const prefix = Number(bits);
    if (!/^[0-9]+$/.test(bits) || prefix > (family === 6 ? 128 : 32))
      throw new Error(`${path}[${i}]: "${v}" has an invalid prefix length`);
    list.addSubnet(addr!, prefix, type);
  });
  return list;
}

function onIp(list: BlockList, get: (f: AuthzFacts) => string): Pred {
  return (f) => {
    const ip = plainIp(get(f));
    const family = isIP(ip);
    return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  };
}

function portPred(values: readonly string[], path: string): Pred {
  const ports = new Set<number>();
  values.forEach((v, i) => {
    if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw new Error(`${path}[${i}]: "${v}" is not a port number`);
    ports.add(Number(v));
  });
  return (f) => ports.has(f.destinationPort);
}

/** Hosts match the authority case-insensitively, with or without its port (as Istio generates them). */
function hostPred(values: readonly string[]): Pred {
  const matchers = values.map((v) => glob(v, true));
  return (f) => {
    const a = f.http?.authority;
    if (a === undefined) return false;
    const bare = a.replace(/:[0-9]+$/, '');
    for (const m of matchers) if (m(a) || m(bare)) return true;
    return false;
  };
}

/** Reads a claim, `a` or nested `a][b` (from `request.auth.claims[a][b]`). */
function claimAt(claims: Readonly<Record<string, unknown>> | undefined, names: readonly string[]): unknown {
  let v: unknown = claims;
  for (const n of names) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[n];
  }
  return v;
}

/** The string values of a claim: a string, the strings of a list, or a scalar as text. */
function claimStrings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  return [];
}

/** Compiles one `when` condition; `httpOnly` for the request.* keys. */
function conditionPred(
  key: string,
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  path: string,
): { pred: Pred; httpOnly: boolean; request: boolean } {
  const { get, httpOnly, ip } = conditionValue(key, path);
  const build = (vals: readonly string[]): Pred => {
    if (ip) return onIp(blocks(vals, path), (f) => get(f)[0] ?? '');
    const ms = vals.map((v) => glob(v));
    return (f) => {
      for (const v of get(f)) for (const m of ms) if (m(v)) return true;
      return false;
    };
  };
  const preds: Pred[] = [];
  if (values?.length) preds.push(build(values));
  if (notValues?.length) {
    const p = build(notValues);
    preds.push((f) => !p(f));
  }
  // remote.ip reads X-Forwarded-For: a request fact, like every request.* key
  return { pred: and(preds), httpOnly, request: httpOnly || key === 'remote.ip' };
}

function conditionValue(
  key: string,
  path: string,
): { get: (f: AuthzFacts) => string[]; httpOnly: boolean; ip: boolean } {
  const one = (fn: (f: AuthzFacts) => string | undefined) => (f: AuthzFacts) => {
    const v = fn(f);
    return v === undefined ? [] : [v];
  };
  const header = /^request\.headers\[(.+)\]$/.exec(key);
  if (header) {
    const name = header[1]!.toLowerCase();
    return { get: one((f) => f.http?.header(name)), httpOnly: true, ip: false };
  }
  const claim = /^request\.auth\.claims\[(.+)\]$/.exec(key);
  if (claim) {
    const names = claim[1]!.split('][');
    return { get: (f) => claimStrings(claimAt(f.http?.claims, names)), httpOnly: true, ip: false };
  }
  switch (key) {
    case 'source.ip':
      return { get: one((f) => f.sourceIp), httpOnly: false, ip: true };
    case 'remote.ip':
      return { get: one((f) => f.remoteIp), httpOnly: false, ip: true };
    case 'destination.ip':
      return { get: one((f) => f.destinationIp), httpOnly: false, ip: true };
    case 'destination.port':
      return { get: one((f) => String(f.destinationPort)), httpOnly: false, ip: false };
    case 'source.namespace':
      return { get: one((f) => namespaceOf(f.principal)), httpOnly: false, ip: false };
    case 'source.principal':
      return { get: one((f) => f.principal), httpOnly: false, ip: false };
    case 'source.serviceAccount':
      return { get: one((f) => serviceAccountOf(f.principal)), httpOnly: false, ip: false };
    case 'connection.sni':
      return { get: one((f) => f.sni), httpOnly: false, ip: false };
    case 'request.auth.principal':
      return { get: one((f) => f.http?.requestPrincipal), httpOnly: true, ip: false };
    case 'request.auth.audiences':
      return { get: (f) => claimStrings(f.http?.claims?.aud), httpOnly: true, ip: false };
    case 'request.auth.presenter':
      return { get: (f) => claimStrings(f.http?.claims?.azp), httpOnly: true, ip: false };
    default:
      throw new Error(`${path}.key: "${key}" is not a condition key the proxy evaluates`);
  }
}
