/**
 * networking.istio.io DestinationRule: policies applied to traffic for a service after routing:
 * subsets, load balancing, connection pools (circuit breaking), outlier detection, client TLS
 * (istio/api networking/v1alpha3/destination_rule.proto).
 */
import type { Static } from '@sinclair/typebox';
import {
  Bool,
  Duration,
  Enum,
  Int32,
  IntPercentage,
  List,
  MapOf,
  MeshKeyword,
  Num,
  Obj,
  Opt,
  Str,
  StringMap,
  UInt32,
  WorkloadSelector,
  type Resource,
} from '../schema.js';
import { defineKind, type ReportIssue } from '../kind.js';
import { PortSelector } from './istio-common.js';

const NO_LOCALITY = 'the mesh has no locality-aware load balancing';

const LoadBalancerSettings = Obj(
  {
    simple: Opt({
      ...Enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const, {
        description: 'a standard algorithm (LEAST_CONN is a deprecated alias of LEAST_REQUEST)',
        default: 'LEAST_REQUEST',
      }),
      [MeshKeyword.deprecatedValues]: { LEAST_CONN: 'use LEAST_REQUEST (same behaviour)' },
    }),
    consistentHash: Opt(
      Obj(
        {
          httpHeaderName: Opt(Str('hash on this request header')),
          httpCookie: Opt(
            Obj(
              {
                name: Str('cookie name'),
                path: Opt(Str('cookie path')),
                ttl: Opt(Duration('lifetime of a generated cookie; 0s: session cookie', 'any')),
                attributes: Opt(
                  List(
                    Obj({ name: Str('attribute name'), value: Opt(Str('attribute value')) }),
                    'more attributes of a generated cookie',
                  ),
                ),
              },
              'hash on a cookie (generated when absent and ttl is set)',
            ),
          ),
          useSourceIp: Opt(Bool('hash on the source IP')),
          httpQueryParameterName: Opt(Str('hash on this query parameter')),
          ringHash: Opt(Obj({ minimumRingSize: Opt(UInt32()) }, { unsupported: 'the ring size is fixed by the mesh' })),
          maglev: Opt(
            Obj({ tableSize: Opt(UInt32()) }, { unsupported: 'Maglev is not implemented; the mesh uses a hash ring' }),
          ),
          minimumRingSize: Opt(
            UInt32({ deprecated: 'use ringHash.minimumRingSize', unsupported: 'the ring size is fixed by the mesh' }),
          ),
        },
        'session affinity by hashing a request attribute',
        {
          exclusive: [
            ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
            ['ringHash', 'maglev'],
          ],
        },
      ),
    ),
    localityLbSetting: Opt(
      Obj(
        {
          distribute: Opt(List(Obj({ from: Opt(Str()), to: Opt(MapOf(UInt32())) }))),
          failover: Opt(List(Obj({ from: Opt(Str()), to: Opt(Str()) }))),
          failoverPriority: Opt(List(Str())),
          enabled: Opt(Bool()),
        },
        { unsupported: NO_LOCALITY },
      ),
    ),
    zoneAwareLbSetting: Opt(
      Obj(
        {
          enabled: Opt(Bool('enable zone aware load balancing')),
          failover: Opt(List(Obj({ from: Opt(Str('originating region')), to: Opt(Str('region to fail over to')) }))),
          failoverPriority: Opt(List(Str(), 'labels that order endpoints by priority')),
          minClusterSize: Opt(UInt32('hosts needed in the local zone', { minimum: 1 })),
        },
        { description: 'zone aware load balancing', unsupported: NO_LOCALITY },
      ),
    ),
    backendUtilization: Opt(
      Obj(
        {
          errorUtilizationPenaltyPercent: Opt(UInt32('penalty for endpoints that return errors, in % of utilization')),
          metricNamesForComputingUtilization: Opt(List(Str(), 'custom ORCA metric names')),
          weightExpirationPeriod: Opt(Duration('weight expiry when an endpoint stops reporting')),
          weightStabilizationPeriod: Opt(Duration('delay before reported weights are trusted')),
          weightUpdatePeriod: Opt(Duration('how often weights are recomputed')),
        },
        {
          description: 'weights from backend-reported (ORCA) utilization',
          unsupported: 'ORCA utilization reports are not read; use LEAST_REQUEST',
        },
      ),
    ),
    warmupDurationSecs: Opt(
      Duration({ deprecated: 'use warmup.duration', unsupported: 'slow start is not implemented' }),
    ),
    warmup: Opt(
      Obj(
        {
          duration: Opt(Duration()),
          minimumPercent: Opt(Num(undefined, { minimum: 0, maximum: 100 })),
          aggression: Opt(Num(undefined, { minimum: 1 })),
        },
        { unsupported: 'slow start is not implemented' },
      ),
    ),
  },
  'load balancing algorithm',
  { exclusive: [['simple', 'consistentHash']] },
);

