/** What each DestinationRule field does (see src/config/truth.ts for the format). */
import { accepted, enforced, exceptValues, truthTable, type FieldTruth } from '../truth.js';
import { TESTS as T } from './tests.js';

const NO_TLS_ORIGINATION =
  'TLS origination (SIMPLE/MUTUAL) applies to ServiceEntry hosts only (test/e2e/service-entry.test.ts: credentialName, sni, a client certificate); towards mesh services mTLS is automatic and these fields are not applied';

/** One traffic policy's fields, under `prefix` (it appears at four places in a DestinationRule). */
function policy(prefix: string): Record<string, FieldTruth> {
  const p = (f: string): string => `${prefix}.${f}`;
  return {
    // A list item is no field of its own: the list's entry covers it.
    ...(prefix.endsWith('[]') ? {} : { [prefix]: enforced(T.translate) }),
    [p('loadBalancer')]: enforced(T.clusters, T.translate),
    [p('loadBalancer.consistentHash')]: enforced(T.clusters),
    [p('loadBalancer.consistentHash.httpQueryParameterName')]: enforced(T.fields),
    [p('connectionPool')]: enforced(T.translate, T.e2eResilience),
    [p('connectionPool.tcp.tcpKeepalive')]: accepted('TCP keepalive is not set on upstream connections'),
    [p('connectionPool.tcp.maxConnectionDuration')]: accepted('upstream connections are not closed by age'),
    [p('connectionPool.tcp.idleTimeout')]: accepted('only connectionPool.http.idleTimeout closes idle connections'),
    [p('connectionPool.http.maxRetries')]: enforced(T.fields, T.resilience),
    [p('connectionPool.http.idleTimeout')]: enforced(T.fields),
    [p('connectionPool.http.h2UpgradePolicy')]: accepted('the upstream protocol follows the Service port protocol'),
    [p('connectionPool.http.useClientProtocol')]: accepted('the upstream protocol follows the Service port protocol'),
    [p('loadBalancer.consistentHash.httpCookie.attributes')]: accepted(
      'generated cookies carry only name, path and max-age',
    ),
    [p('connectionPool.http.http2KeepAlive')]: accepted('upstream HTTP/2 connections send no PING frames'),
    [p('outlierDetection.outlierDetectionHttpErrorCodes')]: accepted(
      'outlier detection counts 5xx (and gateway errors) only',
    ),
    [p('connectionPool.http.maxConcurrentStreams')]: accepted('the HTTP/2 stream limit is not configurable'),
    [p('outlierDetection')]: enforced(T.clusters, T.e2eResilience),
    [p('outlierDetection.splitExternalLocalOriginErrors')]: accepted('local and upstream errors are counted together'),
    [p('outlierDetection.consecutiveLocalOriginFailures')]: accepted('local and upstream errors are counted together'),
    [p('loadBalancer.simple')]: enforced(T.clusters, T.translate, T.fields, T.proxyMode),
    [p('tls')]: enforced(T.translate, T.security),
    [p('tls.mode')]: exceptValues(enforced(T.translate, T.security, T.istioMutual), {
      SIMPLE: NO_TLS_ORIGINATION,
      MUTUAL: NO_TLS_ORIGINATION,
    }),
    ...Object.fromEntries(
      [
        'clientCertificate',
        'privateKey',
        'caCertificates',
        'credentialName',
        'subjectAltNames',
        'sni',
        'insecureSkipVerify',
        'caCrl',
      ].map((f) => [p(`tls.${f}`), accepted(NO_TLS_ORIGINATION)]),
    ),
  };
}

/** networking.istio.io DestinationRule. */
export const destinationRuleTruth = truthTable('networking.istio.io/DestinationRule', {
  host: enforced(T.translate),
  ...policy('trafficPolicy'),
  'trafficPolicy.portLevelSettings': enforced(T.fields),
  ...policy('trafficPolicy.portLevelSettings[]'),
  'trafficPolicy.portLevelSettings[].port': enforced(T.fields),
  subsets: enforced(T.translate, T.shifting),
  ...policy('subsets[].trafficPolicy'),
  'subsets[].trafficPolicy.portLevelSettings': enforced(T.fields),
  ...policy('subsets[].trafficPolicy.portLevelSettings[]'),
  'subsets[].trafficPolicy.portLevelSettings[].port': enforced(T.fields),
  exportTo: enforced(T.fields),
  workloadSelector: accepted('a DestinationRule applies to every client of its namespace'),
});
