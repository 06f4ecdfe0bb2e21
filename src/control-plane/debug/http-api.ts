/**
 * Port 15014: the control plane's debug API (what `proxy-status`, `proxy-config` and `check` read,
 * plus /ready and /healthz for probes, and /metrics for Prometheus) and, on the local platform (127.0.0.1 only), the API the CLI
 * uses to apply config and register workloads. Reads under /debug are open, like istiod's;
 * everything under /api needs the admin token kept `0600` in the mesh home, since registering a
 * workload mints a credential. On Kubernetes there is no /api: config is in the cluster.
 */
import type { CaRotationRunner } from '../ca-rotation.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { DEFAULT_INBOUND_POLICY_ANNOTATION } from '../../protocol/well-known.js';
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import { describeError, MeshError } from '../../errors.js';
import { manifestObjects, parseDocuments, recordAppliedFrom } from '../../config/index.js';
import type { AdsServer } from '../stream/ads-server.js';
import type { PushPipeline } from '../push/pipeline.js';
import type { ConfigStore, StoreKey } from '../store/config-store.js';
import type { WorkloadStore } from '../store/workload-store.js';
import type { LocalTokenAuthenticator } from '../ca/authenticator.js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { WorkloadRecord } from '../registry/model.js';
import { redactPrivateKeys } from '../../protocol/proxy-config/redact.js';
import { isValidNamespace, isValidServiceAccount } from '../../protocol/pki/spiffe.js';
import { controlPlaneMetrics } from '../metrics.js';

/** The local platform's config store and workload registry, served under /api with the admin token. */
export interface LocalApiDeps {
  readonly store: ConfigStore;
  readonly workloads: WorkloadStore;
  readonly tokens: LocalTokenAuthenticator;
  readonly adminToken: string;
  /** Root CA rotation (`meshctl ca rotate`); set once the stream server runs. */
  caRotation?: () => CaRotationRunner | undefined;
}

