/**
 * policy.linkerd.io: Server (a port of a set of pods), and the authorizations that say who may
 * reach it: ServerAuthorization, AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication
 * (linkerd2 controller/gen/apis/{server,serverauthorization,policy}). Server's accessPolicy decides
 * what happens to traffic no authorization allows.
 */
import type { Static } from '@sinclair/typebox';
import { Bool, Enum, IntOrString, LabelSelector, List, Obj, Opt, Str, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

const POLICY_GROUP = 'policy.linkerd.io';
const REFERENCE = 'https://linkerd.io/2/reference/authorization-policy/';

/** Protocols a Server may declare (skips protocol detection). */
export const PROXY_PROTOCOLS = ['unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque', 'TLS'] as const;
/**
 * Default policies for traffic no authorization covers (a Server's accessPolicy; the same values as
 * the default inbound policy, DEFAULT_INBOUND_POLICIES in protocol/well-known.ts, which config may not import).
 */
export const ACCESS_POLICIES = [
  'deny',
  'audit',
  'all-authenticated',
  'all-unauthenticated',
  'cluster-authenticated',
  'cluster-unauthenticated',
] as const;

/** The spec of a Server. */
export const ServerSpec = Obj({
  podSelector: Opt(LabelSelector),
  externalWorkloadSelector: Opt({
    ...LabelSelector,
    'x-mesh-unsupported': 'external (VM) workloads are not implemented',
  }),
  port: IntOrString('container port number or name'),
  proxyProtocol: Opt(
    Enum(PROXY_PROTOCOLS, {
      description:
        'protocol of the port (skips detection): HTTP/1 and HTTP/2 (gRPC) are parsed as such, HTTP/2 also to the app; opaque and TLS are never parsed (L4 authorization only)',
      default: 'unknown',
    }),
  ),
  accessPolicy: Opt(
    Enum(ACCESS_POLICIES, { description: 'what happens to traffic no authorization allows', default: 'deny' }),
  ),
});
/** The spec of a Server. */
export type ServerSpec = Static<typeof ServerSpec>;
/** A Linkerd Server. */
export type Server = Resource<'Server', ServerSpec>;

/** Linkerd Server. */
export const serverKind = defineKind({
  family: 'linkerd',
  group: POLICY_GROUP,
  kind: 'Server',
  plural: 'servers',
  singular: 'server',
  shortNames: ['srv'],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1', 'v1beta1', 'v1beta2', 'v1beta3'],
  storageVersion: 'v1beta3',
  namespaced: true,
  summary: 'A port of a set of pods, the unit Linkerd authorization policies apply to',
  reference: 'https://linkerd.io/2/reference/authorization-policy/#server',
  spec: ServerSpec,
  unknownFields: 'warn',
  statusSubresource: false,
  printerColumns: [
    { name: 'Port', type: 'string', jsonPath: '.spec.port', description: 'The port the server is listening on' },
    { name: 'Protocol', type: 'string', jsonPath: '.spec.proxyProtocol', description: 'The protocol of the port' },
  ],
  check(spec, report) {
    if (!spec.podSelector && !spec.externalWorkloadSelector)
      report(['spec', 'podSelector'], 'a Server needs podSelector; add it ({} selects every pod of the namespace)');
    if (spec.podSelector && spec.externalWorkloadSelector)
      report(
        ['spec', 'externalWorkloadSelector'],
        'podSelector and externalWorkloadSelector cannot both be set; keep one',
      );
    if (typeof spec.port === 'number' && (spec.port < 1 || spec.port > 65535))
      report(['spec', 'port'], `port ${spec.port} is not 1..65535; give a container port number or name`);
  },
});

const TargetRef = Obj(
  { group: Opt(Str()), kind: Str(), name: Str(), namespace: Opt(Str()) },
  'a reference to another resource',
);

/** The spec of a ServerAuthorization. */
export const ServerAuthorizationSpec = Obj({
  server: Obj(
    { name: Opt(Str('a Server of the namespace')), selector: Opt(LabelSelector) },
    'the Servers this authorizes',
    { exclusive: [['name', 'selector']] },
  ),
  client: Obj(
    {
      networks: Opt(List(Obj({ cidr: Str(), except: Opt(List(Str())) }), 'client networks (CIDRs)')),
      unauthenticated: Opt(Bool('allow clients without mesh identity')),
      meshTLS: Opt(
        Obj(
          {
            unauthenticatedTLS: Opt(Bool('allow TLS clients without mesh identity')),
            identities: Opt(
              List(Str(), 'client identities (`*`, `*.ns.serviceaccount.identity.linkerd.cluster.local`)'),
            ),
            serviceAccounts: Opt(List(Obj({ name: Str(), namespace: Opt(Str()) }), 'client service accounts')),
          },
          'mesh TLS clients',
        ),
      ),
    },
    'the clients allowed',
  ),
});
/** The spec of a ServerAuthorization. */
export type ServerAuthorizationSpec = Static<typeof ServerAuthorizationSpec>;
/** A Linkerd ServerAuthorization. */
export type ServerAuthorization = Resource<'ServerAuthorization', ServerAuthorizationSpec>;

/** Linkerd ServerAuthorization. */
export const serverAuthorizationKind = defineKind({
  family: 'linkerd',
  group: POLICY_GROUP,
  kind: 'ServerAuthorization',
  plural: 'serverauthorizations',
  singular: 'serverauthorization',
  shortNames: ['saz', 'serverauthz', 'srvauthz'],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1', 'v1beta1'],
  storageVersion: 'v1beta1',
  namespaced: true,
  summary: 'Clients (identities, service accounts, networks) allowed to reach a Server',
  reference: REFERENCE,
  spec: ServerAuthorizationSpec,
  unknownFields: 'warn',
  statusSubresource: false,
  check(spec, report) {
    if (!spec.server.name && !spec.server.selector)
      report(['spec', 'server'], 'name the Server (server.name) or select Servers (server.selector)');
    const c = spec.client;
    if (!c.unauthenticated && !c.meshTLS && !c.networks)
      report(['spec', 'client'], 'the client needs meshTLS, unauthenticated: true, or networks; add one');
  },
});

/** The spec of a (Linkerd) AuthorizationPolicy. */
export const LinkerdAuthorizationPolicySpec = Obj({
  targetRef: Obj(
    {
      group: Opt(Str()),
      kind: Str({
        description: 'Server, HTTPRoute or Namespace',
        unsupportedValues: { HTTPRoute: 'per-route authorization is not implemented; the policy authorizes nothing' },
      }),
      name: Str(),
      namespace: Opt(Str()),
    },
    'a Server, HTTPRoute, or Namespace',
  ),
  requiredAuthenticationRefs: List(
    TargetRef,
    'MeshTLSAuthentication, NetworkAuthentication or ServiceAccount that must all hold',
  ),
});
/** The spec of a Linkerd AuthorizationPolicy. */
export type LinkerdAuthorizationPolicySpec = Static<typeof LinkerdAuthorizationPolicySpec>;
/** A Linkerd AuthorizationPolicy (policy.linkerd.io, not Istio's). */
export type LinkerdAuthorizationPolicy = Resource<'AuthorizationPolicy', LinkerdAuthorizationPolicySpec>;

/** Linkerd AuthorizationPolicy. */
export const linkerdAuthorizationPolicyKind = defineKind({
  family: 'linkerd',
  group: POLICY_GROUP,
  kind: 'AuthorizationPolicy',
  plural: 'authorizationpolicies',
  singular: 'authorizationpolicy',
  shortNames: ['authzpolicy'],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1'],
  storageVersion: 'v1alpha1',
  namespaced: true,
  summary: 'Authorizes traffic to a Server, HTTPRoute or namespace when all required authentications hold',
  reference: REFERENCE,
  spec: LinkerdAuthorizationPolicySpec,
  unknownFields: 'warn',
  statusSubresource: false,
  check(spec, report) {
    const kinds = ['Server', 'HTTPRoute', 'Namespace'];
    if (!kinds.includes(spec.targetRef.kind))
      report(
        ['spec', 'targetRef', 'kind'],
        `targetRef.kind "${spec.targetRef.kind}" is not one of ${kinds.join(', ')}`,
      );
    spec.requiredAuthenticationRefs.forEach((r, i) => {
      const ok = ['MeshTLSAuthentication', 'NetworkAuthentication', 'ServiceAccount'];
      if (!ok.includes(r.kind))
        report(['spec', 'requiredAuthenticationRefs', i, 'kind'], `"${r.kind}" is not one of ${ok.join(', ')}`);
    });
  },
});

/** The spec of a MeshTLSAuthentication. */
export const MeshTLSAuthenticationSpec = Obj({
  identities: Opt(List(Str(), 'mesh identities; `*` for any')),
  identityRefs: Opt(
    List(
      Obj({
        group: Opt(Str()),
        kind: Str(),
        name: Opt(Str('the ServiceAccount; none: every one of the namespace')),
        namespace: Opt(Str()),
      }),
      'ServiceAccount (or Namespace) references',
    ),
  ),
});
/** A Linkerd MeshTLSAuthentication. */
export type MeshTLSAuthentication = Resource<'MeshTLSAuthentication', Static<typeof MeshTLSAuthenticationSpec>>;

/** Linkerd MeshTLSAuthentication. */
export const meshTlsAuthenticationKind = defineKind({
  family: 'linkerd',
  group: POLICY_GROUP,
  kind: 'MeshTLSAuthentication',
  plural: 'meshtlsauthentications',
  singular: 'meshtlsauthentication',
  shortNames: ['meshtlsauthn'],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1'],
  storageVersion: 'v1alpha1',
  namespaced: true,
  summary: 'A set of mesh identities, used by AuthorizationPolicy',
  reference: REFERENCE,
  spec: MeshTLSAuthenticationSpec,
  unknownFields: 'warn',
  statusSubresource: false,
  check(spec, report) {
    if (!spec.identities?.length === !spec.identityRefs?.length)
      report(['spec'], 'set exactly one of identities and identityRefs');
  },
});

/** The spec of a NetworkAuthentication. */
export const NetworkAuthenticationSpec = Obj({
  networks: List(Obj({ cidr: Str('a CIDR'), except: Opt(List(Str(), 'CIDRs excluded')) }), 'client networks', {
    minItems: 1,
  }),
});
/** A Linkerd NetworkAuthentication. */
export type NetworkAuthentication = Resource<'NetworkAuthentication', Static<typeof NetworkAuthenticationSpec>>;

/** Linkerd NetworkAuthentication. */
export const networkAuthenticationKind = defineKind({
  family: 'linkerd',
  group: POLICY_GROUP,
  kind: 'NetworkAuthentication',
  plural: 'networkauthentications',
  singular: 'networkauthentication',
  shortNames: ['netauthn', 'networkauthn'],
  categories: ['policy', 'linkerd'],
  versions: ['v1alpha1'],
  storageVersion: 'v1alpha1',
  namespaced: true,
  summary: 'A set of client networks (CIDRs), used by AuthorizationPolicy',
  reference: REFERENCE,
  spec: NetworkAuthenticationSpec,
  unknownFields: 'warn',
  statusSubresource: false,
});
