/**
 * networking.istio.io WorkloadEntry and WorkloadGroup: a workload outside Kubernetes (a VM, a bare
 * process) described to the mesh, and the template VMs register themselves from (istio/api
 * networking/v1alpha3/workload_entry.proto, workload_group.proto). A WorkloadEntry is an endpoint of
 * the Services and ServiceEntries selecting its labels (src/control-plane/registry/workload-entries.ts);
 * a WorkloadGroup changes no traffic by itself (src/config/enforcement.ts says so at apply and analyze).
 */
import type { Static } from '@sinclair/typebox';
import { Int32, List, MapOf, Obj, Opt, Str, StringMap, UInt32, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

/** The endpoint a WorkloadEntry (or a WorkloadGroup's template) describes. */
export const WorkloadEntrySpec = Obj({
  address: Opt(
    Str('IP address, DNS name or unix:// socket of the workload (empty: filled in when the workload registers)'),
  ),
  ports: Opt(MapOf(UInt32(), 'port name of the Service -> the workload port')),
  labels: Opt(StringMap('labels of the workload: Services and ServiceEntries select it by them')),
  network: Opt(Str('the network the address is reachable on')),
  locality: Opt(Str('region/zone/subzone, for locality-aware load balancing')),
  weight: Opt(UInt32('load balancing weight among the endpoints of a service')),
  serviceAccount: Opt(Str('the service account the workload runs as (its identity)')),
});
/** The spec of a WorkloadEntry. */
export type WorkloadEntrySpec = Static<typeof WorkloadEntrySpec>;
/** An Istio WorkloadEntry. */
export type WorkloadEntry = Resource<'WorkloadEntry', WorkloadEntrySpec>;

const Port = (what: string) => UInt32(what);

/** The spec of a WorkloadGroup. */
export const WorkloadGroupSpec = Obj({
  metadata: Opt(
    Obj(
      { labels: Opt(StringMap('labels of the registered entries')), annotations: Opt(StringMap('their annotations')) },
      'metadata given to each WorkloadEntry registered from the group',
    ),
  ),
  template: Obj(WorkloadEntrySpec.properties, 'the WorkloadEntry registered for each workload of the group'),
  probe: Opt(
    Obj(
      {
        initialDelaySeconds: Opt(Int32('seconds before the first probe', { minimum: 0 })),
        timeoutSeconds: Opt(Int32('seconds before a probe times out', { minimum: 0 })),
        periodSeconds: Opt(Int32('seconds between probes', { minimum: 0 })),
        successThreshold: Opt(Int32('successes that make the workload healthy again', { minimum: 0 })),
        failureThreshold: Opt(Int32('failures that make it unhealthy', { minimum: 0 })),
        httpGet: Opt(
          Obj(
            {
              path: Opt(Str('the path probed')),
              port: Port('the port probed'),
              host: Opt(Str('host to connect to (default: the workload)')),
              scheme: Opt(Str('HTTP or HTTPS')),
              httpHeaders: Opt(List(Obj({ name: Opt(Str()), value: Opt(Str()) }), 'headers of the probe')),
            },
            'an HTTP GET probe',
          ),
        ),
        tcpSocket: Opt(
          Obj({ host: Opt(Str('host to connect to')), port: Port('the port connected to') }, 'a TCP connect probe'),
        ),
        exec: Opt(Obj({ command: List(Str(), 'the command and its arguments') }, 'a command run on the workload')),
        grpc: Opt(
          Obj(
            { port: Opt(Port('the port of the gRPC health service')), service: Opt(Str('the service name checked')) },
            'a gRPC health check',
          ),
        ),
      },
      'how the registered workloads are health-checked',
    ),
  ),
});
/** The spec of a WorkloadGroup. */
export type WorkloadGroupSpec = Static<typeof WorkloadGroupSpec>;
/** An Istio WorkloadGroup. */
export type WorkloadGroup = Resource<'WorkloadGroup', WorkloadGroupSpec>;

const VERSIONS = ['v1alpha3', 'v1beta1', 'v1'];

/** Istio WorkloadEntry. */
export const workloadEntryKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'WorkloadEntry',
  plural: 'workloadentries',
  singular: 'workloadentry',
  shortNames: ['we'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: VERSIONS,
  storageVersion: 'v1',
  namespaced: true,
  summary: 'A workload outside Kubernetes (VM, process): its address, ports, labels and identity',
  reference: 'https://istio.io/latest/docs/reference/config/networking/workload-entry/',
  spec: WorkloadEntrySpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'When it was created' },
    { name: 'Address', type: 'string', jsonPath: '.spec.address', description: 'Address of the workload' },
  ],
  check(spec, report) {
    // Istio's validation: a unix socket address carries no ports (the socket is the endpoint).
    if (spec.address?.startsWith('unix://') && spec.ports && Object.keys(spec.ports).length > 0)
      report(['spec', 'ports'], 'a unix:// address takes no ports; remove ports or use an IP or DNS address');
    for (const [name, port] of Object.entries(spec.ports ?? {}))
      if (port < 1 || port > 65535) report(['spec', 'ports', name], `port ${port} is not in 1..65535; fix it`);
    // Valid for Istio, but no endpoint here (src/control-plane/registry/workload-entries.ts): said, not dropped silently.
    if (!spec.address?.trim())
      report(
        ['spec', 'address'],
        'no address: the entry is no endpoint (Istio fills it in when a VM auto-registers); give the address, or on the local platform register the process with `meshctl run --workload-group`',
        'unsupported',
      );
    else if (spec.address.startsWith('unix://'))
      report(
        ['spec', 'address'],
        "a unix:// socket is on the workload's own machine: no sidecar can dial it, so the entry is no endpoint; give an IP or DNS address",
        'unsupported',
      );
  },
});

/** Istio WorkloadGroup. */
export const workloadGroupKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'WorkloadGroup',
  plural: 'workloadgroups',
  singular: 'workloadgroup',
  shortNames: ['wg'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: VERSIONS,
  storageVersion: 'v1',
  namespaced: true,
  summary: 'The template (and health probe) VMs register WorkloadEntries from',
  reference: 'https://istio.io/latest/docs/reference/config/networking/workload-group/',
  spec: WorkloadGroupSpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'When it was created' },
  ],
});
