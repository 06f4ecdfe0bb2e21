/**
 * networking.istio.io Sidecar: narrows what a sidecar proxy sees and accepts; the mesh implements the
 * egress scoping and the outbound traffic policy (istio/api networking/v1alpha3/sidecar.proto).
 */
import type { Static } from '@sinclair/typebox';
import { Enum, List, Obj, Opt, PortNumber, Str, UInt32, NetworkingWorkloadSelector, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';
import { ConnectionPoolSettings } from './destination-rule.js';
import { Destination, ServerTLSSettings } from './istio-common.js';

const SidecarPort = Obj(
  {
    number: Opt(PortNumber()),
    protocol: Opt(Str()),
    name: Opt(Str()),
    targetPort: Opt(UInt32({ deprecated: 'not used' })),
  },
  'a port of a listener',
);
const CaptureMode = Enum(['DEFAULT', 'IPTABLES', 'NONE'] as const, 'how traffic reaches the listener');

/** The spec of a Sidecar. */
export const SidecarSpec = Obj({
  workloadSelector: Opt(NetworkingWorkloadSelector),
  ingress: Opt(
    List(
      Obj({
        port: SidecarPort,
        bind: Opt(Str()),
        captureMode: Opt(CaptureMode),
        defaultEndpoint: Opt(Str()),
        tls: Opt(ServerTLSSettings),
        connectionPool: Opt(ConnectionPoolSettings),
      }),
      {
        description: 'inbound listeners',
        unsupported: 'custom inbound listeners are not implemented; inbound traffic is captured on 15006',
      },
    ),
  ),
  egress: Opt(
    List(
      Obj({
        port: Opt(SidecarPort),
        bind: Opt(Str({ unsupported: 'egress listeners bind to the capture port' })),
        captureMode: Opt({ ...CaptureMode, 'x-mesh-unsupported': 'outbound capture is fixed at install time' }),
        hosts: List(Str(), '`namespace/host` entries the sidecar may reach (`./*`, `istio-system/*`, `*/*`)', {
          minItems: 1,
        }),
      }),
      'the services this sidecar sees (scoping of its configuration)',
    ),
  ),
  outboundTrafficPolicy: Opt(
    Obj(
      {
        mode: Opt(
          Enum(['REGISTRY_ONLY', 'ALLOW_ANY'] as const, {
            description: 'whether unknown destinations are blocked',
            default: 'ALLOW_ANY',
          }),
        ),
        egressProxy: Opt({
          ...Destination,
          'x-mesh-unsupported': 'forwarding unknown traffic to an egress proxy is not implemented',
        }),
      },
      'what happens to traffic for unknown destinations',
    ),
  ),
  inboundConnectionPool: Opt({
    ...ConnectionPoolSettings,
    'x-mesh-unsupported': 'inbound connection limits are not implemented',
  }),
});
/** The spec of a Sidecar. */
export type SidecarSpec = Static<typeof SidecarSpec>;
/** An Istio Sidecar. */
export type Sidecar = Resource<'Sidecar', SidecarSpec>;

/** Istio Sidecar. */
export const sidecarKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'Sidecar',
  plural: 'sidecars',
  singular: 'sidecar',
  shortNames: [],
  categories: ['istio-io', 'networking-istio-io'],
  versions: ['v1alpha3', 'v1beta1', 'v1'],
  storageVersion: 'v1alpha3',
  namespaced: true,
  summary: 'Scope of a sidecar: the hosts it sees, and what it does with unknown destinations',
  reference: 'https://istio.io/latest/docs/reference/config/networking/sidecar/',
  spec: SidecarSpec,
  unknownFields: 'error',
  statusSubresource: true,
  check(spec, report) {
    spec.egress?.forEach((e, i) =>
      e.hosts.forEach((h, j) => {
        if (!h.includes('/'))
          report(['spec', 'egress', i, 'hosts', j], `egress host "${h}" needs a namespace: write "*/${h}" or "./${h}"`);
      }),
    );
  },
});
