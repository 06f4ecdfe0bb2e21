/**
 * networking.istio.io Gateway: a load balancer at the edge of the mesh receiving or sending
 * traffic: the ports, hosts and TLS of a gateway proxy (istio/api networking/v1alpha3/gateway.proto).
 */
import type { Static } from '@sinclair/typebox';
import { List, Obj, Opt, Str, StringMap, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';
import { ServerPort, ServerTLSSettings } from './istio-common.js';

const Server = Obj(
  {
    port: ServerPort,
    bind: Opt(
      Str({
        description: 'address or unix socket the listener binds to',
        unsupported: 'gateways listen on all addresses',
      }),
    ),
    hosts: List(Str(), 'hosts exposed (`ns/host`, `*/host`, wildcards)', { minItems: 1 }),
    tls: Opt(ServerTLSSettings),
    defaultEndpoint: Opt(Str({ unsupported: 'gateways always forward to the routed service' })),
    name: Opt(Str('name of the server, for logs and VirtualService port matching')),
  },
  'one listener of the gateway',
);

/** The spec of a Gateway. */
export const GatewaySpec = Obj({
  servers: List(Server, 'listeners of the gateway', { minItems: 1 }),
  selector: Opt(StringMap('labels of the gateway proxy pods this applies to (any namespace unless restricted)')),
});
/** The spec of a Gateway. */
export type GatewaySpec = Static<typeof GatewaySpec>;
/** An Istio Gateway. */
export type Gateway = Resource<'Gateway', GatewaySpec>;

/** Istio Gateway. */
export const gatewayKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'Gateway',
  plural: 'gateways',
  singular: 'gateway',
  shortNames: ['gw'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: ['v1alpha3', 'v1beta1', 'v1'],
  storageVersion: 'v1alpha3',
  namespaced: true,
  summary: 'Ports, hosts and TLS of a gateway proxy at the edge of the mesh',
  reference: 'https://istio.io/latest/docs/reference/config/networking/gateway/',
  spec: GatewaySpec,
  unknownFields: 'error',
  statusSubresource: true,
  check(spec, report) {
    spec.servers.forEach((s, i) => {
      const tls = s.tls;
      const proto = s.port.protocol.toUpperCase();
      if ((proto === 'HTTPS' || proto === 'TLS') && !tls) {
        report(
          ['spec', 'servers', i, 'tls'],
          `a ${proto} server needs tls settings; add tls.mode (SIMPLE with credentialName, or PASSTHROUGH)`,
        );
      }
      if (
        tls &&
        (tls.mode === 'SIMPLE' || tls.mode === 'MUTUAL' || tls.mode === 'OPTIONAL_MUTUAL') &&
        !tls.credentialName &&
        !tls.credentialNames?.length &&
        !tls.tlsCertificates?.length
      ) {
        if (!tls.serverCertificate || !tls.privateKey) {
          report(
            ['spec', 'servers', i, 'tls'],
            `${tls.mode} TLS needs a certificate: set credentialName (a Secret), or serverCertificate and privateKey`,
          );
        }
      }
      if (tls?.mode === 'AUTO_PASSTHROUGH')
        report(
          ['spec', 'servers', i, 'tls', 'mode'],
          'AUTO_PASSTHROUGH (multi-network SNI routing) is not implemented: the server is not served; use PASSTHROUGH with tls routes',
          'unsupported',
        );
      if (tls?.mode === 'OPTIONAL_MUTUAL')
        report(
          ['spec', 'servers', i, 'tls', 'mode'],
          'OPTIONAL_MUTUAL is served as MUTUAL: clients without a certificate are refused',
          'unsupported',
        );
      if (tls?.mode === 'MUTUAL' && !tls.credentialName && !tls.caCertificates) {
        report(
          ['spec', 'servers', i, 'tls'],
          'MUTUAL TLS needs the CA that verifies clients: set caCertificates, or use credentialName with a ca.crt key',
        );
      }
    });
  },
});
