/**
 * `meshctl proxy-status [NAME[.NS]]`: in istioctl's style, one row per connected proxy with the
 * sync state of each config type (from the control plane's /debug/syncz), or, for one proxy, the
 * diff per type between what the control plane would send now and what the proxy runs (its admin
 * API's /config_dump), so "is my change on that proxy yet?" has a one-command answer.
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import type { CliContext } from '../context.js';
import type { MeshPlatform, WorkloadInfo } from '../cluster/index.js';
import { ErrorCode, MeshError, NotFoundError, UsageError } from '../errors.js';
import { ProxyPorts } from '../protocol/well-known.js';
import { isDiverged, type ConfigHashes } from '../protocol/stream/sync-status.js';

interface ProxyStatusFlags {
  output?: string;
  ignoreStale?: boolean;
}

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
export function proxyAddresses(kind: MeshPlatform['kind'], w: WorkloadInfo | undefined): { adminAddress: string | null; telemetryAddress: string | null } {
  const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  if (kind === 'kubernetes') {
    return { adminAddress: `127.0.0.1:${ProxyPorts.admin}`, telemetryAddress: w?.address ? hostPort(w.address, ProxyPorts.telemetry) : null };
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
    throw new UsageError(`${arg}: not a proxy name`, 'give NAME or NAME.NAMESPACE as listed by meshctl proxy-status, e.g. reviews-v1.default');
  }
  return { name, namespace, id: `${name}.${namespace}` };
}

/** Reads the sync state of every connected proxy and the certificate each one serves with. */
export async function collectProxyStatus(platform: MeshPlatform): Promise<{ rows: ProxyStatusRow[]; disconnected: WorkloadInfo[]; unreachableControlPlanes: string[] }> {
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
        if (v?.status === 'NACKED' && v.lastNack) nacks.push({ type: t.key, message: v.lastNack.message, keptVersion: v.lastNack.keptVersion });
      }
      // The stream's certificate is the one the proxy connected with; after a rotation its admin API knows the current one.
      let certExpiry = p.certificateExpiry ?? null;
      const workload = workloads.find((w) => w.name === p.proxy.workload && w.namespace === p.proxy.namespace);
      let diverged = false;
      if (workload?.adminPort) {
        const target = { name: p.proxy.workload, namespace: p.proxy.namespace };
        const [certs, hash] = await Promise.all([
          platform.proxyAdminGet<{ identity?: { validTo?: string } | null }>(target, '/certs').catch(() => undefined),
          platform.proxyAdminGet<ConfigHashes>(target, '/config_hash').catch(() => undefined),
        ]);
        if (certs?.identity?.validTo) certExpiry = certs.identity.validTo;
        diverged = isDiverged(hash);
      }
      if (diverged) for (const t of STATUS_TYPES) cells[t.key] = 'DIVERGED';
      return {
        name: p.proxy.id, workload: p.proxy.workload, namespace: p.proxy.namespace, controlPlane: p.controlPlane ?? controlPlane, version: p.proxy.proxyVersion,
        clusters: cells.clusters!, listeners: cells.listeners!, routes: cells.routes!, certExpiry, nacks, ...proxyAddresses(platform.kind, workload),
      };
    }),
  );
  rows.sort((a, b) => a.name.localeCompare(b.name));
  const connected = new Set(rows.map((r) => `${r.workload}.${r.namespace}`));
  const disconnected = workloads.filter((w) => !connected.has(`${w.name}.${w.namespace}`));
  return { rows, disconnected, unreachableControlPlanes: syncz.unreachable ?? [] };
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

/** The table and, under it, one line per NACK with its reason. */
export function renderProxyStatus(ctx: CliContext, rows: readonly ProxyStatusRow[], renderTable: (h: readonly string[], r: readonly (readonly string[])[]) => string): string {
  const s = ctx.style;
  const paint = (status: string): string => (status === 'SYNCED' ? s.green(status) : status === 'NACKED' || status === 'DIVERGED' ? s.red(status) : s.yellow(status));
  const now = ctx.now();
  let out = renderTable(
    ['NAME', 'CONTROL PLANE', 'VERSION', ...STATUS_TYPES.map((t) => t.column), 'CERT EXPIRY'],
    rows.map((r) => [r.name, r.controlPlane, r.version, paint(r.clusters), paint(r.listeners), paint(r.routes), formatExpiry(r.certExpiry, now)]),
  );
  for (const r of rows) for (const n of r.nacks) out += `${s.red('NACKED')} ${r.name} ${n.type}: ${n.message} (keeps version ${n.keptVersion})\n`;
  for (const r of rows) {
    if (r.clusters === 'DIVERGED') out += `${s.red('DIVERGED')} ${r.name}: runs a config the control plane did not send (changed through its admin API); restart the workload to get the mesh's config back\n`;
  }
  return out;
}

