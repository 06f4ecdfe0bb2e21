/**
 * The control plane as one process on the local platform: CA, config store, workload registry,
 * and the serving half shared with Kubernetes (serving.ts: push pipeline, config stream + CA on
 * the stream port, debug/API on the debug port). Its state
 * lives under the mesh home, so a restart resumes with the same CA, config and workloads, and
 * proxies reconnect to current config.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from './atomic-file.js';
import { localLayout, type ControlPlaneState, type LocalLayout } from '../cluster/local-layout.js';
import { processStartTime } from '../cluster/processes.js';
import { ControlPlanePorts } from '../protocol/well-known.js';
import {
  CertificateAuthority,
  DEFAULT_TTL_POLICY,
  FileCaStorage,
  LocalTokenAuthenticator,
  loadOrCreateCa,
  RootRotation,
} from './ca/index.js';
import { CaRotationRunner, writeTrustFile } from './ca-rotation.js';
import { configChange, registryChange, type ConfigGenerator, type PushPipeline } from './push/index.js';
import { startMeshServing, type MeshServing } from './serving.js';
import { collectServices } from './registry/services.js';
import { withEntryWorkloads } from './registry/workload-entries.js';
import { FileConfigStore, type StoreKey } from './store/config-store.js';
import { WorkloadStore } from './store/workload-store.js';
import { MeshConfigFile } from './store/mesh-config-file.js';
import { MESH_CONFIG_GROUP, MESH_CONFIG_KIND } from './generators/telemetry.js';
import type { MeshServer } from './stream/server.js';
import type { JwksFetchOptions } from './jwks/jwks-cache.js';

/** Options of a control plane process. */
export interface ControlPlaneOptions {
  readonly home: string;
  /** Address to listen on; 127.0.0.1 on the local platform. */
  readonly host?: string;
  readonly streamPort?: number;
  readonly debugPort?: number;
  /** A user-supplied CA instead of the generated root. */
  readonly caCertFile?: string;
  readonly caKeyFile?: string;
  /** Default lifetime of workload certificates. */
  readonly certTtlSeconds?: number;
  /** Lifetime of the config stream's serving certificate (default 24 h, renewed at half-life). */
  readonly servingTtlSeconds?: number;
  readonly generators?: readonly ConfigGenerator[];
  /** How RequestAuthentication key sets are fetched (trust roots, connect-to). */
  readonly jwks?: JwksFetchOptions;
  /** Linkerd's install-wide default inbound policy (`--default-inbound-policy`); default all-unauthenticated. */
  readonly defaultInboundPolicy?: string;
  readonly version: string;
  readonly log: (line: string) => void;
}

/** A running control plane. */
export interface RunningControlPlane {
  readonly layout: LocalLayout;
  readonly state: ControlPlaneState;
  readonly server: MeshServer;
  readonly pipeline: PushPipeline;
  readonly store: FileConfigStore;
  readonly workloads: WorkloadStore;
  readonly authority: CertificateAuthority;
  stop(): Promise<void>;
}

