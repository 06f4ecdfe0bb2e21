/**
 * The authorization layer, outermost on an inbound listener with `authz`: path normalization,
 * then JWT authentication (401 on an invalid token), then the policies (403 `RBAC: access
 * denied`), all before routing, so a denied request never reaches the app. A listener without
 * `authz` passes straight through (no promise, no allocation).
 */
import type { AuthzConfig } from '../../../protocol/proxy-config/index.js';
import type { HttpLayer } from '../layer.js';
import type { Exchange } from '../exchange.js';
import { localResponse, type ProxyResponse } from '../types.js';
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
 * refused (400, 401 or 403), or null when the request may go on. Also used for upgrades.
 */
export async function authorize(ex: Exchange, az: ListenerAuthz): Promise<ProxyResponse | null> {
  // The path the policies see is the one the app gets (Envoy's normalize_path): `/a/../secret`
  // and `/%73ecret` cannot slip past a rule on `/secret`.
  const normalized = normalizePath(ex.path);
  if (normalized === null) {
    ex.responseCodeDetails = 'path_normalization_failed';
    return localResponse(400, 'Bad Request');
  }
  ex.path = normalized;
  let auth: JwtOutcome | undefined;
  if (az.jwt) {
    auth = await az.jwt.authenticate(ex);
    if (!auth.ok) {
      ex.responseCodeDetails = auth.details;
      if (ex.isGrpc()) return grpcLocalResponse(16, auth.body);
      return localResponse(401, auth.body, {
        'www-authenticate': `Bearer realm="${ex.scheme}://${ex.authority}${ex.pathOnly()}", error="invalid_token"`,
      });
    }
  }
  const d = az.policies.decide(httpFacts(ex, az, auth));
  if (d.audit !== undefined) ex.authzAudit = d.audit;
  return d.allowed ? null : denied(ex, d);
}

function httpFacts(ex: Exchange, az: ListenerAuthz, auth: JwtOutcome | undefined): AuthzFacts {
  const conn = ex.conn;
  const source = plainIp(conn.remoteAddress);
  const http: HttpFacts = {
    method: ex.method,
    authority: ex.authority,
    path: ex.pathOnly(),
    header: (name) => ex.header(name),
    requestPrincipal: auth?.ok ? auth.principal : undefined,
    claims: auth?.ok ? auth.claims : undefined,
  };
  return {
    principal: principalOf(conn.peerIdentity),
    sourceIp: source,
    remoteIp: remoteIpOf(ex, az.numTrustedProxies, source),
    destinationIp: plainIp(conn.destination.address),
    destinationPort: az.destinationPort ?? conn.destination.port,
    sni: conn.sni,
    http,
  };
}

/** The authz layer: a no-op on listeners without authz. */
export const authzLayer: HttpLayer = (next) => (ex) => {
  const az = ex.conn.listener.authz;
  if (az === undefined) return next(ex);
  return authorize(ex, az).then((refused) => refused ?? next(ex));
};
