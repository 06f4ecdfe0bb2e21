/**
 * The control plane in a cluster (`meshctl control-plane --kubernetes`, what install's Deployment
 * runs): the serving half shared with the local platform (push pipeline, config stream + CA on
 * 15012, debug API on 15014 with /ready and /healthz), fed by the informer registry; the signing CA
 * from the `meshctl-ca` Secret; proxies authenticated with their ServiceAccount token through
 * TokenReview; the injection webhook on 15017 with a serving certificate from the mesh CA.
 * Every replica serves proxies and admission requests and follows the CA Secret (root rotation); the
 * singleton work (keeping the webhook's caBundle current, publishing the root CA ConfigMap into
 * namespaces, driving a root rotation's phases) runs on the Lease holder.
 */
import { CONTROL_PLANE_SERVICE, ControlPlanePorts } from '../protocol/well-known.js';
import type { KubernetesCluster, KubeObject } from '../cluster/index.js';
import { defaultInjectOptions, type InjectOptions } from '../inject/index.js';
import { CertificateAuthority, DEFAULT_TTL_POLICY, loadOrCreateCa } from './ca/index.js';
import { TokenReviewAuthenticator } from './ca/token-review.js';
import { configChange, type ChangeSet } from './push/index.js';
import { MESH_CONFIG_GROUP, MESH_CONFIG_KIND } from './generators/telemetry.js';
import { startMeshServing, type MeshServing } from './serving.js';
import { KubernetesRegistry } from './kubernetes/registry.js';
import { SecretCaStorage } from './kubernetes/ca-secret-storage.js';
import { KubernetesCaRotation } from './kubernetes/ca-rotation.js';
import { RootRotation } from './ca/rotation.js';
import { LeaderElector } from './kubernetes/leader-election.js';
import { startWebhookServer, type WebhookServer } from './webhook/server.js';
import { leveledLog, type ControlPlaneLogLevel } from './kubernetes/leveled-log.js';
import { ensureValidator } from './kubernetes/validator-config.js';
import { MeshConfigMap, meshSettings, seconds } from './kubernetes/mesh-configmap.js';
import { ensureCaBundle, publishRoot } from './kubernetes/trust-publishing.js';

/** Names the control plane shares with install (src/install/manifests.ts InstallNames). */
const LEADER_LEASE = 'meshctl-control-plane-leader';
const WEBHOOK_CERT_TTL_SECONDS = 30 * 86_400;

/** Options of the Kubernetes control plane. */
export interface KubernetesControlPlaneOptions {
  readonly cluster: KubernetesCluster;
  /** The mesh namespace (where the CA Secret, the Lease and the Service are). */
  readonly namespace: string;
  /** This replica's name (POD_NAME), its identity in the leader election. */
  readonly podName: string;
  readonly host?: string;
  readonly streamPort?: number;
  readonly debugPort?: number;
  readonly webhookPort?: number;
  /**
   * The control plane address the injector writes into pods (MESH_CONTROL_PLANE_ADDRESS). Default
   * `meshctl-control-plane.<ns>.svc:15012`; `pod-ip` means this replica's pod IP (clusters without DNS).
   */
  readonly proxyControlPlaneAddress?: string;
  readonly certTtlSeconds?: number;
  /** Linkerd's install-wide default inbound policy (install value proxy.defaultInboundPolicy). */
  readonly defaultInboundPolicy?: string;
  /** How often the mesh ConfigMap's MeshConfig is re-read (default 5 s). */
  readonly meshConfigPollMs?: number;
  /** How often every replica re-reads the CA Secret for a root rotation, and the leader drives it (default 2 s). */
  readonly caFollowMs?: number;
  /** How often the leader re-checks the webhook caBundle and the root ConfigMaps (default 30 s). */
  readonly reconcileMs?: number;
  readonly leaseDurationSeconds?: number;
  readonly leaseRetryMs?: number;
  /** How long to wait for every informer's first list before serving (default 20 s). */
  readonly initialSyncTimeoutMs?: number;
  readonly version: string;
  /** Lines below this level are not written (default info): the --log-level flag. */
  readonly logLevel?: ControlPlaneLogLevel;
  /** Where lines go, each as `<level> <message>` (the caller adds the timestamp). */
  readonly log: (line: string) => void;
  /**
   * The analyzers' findings about an object being admitted, given the mesh config the cluster holds
   * (the validating webhook returns them as warnings); supplied by the command, which may import analyze.
   */
  readonly admissionFindings?: (object: Record<string, unknown>, stored: readonly unknown[]) => string[];
}