/** Starts everything; resolves when both ports listen and the state file is written. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<RunningControlPlane> {
  const layout = localLayout(opts.home);
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log;
  const ca = await loadOrCreateCa({
    storage: new FileCaStorage(layout.caDir),
    ...(opts.caCertFile && opts.caKeyFile ? { supplied: { certFile: opts.caCertFile, keyFile: opts.caKeyFile } } : {}),
  });
  log(`CA: ${ca.origin} root "${ca.certificate.subject}" valid until ${ca.certificate.notAfter.toISOString()}`);
  const policy = { ...DEFAULT_TTL_POLICY, ...(opts.certTtlSeconds ? { defaultTtlSeconds: opts.certTtlSeconds } : {}) };
  const authority = new CertificateAuthority(ca, policy, log);
  const caStorage = new FileCaStorage(layout.caDir);
  // A rotation in progress resumes with the same new root (bundle and signing root as of its phase).
  const rotation = await RootRotation.open(authority, caStorage, layout.caDir, log);
  // The bundle is public: workloads started by `meshctl run` read it, and their proxies watch it.
  await writeTrustFile(layout.caRoot, authority, rotation.status().phase === 'idle' ? 'none' : rotation.status().phase);
  const tokens = new LocalTokenAuthenticator(layout.tokens);
  const adminToken = await readOrCreateAdminToken(layout.adminToken);
  const store = await FileConfigStore.open(layout.storeDir, (l) => log(`store: ${l}`));
  const workloads = await WorkloadStore.open(layout.workloads);
  let onMeshConfig = (): void => undefined;
  const meshConfig = await MeshConfigFile.open(layout.meshConfig, log, () => onMeshConfig());

  const startedAt = new Date().toISOString();
  let caRotation: CaRotationRunner | undefined;
  const serving: MeshServing = await startMeshServing({
    host,
    streamPort: opts.streamPort ?? ControlPlanePorts.stream,
    debugPort: opts.debugPort ?? ControlPlanePorts.debug,
    authority,
    authenticator: tokens,
    ...(opts.servingTtlSeconds ? { servingTtlSeconds: opts.servingTtlSeconds } : {}),
    ...(opts.generators ? { generators: opts.generators } : {}),
    ...(opts.jwks ? { jwks: opts.jwks } : {}),
    inputs: () => {
      const wl = workloads.list();
      const mc = meshConfig.object();
      const configs = store.meshResources();
      return {
        configs,
        services: collectServices(store.serviceObjects(), wl),
        // WorkloadEntries are endpoints as `meshctl run` workloads are (services come from those only).
        workloads: withEntryWorkloads(wl, configs),
        ...(mc ? { meshConfig: mc } : {}),
        ...(opts.defaultInboundPolicy ? { defaultInboundPolicy: opts.defaultInboundPolicy } : {}),
      };
    },
    local: { store, workloads, tokens, adminToken, caRotation: () => caRotation },
    info: (streamAddress) => ({
      version: opts.version,
      pid: process.pid,
      startedAt,
      streamAddress,
      home: layout.home,
      caOrigin: ca.origin,
      proxies: serving.server.ads.views().length,
      workloads: workloads.list().length,
      configs: store.list().length,
      memory: process.memoryUsage(),
    }),
    log,
  });
  const { pipeline, server, streamAddress } = serving;
  caRotation = new CaRotationRunner({
    authority,
    rotation,
    ads: server.ads,
    reissueServing: () => server.reissueServingCertificate(),
    trustFile: layout.caRoot,
    log,
  });
  store.on('change', (keys: StoreKey[]) => {
    // Service objects are the registry's services here (as the informers' are on Kubernetes), not config.
    const isService = (k: StoreKey): boolean => k.kind === 'Service' && k.group === '';
    const configs = keys.filter((k) => !isService(k));
    if (configs.length)
      pipeline.notify(
        configChange(
          configs,
          `config ${configs
            .map((k) => `${k.kind}/${k.namespace}/${k.name}`)
            .slice(0, 5)
            .join(', ')}`,
        ),
      );
    if (configs.length < keys.length) pipeline.notify(registryChange(['services', 'endpoints'], 'Service changed'));
  });
  onMeshConfig = () =>
    pipeline.notify(
      configChange(
        [{ group: MESH_CONFIG_GROUP, kind: MESH_CONFIG_KIND, namespace: 'mesh-system', name: 'mesh' }],
        'mesh config changed',
      ),
    );
  workloads.on('change', (key: string) =>
    pipeline.notify(registryChange(['workloads', 'endpoints', 'services'], `workload ${key}`)),
  );
  const processStart = await processStartTime('self');
  const state: ControlPlaneState = {
    pid: process.pid,
    ...(processStart ? { processStart } : {}),
    streamAddress,
    apiUrl: `http://${host}:${serving.apiPort}`,
    version: opts.version,
    startedAt,
  };
  await writeFileAtomic(layout.state, JSON.stringify(state, null, 2) + '\n', 0o600);
  log(
    `control plane ${opts.version} ready: config stream + CA on ${streamAddress}, debug API on ${state.apiUrl}, state in ${layout.home}`,
  );

  let stopped = false;
  return {
    layout,
    state,
    server,
    pipeline,
    store,
    workloads,
    authority,
    async stop() {
      if (stopped) return;
      stopped = true;
      meshConfig.close();
      await serving.close();
      // Only remove the state file if it is still ours (a newer daemon may have replaced it).
      try {
        const current = JSON.parse(await readFile(layout.state, 'utf8')) as ControlPlaneState;
        if (current.pid === process.pid && current.startedAt === startedAt) await rm(layout.state, { force: true });
      } catch {
        // Already gone.
      }
      log('control plane stopped');
    },
  };
}

async function readOrCreateAdminToken(file: string): Promise<string> {
  try {
    const t = (await readFile(file, 'utf8')).trim();
    if (t.length >= 32) return t;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFileAtomic(file, token + '\n', 0o600);
  return token;
}
