/**
 * The containers and volumes inject adds: the proxy (native sidecar or classic container), the
 * capture init container, and the identity volumes. Pure builders: same input, same output.
 */
import {
  APP_PRESTOP_PATH,
  CA_ROOT_CONFIGMAP,
  PROXY_GID,
  PROXY_UID,
  ProxyEnv,
  SIDECAR_NODE_FLAGS,
  ProxyMounts,
  ProxyPorts,
  TOKEN_AUDIENCE,
} from '../protocol/well-known.js';
import type { InjectOptions } from './options.js';
import type { JsonObject } from './workloads.js';

/** Names of what inject adds; uninject removes exactly these (as recorded in the status). */
export const MeshNames = {
  proxy: 'mesh-proxy',
  init: 'mesh-init',
  tokenVolume: 'mesh-token',
  certsVolume: 'mesh-certs',
  caRootVolume: 'mesh-ca-root',
} as const;

/** Facts about the pod that shape its proxy. */
export interface ProxyInputs {
  /** Container ports of the app containers (the proxy's inbound ports). */
  appPorts: number[];
  /** Rewritten probes: `/app-health/<container>/<probe>` -> original handler with resolved port. */
  probers: Record<string, unknown>;
  /** Value of the opaque-ports annotation, if any. */
  opaquePorts?: string;
  /** The pod's own labels: the proxy's node labels (VirtualService `sourceLabels`, telemetry). */
  labels?: Readonly<Record<string, string>>;
}

const READY_PATH = '/healthz/ready';

/** The proxy container. Native: restartPolicy Always in initContainers; classic: first of containers. */
export function proxyContainer(o: InjectOptions, inputs: ProxyInputs): JsonObject {
  const env: JsonObject[] = [
    fieldEnv(ProxyEnv.podName, 'metadata.name'),
    fieldEnv(ProxyEnv.podNamespace, 'metadata.namespace'),
    fieldEnv(ProxyEnv.podIp, 'status.podIP'),
    fieldEnv(ProxyEnv.serviceAccount, 'spec.serviceAccountName'),
    { name: ProxyEnv.controlPlaneAddress, value: o.controlPlaneAddress },
    { name: ProxyEnv.logLevel, value: o.proxyLogLevel },
    { name: ProxyEnv.tokenPath, value: `${ProxyMounts.tokenDir}/${ProxyMounts.tokenFile}` },
    { name: ProxyEnv.caRootPath, value: `${ProxyMounts.caRootDir}/${ProxyMounts.caRootFile}` },
    { name: ProxyEnv.certsDir, value: ProxyMounts.certsDir },
    // Only on the proxy container: the app's own Node processes keep their defaults.
    { name: 'NODE_OPTIONS', value: SIDECAR_NODE_FLAGS.join(' ') },
  ];
  if (inputs.appPorts.length > 0) env.push({ name: ProxyEnv.appPorts, value: inputs.appPorts.join(',') });
  if (o.terminationDrainDuration)
    env.push({ name: ProxyEnv.terminationDrainDuration, value: o.terminationDrainDuration });
  if (inputs.opaquePorts) env.push({ name: ProxyEnv.opaquePorts, value: inputs.opaquePorts });
  const labels = Object.entries(inputs.labels ?? {}).filter(([, v]) => typeof v === 'string');
  if (labels.length > 0)
    env.push({
      name: ProxyEnv.podLabels,
      value: labels
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    });
  if (Object.keys(inputs.probers).length > 0)
    env.push({ name: ProxyEnv.appProbers, value: JSON.stringify(inputs.probers) });

  const container: JsonObject = {
    name: MeshNames.proxy,
    image: o.proxyImage,
    args: ['proxy', 'run'],
  };
  if (o.nativeSidecar) container.restartPolicy = 'Always';
  Object.assign(container, {
    env,
    ports: [{ name: 'mesh-telemetry', containerPort: ProxyPorts.telemetry, protocol: 'TCP' }],
    readinessProbe: {
      httpGet: { path: READY_PATH, port: ProxyPorts.telemetry },
      periodSeconds: 2,
      failureThreshold: 30,
    },
    startupProbe: {
      httpGet: { path: READY_PATH, port: ProxyPorts.telemetry },
      periodSeconds: 1,
      failureThreshold: 600,
    },
    resources: resources(o),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: PROXY_GID,
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
    },
    volumeMounts: [
      { name: MeshNames.tokenVolume, mountPath: ProxyMounts.tokenDir, readOnly: true },
      { name: MeshNames.certsVolume, mountPath: ProxyMounts.certsDir },
      { name: MeshNames.caRootVolume, mountPath: ProxyMounts.caRootDir, readOnly: true },
    ],
  });
  if (!o.nativeSidecar) {
    // Classic sidecars start in order but do not wait for each other: hold the app containers
    // until the proxy is ready, as Istio's holdApplicationUntilProxyStarts does.
    container.lifecycle = {
      postStart: { exec: { command: ['/opt/meshctl/bin/meshctl', 'proxy', 'wait-ready', '--timeout', '120s'] } },
    };
  }
  return container;
}