/** A running Kubernetes control plane. */
export interface RunningKubernetesControlPlane {
  readonly serving: MeshServing;
  readonly registry: KubernetesRegistry;
  readonly authority: CertificateAuthority;
  readonly webhook: WebhookServer;
  readonly elector: LeaderElector;
  /** This replica's part of a root CA rotation (tests drive it; a timer does too). */
  readonly caRotation: KubernetesCaRotation;
  /** Runs the leader's reconciliation now (tests; the leader also runs it on a timer). */
  reconcile(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the control plane; resolves once the informers listed, the CA is loaded and every port listens. */
export async function startKubernetesControlPlane(
  o: KubernetesControlPlaneOptions,
): Promise<RunningKubernetesControlPlane> {
  const { cluster, namespace: ns } = o;
  // Every module below logs through the level filter (see leveled-log.ts for how plain lines get a level).
  const logger = leveledLog(o.logLevel ?? 'info', o.log);
  const log = logger.line;
  const host = o.host ?? '0.0.0.0';
  const settings = await meshSettings(cluster, ns);
  const caStorage = new SecretCaStorage(cluster.objects, ns);
  const ca = await loadOrCreateCa({ storage: caStorage });
  log(
    `CA: ${ca.origin} root "${ca.certificate.subject}" valid until ${ca.certificate.notAfter.toISOString()} (secret ${ns}/meshctl-ca)`,
  );
  const ttl = o.certTtlSeconds ?? seconds(settings.certTtl);
  const authority = new CertificateAuthority(
    ca,
    { ...DEFAULT_TTL_POLICY, ...(ttl ? { defaultTtlSeconds: ttl } : {}) },
    log,
  );
  // A root rotation in progress (its record in the Secret) resumes: bundle and signing root as of its phase.
  const rotation = await RootRotation.open(authority, caStorage, caStorage, log);

  const meshConfig = new MeshConfigMap(cluster, ns, log);
  await meshConfig.refresh().catch((err: Error) => log(`reading the mesh config: ${err.message}`));
  const registry = new KubernetesRegistry(cluster.objects, {
    rootNamespace: ns,
    ...(settings.trustDomain ? { trustDomain: settings.trustDomain } : {}),
    log,
  });
  await registry.start();
  // Serve only once the snapshot is whole. A replica started while the API server refused one of its
  // lists (RBAC being changed, an overloaded API server) used to serve at once: every proxy that
  // reconnected to it got a config without that kind, so a control plane restart mid-canary dropped
  // the VirtualService and split traffic evenly. Until then the ports are closed, so the pod is not
  // Ready and the Service leads proxies elsewhere, and they keep their last config. Kinds the API
  // server does not serve (CRD not installed) are not waited for; the wait is bounded so the replica
  // starts, with a warning, before its liveness probe would restart it.
  const missing = await registry.waitForSync(o.initialSyncTimeoutMs ?? 20_000);
  if (missing.length)
    logger.warn(
      `serving without a complete snapshot: informers not synced (they keep retrying): ${missing.join(', ')}`,
    );
  const unsynced = registry.unsynced().filter((k) => !missing.includes(k));
  if (unsynced.length) log(`informers not synced yet (they keep retrying): ${unsynced.join(', ')}`);

  const serviceName = `${CONTROL_PLANE_SERVICE}.${ns}.svc`;
  const startedAt = new Date().toISOString();
  const serving: MeshServing = await startMeshServing({
    host,
    streamPort: o.streamPort ?? ControlPlanePorts.stream,
    debugPort: o.debugPort ?? ControlPlanePorts.debug,
    authority,
    authenticator: new TokenReviewAuthenticator(cluster.rest),
    inputs: () => {
      const inputs = {
        ...registry.snapshotInputs(),
        ...(o.defaultInboundPolicy ? { defaultInboundPolicy: o.defaultInboundPolicy } : {}),
      };
      return meshConfig.object ? { ...inputs, meshConfig: meshConfig.object } : inputs;
    },
    dnsNames: [`${CONTROL_PLANE_SERVICE}.${ns}`, serviceName, `${serviceName}.cluster.local`],
    info: (streamAddress) => ({
      version: o.version,
      pod: o.podName,
      namespace: ns,
      startedAt,
      streamAddress,
      caOrigin: ca.origin,
      leader: elector.isLeader,
      proxies: serving.server.ads.views().length,
      unsynced: registry.unsynced(),
      rejected: registry.rejected(),
    }),
    log,
  });
  registry.on('change', (change: ChangeSet) => serving.pipeline.notify(change));

  // The injector: the same transform as `meshctl inject`, with the mesh's settings.
  let address = o.proxyControlPlaneAddress || `${serviceName}:${ControlPlanePorts.stream}`;
  if (address === 'pod-ip') {
    const self = await cluster.get<KubeObject & { status?: { podIP?: string } }>({
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: ns,
      name: o.podName,
    });
    if (!self?.status?.podIP)
      throw new Error(`--proxy-control-plane-address pod-ip: pod ${ns}/${o.podName} has no IP yet`);
    address = `${self.status.podIP}:${ControlPlanePorts.stream}`;
  }
  const injectOptions: InjectOptions = {
    ...defaultInjectOptions(o.version, settings.proxyImage || `ghcr.io/meshctl/meshctl:${o.version}`),
    controlPlaneAddress: address,
  };
  if (settings.nativeSidecar === 'false') injectOptions.nativeSidecar = false;
  const issueWebhookCert = () =>
    authority.issueServing(
      { dns: [serviceName, `${serviceName}.cluster.local`, `${CONTROL_PLANE_SERVICE}.${ns}`], ips: [] },
      { namespace: ns, serviceAccount: CONTROL_PLANE_SERVICE },
      WEBHOOK_CERT_TTL_SECONDS,
    );
  const cert = await issueWebhookCert();
  const webhook = await startWebhookServer(
    {
      cert: cert.certChainPem,
      key: cert.keyPem,
      injectOptions: () => injectOptions,
      onDecision: (d) => logger.info(`webhook: ${d.entry?.source ?? 'admission'}: ${d.summary}`),
      onValidation: (summary) => logger.info(`validation webhook: ${summary}`),
      ...(o.admissionFindings
        ? { semanticFindings: (obj) => o.admissionFindings!(obj, registry.snapshotInputs().configs) }
        : {}),
    },
    o.webhookPort ?? ControlPlanePorts.webhook,
    host,
  );
  // Renewed at half-life; the caBundle (the mesh root) does not change with it.
  const meshConfigPoll = setInterval(() => {
    meshConfig.refresh().then(
      (changed) =>
        changed &&
        serving.pipeline.notify(
          configChange(
            [{ group: MESH_CONFIG_GROUP, kind: MESH_CONFIG_KIND, namespace: ns, name: 'mesh' }],
            'mesh config changed',
          ),
        ),
      (err: Error) => log(`reading the mesh config: ${err.message}`),
    );
  }, o.meshConfigPollMs ?? 5_000);
  meshConfigPoll.unref();
  const renew = setInterval(
    () => {
      void issueWebhookCert().then(
        (c) => webhook.setCertificate(c.certChainPem, c.keyPem),
        (err: Error) => log(`webhook certificate renewal failed: ${err.message}`),
      );
    },
    (WEBHOOK_CERT_TTL_SECONDS / 2) * 1000,
  );
  renew.unref();

  const caRotation = new KubernetesCaRotation({
    cluster,
    namespace: ns,
    podName: o.podName,
    authority,
    rotation,
    storage: caStorage,
    views: () => serving.server.ads.views(),
    reissue: async () => {
      await serving.server.reissueServingCertificate();
      const c = await issueWebhookCert();
      webhook.setCertificate(c.certChainPem, c.keyPem);
    },
    publish: async (configMap, caBundle) => {
      await Promise.all([
        ensureCaBundle(cluster, caBundle, log),
        publishRoot(cluster, configMap, log),
        ensureValidator(cluster, caBundle, ns, log),
      ]);
    },
    log,
  });

  let validatorRetry: NodeJS.Timeout | undefined;
  const reconcile = async (): Promise<void> => {
    // During a root rotation the trust bundle published is the one its driver chose for the phase.
    const bundle = caRotation.bundleToPublish();
    const [, , validator] = await Promise.all([
      ensureCaBundle(cluster, bundle.caBundle, log),
      publishRoot(cluster, bundle.configMap, log),
      ensureValidator(cluster, bundle.caBundle, ns, log),
    ]);
    // The API server picks up a new caBundle within seconds: look again soon rather than at the next pass.
    if (validator === 'waiting' && !validatorRetry) {
      validatorRetry = setTimeout(() => {
        validatorRetry = undefined;
        reconcileSafely();
      }, 2_000);
      validatorRetry.unref();
    }
  };
  let reconcileTimer: NodeJS.Timeout | undefined;
  // One reconciliation at a time; events during one ask for one more (a burst of namespaces, one pass).
  let reconciling: Promise<void> | undefined;
  let again = false;
  const reconcileSafely = (): void => {
    // A leader whose renewal is overdue (its process was frozen, the API unreachable) does no singleton work.
    if (!elector.isLeader) return;
    if (reconciling) {
      again = true;
      return;
    }
    reconciling = reconcile()
      .catch((err: Error) => logger.warn(`leader: ${err.message}`))
      .finally(() => {
        reconciling = undefined;
        if (again) {
          again = false;
          reconcileSafely();
        }
      });
  };
  const onNamespace = (): void => {
    if (elector.isLeader) reconcileSafely();
  };
  const elector = new LeaderElector(cluster.objects, {
    namespace: ns,
    name: LEADER_LEASE,
    identity: o.podName,
    ...(o.leaseDurationSeconds ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
    ...(o.leaseRetryMs ? { retryMs: o.leaseRetryMs } : {}),
    log,
    onStartedLeading: () => {
      reconcileSafely();
      reconcileTimer = setInterval(reconcileSafely, o.reconcileMs ?? 30_000);
      reconcileTimer.unref();
      registry.on('namespace', onNamespace);
    },
    onStoppedLeading: () => {
      if (reconcileTimer) clearInterval(reconcileTimer);
      registry.off('namespace', onNamespace);
    },
  });
  elector.start();
  // Every replica follows the CA Secret (a rotation started or moved on by another replica), at start
  // and on a timer; the Lease holder also drives the rotation. One pass at a time.
  let following: Promise<void> | undefined;
  const followCa = (): void => {
    if (following) return;
    following = (async () => {
      await caRotation.follow();
      if (elector.isLeader) await caRotation.drive();
    })()
      .catch(async (err: Error) => {
        logger.warn(`CA rotation: ${err.message} (retrying)`);
        await caRotation.problem(err);
      })
      .finally(() => {
        following = undefined;
      });
  };
  followCa();
  const caFollow = setInterval(followCa, o.caFollowMs ?? 2_000);
  caFollow.unref();
  log(
    `control plane ${o.version} ready (pod ${o.podName}): config stream + CA on ${serving.streamAddress}, debug API on ${host}:${serving.apiPort}, webhook on ${host}:${o.webhookPort ?? ControlPlanePorts.webhook}, proxies told to dial ${address}`,
  );

  let stopped = false;
  return {
    serving,
    registry,
    authority,
    webhook,
    elector,
    caRotation,
    reconcile,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(renew);
      clearInterval(meshConfigPoll);
      clearInterval(caFollow);
      await following;
      if (validatorRetry) clearTimeout(validatorRetry);
      await elector.stop();
      registry.stop();
      await Promise.all([serving.close(), webhook.close()]);
      log('control plane stopped');
    },
  };
}
