/**
 * Request authentication (Istio RequestAuthentication, Envoy jwt_authn as Istio configures it):
 * a token found in a rule's locations must verify against that issuer's keys (pushed inline by
 * the control plane), else 401; a request without a token passes as anonymous and the policies
 * decide. jose (loaded on the first token, so sidecars without JWT rules never load it) verifies
 * the signature, `exp`/`nbf` with 60 s of clock skew, the issuer and the audiences.
 */
import type { JwtRuleConfig } from '../../../protocol/proxy-config/index.js';
import type { Exchange } from '../exchange.js';

type Jose = typeof import('jose');
let jose: Promise<Jose> | undefined;

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA', 'Ed25519'];
const CLOCK_SKEW_S = 60;

/** Where a rule looks for its token. */
interface Location {
  readonly kind: 'header' | 'param' | 'cookie';
  readonly name: string;
  readonly prefix: string;
}

interface CompiledJwtRule {
  readonly cfg: JwtRuleConfig;
  readonly locations: readonly Location[];
  readonly keys: { keys: object[] };
  keySet: ((...args: never[]) => unknown) | undefined;
}

/** The outcome of authentication. */
export type JwtOutcome =
  | {
      readonly ok: true;
      readonly principal: string | undefined;
      readonly claims: Readonly<Record<string, unknown>> | undefined;
    }
  | { readonly ok: false; readonly body: string; readonly details: string };

const ANONYMOUS: JwtOutcome = { ok: true, principal: undefined, claims: undefined };

/**
 * Told when a token of `issuer` names a `kid` (empty: none) that the issuer's keys lack: the
 * issuer may have rotated, and the control plane fetches its keys again (see jwks-cache.ts).
 */
export type JwtKeyMiss = (issuer: string, kid: string) => void;

/** A listener's compiled JWT rules. */
export class JwtAuthenticator {
  private readonly rules: CompiledJwtRule[];
  /** some rule has presence REQUIRED: a request without any token is refused */
  private readonly required: boolean;

  /** Compiles; throws naming `jwtRules[i].field` when the inline key set is not a JWKS. */
  constructor(
    rules: readonly JwtRuleConfig[],
    path = 'jwtRules',
    private readonly keyMiss?: JwtKeyMiss,
  ) {
    this.rules = rules.map((cfg, i) => {
      let keys: unknown;
      try {
        keys = JSON.parse(cfg.jwks);
      } catch {
        throw new Error(`${path}[${i}].jwks: not JSON; give a JSON Web Key Set ({"keys": [...]})`);
      }
      const list = (keys as { keys?: unknown })?.keys;
      if (
        !Array.isArray(list) ||
        list.some((k) => typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string')
      ) {
        throw new Error(`${path}[${i}].jwks: not a JSON Web Key Set; expected {"keys": [{"kty": ...}, ...]}`);
      }
      return { cfg, locations: locationsOf(cfg), keys: { keys: list as object[] }, keySet: undefined };
    });
    this.required = rules.some((r) => r.presence === 'REQUIRED');
  }

  /**
   * Authenticates `ex`: the first token found decides. Removes the token from the forwarded
   * request unless forwardOriginalToken, and adds the output headers of the rule that verified it.
   */
  async authenticate(ex: Exchange): Promise<JwtOutcome> {
    let found: { token: string; loc: Location } | undefined;
    for (const r of this.rules) {
      for (const loc of r.locations) {
        const token = tokenAt(ex, loc);
        if (token !== undefined) {
          found = { token, loc };
          break;
        }
      }
      if (found) break;
    }
    if (!found) return this.required ? fail('Jwt is missing', 'Jwt_is_missing') : ANONYMOUS;
    const { token, loc } = found;
    const j = await (jose ??= import('jose'));
    let issuer: unknown;
    try {
      issuer = j.decodeJwt(token).iss;
    } catch {
      return fail(
        'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
        'Jwt_format_invalid',
      );
    }
    // Several rules may share the token's location: the one for its issuer verifies it.
    const rule = this.rules.find(
      (r) => r.cfg.issuer === issuer && r.locations.some((l) => l.kind === loc.kind && l.name === loc.name),
    );
    if (!rule) return fail('Jwt issuer is not configured', 'Jwt_issuer_is_not_configured');
    rule.keySet ??= j.createLocalJWKSet(
      rule.keys as Parameters<Jose['createLocalJWKSet']>[0],
    ) as unknown as CompiledJwtRule['keySet'];
    let payload: Record<string, unknown>;
    try {
      const res = await j.jwtVerify(token, rule.keySet as unknown as Parameters<Jose['jwtVerify']>[1], {
        issuer: rule.cfg.issuer,
        ...(rule.cfg.audiences?.length ? { audience: rule.cfg.audiences } : {}),
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_SKEW_S,
      });
      payload = res.payload as Record<string, unknown>;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_JWKS_NO_MATCHING_KEY' && this.keyMiss) this.keyMiss(rule.cfg.issuer, kidOf(j, token));
      if (code === 'ERR_JWT_EXPIRED') return fail('Jwt is expired', 'Jwt_is_expired');
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (err as { claim?: string }).claim === 'aud')
        return fail('Audiences in Jwt are not allowed', 'Audiences_in_Jwt_are_not_allowed');
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && (err as { claim?: string }).claim === 'nbf')
        return fail('Jwt not yet valid', 'Jwt_not_yet_valid');
      return fail('Jwt verification fails', 'Jwt_verification_fails');
    }
    const claims = spaceDelimited(payload, rule.cfg.spaceDelimitedClaims);
    if (!rule.cfg.forwardOriginalToken) removeToken(ex, loc);
    if (rule.cfg.outputPayloadToHeader)
      ex.headers[rule.cfg.outputPayloadToHeader.toLowerCase()] = Buffer.from(JSON.stringify(payload)).toString(
        'base64url',
      );
    for (const o of rule.cfg.outputClaimToHeaders ?? []) {
      const v = payload[o.claim];
      if (v === undefined) continue;
      const text =
        typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
      // A claim becomes a header value only if it is one: no CR/LF smuggled into the request head.
      if (!/[\r\n\0]/.test(text)) ex.headers[o.header.toLowerCase()] = text;
    }
    const sub = typeof payload.sub === 'string' ? payload.sub : '';
    return { ok: true, principal: `${String(payload.iss)}/${sub}`, claims };
  }
}

