/**
 * telemetry.istio.io Telemetry: tracing, access logging and metrics settings for the mesh (in the
 * root namespace, no selector), a namespace (no selector) or workloads (selector), the most
 * specific winning (istio/api telemetry/v1/telemetry.proto). Providers are named in MeshConfig's
 * extensionProviders (an IstioOperator's spec.meshConfig).
 */
import type { Static } from '@sinclair/typebox';
import {
  Bool,
  Enum,
  List,
  MapOf,
  Num,
  Obj,
  Opt,
  PolicyTargetReference,
  Str,
  WorkloadSelector,
  type Resource,
} from '../schema.js';
import { defineKind } from '../kind.js';
import { compileLogFilter, compileTagValue } from '../log-filter.js';

const ProviderRef = Obj(
  { name: Str('the name of a MeshConfig extensionProviders entry (or envoy, the built-in access log)') },
  'a telemetry provider',
);

const Match = Obj(
  {
    mode: Opt(
      Enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'] as const, {
        description: 'which side of the traffic',
        default: 'CLIENT_AND_SERVER',
      }),
    ),
  },
  'which traffic the settings apply to',
);

const CustomTag = Obj(
  {
    literal: Opt(Obj({ value: Str('the tag value') }, 'a fixed value')),
    environment: Opt(
      Obj(
        { name: Str('environment variable of the proxy'), defaultValue: Opt(Str('when unset')) },
        'from the environment',
      ),
    ),
    header: Opt(Obj({ name: Str('request header'), defaultValue: Opt(Str('when absent')) }, 'from a request header')),
    formatter: Opt(Obj({ value: Str('an Envoy format string') }, 'a formatted value')),
  },
  'where a custom tag takes its value from',
);

const Tracing = Obj(
  {
    match: Opt(Match),
    providers: Opt(List(ProviderRef, 'the tracing providers (MeshConfig extensionProviders)')),
    randomSamplingPercentage: Opt(
      Num('percentage of requests sampled when no decision comes with them', { minimum: 0, maximum: 100 }),
    ),
    disableSpanReporting: Opt(
      Bool({ description: 'stop reporting spans (context is still propagated)', default: 'false' }),
    ),
    customTags: Opt(MapOf(CustomTag, 'tag name -> where its value comes from')),
    useRequestIdForTraceSampling: Opt(Bool('sample by x-request-id')),
    enableIstioTags: Opt(Bool('add Istio tags to spans')),
    disableContextPropagation: Opt(Bool('do not propagate trace headers')),
  },
  'tracing settings',
);

const AccessLogging = Obj(
  {
    match: Opt(Match),
    providers: Opt(List(ProviderRef, 'the access log providers (MeshConfig extensionProviders, or envoy)')),
    disabled: Opt(Bool({ description: 'turn access logging off', default: 'false' })),
    filter: Opt(
      Obj({ expression: Opt(Str('a CEL expression selecting the requests logged')) }, 'which requests are logged'),
    ),
  },
  'access log settings',
);

