/**
 * CORS at the proxy (VirtualService corsPolicy, Envoy's cors filter): a preflight from an allowed
 * origin is answered by the proxy itself (the app never sees it); an actual request from an allowed
 * origin gets Access-Control-Allow-Origin (the origin, never `*` with credentials) and the exposed
 * headers on its response. Origins that match nothing get no CORS headers, so the browser blocks them.
 */
import type { CorsPolicyConfig } from '../../../protocol/proxy-config/index.js';
import { durationMs } from '../../../protocol/proxy-config/index.js';
import { localResponse, type HeaderMap, type ProxyResponse } from '../../ground/types.js';
import { compileStringMatch, type ValuePredicate } from './string-match.js';

/** A compiled CORS policy. */
export interface CompiledCors {
  readonly allows: (origin: string) => boolean;
  readonly methods: string | undefined;
  readonly headers: string | undefined;
  readonly expose: string | undefined;
  readonly maxAge: string | undefined;
  readonly credentials: boolean;
  /** Preflights from an origin that matches nothing: forwarded to the app (default), or answered without CORS headers. */
  readonly unmatchedPreflights: 'forward' | 'ignore';
}

/** Compiles a route's CORS policy. */
export function compileCors(c: CorsPolicyConfig): CompiledCors {
  const tests: ValuePredicate[] = (c.allowOrigins ?? []).map((m) => compileStringMatch(m));
  return {
    allows: (origin) => tests.some((t) => t(origin)),
    methods: c.allowMethods?.length ? c.allowMethods.join(',') : undefined,
    headers: c.allowHeaders?.length ? c.allowHeaders.join(',') : undefined,
    expose: c.exposeHeaders?.length ? c.exposeHeaders.join(',') : undefined,
    maxAge: c.maxAge !== undefined ? String(Math.floor(durationMs(c.maxAge, 0) / 1000)) : undefined,
    credentials: c.allowCredentials === true,
    unmatchedPreflights: c.unmatchedPreflights ?? 'forward',
  };
}

/** Whether the request is a CORS preflight. */
export function isPreflight(method: string, headers: HeaderMap): boolean {
  return (
    method === 'OPTIONS' && typeof headers.origin === 'string' && headers['access-control-request-method'] !== undefined
  );
}

/** The proxy's answer to a preflight, or undefined to forward it. */
export function answerPreflight(cors: CompiledCors, origin: string): ProxyResponse | undefined {
  if (!cors.allows(origin)) return cors.unmatchedPreflights === 'ignore' ? localResponse(200, null) : undefined;
  const h: HeaderMap = { 'access-control-allow-origin': origin, vary: 'origin' };
  if (cors.methods) h['access-control-allow-methods'] = cors.methods;
  if (cors.headers) h['access-control-allow-headers'] = cors.headers;
  if (cors.maxAge) h['access-control-max-age'] = cors.maxAge;
  if (cors.credentials) h['access-control-allow-credentials'] = 'true';
  return localResponse(200, null, h);
}

/** Adds the CORS response headers for an allowed origin (the app's own CORS headers are replaced). */
export function decorateResponse(cors: CompiledCors, origin: string, res: ProxyResponse): ProxyResponse {
  if (!cors.allows(origin)) return res;
  res.headers['access-control-allow-origin'] = origin;
  if (cors.credentials) res.headers['access-control-allow-credentials'] = 'true';
  if (cors.expose) res.headers['access-control-expose-headers'] = cors.expose;
  const vary = res.headers.vary;
  res.headers.vary =
    typeof vary === 'string' && vary ? (/\borigin\b/i.test(vary) ? vary : `${vary}, origin`) : 'origin';
  return res;
}
