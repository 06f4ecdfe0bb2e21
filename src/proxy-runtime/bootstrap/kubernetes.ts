/**
 * The sidecar in an injected pod (`meshctl proxy run` with no --config): everything comes from the
 * environment the injector wrote (ProxyEnv): who the pod is, the control plane's address, the
 * projected ServiceAccount token (audience meshctl) and the mesh root CA. The proxy gets its
 * certificate from the CA, then its listeners, routes and clusters from the config stream, with
 * capture listeners resolving SO_ORIGINAL_DST. Port 15020 answers the kubelet: `/healthz/ready`
 * (certificate and listeners in place), `/app-health/<container>/<probe>` (the app's own probes,
 * run by the proxy over loopback, as the injector rewrote them) and `/stats/prometheus`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIP } from 'node:net';
import {
  ADMIN_TOKEN_FILE,
  APP_PRESTOP_PATH,
  CONTROL_PLANE_SERVICE,
  MESH_NAMESPACE,
  ProxyEnv,
  ProxyPorts,
} from '../../protocol/well-known.js';
import { PROXY_CONFIG_API_VERSION } from '../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../protocol/stream/messages.js';
import { captureOriginalDestinationResolver } from '../listeners/capture/resolver.js';
import type { ProxyLog } from '../ground/log.js';
import { Proxy } from '../proxy.js';
import { startCaIdentity, startSidecarStream, type SidecarStream } from '../runtime/xds-client/sidecar-stream.js';
import type { CaIdentitySource } from '../runtime/identity/ca-client.js';
import { DEFAULT_DRAIN_MS, PodTermination } from './termination.js';
import { parseDuration } from '../../config/duration.js';

/** Whether the environment is an injected pod's (the injector always sets these). */
export function isInjectedPod(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env[ProxyEnv.controlPlaneAddress] && env[ProxyEnv.podName] && env[ProxyEnv.tokenPath]);
}

/** The pod's facts, read from the injector's environment. */
export interface PodEnvironment {
  podName: string;
  namespace: string;
  serviceAccount: string;
  controlPlaneAddress: string;
  /** TLS name of the control plane when the address is an IP (its certificate names the Service). */
  serverName?: string;
  tokenPath: string;
  caRootPath: string;
  /**
   * The identity volume (`MESH_CERTS_DIR`, memory-backed, the proxy's own): the admin token is written
   * there 0600, for `meshctl proxy request` run in this container through pods/exec. Injected sidecars
   * and install's gateways set it; unset (a hand-written pod): the token stays in the process.
   */
  certsDir?: string;
  probers: Record<string, Prober>;
  /** A gateway pod's proxy (MESH_PROXY_MODE=router): no app, no capture; it serves its Gateways' ports. */
  router: boolean;
  /** The app's container ports (MESH_APP_PORTS). */
  appPorts: number[];
  /** terminationDrainDuration in ms (MESH_TERMINATION_DRAIN_DURATION, default 5 s). */
  drainMs: number;
  /** The workload's labels (MESH_POD_LABELS), for `sourceLabels` matches and telemetry. */
  labels: Record<string, string>;
}

/** `k=v,k=v` -> labels; a pair without `=` is skipped (label values hold no comma). */
function parseLabels(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const i = pair.indexOf('=');
    if (i > 0) out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}

/** One rewritten probe: the app's original handler with its port resolved. */
export interface Prober {
  httpGet?: {
    path?: string;
    port: number;
    scheme?: string;
    host?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number; host?: string };
  grpc?: { port: number };
  timeoutSeconds?: number;
}

