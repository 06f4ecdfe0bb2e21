/**
 * policy.linkerd.io HTTPLocalRateLimitPolicy (linkerd2 controller/gen/apis/policy/v1alpha1): a
 * token-bucket limit on the HTTP requests a Server admits, in total, per client identity, and per
 * named clients (overrides). One policy per Server, as Linkerd's admission webhook requires.
 */
import type { Static } from '@sinclair/typebox';
import { Int32, List, Obj, Opt, Str, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

const Limit = Obj({
  requestsPerSecond: Int32('requests per second (the bucket also holds this many as burst)', { minimum: 1 }),
});

/** The spec of an HTTPLocalRateLimitPolicy. */
export const HTTPLocalRateLimitPolicySpec = Obj({
  targetRef: Obj(
    { group: Opt(Str()), kind: Str('Server'), name: Str('a Server of the namespace') },
    'the Server whose HTTP traffic is limited',
  ),
  total: Opt(Obj(Limit.properties, 'the limit for all clients of the Server together')),
  identity: Opt(Obj(Limit.properties, 'the limit for each client identity (unauthenticated clients share one bucket)')),
  overrides: Opt(
    List(
      Obj({
        requestsPerSecond: Int32('requests per second for these clients together', { minimum: 1 }),
        clientRefs: List(
          Obj({
            group: Opt(Str('empty: the core group (ServiceAccount)')),
            kind: Str('ServiceAccount'),
            name: Str(),
            namespace: Opt(Str('default: the policy namespace')),
          }),
          'the clients',
          { minItems: 1 },
        ),
      }),
      'limits for specific clients instead of identity',
    ),
  ),
});
/** The spec of an HTTPLocalRateLimitPolicy. */
export type HTTPLocalRateLimitPolicySpec = Static<typeof HTTPLocalRateLimitPolicySpec>;
/** A Linkerd HTTPLocalRateLimitPolicy. */
export type HTTPLocalRateLimitPolicy = Resource<'HTTPLocalRateLimitPolicy', HTTPLocalRateLimitPolicySpec>;

/** Linkerd HTTPLocalRateLimitPolicy. */
export const httpLocalRateLimitPolicyKind = defineKind({
  family: 'linkerd',
  group: 'policy.linkerd.io',
  kind: 'HTTPLocalRateLimitPolicy',
  plural: 'httplocalratelimitpolicies',
  singular: 'httplocalratelimitpolicy',
  shortNames: [],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1'],
  storageVersion: 'v1alpha1',
  namespaced: true,
  summary: 'Local rate limits (total, per identity, per client) on the HTTP requests a Server admits',
  reference: 'https://linkerd.io/2/reference/rate-limiting/',
  spec: HTTPLocalRateLimitPolicySpec,
  unknownFields: 'warn',
  statusSubresource: false,
  printerColumns: [
    { name: 'Target_kind', type: 'string', jsonPath: '.spec.targetRef.kind', description: 'The kind of the target' },
    { name: 'Target_name', type: 'string', jsonPath: '.spec.targetRef.name', description: 'The name of the target' },
    {
      name: 'Total_RPS',
      type: 'integer',
      jsonPath: '.spec.total.requestsPerSecond',
      description: 'The overall rate limit',
    },
    {
      name: 'Identity_RPS',
      type: 'integer',
      jsonPath: '.spec.identity.requestsPerSecond',
      description: 'The rate limit per identity',
    },
  ],
  check(spec, report) {
    const t = spec.targetRef;
    if (t.kind !== 'Server')
      report(['spec', 'targetRef', 'kind'], `targetRef.kind "${t.kind}" is not supported; target a Server`);
    if (t.group !== undefined && t.group !== 'policy.linkerd.io')
      report(['spec', 'targetRef', 'group'], `targetRef.group "${t.group}" is not policy.linkerd.io`);
    const total = spec.total?.requestsPerSecond;
    const over = (rps: number) => total !== undefined && rps > total;
    if (spec.identity && over(spec.identity.requestsPerSecond)) {
      report(
        ['spec', 'identity', 'requestsPerSecond'],
        `identity.requestsPerSecond ${spec.identity.requestsPerSecond} exceeds total.requestsPerSecond ${total}; lower it`,
      );
    }
    spec.overrides?.forEach((o, i) => {
      if (over(o.requestsPerSecond))
        report(
          ['spec', 'overrides', i, 'requestsPerSecond'],
          `${o.requestsPerSecond} exceeds total.requestsPerSecond ${total}; lower it`,
        );
      o.clientRefs.forEach((c, j) => {
        if (c.kind !== 'ServiceAccount')
          report(
            ['spec', 'overrides', i, 'clientRefs', j, 'kind'],
            `clientRefs kind "${c.kind}" is not supported; use ServiceAccount`,
          );
        if (c.group) {
          report(
            ['spec', 'overrides', i, 'clientRefs', j, 'group'],
            `clientRefs group "${c.group}" is not the core group of ServiceAccount; leave it empty`,
          );
        }
      });
    });
    if (!spec.total && !spec.identity && !spec.overrides?.length)
      report(['spec'], 'set total, identity or overrides; a policy without limits limits nothing');
  },
});