/** Connection pool limits (DestinationRule, and Sidecar inbound pools). */
export const ConnectionPoolSettings = Obj(
  {
    tcp: Opt(
      Obj(
        {
          maxConnections: Opt(
            Int32({ description: 'maximum connections to one upstream host', default: '2^32-1' }, { minimum: 0 }),
          ),
          connectTimeout: Opt(Duration({ description: 'TCP connect timeout, >= 1ms', default: '10s' })),
          tcpKeepalive: Opt(
            Obj(
              {
                probes: Opt(
                  UInt32({ unsupported: 'Node.js sets only the keepalive idle time; the OS decides probes' }),
                ),
                time: Opt(Duration('idle time before keepalive probes start')),
                interval: Opt(
                  Duration({ unsupported: 'Node.js sets only the keepalive idle time; the OS decides the interval' }),
                ),
              },
              'TCP keepalive (SO_KEEPALIVE)',
            ),
          ),
          maxConnectionDuration: Opt(Duration('close connections older than this')),
          idleTimeout: Opt(
            Duration({ description: 'close TCP connections idle this long; 0s disables', default: '1h' }, 'any'),
          ),
        },
        'TCP and HTTP connection settings',
      ),
    ),
    http: Opt(
      Obj(
        {
          http1MaxPendingRequests: Opt(
            Int32({ description: 'requests queued while waiting for a connection', default: '2^32-1' }, { minimum: 0 }),
          ),
          http2MaxRequests: Opt(
            Int32({ description: 'maximum active requests to a destination', default: '2^32-1' }, { minimum: 0 }),
          ),
          maxRequestsPerConnection: Opt(
            Int32(
              { description: 'requests per connection; 1 disables keep-alive; 0 unlimited', default: '0' },
              { minimum: 0 },
            ),
          ),
          maxRetries: Opt(
            Int32({ description: 'outstanding retries to all hosts', default: '2^32-1' }, { minimum: 0 }),
          ),
          idleTimeout: Opt(Duration({ description: 'close pooled connections idle this long', default: '1h' }, 'any')),
          h2UpgradePolicy: Opt(
            Enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] as const, 'upgrade HTTP/1.1 connections to HTTP/2'),
          ),
          useClientProtocol: Opt(Bool('keep the client protocol (HTTP/1.1 or HTTP/2) upstream')),
          http2KeepAlive: Opt(
            Obj(
              {
                interval: Opt(Duration('send HTTP/2 PING frames at this interval')),
                timeout: Opt(Duration('close the connection when a PING is not answered in time')),
              },
              'HTTP/2 PING frames on upstream connections',
            ),
          ),
          maxConcurrentStreams: Opt(
            Int32({ description: 'concurrent streams per HTTP/2 connection', default: '2^31-1' }, { minimum: 0 }),
          ),
        },
        'HTTP connection pool settings',
      ),
    ),
  },
  'connection pool limits per upstream host (circuit breaking)',
);