/** Reads the environment; a missing variable is an error naming it. */
export function podEnvironment(env: NodeJS.ProcessEnv): PodEnvironment {
  const need = (name: string): string => {
    const v = env[name];
    if (!v)
      throw new Error(
        `${name} is not set: the proxy runs in Kubernetes mode only in a pod injected by meshctl (meshctl inject, or the webhook); elsewhere pass --config`,
      );
    return v;
  };
  const controlPlaneAddress = need(ProxyEnv.controlPlaneAddress);
  const host = controlPlaneAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  let probers: Record<string, Prober> = {};
  if (env[ProxyEnv.appProbers]) {
    try {
      probers = JSON.parse(env[ProxyEnv.appProbers]!) as Record<string, Prober>;
    } catch (err) {
      throw new Error(`${ProxyEnv.appProbers} is not JSON: ${(err as Error).message}`);
    }
  }
  const drainText = env[ProxyEnv.terminationDrainDuration];
  const drainMs = drainText === undefined || drainText === '' ? DEFAULT_DRAIN_MS : parseDuration(drainText.trim());
  if (drainMs === undefined)
    throw new Error(
      `${ProxyEnv.terminationDrainDuration}=${drainText} is not a duration: write it as 5s, 500ms or 1m30s (Istio's terminationDrainDuration)`,
    );
  return {
    podName: need(ProxyEnv.podName),
    namespace: need(ProxyEnv.podNamespace),
    serviceAccount: env[ProxyEnv.serviceAccount] || 'default',
    controlPlaneAddress,
    ...(isIP(host) ? { serverName: `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}.svc` } : {}),
    tokenPath: need(ProxyEnv.tokenPath),
    caRootPath: need(ProxyEnv.caRootPath),
    ...(env[ProxyEnv.certsDir] ? { certsDir: env[ProxyEnv.certsDir] } : {}),
    probers,
    router: env[ProxyEnv.proxyMode] === 'router',
    appPorts: (env[ProxyEnv.appPorts] ?? '')
      .split(',')
      .map((p) => Number(p.trim()))
      .filter((p) => Number.isInteger(p) && p > 0 && p < 65536),
    drainMs,
    labels: parseLabels(env[ProxyEnv.podLabels]),
  };
}

/** A running Kubernetes sidecar. */
export interface KubernetesSidecar {
  readonly proxy: Proxy;
  readonly identity: CaIdentitySource;
  readonly stream: SidecarStream;
  readonly health: Server;
  /** Stops now: drains what is in flight (up to the proxy's drain period) and closes (/quitquitquit). */
  close(): Promise<void>;
  /** The pod terminates (SIGTERM): serves until its app has exited and nothing is in flight, then closes. */
  terminate(): Promise<void>;
}

/** Options of the sidecar. */
export interface KubernetesSidecarOptions {
  env: NodeJS.ProcessEnv;
  log: ProxyLog;
  accessLog: NodeJS.WritableStream | null;
  proxyVersion: string;
  /** Port of the kubelet-facing health server (default 15020). */
  healthPort?: number;
  adminPort?: number;
  onQuit?: () => void;
  /** Stops retrying the control plane when set and aborted. */
  signal?: AbortSignal;
}

/** Retries `what` every 2 s until it works (the control plane may start after the pod). */
async function retrying<T>(log: ProxyLog, what: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw err;
      log.warn(`${what} failed, retrying in 2s`, { attempt, error: (err as Error).message });
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Starts the sidecar of an injected pod. */
export async function startKubernetesSidecar(o: KubernetesSidecarOptions): Promise<KubernetesSidecar> {
  const pod = podEnvironment(o.env);
  const { log } = o;
  const healthPort = o.healthPort ?? ProxyPorts.telemetry;
  let ready = (): boolean => false;
  let telemetryPort = 0;
  let termination: PodTermination | undefined;
  // The health port answers from the start, so the kubelet's probes see "not ready yet", not a refused connection.
  const health = await startHealthServer(healthPort, pod.probers, {
    ready: () => (termination?.terminating ? false : ready()),
    telemetryPort: () => telemetryPort,
    holdApp: () => termination?.holdApp() ?? Promise.resolve('not started'),
  });
  try {
    // The kubelet refreshes the token file; read it for every certificate request.
    const token = async (): Promise<string> => (await readFile(pod.tokenPath, 'utf8')).trim();
    const trustRoots = await retrying(
      log,
      `reading the mesh root CA ${pod.caRootPath}`,
      () => readFile(pod.caRootPath, 'utf8'),
      o.signal,
    );
    const identity = await retrying(
      log,
      `getting a certificate from ${pod.controlPlaneAddress}`,
      () =>
        startCaIdentity({
          address: pod.controlPlaneAddress,
          trustRoots,
          token,
          trustFile: pod.caRootPath,
          ...(pod.serverName ? { serverName: pod.serverName } : {}),
        }),
      o.signal,
    );
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        // A gateway has no capture listeners: its traffic arrives on the Gateway ports it binds.
        ...(pod.router
          ? {}
          : {
              resolveOriginalDst: captureOriginalDestinationResolver((reason) =>
                log.debug('capture: connection refused', { reason }),
              ),
            }),
        adminPort: o.adminPort ?? ProxyPorts.admin,
        // The proxy's own telemetry server stays internal; 15020 is the health server, which forwards /stats.
        telemetryPort: 0,
        accessLog: o.accessLog,
        log,
        ...(o.onQuit ? { onQuit: o.onQuit } : {}),
        ...(pod.certsDir ? { adminTokenFile: join(pod.certsDir, ADMIN_TOKEN_FILE) } : {}),
        guardProcess: true,
      },
    );
    telemetryPort = proxy.telemetryPort;
    const podTermination = new PodTermination(proxy, {
      drainMs: pod.drainMs,
      appPorts: pod.appPorts,
      log,
      gateway: pod.router,
    });
    termination = podTermination;
    const node = {
      id: `${pod.podName}.${pod.namespace}`,
      workload: pod.podName,
      namespace: pod.namespace,
      serviceAccount: pod.serviceAccount,
      labels: pod.labels,
      proxyVersion: o.proxyVersion,
    };
    const stream = await startSidecarStream({
      address: pod.controlPlaneAddress,
      ...(pod.serverName ? { serverName: pod.serverName } : {}),
      proxy,
      identity,
      node,
      log: (l) => log.debug(l),
    });
    ready = () =>
      Boolean(stream.client.state()[TypeUrl.listeners]?.appliedVersion) && identity.status().spiffeId !== undefined;
    log.info(pod.router ? 'gateway started' : 'sidecar started', {
      spiffeId: identity.status().spiffeId,
      controlPlane: pod.controlPlaneAddress,
      admin: `127.0.0.1:${proxy.adminPort}`,
      health: healthPort,
    });
    const close = async (): Promise<void> => {
      stream.close();
      await proxy.close();
      identity.close();
      await new Promise<void>((r) => health.close(() => r()));
    };
    return {
      proxy,
      identity,
      stream,
      health,
      close,
      async terminate() {
        await podTermination.untilDone();
        await close();
      },
    };
  } catch (err) {
    health.close();
    throw err;
  }
}

