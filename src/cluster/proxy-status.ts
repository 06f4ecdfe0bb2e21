/**
 * The proxy-status workflow over the platform interface (both backends): each connected proxy's sync
 * state per config type (the control plane's /debug/syncz, its admin address), and for one proxy the
 * diff per type between what the control plane would send and what the proxy runs. `meshctl
 * proxy-status`, `check --proxy` and the demo read it; none of them reaches a backend.
 */
import type { MeshPlatform, WorkloadInfo } from './index.js';
import { ErrorCode, MeshError, NotFoundError, UsageError } from '../errors.js';
import { ProxyPorts } from '../protocol/well-known.js';
import { isDiverged, type ConfigHashes } from '../protocol/stream/sync-status.js';
import { canonicalJson, unifiedDiff } from '../ui/diff.js';

/** Whether every type of a row is SYNCED. */
export function rowSynced(r: ProxyStatusRow): boolean {
  return r.clusters === 'SYNCED' && r.listeners === 'SYNCED' && r.routes === 'SYNCED';
}

/** The config types shown, in istioctl's column order, with their stream type URLs. */
export const STATUS_TYPES = [
  { column: 'CLUSTERS', key: 'clusters', title: 'Clusters', typeUrl: 'proxy.meshctl.dev/v1/clusters' },
  { column: 'LISTENERS', key: 'listeners', title: 'Listeners', typeUrl: 'proxy.meshctl.dev/v1/listeners' },
  { column: 'ROUTES', key: 'routes', title: 'Routes', typeUrl: 'proxy.meshctl.dev/v1/routes' },
] as const;

/** One type's state on one proxy, as the control plane records it (see src/protocol/stream/sync-status.ts). */
interface TypeView {
  status?: string;
  sentVersion?: string;
  ackedVersion?: string;
  lastNack?: { nonce: string; keptVersion: string; message: string; at: string };
}

/** One proxy in /debug/syncz. */
interface SyncView {
  proxy: { id: string; workload: string; namespace: string; proxyVersion: string };
  /** On Kubernetes: the control plane pod holding this proxy's stream (replicas are merged). */
  controlPlane?: string;
  spiffeId: string;
  certificateExpiry?: string;
  connectedAt: string;
  types: Record<string, TypeView>;
}

/** A row of `proxy-status`, also its JSON form. */
export interface ProxyStatusRow {
  name: string;
  workload: string;
  namespace: string;
  controlPlane: string;
  version: string;
  clusters: string;
  listeners: string;
  routes: string;
  certExpiry: string | null;
  nacks: { type: string; message: string; keptVersion: string }[];
  /** Where its admin API listens (always loopback: inside the pod on Kubernetes), when known. */
  adminAddress: string | null;
  /** Where Prometheus scrapes it (`http://ADDRESS:PORT/stats/prometheus`), when known. */
  telemetryAddress: string | null;
}

/**
 * A proxy's admin and telemetry addresses: on Kubernetes the pod's own 127.0.0.1:15000 (reached
 * through the API server) and POD_IP:15020; locally what `meshctl run` registered.
 */
export function proxyAddresses(
  kind: MeshPlatform['kind'],
  w: WorkloadInfo | undefined,
): { adminAddress: string | null; telemetryAddress: string | null } {
  const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  if (kind === 'kubernetes') {
    return {
      adminAddress: `127.0.0.1:${ProxyPorts.admin}`,
      telemetryAddress: w?.address ? hostPort(w.address, ProxyPorts.telemetry) : null,
    };
  }
  return {
    adminAddress: w?.adminPort ? `127.0.0.1:${w.adminPort}` : null,
    telemetryAddress: w?.telemetryPort ? hostPort(w.address || '127.0.0.1', w.telemetryPort) : null,
  };
}

/** Splits `NAME[.NS]` (workload names are DNS labels, so the first dot separates the namespace). */
export function parseProxyName(arg: string, defaultNamespace: string): { name: string; namespace: string; id: string } {
  const i = arg.indexOf('.');
  const name = i < 0 ? arg : arg.slice(0, i);
  const namespace = i < 0 ? defaultNamespace : arg.slice(i + 1);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new UsageError(
      `${arg}: not a proxy name`,
      'give NAME or NAME.NAMESPACE as listed by meshctl proxy-status, e.g. reviews-v1.default',
    );
  }
  return { name, namespace, id: `${name}.${namespace}` };
}

