/** Which services have a workload as an endpoint, indexed per snapshot (the inbound side of every proxy asks). */
import { serves, type MeshService, type MeshWorkload } from './model.js';

/**
 * Services by namespace and first selector entry, per snapshot: which services select a workload
 * costs its labels' lookups, not a scan of every service (thousands of proxies x thousands of services).
 */
const selectingIndex = new WeakMap<
  readonly MeshService[],
  { byLabel: Map<string, number[]>; emptyByNs: Map<string, number[]>; byName: Map<string, number> }
>();

/** The services of `services` that have `workload` as an endpoint (by selector or membership), in list order. */
export function servicesSelecting(services: readonly MeshService[], workload: MeshWorkload): MeshService[] {
  let index = selectingIndex.get(services);
  if (!index) {
    index = { byLabel: new Map(), emptyByNs: new Map(), byName: new Map() };
    services.forEach((s, i) => {
      index!.byName.set(`${s.namespace}\0${s.name}`, i);
      if (!s.selector) return;
      const first = Object.entries(s.selector)[0];
      const key = first ? `${s.namespace}\0${first[0]}\0${first[1]}` : s.namespace;
      const map = first ? index!.byLabel : index!.emptyByNs;
      const list = map.get(key);
      if (list) list.push(i);
      else map.set(key, [i]);
    });
    selectingIndex.set(services, index);
  }
  const hits = new Set<number>(index.emptyByNs.get(workload.namespace) ?? []);
  for (const [k, v] of Object.entries(workload.labels))
    for (const i of index.byLabel.get(`${workload.namespace}\0${k}\0${v}`) ?? []) hits.add(i);
  for (const name of workload.services ?? []) {
    const i = index.byName.get(`${workload.namespace}\0${name}`);
    if (i !== undefined) hits.add(i);
  }
  return [...hits]
    .sort((a, b) => a - b)
    .map((i) => services[i]!)
    .filter((s) => serves(s, workload));
}
