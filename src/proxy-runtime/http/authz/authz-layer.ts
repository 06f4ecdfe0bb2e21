/**
 * The authorization layer, outermost on an inbound listener with `authz`: path normalization,
 * then JWT authentication (401 on an invalid token), then the policies (403 `RBAC: access
 * denied`), all before routing, so a denied request never reaches the app. A listener without
 * `authz` passes straight through (no promise, no allocation).
 */
import type { AuthzConfig } from '../../../protocol/proxy-config/index.js';
import type { HttpLayer } from '../layer.js';
import type { Exchange } from '../exchange.js';
import { localResponse, type ProxyResponse } from '../../ground/types.js';
import { grpcLocalResponse } from '../grpc-status.js';
import { AuthzPolicies, plainIp, type AuthzDecision, type AuthzFacts, type HttpFacts } from './policy.js';
import { JwtAuthenticator, type JwtKeyMiss, type JwtOutcome } from './jwt.js';
import { normalizePath } from './normalize.js';

/** A listener's compiled authz. */
export class ListenerAuthz {
  readonly policies: AuthzPolicies;
  readonly jwt: JwtAuthenticator | undefined;
  readonly numTrustedProxies: number;
  /** the app port an explicit listener stands for; undefined: the connection's own destination port */
  readonly destinationPort: number | undefined;
  /** the facts object its requests are decided with (one at a time: decisions are synchronous) */
  facts: RequestFacts | undefined;

  /** Throws naming `PATH.policies[i]...` / `PATH.jwtRules[i]...` when the config cannot be compiled. */
  constructor(
    readonly cfg: AuthzConfig,
    path: string,
    keyMiss?: JwtKeyMiss,
  ) {
    this.policies = new AuthzPolicies(cfg.policies ?? [], `${path}.policies`);
    this.jwt = cfg.jwtRules?.length ? new JwtAuthenticator(cfg.jwtRules, `${path}.jwtRules`, keyMiss) : undefined;
    this.numTrustedProxies = cfg.numTrustedProxies ?? 0;
    this.destinationPort = cfg.destinationPort;
  }

  /** The facts of a TCP connection (no HTTP part). */
  tcpFacts(conn: Exchange['conn']): AuthzFacts {
    const source = plainIp(conn.remoteAddress);
    return {
      principal: principalOf(conn.peerIdentity),
      sourceIp: source,
      remoteIp: source,
      destinationIp: plainIp(conn.destination.address),
      destinationPort: this.destinationPort ?? conn.destination.port,
      sni: conn.sni,
      http: undefined,
    };
  }
}

/** `spiffe://td/ns/x/sa/y` -> `td/ns/x/sa/y`, as Istio writes principals. */
export function principalOf(spiffeId: string | undefined): string | undefined {
  return spiffeId?.startsWith('spiffe://') ? spiffeId.slice(9) : spiffeId;
}

/** remote.ip: the client address X-Forwarded-For gives after `trusted` trusted proxies, else the peer. */
function remoteIpOf(ex: Exchange, trusted: number, source: string): string {
  if (trusted <= 0) return source;
  const xff = ex.header('x-forwarded-for');
  if (xff === undefined) return source;
  const hops = xff
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ip = hops[hops.length - trusted];
  return ip === undefined ? source : plainIp(ip);
}

/** Answers a denied request as Envoy's RBAC filter does (gRPC clients: PERMISSION_DENIED in trailers). */
function denied(ex: Exchange, d: AuthzDecision): ProxyResponse {
  ex.responseCodeDetails = d.details;
  return ex.isGrpc() ? grpcLocalResponse(7, 'RBAC: access denied') : localResponse(403, 'RBAC: access denied');
}

/**
 * Normalizes the path, authenticates and authorizes `ex` against `az`: the reply to send when
 * refused (400, 401 or 403), or null when the request may go on. Also used for upgrades. Decided
 * synchronously (no promise, no microtask) unless a JWT rule has to verify a token.
 */