/** Reads the sync state of every connected proxy and the certificate each one serves with. */
export async function collectProxyStatus(platform: MeshPlatform): Promise<{
  rows: ProxyStatusRow[];
  disconnected: WorkloadInfo[];
  unreachableControlPlanes: string[];
  /** Proxies whose admin API did not say what config they run: DIVERGED cannot be shown for them. */
  unverified: { proxy: string; reason: string }[];
}> {
  const unverified: { proxy: string; reason: string }[] = [];
  const [syncz, info, workloads] = await Promise.all([
    // On Kubernetes every replica is asked; `unreachable` names those that did not answer (their proxies are missing).
    platform.controlPlaneGet<{ version: string; proxies: SyncView[]; unreachable?: string[] }>('/debug/syncz'),
    platform.controlPlaneGet<{ pid?: number }>('/debug/info').catch(() => ({}) as { pid?: number }),
    platform.listWorkloads().catch(() => [] as WorkloadInfo[]),
  ]);
  const controlPlane = info.pid ? `control-plane-${info.pid}` : 'control-plane';
  const rows = await Promise.all(
    syncz.proxies.map(async (p): Promise<ProxyStatusRow> => {
      const nacks: ProxyStatusRow['nacks'] = [];
      const cells: Record<string, string> = {};
      for (const t of STATUS_TYPES) {
        const v = p.types[t.typeUrl];
        cells[t.key] = v?.status ?? 'NOT SENT';
        if (v?.status === 'NACKED' && v.lastNack)
          nacks.push({ type: t.key, message: v.lastNack.message, keptVersion: v.lastNack.keptVersion });
      }
      // The stream's certificate is the one the proxy connected with; after a rotation its admin API knows the current one.
      let certExpiry = p.certificateExpiry ?? null;
      const workload = workloads.find((w) => w.name === p.proxy.workload && w.namespace === p.proxy.namespace);
      let diverged = false;
      // Local sidecars register their admin port; every pod's admin API is reached through pods/exec (even
      // when its pod could not be listed: a failure is then reported, never a silent SYNCED).
      if (workload?.adminPort || platform.kind === 'kubernetes') {
        const target = { name: p.proxy.workload, namespace: p.proxy.namespace };
        const [certs, hash] = await Promise.all([
          platform.proxyAdminGet<{ identity?: { validTo?: string } | null }>(target, '/certs').catch(() => undefined),
          platform.proxyAdminGet<ConfigHashes>(target, '/config_hash').catch((err: unknown) => {
            unverified.push({ proxy: p.proxy.id, reason: (err as Error).message });
            return undefined;
          }),
        ]);
        if (certs?.identity?.validTo) certExpiry = certs.identity.validTo;
        diverged = isDiverged(hash);
      }
      if (diverged) for (const t of STATUS_TYPES) cells[t.key] = 'DIVERGED';
      return {
        name: p.proxy.id,
        workload: p.proxy.workload,
        namespace: p.proxy.namespace,
        controlPlane: p.controlPlane ?? controlPlane,
        version: p.proxy.proxyVersion,
        clusters: cells.clusters!,
        listeners: cells.listeners!,
        routes: cells.routes!,
        certExpiry,
        nacks,
        ...proxyAddresses(platform.kind, workload),
      };
    }),
  );
  rows.sort((a, b) => a.name.localeCompare(b.name));
  const connected = new Set(rows.map((r) => `${r.workload}.${r.namespace}`));
  const disconnected = workloads.filter((w) => !connected.has(`${w.name}.${w.namespace}`));
  unverified.sort((a, b) => a.proxy.localeCompare(b.proxy));
  return { rows, disconnected, unreachableControlPlanes: syncz.unreachable ?? [], unverified };
}

/** `2026-11-25T15:57:52Z (23h59m)`: when, and how long from `now`. */
export function formatExpiry(iso: string | null, now: Date): string {
  if (!iso) return '-';
  const ms = Date.parse(iso) - now.getTime();
  const when = new Date(iso).toISOString().replace(/\.\d+Z$/, 'Z');
  if (ms <= 0) return `${when} (expired)`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  return `${when} (${h >= 48 ? `${Math.floor(h / 24)}d` : `${h}h${m}m`})`;
}

/** Per type: does the proxy run what the control plane would send, and if not, the diff. */
export async function proxyDiff(platform: MeshPlatform, target: { name: string; namespace: string; id: string }) {
  // The control plane first: "not connected" is the clearer error when the proxy is unknown.
  const cp = await platform
    .controlPlaneGet<{ version: string; desired: Record<string, unknown[]>; sent: Record<string, unknown[] | null> }>(
      `/debug/config_dump?proxy=${encodeURIComponent(target.id)}`,
    )
    .catch((err: unknown) => {
      if (err instanceof MeshError && err.code === ErrorCode.NotFound)
        throw new NotFoundError(`connected proxy ${target.id}`, "list connected proxies with 'meshctl proxy-status'");
      throw err;
    });
  const running = await platform.proxyAdminGet<{ version?: string; config?: Record<string, unknown> }>(
    target,
    '/config_dump',
  );
  // A type's resources are a set keyed by name, and so are a route table's virtual hosts (chosen by domain,
  // not by position; delta pushes join them back in another order): order there is not a difference.
  // Routes inside a virtual host and listener chains keep their order: the first match wins.
  const byName = <T>(list: readonly T[]): T[] =>
    [...list].sort((a, b) =>
      String((a as { name?: unknown })?.name ?? '').localeCompare(String((b as { name?: unknown })?.name ?? '')),
    );
  const normalize = (key: string, list: unknown): unknown[] => {
    if (!Array.isArray(list)) return [];
    const sorted = byName(list);
    if (key !== 'routes') return sorted;
    return sorted.map((rc) =>
      rc && typeof rc === 'object' && Array.isArray((rc as { virtualHosts?: unknown }).virtualHosts)
        ? { ...rc, virtualHosts: byName((rc as { virtualHosts: unknown[] }).virtualHosts) }
        : rc,
    );
  };
  const types = STATUS_TYPES.map((t) => {
    const desired = canonicalJson(normalize(t.key, cp.desired[t.typeUrl]));
    const runs = canonicalJson(normalize(t.key, running.config?.[t.key]));
    const sent = cp.sent[t.typeUrl] ? normalize(t.key, cp.sent[t.typeUrl]) : cp.sent[t.typeUrl];
    return {
      type: t.key,
      title: t.title,
      match: desired === runs,
      // Sent but not (yet) in force: the proxy NACKed it or has not answered.
      sentDiffersFromRunning: sent !== undefined && sent !== null && canonicalJson(sent) !== runs,
      diff:
        desired === runs
          ? ''
          : unifiedDiff(desired, runs, {
              from: `control plane ${t.key} (would send, version ${cp.version})`,
              to: `proxy ${target.id} ${t.key} (runs, version ${running.version ?? 'none'})`,
            }),
    };
  });
  return { proxy: target.id, controlPlaneVersion: cp.version, proxyVersion: running.version ?? null, types };
}