const OutlierDetection = Obj(
  {
    consecutiveErrors: Opt(
      Int32(
        {
          description: 'gateway errors (502/503/504) before ejection',
          deprecated: 'use consecutive5xxErrors or consecutiveGatewayErrors',
        },
        { minimum: 0 },
      ),
    ),
    splitExternalLocalOriginErrors: Opt(
      Bool('count local failures (connect errors, timeouts) apart from upstream 5xx'),
    ),
    consecutiveLocalOriginFailures: Opt(UInt32('local failures before ejection (with splitExternalLocalOriginErrors)')),
    consecutiveGatewayErrors: Opt(
      UInt32({ description: '502/503/504 (or connect errors) before ejection; 0 disables', default: '0' }),
    ),
    consecutive5xxErrors: Opt(
      UInt32({ description: '5xx (or connect errors) before ejection; 0 disables', default: '5' }),
    ),
    interval: Opt(Duration({ description: 'time between ejection sweeps, >= 1ms', default: '10s' })),
    baseEjectionTime: Opt(
      Duration({ description: 'minimum ejection duration, multiplied by the ejection count', default: '30s' }),
    ),
    outlierDetectionHttpErrorCodes: Opt(
      List(Int32(undefined, { minimum: 100, maximum: 599 }), 'statuses counted as errors (instead of 5xx)'),
    ),
    maxEjectionPercent: Opt(IntPercentage({ description: 'maximum % of hosts ejected', default: '10' })),
    minHealthPercent: Opt(
      IntPercentage({ description: 'disable ejection when fewer % of hosts are healthy', default: '0' }),
    ),
  },
  'ejection of failing hosts from the load balancing pool',
);

const ClientTLSSettings = Obj(
  {
    mode: Opt(
      Enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const, {
        description: 'TLS towards the upstream; ISTIO_MUTUAL uses the mesh certificates',
        default: 'DISABLE (ISTIO_MUTUAL with auto mTLS)',
      }),
    ),
    clientCertificate: Opt(Str('path of the client certificate (MUTUAL)')),
    privateKey: Opt(Str('path of the client private key (MUTUAL)')),
    caCertificates: Opt(Str('path of the CA bundle that verifies the server')),
    credentialName: Opt(Str('Secret holding key, cert and ca (instead of paths)')),
    subjectAltNames: Opt(List(Str(), 'accepted SANs of the server certificate')),
    sni: Opt(Str('SNI presented to the server')),
    insecureSkipVerify: Opt(Bool('do not verify the server certificate')),
    caCrl: Opt(
      Str({ description: 'path of a certificate revocation list', unsupported: 'revocation lists are not checked' }),
    ),
  },
  'TLS settings towards the upstream',
);

const PolicyParts = {
  loadBalancer: Opt(LoadBalancerSettings),
  connectionPool: Opt(ConnectionPoolSettings),
  outlierDetection: Opt(OutlierDetection),
  tls: Opt(ClientTLSSettings),
};

const TrafficPolicy = Obj(
  {
    ...PolicyParts,
    portLevelSettings: Opt(
      List(
        Obj(
          { port: Opt(PortSelector), ...PolicyParts },
          'policy for one port (replaces, not merges, the destination-level policy)',
        ),
      ),
    ),
    tunnel: Opt(
      Obj(
        { protocol: Opt(Str()), targetHost: Str(), targetPort: UInt32() },
        { unsupported: 'tunneling TCP over HTTP CONNECT/POST is not implemented' },
      ),
    ),
    proxyProtocol: Opt(
      Obj(
        { version: Opt(Enum(['V1', 'V2'] as const)) },
        { unsupported: 'sending the PROXY protocol upstream is not implemented' },
      ),
    ),
    retryBudget: Opt(
      Obj(
        {
          percent: Opt(Num(undefined, { minimum: 0, maximum: 100 })),
          minRetryConcurrency: Opt(UInt32()),
          budgetInterval: Opt(Duration()),
        },
        { unsupported: 'retry budgets are not implemented for Istio kinds; limit attempts in the VirtualService' },
      ),
    ),
  },
  'policies for traffic to the host',
);

