/**
 * Sidecar selector conflicts (istioctl's ConflictingSidecarWorkloadSelectors and
 * MultipleSidecarsWithoutWorkloadSelectors): a workload gets one Sidecar, the first by name of
 * those selecting it, so every other one is silently ignored for it.
 */
import type { Analyzer } from '../context.js';
import { labelsMatch } from '../hosts.js';
import { Messages } from '../messages.js';

/** Sidecars that select a common known workload; namespaces with several Sidecars without selector. */
export const sidecarConflictAnalyzer: Analyzer = {
  name: 'sidecar-conflicts',
  run(ctx) {
    const sidecars = ctx.of('Sidecar');
    const workloads = ctx.input.inventory.workloads ?? [];
    const ns = (s: (typeof sidecars)[number]): string => s.res.metadata.namespace!;
    const selector = (s: (typeof sidecars)[number]) => s.res.spec.workloadSelector?.labels ?? {};
    const byName = (a: (typeof sidecars)[number], b: (typeof sidecars)[number]) =>
      (a.res.metadata.name ?? '').localeCompare(b.res.metadata.name ?? '');
    const reported = new Set<unknown>();
    for (const w of workloads) {
      const selecting = sidecars
        .filter(
          (s) => ns(s) === w.namespace && Object.keys(selector(s)).length > 0 && labelsMatch(selector(s), w.labels),
        )
        .sort(byName);
      if (selecting.length < 2) continue;
      const names = selecting.map((s) => s.res.metadata.name).join(', ');
      for (const s of selecting) {
        if (reported.has(s)) continue;
        reported.add(s);
        ctx.report(
          Messages.ConflictingSidecars,
          s.r,
          `Sidecars ${names} all select ${w.kind} ${w.namespace}/${w.name}: it gets only ${selecting[0]!.res.metadata.name} (the first by name); make the workloadSelectors disjoint or merge the Sidecars.`,
          ['spec', 'workloadSelector'],
        );
      }
    }
    const namespaceWide = new Map<string, typeof sidecars>();
    for (const s of sidecars) {
      if (Object.keys(selector(s)).length > 0) continue;
      namespaceWide.set(ns(s), [...(namespaceWide.get(ns(s)) ?? []), s]);
    }
    for (const [namespace, list] of namespaceWide) {
      if (list.length < 2) continue;
      const sorted = [...list].sort(byName);
      const names = sorted.map((s) => s.res.metadata.name).join(', ');
      for (const s of sorted)
        ctx.report(
          Messages.ConflictingSidecars,
          s.r,
          `Sidecars ${names} have no workloadSelector in namespace "${namespace}": only ${sorted[0]!.res.metadata.name} (the first by name) applies; keep one namespace-wide Sidecar and give the others a workloadSelector.`,
          ['metadata', 'name'],
        );
    }
  },
};
