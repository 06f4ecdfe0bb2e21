/**
 * Resources as the incremental stream carries them: named, one unit of change each. Shared by the
 * control plane (which names and splits) and the proxy (which joins), so both sides agree on what
 * a set of resources means as proxy config: resources in name order, and route tables split into
 * one resource per virtual host joined back into one table (Envoy's VHDS idea: a change to one
 * service's routes moves that service's virtual host, not the whole table of every service).
 */
import { TypeUrl } from './messages.js';

/** A resource and the name it has on the stream. */
export interface NamedResource {
  readonly name: string;
  readonly resource: unknown;
}

/** The stream name of a resource: its `name` field, else its position in the list. */
export function resourceNameOf(resource: unknown, index: number): string {
  const name = typeof resource === 'object' && resource !== null ? (resource as { name?: unknown }).name : undefined;
  return typeof name === 'string' && name !== '' ? name : `#${index}`;
}

/**
 * Names a whole list of resources. A repeated name gets a suffix instead of replacing the first,
 * so the proxy still sees both and rejects the duplicate as it would in a whole config.
 */
export function nameResources(resources: readonly unknown[]): NamedResource[] {
  const seen = new Map<string, number>();
  return resources.map((resource, i) => {
    let name = resourceNameOf(resource, i);
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    if (n > 1) name = `${name}#${n}`;
    return { name, resource };
  });
}

interface RouteTableLike {
  readonly name: string;
  readonly virtualHosts: readonly { readonly name: string }[];
}

function isRouteTable(v: unknown): v is RouteTableLike {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as RouteTableLike).name === 'string' &&
    Array.isArray((v as RouteTableLike).virtualHosts)
  );
}

/**
 * Splits a route table into a head (the table without virtual hosts, named as the table, so an
 * empty table still exists) and one resource per virtual host, named `<table>/<virtual host>`.
 */
export function splitRouteConfig<T extends RouteTableLike>(table: T): NamedResource[] {
  const out: NamedResource[] = [{ name: table.name, resource: { ...table, virtualHosts: [] } }];
  for (const vh of table.virtualHosts)
    out.push({ name: `${table.name}/${vh.name}`, resource: { name: table.name, virtualHosts: [vh] } });
  return out;
}

/** Orders resources by name (code-unit order, the same on both sides of the stream). */
export const byName = (a: NamedResource, b: NamedResource): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * The resources of a type as the proxy config lists them: in name order; for routes, the pieces
 * of a table joined (see joinRouteTables). Inputs are never modified.
 */
export function assembleResources(typeUrl: string, named: readonly NamedResource[]): unknown[] {
  const sorted = [...named].sort(byName).map((r) => r.resource);
  return typeUrl === TypeUrl.routes ? joinRouteTables(sorted) : sorted;
}

/**
 * Joins route tables that share a name into one (at the position of the first piece), virtual
 * hosts in the order given: the proxy's view of a split table. Inputs are never modified.
 */
export function joinRouteTables(resources: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  const tables = new Map<string, { index: number; table: RouteTableLike; owned: boolean }>();
  for (const resource of resources) {
    if (!isRouteTable(resource)) {
      out.push(resource);
      continue;
    }
    const existing = tables.get(resource.name);
    if (!existing) {
      tables.set(resource.name, { index: out.length, table: resource, owned: false });
      out.push(resource);
      continue;
    }
    if (!existing.owned) {
      existing.table = { ...existing.table, virtualHosts: [...existing.table.virtualHosts] };
      existing.owned = true;
      out[existing.index] = existing.table;
    }
    (existing.table.virtualHosts as unknown[]).push(...resource.virtualHosts);
  }
  return out;
}