const Subset = Obj(
  {
    name: Str('name used by routes (`subset: v1`)', { minLength: 1 }),
    labels: Opt(StringMap('labels selecting the endpoints of the subset')),
    trafficPolicy: Opt(TrafficPolicy),
  },
  'a named group of endpoints, e.g. a version',
);

/** The spec of a DestinationRule. */
export const DestinationRuleSpec = Obj({
  host: Str('the service: short name, FQDN or ServiceEntry host; wildcards allowed', { minLength: 1 }),
  trafficPolicy: Opt(TrafficPolicy),
  subsets: Opt(List(Subset, 'named subsets (versions)')),
  exportTo: Opt(List(Str(), 'namespaces that see this DestinationRule: `.`, `*` or names')),
  workloadSelector: Opt(WorkloadSelector),
});
/** The spec of a DestinationRule. */
export type DestinationRuleSpec = Static<typeof DestinationRuleSpec>;
/** An Istio DestinationRule. */
export type DestinationRule = Resource<'DestinationRule', DestinationRuleSpec>;
/** A traffic policy of a DestinationRule or of one of its subsets. */
export type TrafficPolicy = Static<typeof TrafficPolicy>;

function checkTls(
  tls: Static<typeof ClientTLSSettings> | undefined,
  at: (string | number)[],
  report: ReportIssue,
): void {
  if (tls?.mode === 'MUTUAL' && !tls.credentialName && (!tls.clientCertificate || !tls.privateKey)) {
    report(
      [...at, 'tls'],
      'MUTUAL TLS needs a client certificate: set clientCertificate and privateKey, or credentialName',
    );
  }
  if (
    tls?.mode === 'ISTIO_MUTUAL' &&
    (tls.clientCertificate || tls.privateKey || tls.caCertificates || tls.credentialName)
  ) {
    report(
      [...at, 'tls'],
      'ISTIO_MUTUAL uses the mesh certificates; remove clientCertificate, privateKey, caCertificates and credentialName',
    );
  }
}

function checkPolicy(p: TrafficPolicy | undefined, at: (string | number)[], report: ReportIssue): void {
  if (!p) return;
  checkTls(p.tls, at, report);
  p.portLevelSettings?.forEach((s, i) => {
    if (!s.port?.number)
      report([...at, 'portLevelSettings', i, 'port'], 'port-level settings need port.number; add it');
    checkTls(s.tls, [...at, 'portLevelSettings', i], report);
  });
}

/** Istio DestinationRule. */
export const destinationRuleKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'DestinationRule',
  plural: 'destinationrules',
  singular: 'destinationrule',
  shortNames: ['dr'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: ['v1alpha3', 'v1beta1', 'v1'],
  storageVersion: 'v1alpha3',
  namespaced: true,
  summary:
    'Policies for traffic to a host after routing: subsets, load balancing, circuit breaking, outlier detection, TLS',
  reference: 'https://istio.io/latest/docs/reference/config/networking/destination-rule/',
  spec: DestinationRuleSpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    {
      name: 'Host',
      type: 'string',
      jsonPath: '.spec.host',
      description: 'The name of a service from the service registry',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    checkPolicy(spec.trafficPolicy, ['spec', 'trafficPolicy'], report);
    const seen = new Map<string, number>();
    spec.subsets?.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined)
        report(
          ['spec', 'subsets', i, 'name'],
          `duplicate subset name "${s.name}" (also subsets[${first}]); rename one`,
        );
      else seen.set(s.name, i);
      checkPolicy(s.trafficPolicy, ['spec', 'subsets', i, 'trafficPolicy'], report);
    });
  },
});
