/**
 * Host names as Istio resolves them: a short name (no dot) is qualified with the namespace of the
 * resource that uses it (`reviews` in `default` -> `reviews.default.svc.cluster.local`); anything with
 * a dot is taken as written. Wildcards (`*.example.com`, `*`) match by suffix.
 */
import type { Inventory, ServiceInfo } from './input.js';

/** Qualifies a host the way Istio does for a resource in `namespace`. */
export function resolveHost(host: string, namespace: string, clusterDomain: string): string {
  if (host === '*' || host.includes('.')) return host;
  return `${host}.${namespace}.svc.${clusterDomain}`;
}

/** Whether a (possibly wildcard) host pattern matches a concrete host. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** Whether two host patterns can match a common host (for DestinationRule lookup and conflicts). */
export function hostsOverlap(a: string, b: string): boolean {
  return hostMatches(a, b) || hostMatches(b, a);
}

/** The FQDN of a Service. */
export function serviceFqdn(s: ServiceInfo, clusterDomain: string): string {
  return `${s.name}.${s.namespace}.svc.${clusterDomain}`;
}

/** The Service a cluster FQDN names, if known. */
export function serviceForHost(fqdn: string, inventory: Inventory, clusterDomain: string): ServiceInfo | undefined {
  return inventory.services?.find((s) => serviceFqdn(s, clusterDomain) === fqdn);
}

/** Splits `name.namespace.svc.<domain>` into its parts, when the host has that form. */
export function clusterServiceOf(fqdn: string, clusterDomain: string): { name: string; namespace: string } | undefined {
  const suffix = `.svc.${clusterDomain}`;
  if (!fqdn.endsWith(suffix)) return undefined;
  const parts = fqdn.slice(0, -suffix.length).split('.');
  return parts.length === 2 && !parts[0]!.includes('*') ? { name: parts[0]!, namespace: parts[1]! } : undefined;
}

/** Whether `labels` carry every key/value of `selector` (an empty selector matches everything). */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
