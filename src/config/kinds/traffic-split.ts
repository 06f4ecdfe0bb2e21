/**
 * split.smi-spec.io TrafficSplit: splits traffic for a root service between backend services by
 * weight (SMI traffic-split v1alpha1..v1alpha4, as Linkerd implements it). v1alpha1 weights are
 * Kubernetes quantities (`500m`), later versions integers; both are accepted.
 */
import type { Static } from '@sinclair/typebox';
import { IntOrString, List, Obj, Opt, Str, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';

/** The spec of a TrafficSplit. */
export const TrafficSplitSpec = Obj({
  service: Str('the root (apex) service clients call', { minLength: 1 }),
  backends: List(
    Obj({
      service: Str('a backend service', { minLength: 1 }),
      weight: IntOrString('share of traffic (integer, or quantity in v1alpha1)'),
    }),
    'weighted backends',
    { minItems: 1 },
  ),
  matches: Opt(
    List(Obj({ kind: Str(), name: Str(), apiGroup: Opt(Str()) }), {
      description: 'HTTPRouteGroup references restricting the split to some requests',
      unsupported: 'HTTPRouteGroup matches are not implemented; the split applies to all requests',
    }),
  ),
});
/** The spec of a TrafficSplit. */
export type TrafficSplitSpec = Static<typeof TrafficSplitSpec>;
/** An SMI TrafficSplit. */
export type TrafficSplit = Resource<'TrafficSplit', TrafficSplitSpec>;

/** Parses a Kubernetes quantity as used for weights (`1`, `500m`, `2k`); NaN when it is not one. */
export function parseQuantity(q: number | string): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(m|k|M|G|Ki|Mi|Gi)?$/.exec(q.trim());
  if (!m) return Number.NaN;
  const factor: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Number(m[1]) * (m[2] ? factor[m[2]]! : 1);
}

/** SMI TrafficSplit. */
export const trafficSplitKind = defineKind({
  family: 'smi',
  group: 'split.smi-spec.io',
  kind: 'TrafficSplit',
  plural: 'trafficsplits',
  singular: 'trafficsplit',
  shortNames: ['ts'],
  categories: ['smi'],
  versions: ['v1alpha1', 'v1alpha2', 'v1alpha3', 'v1alpha4'],
  storageVersion: 'v1alpha2',
  namespaced: true,
  summary: 'Weighted split of the traffic of a root service between backend services',
  reference: 'https://github.com/servicemeshinterface/smi-spec/blob/main/apis/traffic-split/v1alpha4/traffic-split.md',
  spec: TrafficSplitSpec,
  unknownFields: 'warn',
  statusSubresource: false,
  printerColumns: [
    { name: 'Service', type: 'string', jsonPath: '.spec.service', description: 'The apex service of this split.' },
  ],
  check(spec, report) {
    spec.backends.forEach((b, i) => {
      const w = parseQuantity(b.weight);
      if (Number.isNaN(w))
        report(
          ['spec', 'backends', i, 'weight'],
          `weight "${b.weight}" is not a number or quantity; use an integer such as 90`,
        );
      else if (w < 0) report(['spec', 'backends', i, 'weight'], `weight ${b.weight} is negative; use 0 or more`);
    });
  },
});