/** What the API serves from. */
export interface HttpApiDeps {
  readonly ads: AdsServer;
  readonly pipeline: PushPipeline;
  readonly authority: CertificateAuthority;
  /** Absent on Kubernetes: no /api routes. */
  readonly local?: LocalApiDeps;
  /** Where proxies reach the config stream and CA (host:port). */
  readonly streamAddress: () => string;
  readonly info: () => Record<string, unknown>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Handler = (req: IncomingMessage, url: URL, body: unknown) => Promise<unknown> | unknown;

const MAX_BODY = 8 * 1024 * 1024;

/** Starts the API server on `host:port` (port 0: any). */
export async function startHttpApi(
  deps: HttpApiDeps,
  host: string,
  port: number,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const routes: [string, RegExp, Handler, boolean][] = [
    ['GET', /^\/ready$/, () => ({ ready: true, version: deps.pipeline.version }), false],
    ['GET', /^\/healthz$/, () => ({ ok: true }), false],
    ['GET', /^\/debug\/info$/, () => deps.info(), false],
    ['GET', /^\/debug\/syncz$/, () => ({ version: deps.pipeline.version, proxies: deps.ads.views() }), false],
    ['GET', /^\/debug\/pushz$/, () => ({ pushes: deps.pipeline.recentPushes() }), false],
    ['GET', /^\/debug\/ca$/, () => caInfo(deps.authority), false],
    ['GET', /^\/debug\/config_dump$/, (_r, url) => configDump(deps, url.searchParams.get('proxy') ?? ''), false],
  ];

  const local = deps.local;
  if (local) {
    routes.push(
      [
        'GET',
        /^\/api\/v1\/config$/,
        (_r, url) => ({
          items: local.store.list({
            kind: url.searchParams.get('kind') ?? undefined,
            namespace: url.searchParams.get('namespace') ?? undefined,
          }),
        }),
        true,
      ],
      ['POST', /^\/api\/v1\/config\/apply$/, (_r, _u, body) => applyDocuments(local, body), true],
      ['POST', /^\/api\/v1\/config\/delete$/, (_r, _u, body) => deleteKeys(local, body), true],
      ['GET', /^\/api\/v1\/workloads$/, () => ({ items: local.workloads.list() }), true],
      ['POST', /^\/api\/v1\/workloads$/, (_r, _u, body) => registerWorkload(deps, local, body), true],
      ['DELETE', /^\/api\/v1\/workloads\/([^/]+)\/([^/]+)$/, (_r, url) => unregisterWorkload(local, url), true],
      [
        'POST',
        /^\/api\/v1\/workloads\/([^/]+)\/([^/]+)\/serving$/,
        (_r, url, body) => setServing(deps, local, url, body),
        true,
      ],
      ['POST', /^\/api\/v1\/ca\/rotate$/, () => rotationRunner(local).start(), true],
      ['GET', /^\/api\/v1\/ca\/rotation$/, () => rotationRunner(local).progress(), true],
    );
  }

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://localhost');
        if (req.method === 'GET' && (url.pathname === '/metrics' || url.pathname === '/stats/prometheus')) {
          // the monitoring endpoint, open like istiod's 15014/metrics (nothing secret in it)
          res
            .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
            .end(controlPlaneMetrics.render());
          return;
        }
        const route = routes.find(([m, re]) => m === req.method && re.test(url.pathname));
        if (!route) throw new HttpError(404, `no such endpoint: ${req.method} ${url.pathname}`);
        if (route[3] && !authorized(req, local?.adminToken ?? ''))
          throw new HttpError(401, 'missing or wrong admin token');
        const body = req.method === 'POST' ? await readJson(req) : undefined;
        send(res, 200, await route[2](req, url, body));
      } catch (err) {
        if (err instanceof HttpError) send(res, err.status, { error: { message: err.message, ...err.extra } });
        else if (err instanceof MeshError) {
          const d = describeError(err);
          send(res, 422, {
            error: {
              code: d.code,
              message: d.message,
              hint: d.hint,
              problems: (err as { problems?: readonly string[] }).problems,
            },
          });
        } else send(res, 500, { error: { message: (err as Error).message } });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function authorized(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7) : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  if (!size) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function rotationRunner(local: LocalApiDeps): CaRotationRunner {
  const runner = local.caRotation?.();
  if (!runner) throw new HttpError(503, 'the control plane is still starting; try again');
  return runner;
}

function caInfo(authority: CertificateAuthority) {
  const root = new X509Certificate(authority.rootPem);
  return {
    origin: authority.ca.origin,
    subject: root.subject,
    notBefore: new Date(root.validFrom).toISOString(),
    notAfter: new Date(root.validTo).toISOString(),
    rootPem: authority.rootPem,
    trustBundlePem: authority.trustBundlePem,
  };
}

function configDump(deps: HttpApiDeps, proxyId: string) {
  const conn = deps.ads.connection(proxyId);
  if (!conn)
    throw new HttpError(404, `proxy ${proxyId || '(none given)'} is not connected`, {
      connected: deps.ads.views().map((v) => v.proxy.id),
    });
  const desired = deps.pipeline.desired(conn.proxy);
  const sent: Record<string, unknown> = {};
  for (const t of conn.subscribedTypes()) sent[t] = conn.lastSent(t) ?? null;
  return redactPrivateKeys({ proxy: conn.view(), version: deps.pipeline.version, desired, sent });
}

async function applyDocuments(deps: LocalApiDeps, body: unknown) {
  const b = body as { documents?: { file?: string; text?: string }[]; defaultNamespace?: string };
  if (!Array.isArray(b.documents)) throw new HttpError(400, 'body must have documents: [{file, text}]');
  const inputs = [];
  for (const d of b.documents) {
    const docs = parseDocuments(String(d.text ?? ''), String(d.file ?? '<input>'));
    for (const m of manifestObjects(docs)) {
      // Where it came from, so a proxy's refusal can name the file and line (see proxy-status).
      recordAppliedFrom(m);
      inputs.push(m);
    }
  }
  if (!inputs.length) throw new HttpError(400, 'no objects in the input');
  const outcomes = await deps.store.apply(inputs, { defaultNamespace: b.defaultNamespace || 'default' });
  return { outcomes };
}

async function deleteKeys(deps: LocalApiDeps, body: unknown) {
  const b = body as { keys?: StoreKey[] };
  if (!Array.isArray(b.keys)) throw new HttpError(400, 'body must have keys: [{group, kind, namespace, name}]');
  return { outcomes: await deps.store.delete(b.keys) };
}

/** How long a registration waits for the snapshot that includes it (the debounce is bounded at 1 s). */
const REGISTRATION_PUSH_WAIT_MS = 5_000;

async function registerWorkload(deps: HttpApiDeps, local: LocalApiDeps, body: unknown) {
  const w = body as Partial<WorkloadRecord>;
  const problems: string[] = [];
  if (!w.name || !isValidNamespace(w.name)) problems.push('name: must be a DNS label (a-z, 0-9, -)');
  if (!w.namespace || !isValidNamespace(w.namespace)) problems.push('namespace: must be a DNS label');
  if (!w.serviceAccount || !isValidServiceAccount(w.serviceAccount))
    problems.push('serviceAccount: must be a DNS name');
  if (!Array.isArray(w.ports) || !w.ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536))
    problems.push('ports: must be a list of ports');
  if (w.capture !== undefined && typeof w.capture !== 'boolean') problems.push('capture: must be true or false');
  if (
    w.serviceAddresses !== undefined &&
    !(Array.isArray(w.serviceAddresses) && w.serviceAddresses.every((a) => typeof a === 'string' && isIP(a) !== 0))
  )
    problems.push('serviceAddresses: must be a list of IP addresses');
  if (w.serving !== undefined && typeof w.serving !== 'boolean') problems.push('serving: must be true or false');
  if (w.ipv6Address !== undefined && isIP(String(w.ipv6Address)) !== 6)
    problems.push('ipv6Address: must be an IPv6 address');
  const okPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536;
  if (w.telemetryPort !== undefined && !okPort(w.telemetryPort)) problems.push('telemetryPort: must be a port');
  if (w.weight !== undefined && !(Number.isInteger(w.weight) && w.weight >= 1 && w.weight <= 0xffffffff))
    problems.push('weight: must be an integer from 1 to 4294967295');
  if (
    w.outboundPorts !== undefined &&
    !(
      Array.isArray(w.outboundPorts) &&
      w.outboundPorts.every((o) => typeof o?.service === 'string' && okPort(o.port) && okPort(o.localPort))
    )
  ) {
    problems.push('outboundPorts: must be a list of {service, port, localPort}');
  }
  const gw = w.gateway;
  if (
    gw !== undefined &&
    !(
      gw &&
      typeof gw.address === 'string' &&
      isIP(gw.address) !== 0 &&
      gw.ports &&
      typeof gw.ports === 'object' &&
      Object.entries(gw.ports).every(([k, v]) => okPort(Number(k)) && okPort(v))
    )
  ) {
    problems.push('gateway: must be {address: IP, ports: {gatewayPort: localPort}}');
  }
  const annotations = (body as { annotations?: unknown }).annotations;
  const inboundPolicy =
    annotations && typeof annotations === 'object'
      ? (annotations as Record<string, unknown>)[DEFAULT_INBOUND_POLICY_ANNOTATION]
      : undefined;
  if (inboundPolicy !== undefined && typeof inboundPolicy !== 'string')
    problems.push(`annotations.${DEFAULT_INBOUND_POLICY_ANNOTATION}: must be a string`);
  if (problems.length) throw new HttpError(400, `invalid workload: ${problems.join('; ')}`);
  const record: WorkloadRecord = {
    name: w.name!,
    namespace: w.namespace!,
    serviceAccount: w.serviceAccount!,
    labels: { ...(w.labels ?? {}) },
    address: w.address ?? '127.0.0.1',
    ports: w.ports!,
    ...(w.proxyPort ? { proxyPort: w.proxyPort } : {}),
    ...(w.services ? { services: w.services } : {}),
    ...(w.servicePort ? { servicePort: w.servicePort } : {}),
    ...(w.adminPort ? { adminPort: w.adminPort } : {}),
    ...(w.telemetryPort ? { telemetryPort: w.telemetryPort } : {}),
    ...(w.outboundPort ? { outboundPort: w.outboundPort } : {}),
    // A captured local workload lives in its own network namespace: its peers dial its address directly.
    ...(w.capture ? { capture: true, peersDialAddress: true } : {}),
    ...(w.serviceAddresses?.length ? { serviceAddresses: w.serviceAddresses } : {}),
    ...(w.ipv6Address ? { ipv6Address: w.ipv6Address } : {}),
    ...(w.outboundPorts?.length
      ? { outboundPorts: w.outboundPorts.map((o) => ({ service: o.service, port: o.port, localPort: o.localPort })) }
      : {}),
    ...(w.serving === false ? { serving: false } : {}),
    ...(w.weight !== undefined ? { weight: w.weight } : {}),
    // An unknown value is kept: the translation fails it closed (deny), as on Kubernetes.
    ...(typeof inboundPolicy === 'string' ? { defaultInboundPolicy: inboundPolicy } : {}),
    ...(gw
      ? {
          gateway: {
            address: gw.address,
            ports: Object.fromEntries(Object.entries(gw.ports).map(([k, v]) => [Number(k), v])),
          },
        }
      : {}),
  };
  await local.workloads.register(record);
  const token = await local.tokens.issue({
    namespace: record.namespace,
    serviceAccount: record.serviceAccount,
    workload: record.name,
  });
  // Answer once the snapshot holds the workload: a sidecar connecting earlier (inside the ~100 ms
  // debounce) would be taken for a captured pod and sent 0.0.0.0:15001/15006 listeners.
  const deadline = Date.now() + REGISTRATION_PUSH_WAIT_MS;
  while (!deps.pipeline.snapshot.workload(record.name, record.namespace) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return { workload: record, token, trustRoots: deps.authority.trustBundlePem, streamAddress: deps.streamAddress() };
}

/** The longest a serving change waits for the proxies' ACKs. */
const MAX_ACK_WAIT_MS = 60_000;

/**
 * Marks a workload serving (an endpoint) or not, then waits until the snapshot reflects it and, with
 * `waitForAck`, until every connected proxy ACKed what it was sent since (so none still routes new
 * requests to a withdrawn endpoint). Answers which proxies had not ACKed when the wait ran out.
 */
async function setServing(deps: HttpApiDeps, local: LocalApiDeps, url: URL, body: unknown) {
  const m = /^\/api\/v1\/workloads\/([^/]+)\/([^/]+)\/serving$/.exec(url.pathname)!;
  const ns = decodeURIComponent(m[1]!);
  const name = decodeURIComponent(m[2]!);
  const b = body as { serving?: unknown; ackTimeoutMs?: unknown };
  if (typeof b.serving !== 'boolean') throw new HttpError(400, 'body must have serving: true or false');
  const waitMs =
    typeof b.ackTimeoutMs === 'number' && b.ackTimeoutMs > 0 ? Math.min(b.ackTimeoutMs, MAX_ACK_WAIT_MS) : 0;
  if (!(await local.workloads.setServing(ns, name, b.serving)))
    throw new HttpError(404, `workload ${ns}/${name} is not registered`);
  const deadline = Date.now() + Math.max(waitMs, REGISTRATION_PUSH_WAIT_MS);
  const reflected = (): boolean => (deps.pipeline.snapshot.workload(name, ns)?.serving !== false) === b.serving;
  while (!reflected() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const version = deps.pipeline.version;
  const pending = (): string[] =>
    deps.ads
      .views()
      .filter((v) => Object.values(v.types).some((t) => t.status !== 'SYNCED' && t.status !== 'NOT SENT'))
      .map((v) => v.proxy.id);
  const ackDeadline = Date.now() + waitMs;
  while (waitMs > 0 && pending().length > 0 && Date.now() < ackDeadline) await new Promise((r) => setTimeout(r, 10));
  return {
    serving: b.serving,
    version,
    acked: reflected() && pending().length === 0,
    pending: waitMs > 0 ? pending() : [],
  };
}

async function unregisterWorkload(deps: LocalApiDeps, url: URL) {
  const m = /^\/api\/v1\/workloads\/([^/]+)\/([^/]+)$/.exec(url.pathname)!;
  const ns = decodeURIComponent(m[1]!);
  const name = decodeURIComponent(m[2]!);
  const removed = await deps.workloads.unregister(ns, name);
  await deps.tokens.revoke(ns, name);
  if (!removed) throw new HttpError(404, `workload ${ns}/${name} is not registered`);
  return { removed: `${ns}/${name}` };
}
