/**
 * PeerAuthentication -> the inbound TLS mode of a workload port, with Istio's precedence: a
 * workload-selecting policy (port-level first), then the namespace's, then the root namespace's,
 * then PERMISSIVE. UNSET inherits from the next level.
 */
import type { PeerAuthentication } from '../../config/index.js';
import { selects, type MeshSnapshot, type MeshWorkload } from './model.js';

/** Inbound TLS of a listener chain, as the proxy config names it. */
export type InboundTls = 'strict' | 'permissive' | 'disable';

const MODES: Record<string, InboundTls> = { STRICT: 'strict', PERMISSIVE: 'permissive', DISABLE: 'disable' };

/** The inbound TLS mode of `workload` on `port` (undefined port: the workload-level mode). */
export function inboundTlsMode(snapshot: MeshSnapshot, workload: MeshWorkload, port?: number): InboundTls {
  const policies = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const selecting = policies.filter(
    (p) =>
      p.metadata.namespace === workload.namespace &&
      p.spec.selector?.matchLabels &&
      selects(p.spec.selector.matchLabels, workload.labels),
  );
  const nsWide = policies.filter((p) => p.metadata.namespace === workload.namespace && !p.spec.selector);
  const meshWide = policies.filter((p) => p.metadata.namespace === snapshot.rootNamespace && !p.spec.selector);
  const levels: (string | undefined)[] = [];
  for (const p of selecting) {
    if (port !== undefined) levels.push(p.spec.portLevelMtls?.[String(port)]?.mode);
    levels.push(p.spec.mtls?.mode);
  }
  for (const p of [...nsWide, ...meshWide]) levels.push(p.spec.mtls?.mode);
  for (const m of levels) if (m && MODES[m]) return MODES[m]!;
  return 'permissive';
}