/** What the health server answers from. */
interface HealthSource {
  ready(): boolean;
  telemetryPort(): number;
  /** The app's preStop hook: resolves when the app may get SIGTERM. */
  holdApp(): Promise<string>;
}

function startHealthServer(port: number, probers: Record<string, Prober>, source: HealthSource): Promise<Server> {
  const { ready, telemetryPort } = source;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === APP_PRESTOP_PATH) {
      void source.holdApp().then((why) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`${why}\n`));
      return;
    }
    if (req.method === 'GET' && path === '/healthz/ready') {
      const ok = ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(
          ok
            ? 'ready\n'
            : 'not ready: waiting for the certificate and the listeners from the control plane, or terminating\n',
        );
      return;
    }
    const prober = probers[path];
    if (prober) {
      void runProbe(prober).then((r) => res.writeHead(r.status, { 'content-type': 'text/plain' }).end(`${r.detail}\n`));
      return;
    }
    if (path === '/stats/prometheus' && telemetryPort()) {
      forwardStats(req, res, telemetryPort());
      return;
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end(`not found: /healthz/ready, /stats/prometheus, /app-health/<container>/<probe>, ${APP_PRESTOP_PATH}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

function forwardStats(req: IncomingMessage, res: ServerResponse, port: number): void {
  const up = httpRequest(
    { host: '127.0.0.1', port, path: req.url, method: 'GET', headers: { accept: req.headers.accept ?? '*/*' } },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', (err) => res.writeHead(502).end(`telemetry unavailable: ${err.message}\n`));
  up.end();
}

/** Runs the app's original probe against 127.0.0.1, as the kubelet would have against the pod. */
function runProbe(p: Prober): Promise<{ status: number; detail: string }> {
  const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
  return new Promise((resolve) => {
    if (p.httpGet) {
      const g = p.httpGet;
      const https = (g.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
      const headers = Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value]));
      const req = (https ? httpsRequest : httpRequest)(
        {
          host: '127.0.0.1',
          port: g.port,
          path: g.path ?? '/',
          method: 'GET',
          headers,
          timeout: timeoutMs,
          ...(https ? { rejectUnauthorized: false } : {}),
        },
        (r) => {
          r.resume();
          const code = r.statusCode ?? 500;
          // The kubelet counts 200-399 as success.
          resolve({ status: code >= 200 && code < 400 ? 200 : 503, detail: `app answered ${code}` });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => resolve({ status: 503, detail: `app probe failed: ${err.message}` }));
      req.end();
      return;
    }
    const port = p.tcpSocket?.port ?? p.grpc?.port;
    if (port === undefined) {
      resolve({ status: 500, detail: 'probe without a handler' });
      return;
    }
    // gRPC health probes are checked as a TCP connect (the proxy does not speak grpc.health.v1 yet).
    const s = connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve({ status: 200, detail: `connected to port ${port}` });
    });
    s.once('timeout', () => s.destroy(new Error('timeout')));
    s.once('error', (err) => resolve({ status: 503, detail: `port ${port}: ${err.message}` }));
  });
}
