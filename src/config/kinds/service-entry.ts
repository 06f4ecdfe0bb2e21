/**
 * networking.istio.io ServiceEntry: adds services to the mesh's registry, typically external APIs
 * (istio/api networking/v1alpha3/service_entry.proto).
 */
import type { Static } from '@sinclair/typebox';
import {
  Enum,
  List,
  MapOf,
  Obj,
  Opt,
  PortNumber,
  Str,
  StringMap,
  UInt32,
  NetworkingWorkloadSelector,
  type Resource,
} from '../schema.js';
import { defineKind } from '../kind.js';
import { isIP } from 'node:net';
import { ServerPort } from './istio-common.js';

const WorkloadEntry = Obj(
  {
    address: Opt(Str('IP address or DNS name of the endpoint (or unix:// socket)')),
    ports: Opt(MapOf(PortNumber(), 'port name -> endpoint port')),
    labels: Opt(StringMap('labels of the endpoint (for subsets)')),
    network: Opt(Str({ unsupported: 'the mesh has a single network' })),
    locality: Opt(Str({ unsupported: 'the mesh has no locality-aware load balancing' })),
    weight: Opt(UInt32('load balancing weight')),
    serviceAccount: Opt(Str('service account of the endpoint, for its identity')),
  },
  'one endpoint of the service',
);

/** A ServiceEntry port: unlike a Gateway port, `protocol` may be left out (Istio then sniffs it). */
const ServiceEntryPort = Obj(
  {
    ...ServerPort.properties,
    protocol: Opt(Str('HTTP|HTTPS|GRPC|HTTP2|MONGO|TCP|TLS; absent: detected from the traffic')),
    name: Str('label for the port'),
  },
  'a port of the service',
);

/** The spec of a ServiceEntry. */
export const ServiceEntrySpec = Obj({
  hosts: List(Str(), 'hosts of the service (DNS names, wildcards)', { minItems: 1 }),
  addresses: Opt(
    List(
      Str(),
      'virtual IPs or CIDRs of the service: captured connections to them, and HTTP_PROXY requests to a single address, reach it',
    ),
  ),
  ports: Opt(List(ServiceEntryPort, 'ports of the service')),
  location: Opt(
    Enum(['MESH_EXTERNAL', 'MESH_INTERNAL'] as const, {
      description: 'whether the service is outside the mesh (no mTLS) or part of it',
      default: 'MESH_EXTERNAL',
    }),
  ),
  resolution: Opt(
    Enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'] as const, {
      description: 'how endpoints are found',
      default: 'NONE',
    }),
  ),
  endpoints: Opt(List(WorkloadEntry, 'static or DNS endpoints')),
  workloadSelector: Opt(NetworkingWorkloadSelector),
  exportTo: Opt(List(Str(), 'namespaces that see this service')),
  subjectAltNames: Opt(
    List(Str(), {
      description: 'SANs the workloads of the service present',
      unsupported:
        'endpoint identities come from their service accounts; set subjectAltNames in a DestinationRule tls instead',
    }),
  ),
});
/** The spec of a ServiceEntry. */
export type ServiceEntrySpec = Static<typeof ServiceEntrySpec>;
/** An Istio ServiceEntry. */
export type ServiceEntry = Resource<'ServiceEntry', ServiceEntrySpec>;

/** Istio ServiceEntry. */
export const serviceEntryKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'ServiceEntry',
  plural: 'serviceentries',
  singular: 'serviceentry',
  shortNames: ['se'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: ['v1alpha3', 'v1beta1', 'v1'],
  storageVersion: 'v1alpha3',
  namespaced: true,
  summary: 'Adds a service (usually external) to the mesh registry',
  reference: 'https://istio.io/latest/docs/reference/config/networking/service-entry/',
  spec: ServiceEntrySpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    {
      name: 'Hosts',
      type: 'string',
      jsonPath: '.spec.hosts',
      description: 'The hosts associated with the ServiceEntry',
    },
    {
      name: 'Location',
      type: 'string',
      jsonPath: '.spec.location',
      description: 'Whether the service is external to the mesh or part of the mesh',
    },
    {
      name: 'Resolution',
      type: 'string',
      jsonPath: '.spec.resolution',
      description: 'Service resolution mode for the hosts',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    if (spec.resolution === 'STATIC' && !spec.endpoints?.length && !spec.workloadSelector) {
      report(
        ['spec', 'endpoints'],
        'STATIC resolution needs endpoints (or a workloadSelector); add them or use resolution: DNS',
      );
    }
    if (spec.workloadSelector && spec.endpoints?.length) {
      report(['spec', 'workloadSelector'], 'workloadSelector and endpoints cannot both be set; keep one');
    }
    spec.endpoints?.forEach((e, i) => {
      for (const name of Object.keys(e.ports ?? {})) {
        if (!spec.ports?.some((p) => p.name === name))
          report(
            ['spec', 'endpoints', i, 'ports', name],
            `endpoint port "${name}" names no port of spec.ports; use a declared port name`,
          );
      }
    });
    spec.addresses?.forEach((a, i) => {
      const [addr, bits, extra] = a.split('/');
      const family = isIP(addr ?? '');
      if (
        family === 0 ||
        extra !== undefined ||
        (bits !== undefined && (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)))
      )
        report(
          ['spec', 'addresses', i],
          `"${a}" is not an IP address or CIDR; write one such as 198.51.100.7 or 10.0.0.0/16`,
        );
    });
    const seen = new Set<number>();
    spec.ports?.forEach((p, i) => {
      if (seen.has(p.number)) report(['spec', 'ports', i, 'number'], `port ${p.number} is declared twice; remove one`);
      seen.add(p.number);
    });
  },
});
