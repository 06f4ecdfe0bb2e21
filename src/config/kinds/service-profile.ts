/**
 * linkerd.io/v1alpha2 ServiceProfile: per-route behaviour of one service: route matching, response
 * classes, timeouts, retries under a budget, and destination overrides (traffic split)
 * (linkerd2 controller/gen/apis/serviceprofile/v1alpha2/types.go; checks of pkg/profiles Validate).
 * The name must be the service FQDN: `<service>.<namespace>.svc.<cluster-domain>`.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  Bool,
  Duration,
  IntOrString,
  List,
  MapOf,
  Num,
  Obj,
  Opt,
  Regex,
  Str,
  UInt32,
  type Resource,
} from '../schema.js';
import { defineKind, type ReportIssue } from '../kind.js';
import { parseQuantity } from './traffic-split.js';

/**
 * Linkerd's matches nest (all/any/not). ajv follows the recursion; the CRD keeps nested levels as
 * preserve-unknown-fields (structural schemas cannot recurse), as Linkerd's own CRD does.
 */
const RequestMatchSchema = Type.Recursive(
  (This) =>
    Obj(
      {
        all: Opt(List(This, 'all of these match')),
        any: Opt(List(This, 'any of these matches')),
        not: Opt(This),
        pathRegex: Opt(Regex('RE2 regex the whole path must match')),
        method: Opt(Str('HTTP method')),
      },
      'request conditions',
    ),
  { $id: 'LinkerdRequestMatch' },
);
const ResponseMatchSchema = Type.Recursive(
  (This) =>
    Obj(
      {
        all: Opt(List(This)),
        any: Opt(List(This)),
        not: Opt(This),
        status: Opt(
          Obj(
            {
              min: Opt(UInt32('lowest status, 100..599', { maximum: 599 })),
              max: Opt(UInt32('highest status, 100..599', { maximum: 599 })),
            },
            'a status code range',
          ),
        ),
      },
      'response conditions',
    ),
  { $id: 'LinkerdResponseMatch' },
);

/** A request condition of a ServiceProfile route (recursive). */
export type RequestMatch = Static<typeof RequestMatchSchema>;
/** A response condition of a ServiceProfile response class (recursive). */
export type ResponseMatch = Static<typeof ResponseMatchSchema>;

const RouteSpec = Obj(
  {
    name: Str('route name, shown in metrics (`GET /books/{id}`)', { minLength: 1 }),
    condition: RequestMatchSchema,
    responseClasses: Opt(
      List(
        Obj({ condition: ResponseMatchSchema, isFailure: Opt(Bool('count matching responses as failures')) }),
        'classification of responses',
      ),
    ),
    isRetryable: Opt(
      Bool({ description: 'retry failed requests of this route (within the retry budget)', default: 'false' }),
    ),
    // Linkerd takes any Go duration, 1ns included (the proxy rounds below 1ms up to 1ms).
    timeout: Opt(
      Duration({ description: 'timeout of a request of this route, retries included', default: '10s' }, 'any'),
    ),
  },
  'a route of the service',
);

/** The spec of a ServiceProfile. */
export const ServiceProfileSpec = Obj({
  routes: Opt(List(RouteSpec, 'routes, first match wins')),
  retryBudget: Opt(
    Obj(
      {
        retryRatio: Num('extra load retries may add, as a ratio of requests (0.2 = 20%)', { minimum: 0 }),
        minRetriesPerSecond: UInt32('retries always allowed per second'),
        ttl: Duration('window over which the ratio is computed'),
      },
      {
        description: 'how many retries the service tolerates',
        default: 'retryRatio 0.2, minRetriesPerSecond 10, ttl 10s',
      },
    ),
  ),
  dstOverrides: Opt(
    List(
      Obj({ authority: Str('FQDN:port of the destination'), weight: IntOrString('quantity, e.g. 500m or 1') }),
      'traffic split between destinations',
    ),
  ),
  opaquePorts: Opt(MapOf(Bool(), 'port -> true: treat as opaque TCP')),
});
/** The spec of a ServiceProfile. */
export type ServiceProfileSpec = Static<typeof ServiceProfileSpec>;
/** A Linkerd ServiceProfile. */
export type ServiceProfile = Resource<'ServiceProfile', ServiceProfileSpec>;