/**
 * Gives each app container without a preStop hook of its own one that asks the proxy (an httpGet
 * to the telemetry port, so the app's image needs nothing): the kubelet sends the app SIGTERM only
 * once the pod's peers stopped sending to it (src/proxy-runtime/bootstrap/termination.ts), so an
 * app that exits at once on SIGTERM loses no request. Returns the names given one, and of those the
 * ones that had no `lifecycle`. A container's own preStop is kept as it is.
 */
export function addAppPreStops(containers: JsonObject[]): { preStops: string[]; createdLifecycle: string[] } {
  const preStops: string[] = [];
  const createdLifecycle: string[] = [];
  for (const c of containers) {
    const lifecycle = c.lifecycle;
    if (lifecycle !== undefined && (typeof lifecycle !== 'object' || lifecycle === null || Array.isArray(lifecycle)))
      continue;
    if (lifecycle && (lifecycle as JsonObject).preStop !== undefined) continue;
    if (!lifecycle) {
      c.lifecycle = {};
      createdLifecycle.push(String(c.name));
    }
    (c.lifecycle as JsonObject).preStop = { httpGet: { path: APP_PRESTOP_PATH, port: ProxyPorts.telemetry } };
    preStops.push(String(c.name));
  }
  return { preStops, createdLifecycle };
}

/** Removes what addAppPreStops added. */
export function removeAppPreStops(containers: JsonObject[], preStops: string[], createdLifecycle: string[]): void {
  for (const c of containers) {
    const name = String(c.name);
    if (!preStops.includes(name) || typeof c.lifecycle !== 'object' || c.lifecycle === null) continue;
    delete (c.lifecycle as JsonObject).preStop;
    if (createdLifecycle.includes(name) && Object.keys(c.lifecycle).length === 0) delete c.lifecycle;
  }
}

/** The capture init container: `meshctl proxy init` with NET_ADMIN and NET_RAW only. */
export function initContainer(o: InjectOptions, captureFlags: readonly string[]): JsonObject {
  return {
    name: MeshNames.init,
    image: o.proxyImage,
    args: [
      'proxy',
      'init',
      '--proxy-uid',
      String(PROXY_UID),
      '--proxy-gid',
      String(PROXY_GID),
      '--inbound-capture-port',
      String(ProxyPorts.inboundCapture),
      '--outbound-capture-port',
      String(ProxyPorts.outboundCapture),
      ...captureFlags,
    ],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
}

/** The volumes of the proxy's identity: its token for the CA, its keys (memory only), the root CA. */
export function meshVolumes(): JsonObject[] {
  return [
    {
      name: MeshNames.tokenVolume,
      projected: {
        sources: [
          { serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 43200, path: ProxyMounts.tokenFile } },
        ],
      },
    },
    { name: MeshNames.certsVolume, emptyDir: { medium: 'Memory' } },
    { name: MeshNames.caRootVolume, configMap: { name: CA_ROOT_CONFIGMAP } },
  ];
}

function fieldEnv(name: string, fieldPath: string): JsonObject {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

function resources(o: InjectOptions): JsonObject {
  const out: JsonObject = {};
  const clean = (r: { cpu?: string; memory?: string }) =>
    Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined && v !== ''));
  const requests = clean(o.resources.requests);
  const limits = clean(o.resources.limits);
  if (Object.keys(requests).length) out.requests = requests;
  if (Object.keys(limits).length) out.limits = limits;
  return out;
}
