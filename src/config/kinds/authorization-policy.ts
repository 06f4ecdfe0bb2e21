/**
 * security.istio.io AuthorizationPolicy: who may call which operations of the selected workloads
 * (istio/api security/v1beta1/authorization_policy.proto). Evaluation order: CUSTOM, DENY, ALLOW;
 * with at least one ALLOW policy for a workload, requests that match none are denied.
 */
import type { Static } from '@sinclair/typebox';
import { Enum, List, Obj, Opt, PolicyTargetReference, Str, WorkloadSelector, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

const strings = (description: string) => Opt(List(Str(), description));

const Source = Obj(
  {
    principals: strings('peer identities (`cluster.local/ns/NS/sa/SA`); needs mTLS'),
    notPrincipals: strings('negative match of principals'),
    requestPrincipals: strings('JWT identities `iss/sub`; `*` means any valid token'),
    notRequestPrincipals: strings('negative match of requestPrincipals'),
    namespaces: strings('namespaces of the peer; needs mTLS'),
    notNamespaces: strings('negative match of namespaces'),
    ipBlocks: strings('peer IPs or CIDRs'),
    notIpBlocks: strings('negative match of ipBlocks'),
    remoteIpBlocks: strings('original client IPs (X-Forwarded-For) or CIDRs'),
    notRemoteIpBlocks: strings('negative match of remoteIpBlocks'),
    serviceAccounts: strings('service accounts `ns/name` of the peer; needs mTLS'),
    notServiceAccounts: strings('negative match of serviceAccounts'),
    trustDomains: strings('trust domains of the peer identity; needs mTLS'),
    notTrustDomains: strings('negative match of trustDomains'),
  },
  'attributes of the caller (ANDed)',
);

const Operation = Obj(
  {
    hosts: strings('Host header values'),
    notHosts: strings('negative match of hosts'),
    ports: strings('destination ports (as strings)'),
    notPorts: strings('negative match of ports'),
    methods: strings('HTTP methods (gRPC: always POST)'),
    notMethods: strings('negative match of methods'),
    paths: strings('paths; prefix `/a/*`, suffix `*/b`, presence `*`'),
    notPaths: strings('negative match of paths'),
  },
  'attributes of the request (ANDed)',
);

const Rule = Obj(
  {
    from: Opt(List(Obj({ source: Opt(Source) }), 'sources (ORed)')),
    to: Opt(List(Obj({ operation: Opt(Operation) }), 'operations (ORed)')),
    when: Opt(
      List(
        Obj({
          key: Str('attribute, e.g. request.headers[x-id], source.ip, request.auth.claims[iss]'),
          values: strings('allowed values'),
          notValues: strings('rejected values'),
        }),
        'extra conditions (ANDed)',
      ),
    ),
  },
  'a rule: from AND to AND when; an empty rule matches every request',
);

/** The spec of an AuthorizationPolicy. */
export const AuthorizationPolicySpec = Obj({
  selector: Opt(WorkloadSelector),
  targetRef: Opt(PolicyTargetReference),
  targetRefs: Opt(
    List(PolicyTargetReference, { unsupported: 'waypoint/Gateway API targeting is not implemented; use selector' }),
  ),
  rules: Opt(List(Rule, 'rules (ORed); none matches nothing (ALLOW: denies all)')),
  action: Opt(
    Enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const, {
      description: 'what to do when a rule matches',
      default: 'ALLOW',
      unsupportedValues: {
        CUSTOM: 'no external authorizer is run: the requests the rules match are denied (fail closed)',
      },
    }),
  ),
  provider: Opt(
    Obj(
      { name: Opt(Str()) },
      {
        description: 'the external authorizer of a CUSTOM policy',
        unsupported: 'CUSTOM (external authorization) is not implemented',
      },
    ),
  ),
});
/** The spec of an AuthorizationPolicy. */
export type AuthorizationPolicySpec = Static<typeof AuthorizationPolicySpec>;
/** An Istio AuthorizationPolicy. */
export type AuthorizationPolicy = Resource<'AuthorizationPolicy', AuthorizationPolicySpec>;

/** Attribute keys Istio accepts in `when` conditions (besides the bracketed header/claim forms). */
const CONDITION_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
  'experimental.envoy.filters.network.mysql_proxy[]',
]);

/** Istio AuthorizationPolicy. */
export const authorizationPolicyKind = defineKind({
  family: 'istio',
  group: 'security.istio.io',
  kind: 'AuthorizationPolicy',
  plural: 'authorizationpolicies',
  singular: 'authorizationpolicy',
  shortNames: ['ap'],
  categories: ['istio-io', 'security-istio-io'],
  versions: ['v1beta1', 'v1'],
  storageVersion: 'v1beta1',
  namespaced: true,
  summary: 'Access control for workloads: ALLOW or DENY requests by caller identity, request attributes and JWT claims',
  reference: 'https://istio.io/latest/docs/reference/config/security/authorization-policy/',
  spec: AuthorizationPolicySpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'The operation to take.' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    if (spec.action === 'CUSTOM' && !spec.provider?.name)
      report(['spec', 'provider'], 'a CUSTOM policy needs provider.name; add it');
    if (spec.provider && spec.action !== 'CUSTOM')
      report(['spec', 'provider'], 'provider is only used with action: CUSTOM; remove it or set the action');
    if (spec.selector && (spec.targetRef || spec.targetRefs))
      report(['spec', 'targetRef'], 'selector and targetRef cannot both be set; keep one');
    spec.rules?.forEach((r, i) =>
      r.when?.forEach((c, j) => {
        const known =
          CONDITION_KEYS.has(c.key) ||
          /^request\.(headers|auth\.claims)\[.+\]$/.test(c.key) ||
          /^experimental\./.test(c.key);
        if (!known)
          report(
            ['spec', 'rules', i, 'when', j, 'key'],
            `"${c.key}" is not a condition key; use e.g. request.headers[name], source.ip, request.auth.claims[iss]`,
          );
        if (!c.values?.length && !c.notValues?.length)
          report(['spec', 'rules', i, 'when', j], 'a condition needs values or notValues; add one');
      }),
    );
  },
});
