/**
 * security.istio.io PeerAuthentication: whether workloads accept plain text or require mutual TLS
 * (istio/api security/v1beta1/peer_authentication.proto). Mesh-wide in the root namespace,
 * namespace-wide without a selector, per workload (and port) with one.
 */
import type { Static } from '@sinclair/typebox';
import { Enum, MapOf, Obj, Opt, WorkloadSelector, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

const MutualTLS = Obj(
  {
    mode: Opt(
      Enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const, {
        description: 'UNSET inherits from the parent scope; PERMISSIVE accepts mTLS and plain text; STRICT only mTLS',
        default: 'UNSET (PERMISSIVE at the root)',
      }),
    ),
  },
  'mutual TLS mode',
);

/** The spec of a PeerAuthentication. */
export const PeerAuthenticationSpec = Obj({
  selector: Opt(WorkloadSelector),
  mtls: Opt(MutualTLS),
  portLevelMtls: Opt(MapOf(MutualTLS, 'port number -> mode, overriding mtls for that port (needs a selector)')),
});
/** The spec of a PeerAuthentication. */
export type PeerAuthenticationSpec = Static<typeof PeerAuthenticationSpec>;
/** An Istio PeerAuthentication. */
export type PeerAuthentication = Resource<'PeerAuthentication', PeerAuthenticationSpec>;

/** Istio PeerAuthentication. */
export const peerAuthenticationKind = defineKind({
  family: 'istio',
  group: 'security.istio.io',
  kind: 'PeerAuthentication',
  plural: 'peerauthentications',
  singular: 'peerauthentication',
  shortNames: ['pa'],
  categories: ['istio-io', 'security-istio-io'],
  versions: ['v1beta1', 'v1'],
  storageVersion: 'v1beta1',
  namespaced: true,
  summary: 'Whether workloads require mutual TLS (STRICT), accept both (PERMISSIVE) or plain text (DISABLE)',
  reference: 'https://istio.io/latest/docs/reference/config/security/peer_authentication/',
  spec: PeerAuthenticationSpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    {
      name: 'Mode',
      type: 'string',
      jsonPath: '.spec.mtls.mode',
      description: 'Defines the mTLS mode used for peer authentication.',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    for (const port of Object.keys(spec.portLevelMtls ?? {})) {
      if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
        report(
          ['spec', 'portLevelMtls', port],
          `"${port}" is not a port number (1..65535); key portLevelMtls by port number`,
        );
      }
    }
    if (spec.portLevelMtls && Object.keys(spec.portLevelMtls).length > 0 && !spec.selector?.matchLabels) {
      report(
        ['spec', 'portLevelMtls'],
        'portLevelMtls needs a selector naming the workloads; add selector.matchLabels',
      );
    }
  },
});
