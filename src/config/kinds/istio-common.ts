/**
 * Message types shared by several Istio kinds (istio/api networking/v1alpha3 and type/v1beta1):
 * destinations, port selectors, string matches, percentages, header operations, server TLS.
 * Field names and semantics follow the Istio reference documentation.
 */
import type { Static } from '@sinclair/typebox';
import { Bool, Enum, List, Obj, Opt, Percentage, PortNumber, Regex, Str, StringMap, UInt32 } from '../schema.js';

/** PortSelector: a port of the destination service, by number. */
export const PortSelector = Obj(
  { number: Opt(PortNumber('a valid port number')) },
  'a port of the destination service',
);

/** Destination: a service in the registry, optionally a subset (from a DestinationRule) and a port. */
export const Destination = Obj(
  {
    host: Str(
      'the service: a registry name (short, or FQDN such as reviews.default.svc.cluster.local) or a ServiceEntry host',
      { minLength: 1 },
    ),
    subset: Opt(Str('a subset defined in the DestinationRule of the host')),
    port: Opt(PortSelector),
  },
  'where traffic goes after routing',
);
/** A route destination. */
export type Destination = Static<typeof Destination>;

/** StringMatch: exactly one of exact, prefix, or an RE2 regex (full match, as Envoy's safe_regex). */
export const StringMatch = Obj(
  {
    exact: Opt(Str('exact string match')),
    prefix: Opt(Str('prefix-based match')),
    regex: Opt(Regex('RE2 style regex-based match; must match the whole value')),
  },
  'one of exact, prefix or regex',
  { exclusive: [['exact', 'prefix', 'regex']] },
);
/** A string match. */
export type StringMatch = Static<typeof StringMatch>;

/** Percent: a double in 0..100. */
export const Percent = Obj({ value: Opt(Percentage('percentage of traffic, 0.0..100.0')) }, 'a percentage');

/** Header operations of a request or a response. */
export const HeaderOperations = Obj(
  {
    set: Opt(StringMap('overwrite these headers')),
    add: Opt(StringMap('append these headers')),
    remove: Opt(List(Str(), 'remove these headers')),
  },
  'header manipulation',
);

/** Headers: manipulation of request and response headers. */
export const Headers = Obj(
  { request: Opt(HeaderOperations), response: Opt(HeaderOperations) },
  'header manipulation rules',
);

/** TLS protocol versions as Istio names them. */
export const TlsProtocolVersion = Enum(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const);

/** ServerTLSSettings: TLS of a Gateway server or a Sidecar ingress listener. */
export const ServerTLSSettings = Obj(
  {
    httpsRedirect: Opt(Bool('send 301 redirects for all http connections, asking clients to use HTTPS')),
    mode: Opt(
      Enum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const, {
        description: 'how the proxy treats TLS on this port',
        default: 'PASSTHROUGH',
      }),
    ),
    serverCertificate: Opt(Str('path of the server certificate (SIMPLE/MUTUAL without credentialName)')),
    privateKey: Opt(Str('path of the server private key')),
    caCertificates: Opt(Str('path of the CA bundle that verifies client certificates (MUTUAL)')),
    caCrl: Opt(
      Str({ description: 'path of a certificate revocation list', unsupported: 'revocation lists are not checked' }),
    ),
    credentialName: Opt(
      Str('name of the Secret (kubernetes.io/tls or generic) holding key, certificate and optionally ca.crt'),
    ),
    caCertCredentialName: Opt(Str('Secret or ConfigMap holding the CA certificates that verify clients (MUTUAL)')),
    credentialNames: Opt(
      List(Str(), {
        description: 'several credentials (RSA and ECDSA)',
        unsupported: 'only one credential per server; use credentialName',
      }),
    ),
    tlsCertificates: Opt(
      List(Obj({ serverCertificate: Opt(Str()), privateKey: Opt(Str()), caCertificates: Opt(Str()) }), {
        description: 'several file-based certificates',
        unsupported: 'only one certificate per server; use serverCertificate/privateKey',
      }),
    ),
    subjectAltNames: Opt(List(Str(), 'accepted subject alternative names of client certificates')),
    verifyCertificateSpki: Opt(List(Str(), { unsupported: 'SPKI pinning is not implemented' })),
    verifyCertificateHash: Opt(List(Str(), { unsupported: 'certificate hash pinning is not implemented' })),
    minProtocolVersion: Opt({ ...TlsProtocolVersion, description: 'minimum TLS version' }),
    maxProtocolVersion: Opt({ ...TlsProtocolVersion, description: 'maximum TLS version' }),
    cipherSuites: Opt(List(Str(), 'OpenSSL cipher suite names')),
    ecdhCurves: Opt(List(Str(), 'ECDH curves offered, e.g. X25519, P-256')),
    insecureSkipVerify: Opt(Bool('accept client certificates that fail verification')),
  },
  'TLS settings of a server',
);

/** Port of a Gateway server or ServiceEntry. */
export const ServerPort = Obj(
  {
    number: PortNumber('port number'),
    protocol: Str('HTTP|HTTPS|GRPC|GRPC-WEB|HTTP2|MONGO|TCP|TLS'),
    name: Opt(Str('label for the port')),
    targetPort: Opt(
      UInt32({
        description: 'port of the endpoints',
        deprecated: 'set the target port on the workload or ServiceEntry endpoint',
      }),
    ),
  },
  'a port on which the proxy listens',
);

/** Protocols Istio accepts in port definitions (case-insensitive in Istio). */
export const KNOWN_PROTOCOLS = [
  'HTTP',
  'HTTPS',
  'GRPC',
  'GRPC-WEB',
  'HTTP2',
  'MONGO',
  'MYSQL',
  'REDIS',
  'TCP',
  'TLS',
  'UDP',
];
