/**
 * The catalogue of analyzer messages. Codes are stable and never reused: scripts and `--suppress`
 * match on them. Retire a code by marking it `retired`, never by deleting or renumbering it.
 * Ranges: 00xx input and schema, 01xx routing, 02xx destinations and gateways, 03xx security,
 * 04xx Linkerd and SMI, 05xx injection.
 */

/** Severity of a finding, ordered Info < Warning < Error. */
export type Level = 'Error' | 'Warning' | 'Info';

/** Orders levels for thresholds. */
export const LEVEL_RANK: Readonly<Record<Level, number>> = { Info: 0, Warning: 1, Error: 2 };

/** One entry of the catalogue. */
export interface MessageType {
  readonly code: string;
  readonly name: string;
  readonly level: Level;
  /** What the message means, for `meshctl analyze --list`. */
  readonly description: string;
  readonly retired?: boolean;
}

function m(code: string, name: string, level: Level, description: string): MessageType {
  return { code, name, level, description };
}

/** Every message meshctl analyze can report. */
export const Messages = {
  SchemaError: m(
    'MESH0001',
    'SchemaError',
    'Error',
    'A field has a wrong type, value or shape, or a required field is missing; the API server or the mesh would reject the resource',
  ),
  UnsupportedField: m(
    'MESH0002',
    'UnsupportedField',
    'Warning',
    'A field meshctl accepts but does not implement: it has no effect',
  ),
  DeprecatedField: m(
    'MESH0003',
    'DeprecatedField',
    'Info',
    'A field or value the upstream API deprecates, and what replaces it',
  ),
  UnknownField: m(
    'MESH0004',
    'UnknownField',
    'Warning',
    'A field the kind does not have (Linkerd/SMI kinds: the API server prunes it)',
  ),
  WrongApiGroup: m(
    'MESH0005',
    'WrongApiGroup',
    'Warning',
    'A kind written with the API group of another kind (e.g. DestinationRule in security.istio.io)',
  ),
  InvalidRegex: m(
    'MESH0006',
    'InvalidRegex',
    'Error',
    'A regular expression that RE2 rejects (no backreferences or lookaround)',
  ),
  PercentageOutOfRange: m(
    'MESH0007',
    'PercentageOutOfRange',
    'Error',
    'A percentage (fault, mirror, ejection) outside 0..100',
  ),
  NotMeshKind: m(
    'MESH0008',
    'NotMeshKind',
    'Info',
    'An object that is neither a mesh kind nor a Kubernetes kind the analyzers read; passed over',
  ),
  InputParseError: m('MESH0009', 'InputParseError', 'Error', 'A file that is not valid YAML or JSON'),
  UnhonouredKind: m(
    'MESH0011',
    'UnhonouredKind',
    'Warning',
    'An upstream kind the mesh cannot honour (EnvoyFilter, WasmPlugin): it has no effect; the message says what replaces its common uses',
  ),
  InvalidDuration: m(
    'MESH0010',
    'InvalidDuration',
    'Error',
    'A duration that is not of the form 1.5s, 500ms, 1m, or is below 1ms where 1ms is the minimum',
  ),
  ReferencedSubsetNotFound: m(
    'MESH0101',
    'ReferencedSubsetNotFound',
    'Error',
    'A route or mirror names a subset that no DestinationRule for its host defines',
  ),
  ReferencedHostNotFound: m(
    'MESH0102',
    'ReferencedHostNotFound',
    'Error',
    'A route or mirror targets a host that no Service or ServiceEntry defines (checked when services are known)',
  ),
  RouteWeightsNotSumTo100: m(
    'MESH0103',
    'RouteWeightsNotSumTo100',
    'Warning',
    'The weights of a route with several destinations do not add up to 100',
  ),
  ConflictingVirtualServices: m(
    'MESH0104',
    'ConflictingVirtualServices',
    'Error',
    'Two VirtualServices define routes for the same host on the same gateway (or both for the sidecars); only one is used',
  ),
  GatewayNotFound: m('MESH0105', 'GatewayNotFound', 'Error', 'A VirtualService names a Gateway that does not exist'),
  RetriesExceedTimeout: m(
    'MESH0106',
    'RetriesExceedTimeout',
    'Warning',
    'perTryTimeout x attempts is longer than the route timeout: the last retries can never complete',
  ),
  DestinationPortNotFound: m(
    'MESH0107',
    'DestinationPortNotFound',
    'Error',
    'A route destination names a port its Service does not expose (checked when services are known)',
  ),
  DestinationPortRequired: m(
    'MESH0108',
    'DestinationPortRequired',
    'Error',
    'A route destination leaves the port out while its Service exposes several: which one is ambiguous',
  ),
  UnreachableRule: m(
    'MESH0109',
    'UnreachableRule',
    'Warning',
    'A VirtualService rule no request reaches: a rule without match comes before it, or every match it has is an earlier one',
  ),
  IneffectiveMatch: m(
    'MESH0110',
    'IneffectiveMatch',
    'Info',
    'A VirtualService match block that takes no request: an earlier block is identical or matches every request it would',
  ),
  HostNotInGateway: m(
    'MESH0111',
    'HostNotInGateway',
    'Warning',
    'A VirtualService bound to a Gateway none of whose servers exposes any of its hosts (for its namespace): the gateway never routes it',
  ),
  SubsetSelectsNoWorkload: m(
    'MESH0201',
    'SubsetSelectsNoWorkload',
    'Warning',
    'A DestinationRule subset whose labels select no known workload of the host (checked when workloads are known)',
  ),
  GatewayCredentialNotFound: m(
    'MESH0202',
    'GatewayCredentialNotFound',
    'Error',
    'A Gateway server names a credentialName Secret that does not exist (checked when secrets are known)',
  ),
  ConflictingGateways: m(
    'MESH0203',
    'ConflictingGateways',
    'Error',
    'Two Gateways select the same gateway workload and declare the same host on the same port: only one of them serves it',
  ),
  GatewayPortNotOnService: m(
    'MESH0204',
    'GatewayPortNotOnService',
    'Warning',
    "A Gateway server port that no Service of the gateway's workload exposes: clients cannot reach it (checked when services and workloads are known)",
  ),
  ConflictingSidecars: m(
    'MESH0205',
    'ConflictingSidecars',
    'Error',
    'Several Sidecars select the same workload (or several have no selector in one namespace): only the first by name applies',
  ),
  MtlsConflict: m(
    'MESH0301',
    'MtlsConflict',
    'Error',
    'PeerAuthentication requires mTLS (STRICT) while a DestinationRule disables TLS to the same workloads: requests fail',
  ),
  PolicySelectsNoWorkload: m(
    'MESH0302',
    'PolicySelectsNoWorkload',
    'Warning',
    'An AuthorizationPolicy (or other selector-based policy) whose selector matches no known workload',
  ),
  AllowPolicyWithoutRules: m(
    'MESH0303',
    'AllowPolicyWithoutRules',
    'Warning',
    'An ALLOW AuthorizationPolicy with no rules matches nothing, so it denies every request to its workloads',
  ),
  TokenNotRequired: m(
    'MESH0304',
    'TokenNotRequired',
    'Warning',
    'A RequestAuthentication without an AuthorizationPolicy requiring a request principal: requests without a token are accepted',
  ),
  PrincipalOutsideTrustDomain: m(
    'MESH0305',
    'PrincipalOutsideTrustDomain',
    'Warning',
    "An AuthorizationPolicy principal in another trust domain than the mesh's: it never matches a caller",
  ),
  RequestPrincipalWithoutAuthentication: m(
    'MESH0306',
    'RequestPrincipalWithoutAuthentication',
    'Warning',
    'An AuthorizationPolicy rule on requestPrincipals or request.auth.* for workloads no RequestAuthentication covers: every request is anonymous',
  ),
  JwtClaimRoutingWithoutRequestAuthentication: m(
    'MESH0308',
    'JwtClaimRoutingWithoutRequestAuthentication',
    'Error',
    'A VirtualService routes on @request.auth.claims through a gateway no RequestAuthentication applies to: the route never matches',
  ),
  AllowShadowedByDeny: m(
    'MESH0307',
    'AllowShadowedByDeny',
    'Warning',
    'A DENY rule matching every request makes the ALLOW policies of the same workloads unreachable',
  ),
  TrafficSplitServiceNotFound: m(
    'MESH0401',
    'TrafficSplitServiceNotFound',
    'Error',
    'A TrafficSplit root or backend service that does not exist (checked when services are known)',
  ),
  TrafficSplitWeightsZero: m(
    'MESH0402',
    'TrafficSplitWeightsZero',
    'Error',
    'Every backend of a TrafficSplit has weight 0: no backend receives traffic',
  ),
  ServiceProfileNameInvalid: m(
    'MESH0403',
    'ServiceProfileNameInvalid',
    'Error',
    'A ServiceProfile name that is not <service>.<namespace>.svc.<cluster-domain>: it never applies',
  ),
  ApplicationUidReserved: m(
    'MESH0502',
    'ApplicationUidReserved',
    'Error',
    'An application pod or container runs as UID 1337, the sidecar UID: its traffic bypasses the mesh',
  ),
  NamespaceNotInjected: m(
    'MESH0501',
    'NamespaceNotInjected',
    'Warning',
    'A workload targeted by mesh configuration runs without the sidecar (its namespace is not labelled for injection)',
  ),
} as const satisfies Record<string, MessageType>;

/** The catalogue in code order. */
export function catalogue(): MessageType[] {
  return Object.values(Messages).sort((a, b) => a.code.localeCompare(b.code));
}

/** Parses a level as users type it (case-insensitive); undefined when it is not one. */
export function parseLevel(text: string): Level | undefined {
  const t = text.toLowerCase();
  return t === 'error' ? 'Error' : t === 'warning' || t === 'warn' ? 'Warning' : t === 'info' ? 'Info' : undefined;
}
