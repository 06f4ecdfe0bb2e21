/**
 * security.istio.io RequestAuthentication: which JWTs the selected workloads accept
 * (istio/api security/v1beta1/request_authentication.proto). A request with an invalid token is
 * rejected; a request without a token is accepted unless an AuthorizationPolicy requires one.
 */
import type { Static } from '@sinclair/typebox';
import {
  Bool,
  Duration,
  Enum,
  List,
  Obj,
  Opt,
  PolicyTargetReference,
  Str,
  WorkloadSelector,
  type Resource,
} from '../schema.js';
import { defineKind } from '../kind.js';

const JWTRule = Obj(
  {
    issuer: Str('the `iss` the token must carry', { minLength: 1 }),
    audiences: Opt(List(Str(), 'accepted `aud` values; none: the service name')),
    jwksUri: Opt(Str('https URL of the JSON Web Key Set')),
    jwks_uri: Opt(Str({ description: 'https URL of the JSON Web Key Set', deprecated: 'use jwksUri' })),
    jwks: Opt(Str('the JSON Web Key Set inline')),
    fromHeaders: Opt(
      List(Obj({ name: Str('header name'), prefix: Opt(Str('prefix to strip, e.g. "Bearer "')) }), {
        description: 'where to find the token',
        default: 'Authorization: Bearer',
      }),
    ),
    fromParams: Opt(List(Str(), { description: 'query parameters holding the token', default: 'access_token' })),
    fromCookies: Opt(List(Str(), 'cookies holding the token')),
    outputPayloadToHeader: Opt(Str('forward the verified payload (base64) in this header')),
    outputClaimToHeaders: Opt(List(Obj({ header: Str(), claim: Str() }), 'copy claims to request headers')),
    spaceDelimitedClaims: Opt(
      List(Str(), 'claims whose string value is a space-separated list (besides scope and permission)'),
    ),
    forwardOriginalToken: Opt(Bool({ description: 'keep the token in the forwarded request', default: 'false' })),
    timeout: Opt(Duration({ description: 'timeout fetching the JWKS', default: '5s' })),
    presence: Opt(
      Enum(['OPTIONAL', 'REQUIRED'] as const, {
        description: 'whether a request must carry a token',
        default: 'OPTIONAL',
      }),
    ),
  },
  'one accepted token issuer',
);

/** The spec of a RequestAuthentication. */
export const RequestAuthenticationSpec = Obj({
  selector: Opt(WorkloadSelector),
  targetRef: Opt(PolicyTargetReference),
  targetRefs: Opt(
    List(PolicyTargetReference, { unsupported: 'waypoint/Gateway API targeting is not implemented; use selector' }),
  ),
  jwtRules: Opt(List(JWTRule, 'accepted issuers')),
});
/** The spec of a RequestAuthentication. */
export type RequestAuthenticationSpec = Static<typeof RequestAuthenticationSpec>;
/** An Istio RequestAuthentication. */
export type RequestAuthentication = Resource<'RequestAuthentication', RequestAuthenticationSpec>;

/** Istio RequestAuthentication. */
export const requestAuthenticationKind = defineKind({
  family: 'istio',
  group: 'security.istio.io',
  kind: 'RequestAuthentication',
  plural: 'requestauthentications',
  singular: 'requestauthentication',
  shortNames: ['ra'],
  categories: ['istio-io', 'security-istio-io'],
  versions: ['v1beta1', 'v1'],
  storageVersion: 'v1beta1',
  namespaced: true,
  summary: 'JWT validation for workloads: accepted issuers, keys and token locations',
  reference: 'https://istio.io/latest/docs/reference/config/security/request_authentication/',
  spec: RequestAuthenticationSpec,
  unknownFields: 'error',
  statusSubresource: true,
  check(spec, report) {
    spec.jwtRules?.forEach((r, i) => {
      if (r.jwks && r.jwksUri) report(['spec', 'jwtRules', i, 'jwks'], 'jwks and jwksUri cannot both be set; keep one');
      if (r.jwksUri && !/^https?:\/\//.test(r.jwksUri))
        report(['spec', 'jwtRules', i, 'jwksUri'], `"${r.jwksUri}" is not an http(s) URL; give the JWKS URL`);
      if (r.jwks) {
        try {
          JSON.parse(r.jwks);
        } catch {
          report(['spec', 'jwtRules', i, 'jwks'], 'jwks is not valid JSON; paste the JSON Web Key Set');
        }
      }
    });
    if (spec.selector && (spec.targetRef || spec.targetRefs))
      report(['spec', 'targetRef'], 'selector and targetRef cannot both be set; keep one');
  },
});