/** JSON with object keys sorted, so the same config always prints the same lines. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

/**
 * A unified diff of two texts (line-based, 3 lines of context), as `diff -u` prints it. Common
 * prefix and suffix are trimmed first, so the LCS table covers only the changed middle.
 */
export function unifiedDiff(a: string, b: string, labels: { from: string; to: string }, context = 3): string {
  const x = a.split('\n');
  const y = b.split('\n');
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const xm = x.slice(pre, x.length - suf);
  const ym = y.slice(pre, y.length - suf);
  const ops: { op: ' ' | '-' | '+'; line: string }[] = x.slice(0, pre).map((line) => ({ op: ' ' as const, line }));
  if (xm.length * ym.length > 4_000_000) {
    // Too large to align line by line: show the changed middle as removed, then added.
    for (const line of xm) ops.push({ op: '-', line });
    for (const line of ym) ops.push({ op: '+', line });
  } else {
    const n = xm.length;
    const m = ym.length;
    const lcs = new Uint32Array((n + 1) * (m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * (m + 1) + j] = xm[i] === ym[j] ? lcs[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(lcs[(i + 1) * (m + 1) + j]!, lcs[i * (m + 1) + j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xm[i] === ym[j]) {
        ops.push({ op: ' ', line: xm[i]! });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[(i + 1) * (m + 1) + j]! >= lcs[i * (m + 1) + j + 1]!)) ops.push({ op: '-', line: xm[i++]! });
      else ops.push({ op: '+', line: ym[j++]! });
    }
  }
  for (const line of x.slice(x.length - suf)) ops.push({ op: ' ', line });
  // Group changes into hunks with `context` lines around them.
  const out = [`--- ${labels.from}`, `+++ ${labels.to}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.op === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - context);
    let end = k;
    for (;;) {
      while (end < ops.length && ops[end]!.op !== ' ') end++;
      let next = end;
      while (next < ops.length && ops[next]!.op === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) end = next;
      else break;
    }
    end = Math.min(ops.length, end + context);
    let aLine = 1;
    let bLine = 1;
    for (let q = 0; q < start; q++) {
      if (ops[q]!.op !== '+') aLine++;
      if (ops[q]!.op !== '-') bLine++;
    }
    const hunk = ops.slice(start, end);
    const aCount = hunk.filter((o) => o.op !== '+').length;
    const bCount = hunk.filter((o) => o.op !== '-').length;
    out.push(`@@ -${aLine},${aCount} +${bLine},${bCount} @@`, ...hunk.map((o) => `${o.op}${o.line}`));
    k = end;
    start = end;
  }
  return out.join('\n') + '\n';
}

/** Per type: does the proxy run what the control plane would send, and if not, the diff. */
export async function proxyDiff(platform: MeshPlatform, target: { name: string; namespace: string; id: string }) {
  // The control plane first: "not connected" is the clearer error when the proxy is unknown.
  const cp = await platform
    .controlPlaneGet<{ version: string; desired: Record<string, unknown[]>; sent: Record<string, unknown[] | null> }>(`/debug/config_dump?proxy=${encodeURIComponent(target.id)}`)
    .catch((err: unknown) => {
      if (err instanceof MeshError && err.code === ErrorCode.NotFound) throw new NotFoundError(`connected proxy ${target.id}`, "list connected proxies with 'meshctl proxy-status'");
      throw err;
    });
  const running = await platform.proxyAdminGet<{ version?: string; config?: Record<string, unknown> }>(target, '/config_dump');
  // A type's resources are a set keyed by name, and so are a route table's virtual hosts (chosen by domain,
  // not by position; delta pushes join them back in another order): order there is not a difference.
  // Routes inside a virtual host and listener chains keep their order: the first match wins.
  const byName = <T,>(list: readonly T[]): T[] => [...list].sort((a, b) => String((a as { name?: unknown })?.name ?? '').localeCompare(String((b as { name?: unknown })?.name ?? '')));
  const normalize = (key: string, list: unknown): unknown[] => {
    if (!Array.isArray(list)) return [];
    const sorted = byName(list);
    if (key !== 'routes') return sorted;
    return sorted.map((rc) => (rc && typeof rc === 'object' && Array.isArray((rc as { virtualHosts?: unknown }).virtualHosts) ? { ...rc, virtualHosts: byName((rc as { virtualHosts: unknown[] }).virtualHosts) } : rc));
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
      diff: desired === runs ? '' : unifiedDiff(desired, runs, { from: `control plane ${t.key} (would send, version ${cp.version})`, to: `proxy ${target.id} ${t.key} (runs, version ${running.version ?? 'none'})` }),
    };
  });
  return { proxy: target.id, controlPlaneVersion: cp.version, proxyVersion: running.version ?? null, types };
}

const command: CommandDefinition = {
  name: 'proxy-status',
  summary: 'Show whether each proxy runs the config the control plane would send',
  define(cmd, bind) {
    cmd
      .argument('[name]', 'a proxy (NAME or NAME.NAMESPACE): print the diff between the control plane config and what it runs')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .option('--ignore-stale', 'exit 0 even when a proxy is not SYNCED or a registered workload has no connected proxy')
      .addHelpText(
        'after',
        'Exit code: 1 when a proxy is not SYNCED (STALE, NACKED, NOT SENT), when a registered workload has no connected\n' +
          'proxy, or (with NAME) when the proxy does not run what the control plane would send; --ignore-stale returns 0.\n' +
          examples(['meshctl proxy-status', 'meshctl proxy-status productpage-v1.default', 'meshctl proxy-status -o json', 'meshctl proxy-status --ignore-stale']),
      );
    bind<ProxyStatusFlags>(cmd, async (ctx, args, flags) => {
      const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
      const target = args[0] !== undefined ? parseProxyName(args[0], ctx.namespace()) : undefined;
      const platform = await ctx.platform();
      const { toJson } = await import('../ui/printers.js');
      if (target) {
        const result = await proxyDiff(platform, target);
        const diffCode = flags.ignoreStale || result.types.every((t) => t.match) ? 0 : 1;
        if (format === 'json') {
          ctx.out(toJson(result));
          return diffCode;
        }
        const s = ctx.style;
        for (const t of result.types) {
          if (t.match) ctx.out(`${s.green(`${t.title} Match`)}\n`);
          else {
            ctx.out(`${s.red(`${t.title} Don't Match`)}${t.sentDiffersFromRunning ? ' (the proxy has not applied what was sent: see meshctl proxy-status)' : ''}\n`);
            ctx.out(t.diff.split('\n').map((l) => (l.startsWith('+') && !l.startsWith('+++') ? s.green(l) : l.startsWith('-') && !l.startsWith('---') ? s.red(l) : l)).join('\n'));
          }
        }
        return diffCode;
      }
      const { rows, disconnected, unreachableControlPlanes } = await collectProxyStatus(platform);
      if (unreachableControlPlanes.length) ctx.logger.warn(`control plane replica(s) ${unreachableControlPlanes.join(', ')} did not answer: the proxies connected to them are not listed`);
      const healthy = rows.every(rowSynced) && disconnected.length === 0 && unreachableControlPlanes.length === 0;
      const code = healthy || flags.ignoreStale ? 0 : 1;
      if (format === 'json') {
        ctx.out(toJson({ proxies: rows, disconnectedWorkloads: disconnected.map((w) => `${w.name}.${w.namespace}`) }));
        return code;
      }
      if (!rows.length) ctx.err('No proxies are connected to the control plane.\n');
      else {
        const { renderTable } = await import('../ui/table.js');
        ctx.out(renderProxyStatus(ctx, rows, renderTable));
      }
      if (disconnected.length) ctx.err(`Registered workloads without a connected proxy: ${disconnected.map((w) => `${w.name}.${w.namespace}`).join(', ')}\n`);
      if (code !== 0) ctx.err(`Not every proxy is SYNCED (exit 1; --ignore-stale to exit 0). Why: meshctl check --proxy\n`);
      return code;
    });
  },
};
export default command;