function checkRequestMatch(m: RequestMatch, at: (string | number)[], report: ReportIssue): void {
  if (!m.all && !m.any && !m.not && !m.method && !m.pathRegex) {
    report(at, 'a condition needs at least one of method, pathRegex, all, any or not; add one');
  }
  m.all?.forEach((c, i) => checkRequestMatch(c, [...at, 'all', i], report));
  m.any?.forEach((c, i) => checkRequestMatch(c, [...at, 'any', i], report));
  if (m.not) checkRequestMatch(m.not, [...at, 'not'], report);
}

function checkResponseMatch(m: ResponseMatch, at: (string | number)[], report: ReportIssue): void {
  if (!m.all && !m.any && !m.not && !m.status)
    report(at, 'a response condition needs status, all, any or not; add one');
  const { min, max } = m.status ?? {};
  if (min && min < 100) report([...at, 'status', 'min'], `status min ${min} must be between 100 and 599`);
  if (max && max < 100) report([...at, 'status', 'max'], `status max ${max} must be between 100 and 599`);
  if (min && max && max < min) report([...at, 'status'], `status max ${max} is below min ${min}; swap them`);
  m.all?.forEach((c, i) => checkResponseMatch(c, [...at, 'all', i], report));
  m.any?.forEach((c, i) => checkResponseMatch(c, [...at, 'any', i], report));
  if (m.not) checkResponseMatch(m.not, [...at, 'not'], report);
}

/** Linkerd ServiceProfile. */
export const serviceProfileKind = defineKind({
  family: 'linkerd',
  group: 'linkerd.io',
  kind: 'ServiceProfile',
  plural: 'serviceprofiles',
  singular: 'serviceprofile',
  shortNames: ['sp'],
  categories: ['linkerd'],
  versions: ['v1alpha1', 'v1alpha2'],
  storageVersion: 'v1alpha2',
  namespaced: true,
  summary: 'Per-route behaviour of a service: route metrics, timeouts, retries with a budget, destination overrides',
  reference: 'https://linkerd.io/2/reference/service-profiles/',
  spec: ServiceProfileSpec,
  unknownFields: 'warn',
  statusSubresource: false,
  check(spec, report) {
    if (!spec.routes?.length && !spec.dstOverrides?.length && !spec.opaquePorts) {
      report(['spec', 'routes'], 'a ServiceProfile needs at least one route; add spec.routes');
    }
    spec.routes?.forEach((r, i) => {
      checkRequestMatch(r.condition, ['spec', 'routes', i, 'condition'], report);
      r.responseClasses?.forEach((c, j) =>
        checkResponseMatch(c.condition, ['spec', 'routes', i, 'responseClasses', j, 'condition'], report),
      );
    });
    spec.dstOverrides?.forEach((o, i) => {
      const w = parseQuantity(o.weight);
      if (Number.isNaN(w) || w < 0)
        report(
          ['spec', 'dstOverrides', i, 'weight'],
          `weight "${o.weight}" is not a non-negative quantity; use a quantity such as 500m or 1`,
        );
      if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$/.test(o.authority))
        report(
          ['spec', 'dstOverrides', i, 'authority'],
          `authority "${o.authority}" is not a service host[:port]; write e.g. web.default.svc.cluster.local:80`,
        );
    });
    for (const port of Object.keys(spec.opaquePorts ?? {})) {
      if (!/^[0-9]+$/.test(port) || Number(port) > 65535)
        report(['spec', 'opaquePorts', port], `"${port}" is not a port number; key opaquePorts by port number`);
    }
  },
});
