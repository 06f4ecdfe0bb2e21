/**
 * Istio's `exportTo`: which namespaces see a VirtualService, DestinationRule or ServiceEntry (and,
 * by the `networking.istio.io/exportTo` annotation, a Service). `.` is the object's own namespace,
 * `*` every namespace, `~` none, anything else a namespace name. Absent or empty: every namespace
 * (Istio's default when meshConfig sets no defaultExportTo).
 */

/** Whether an object of `ownerNamespace` with `exportTo` is visible from `clientNamespace`. */
export function exportedTo(
  exportTo: readonly string[] | undefined,
  ownerNamespace: string,
  clientNamespace: string,
): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some(
    (e) => e === '*' || (e === '.' ? ownerNamespace === clientNamespace : e !== '~' && e === clientNamespace),
  );
}

/** The `exportTo` of a Service, from its `networking.istio.io/exportTo` annotation (comma-separated). */
export function serviceExportTo(annotations: Readonly<Record<string, string>> | undefined): string[] | undefined {
  const raw = annotations?.['networking.istio.io/exportTo'];
  if (raw === undefined) return undefined;
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length ? list : undefined;
}