function kidOf(j: Jose, token: string): string {
  try {
    const kid = j.decodeProtectedHeader(token).kid;
    return typeof kid === 'string' ? kid : '';
  } catch {
    return '';
  }
}

function fail(body: string, detail: string): JwtOutcome {
  return { ok: false, body, details: `jwt_authn_access_denied{${detail}}` };
}

/** Istio's defaults: `Authorization: Bearer` and the `access_token` query parameter. */
function locationsOf(cfg: JwtRuleConfig): Location[] {
  const out: Location[] = [];
  for (const h of cfg.fromHeaders ?? [])
    out.push({ kind: 'header', name: h.name.toLowerCase(), prefix: h.prefix ?? '' });
  for (const p of cfg.fromParams ?? []) out.push({ kind: 'param', name: p, prefix: '' });
  for (const c of cfg.fromCookies ?? []) out.push({ kind: 'cookie', name: c, prefix: '' });
  if (out.length === 0)
    out.push(
      { kind: 'header', name: 'authorization', prefix: 'Bearer ' },
      { kind: 'param', name: 'access_token', prefix: '' },
    );
  return out;
}

function tokenAt(ex: Exchange, loc: Location): string | undefined {
  if (loc.kind === 'header') {
    const v = ex.header(loc.name);
    if (v === undefined) return undefined;
    if (loc.prefix === '') return v.trim() || undefined;
    // Envoy compares the prefix case-sensitively except for the usual `Bearer` scheme.
    if (!v.startsWith(loc.prefix) && !v.toLowerCase().startsWith(loc.prefix.toLowerCase())) return undefined;
    return v.slice(loc.prefix.length).trim() || undefined;
  }
  if (loc.kind === 'param') return ex.queryParam(loc.name) || undefined;
  const cookie = ex.header('cookie');
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === loc.name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

function removeToken(ex: Exchange, loc: Location): void {
  if (loc.kind === 'header') ex.headers[loc.name] = undefined;
}

/** Claims listed in spaceDelimitedClaims (besides Istio's `scope` and `permission`) become lists. */
function spaceDelimited(
  payload: Record<string, unknown>,
  extra: readonly string[] | undefined,
): Record<string, unknown> {
  const names = ['scope', 'permission', ...(extra ?? [])];
  let out = payload;
  for (const n of names) {
    const v = payload[n];
    if (typeof v === 'string' && v.includes(' ')) {
      if (out === payload) out = { ...payload };
      out[n] = v.split(' ').filter(Boolean);
    }
  }
  return out;
}