const Metrics = Obj(
  {
    providers: Opt(List(ProviderRef, 'the metrics providers (prometheus)')),
    overrides: Opt(
      List(
        Obj(
          {
            match: Opt(
              Obj(
                {
                  metric: Opt(
                    Enum(
                      [
                        'ALL_METRICS',
                        'REQUEST_COUNT',
                        'REQUEST_DURATION',
                        'REQUEST_SIZE',
                        'RESPONSE_SIZE',
                        'TCP_OPENED_CONNECTIONS',
                        'TCP_CLOSED_CONNECTIONS',
                        'TCP_SENT_BYTES',
                        'TCP_RECEIVED_BYTES',
                        'GRPC_REQUEST_MESSAGES',
                        'GRPC_RESPONSE_MESSAGES',
                      ] as const,
                      'an Istio standard metric (ALL_METRICS: every one)',
                    ),
                  ),
                  customMetric: Opt(Str('a custom metric name')),
                  mode: Opt(Enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER'] as const, 'which reporter')),
                },
                'which metrics',
              ),
            ),
            disabled: Opt(Bool('stop producing the matched metrics')),
            tagOverrides: Opt(
              MapOf(
                Obj({
                  operation: Opt(Enum(['UPSERT', 'REMOVE'] as const, 'what to do with the tag')),
                  value: Opt(Str('a CEL expression (UPSERT): the label value')),
                }),
                'tag -> change',
              ),
            ),
          },
          'a change to some metrics',
        ),
        'changes to metrics',
      ),
    ),
    reportingInterval: Opt(Str('how often TCP metrics are reported')),
  },
  'metrics settings',
);

/** The spec of a Telemetry. */
export const TelemetrySpec = Obj({
  selector: Opt(WorkloadSelector),
  targetRef: Opt(PolicyTargetReference),
  targetRefs: Opt(
    List(PolicyTargetReference, { unsupported: 'waypoint/Gateway API targeting is not implemented; use selector' }),
  ),
  tracing: Opt(List(Tracing, 'tracing settings (the first entry is used)')),
  accessLogging: Opt(List(AccessLogging, 'access log settings (the first entry is used)')),
  metrics: Opt(List(Metrics, 'metrics settings')),
});
/** The spec of a Telemetry. */
export type TelemetrySpec = Static<typeof TelemetrySpec>;
/** An Istio Telemetry. */
export type Telemetry = Resource<'Telemetry', TelemetrySpec>;

/** Istio Telemetry. */
export const telemetryKind = defineKind({
  family: 'istio',
  group: 'telemetry.istio.io',
  kind: 'Telemetry',
  plural: 'telemetries',
  singular: 'telemetry',
  shortNames: ['telemetry'],
  categories: ['istio-io', 'telemetry-istio-io'],
  versions: ['v1alpha1', 'v1'],
  storageVersion: 'v1alpha1',
  namespaced: true,
  summary: 'Tracing, access logging and metrics settings for the mesh, a namespace or workloads',
  reference: 'https://istio.io/latest/docs/reference/config/telemetry/',
  spec: TelemetrySpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    spec.accessLogging?.forEach((a, i) => {
      if (a.filter?.expression === undefined) return;
      try {
        compileLogFilter(a.filter.expression);
      } catch (err) {
        report(
          ['spec', 'accessLogging', i, 'filter', 'expression'],
          `${(err as Error).message} (meshctl evaluates comparisons of these attributes with && || ! and parentheses)`,
        );
      }
    });
    spec.metrics?.forEach((m, i) => {
      m.providers?.forEach((p, j) => {
        if (p.name.toLowerCase() !== 'prometheus')
          report(
            ['spec', 'metrics', i, 'providers', j, 'name'],
            `only the prometheus metrics provider is implemented: ${p.name} receives no metrics (a Prometheus provider not named prometheus is honoured)`,
            'unsupported',
          );
      });
      m.overrides?.forEach((o, j) => {
        for (const [tag, t] of Object.entries(o.tagOverrides ?? {})) {
          const at = ['spec', 'metrics', i, 'overrides', j, 'tagOverrides', tag];
          if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(tag))
            report(at, 'a tag is a Prometheus label name: letters, digits and _, not starting with a digit');
          if (t.operation === 'REMOVE') continue;
          if (t.value === undefined || t.value === '') {
            report(
              at,
              'UPSERT needs a value (a CEL expression such as request.method or "literal"), or use operation: REMOVE',
            );
            continue;
          }
          try {
            compileTagValue(t.value);
          } catch (err) {
            report(
              [...at, 'value'],
              `${(err as Error).message} (meshctl evaluates attributes, string literals, string(), + and ?:)`,
            );
          }
        }
      });
    });
    spec.tracing?.forEach((t, i) => {
      for (const [name, tag] of Object.entries(t.customTags ?? {})) {
        const set = ['literal', 'environment', 'header', 'formatter'].filter(
          (k) => (tag as Record<string, unknown>)[k] !== undefined,
        );
        if (set.length !== 1)
          report(
            ['spec', 'tracing', i, 'customTags', name],
            'set exactly one of literal, environment, header, formatter',
          );
      }
    });
  },
});
