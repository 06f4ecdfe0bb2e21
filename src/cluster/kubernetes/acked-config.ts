/**
 * What a proxy in a pod runs, read from the control plane instead of the proxy: the sidecar's admin
 * API listens on 127.0.0.1 only (by design: it can drain and quit the proxy), so neither the CLI nor
 * the API server's pod proxy can reach it. The control plane keeps, per connected proxy, the last
 * resources it sent of each type and whether the proxy ACKed them; a type whose last response was
 * ACKed is exactly what the proxy applied. This module shapes that record like the admin API's
 * answers (`/clusters`, `/listeners`, `/routes`, `/certs`, `/config_dump`), so proxy-config and
 * proxy-status render both platforms the same way. What only the proxy knows (endpoint health,
 * outlier ejections, open connections) is null here, never invented.
 */
import { MeshError, ErrorCode } from '../../errors.js';

/** The type URLs of the config stream, by admin section. */
export const TYPE_URLS = {
  clusters: 'proxy.meshctl.dev/v1/clusters',
  listeners: 'proxy.meshctl.dev/v1/listeners',
  routes: 'proxy.meshctl.dev/v1/routes',
} as const;

/** `/debug/config_dump?proxy=ID` of the control plane (src/control-plane/debug/http-api.ts). */
export interface ControlPlaneConfigDump {
  proxy: {
    proxy: { id: string; workload: string; namespace: string; proxyVersion: string };
    spiffeId: string;
    certificateExpiry?: string;
    types: Record<
      string,
      {
        status: string;
        ackedVersion?: string;
        sentVersion?: string;
        lastNack?: { message: string; keptVersion: string };
      }
    >;
  };
  version: string;
  desired: Record<string, unknown[]>;
  sent: Record<string, unknown[] | null>;
  controlPlane?: string;
}

interface WireCluster {
  name: string;
  type?: string;
  service?: string;
  tls?: string;
  endpoints?: {
    address: string;
    port: number;
    labels?: Record<string, string>;
    weight?: number;
    identity?: string;
    tls?: string;
  }[];
  subsets?: { name: string; labels?: Record<string, string> }[];
  [k: string]: unknown;
}
interface WireListener {
  name: string;
  address?: string;
  port: number;
  direction: 'inbound' | 'outbound';
  mode?: string;
  chains: {
    name?: string;
    match?: Record<string, unknown>;
    protocol?: string;
    routeConfig?: string;
    tcpCluster?: string;
    tls?: string;
  }[];
  authz?: unknown;
}

/** The resources of one type the proxy acknowledged; throws when its last response is not ACKed. */
function acked(dump: ControlPlaneConfigDump, section: keyof typeof TYPE_URLS): unknown[] {
  const typeUrl = TYPE_URLS[section];
  const state = dump.proxy.types[typeUrl];
  const id = dump.proxy.proxy.id;
  if (!state || state.status === 'NOT SENT') return [];
  if (state.status !== 'SYNCED') {
    const why =
      state.status === 'NACKED'
        ? `it rejected the last one (${state.lastNack?.message ?? 'no reason given'}) and keeps version ${state.lastNack?.keptVersion ?? 'unknown'}`
        : 'it has not acknowledged the last one yet';
    throw new MeshError(
      ErrorCode.CheckFailed,
      `proxy ${id}: the control plane does not know which ${section} it runs: ${why}`,
      {
        hint: `see 'meshctl proxy-status ${id}' for the difference; a NACK names the field the proxy refused`,
      },
    );
  }
  return dump.sent[typeUrl] ?? [];
}

/** Answers an admin API path for a pod's proxy from the control plane's record. */
export function adminAnswerFromControlPlane(dump: ControlPlaneConfigDump, path: string): unknown {
  const p = path.split('?')[0];
  if (p === '/clusters') {
    return (acked(dump, 'clusters') as WireCluster[]).map((c) => ({
      name: c.name,
      type: c.type ?? 'static',
      service: c.service ?? null,
      tls: c.tls ?? 'disable',
      subsets: (c.subsets ?? []).map((s) => ({ name: s.name, labels: s.labels ?? {} })),
      endpoints: (c.endpoints ?? []).map((e) => ({
        address: e.address,
        port: e.port,
        labels: e.labels ?? {},
        weight: e.weight ?? 1,
        identity: e.identity ?? null,
        tls: e.tls ?? c.tls ?? 'disable',
        // Health and ejections live in the proxy only.
        health: null,
        outlier: null,
      })),
    }));
  }
  if (p === '/listeners') {
    return (acked(dump, 'listeners') as WireListener[]).map((l) => ({
      name: l.name,
      address: l.address ?? (l.direction === 'inbound' ? '0.0.0.0' : '127.0.0.1'),
      port: l.port,
      direction: l.direction,
      mode: l.mode ?? 'explicit',
      chains: l.chains.map((c) => ({
        name: c.name,
        match: c.match ?? null,
        protocol: c.protocol ?? 'auto',
        routeConfig: c.routeConfig ?? null,
        tcpCluster: c.tcpCluster ?? null,
        tls: c.tls ?? 'disable',
      })),
      authz: l.authz ?? null,
    }));
  }
  if (p === '/routes') return acked(dump, 'routes');
  if (p === '/certs') {
    // The certificate the proxy opened its stream with (the stream is mTLS); serial and start are not recorded.
    return {
      identity: dump.proxy.certificateExpiry
        ? { spiffeId: dump.proxy.spiffeId, serialNumber: null, validFrom: null, validTo: dump.proxy.certificateExpiry }
        : null,
    };
  }
  if (p === '/config_dump') {
    const config: Record<string, unknown[]> = {};
    for (const section of Object.keys(TYPE_URLS) as (keyof typeof TYPE_URLS)[]) config[section] = acked(dump, section);
    return {
      version: dump.proxy.types[TYPE_URLS.clusters]?.ackedVersion ?? null,
      config,
      source: `control plane ${dump.controlPlane ?? ''}`.trim(),
    };
  }
  throw new MeshError(
    ErrorCode.NotFound,
    `${p}: the proxy's admin API is reachable only inside its pod (127.0.0.1); the control plane knows /clusters, /listeners, /routes, /certs and /config_dump`,
    {
      hint: 'read the other admin endpoints from inside the pod (curl 127.0.0.1:15000' + p + ')',
    },
  );
}