export function authorize(ex: Exchange, az: ListenerAuthz): ProxyResponse | null | Promise<ProxyResponse | null> {
  // The path the policies see is the one the app gets (Envoy's normalize_path): `/a/../secret`
  // and `/%73ecret` cannot slip past a rule on `/secret`.
  const normalized = normalizePath(ex.path);
  if (normalized === null) {
    ex.responseCodeDetails = 'path_normalization_failed';
    return localResponse(400, 'Bad Request');
  }
  ex.path = normalized;
  if (az.jwt === undefined) return decideHttp(ex, az, undefined);
  return az.jwt.authenticate(ex).then((auth) => {
    if (auth.ok) return decideHttp(ex, az, auth);
    ex.responseCodeDetails = auth.details;
    if (ex.isGrpc()) return grpcLocalResponse(16, auth.body);
    return localResponse(401, auth.body, {
      'www-authenticate': `Bearer realm="${ex.scheme}://${ex.authority}${ex.pathOnly()}", error="invalid_token"`,
    });
  });
}

function decideHttp(ex: Exchange, az: ListenerAuthz, auth: JwtOutcome | undefined): ProxyResponse | null {
  // One facts object per listener, reset per request: the decision is synchronous and keeps no reference to it.
  const facts = (az.facts ??= new RequestFacts(az));
  facts.reset(ex, auth);
  const d = az.policies.decideRequest(ex.conn, facts);
  facts.reset(undefined, undefined);
  if (d.audit !== undefined) ex.authzAudit = d.audit;
  return d.allowed ? null : denied(ex, d);
}

/**
 * The facts of an HTTP request, each computed only when a rule reads it (a policy on principals never splits
 * X-Forwarded-For or strips an address); what only the connection determines is read once per connection anyway
 * (AuthzPolicies.decideRequest).
 */
class RequestFacts implements AuthzFacts, HttpFacts {
  private principalV: string | undefined | null = null;
  private sourceIpV: string | undefined;
  private remoteIpV: string | undefined;
  private pathV: string | undefined;
  private ex!: Exchange;
  private auth: JwtOutcome | undefined;

  constructor(private readonly az: ListenerAuthz) {}

  /** Points the facts at a request (undefined: at none, so no exchange is kept alive by the listener). */
  reset(ex: Exchange | undefined, auth: JwtOutcome | undefined): void {
    this.ex = ex!;
    this.auth = auth;
    this.principalV = null;
    this.sourceIpV = undefined;
    this.remoteIpV = undefined;
    this.pathV = undefined;
  }

  get principal(): string | undefined {
    if (this.principalV === null) this.principalV = principalOf(this.ex.conn.peerIdentity);
    return this.principalV;
  }
  get sourceIp(): string {
    return (this.sourceIpV ??= plainIp(this.ex.conn.remoteAddress));
  }
  get remoteIp(): string {
    return (this.remoteIpV ??= remoteIpOf(this.ex, this.az.numTrustedProxies, this.sourceIp));
  }
  get destinationIp(): string {
    return plainIp(this.ex.conn.destination.address);
  }
  get destinationPort(): number {
    return this.az.destinationPort ?? this.ex.conn.destination.port;
  }
  get sni(): string | undefined {
    return this.ex.conn.sni;
  }
  get http(): HttpFacts {
    return this;
  }
  get method(): string {
    return this.ex.method;
  }
  get authority(): string {
    return this.ex.authority;
  }
  get path(): string {
    return (this.pathV ??= this.ex.pathOnly());
  }
  header(name: string): string | undefined {
    return this.ex.header(name);
  }
  get requestPrincipal(): string | undefined {
    return this.auth?.ok ? this.auth.principal : undefined;
  }
  get claims(): Readonly<Record<string, unknown>> | undefined {
    return this.auth?.ok ? this.auth.claims : undefined;
  }
}

/** The authz layer: a no-op on listeners without authz. */
export const authzLayer: HttpLayer = (next) => (ex) => {
  const az = ex.conn.listener.authz;
  if (az === undefined) return next(ex);
  let refused: ReturnType<typeof authorize>;
  try {
    refused = authorize(ex, az);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  if (refused === null) return next(ex);
  if (refused instanceof Promise) return refused.then((r) => r ?? next(ex));
  return Promise.resolve(refused);
};
