/**
 * Root CA rotation across the control plane's replicas on Kubernetes (`meshctl ca rotate`). The
 * Secret `meshctl-ca` is the one source of truth: the CA, the rotation record (RootRotation's
 * `rotation.json`) and a request annotation the CLI sets. Each replica knows only the proxies
 * connected to it and the certificates it issued, so:
 *
 * - every replica follows the Secret on a timer (and at start, so a restarted replica resumes):
 *   a new phase changes its CA's bundle and signing root, resets its issue ledger and re-issues its
 *   serving certificates (config stream, webhook); then it reports, in the ConfigMap
 *   `meshctl-ca-rotation`, the phase it applies, its connected proxies per SPIFFE ID and the
 *   certificates it issued in that phase (a proxy may renew at a replica other than the one holding
 *   its config stream, so only the sum over replicas tells);
 * - the Lease holder drives: it starts a requested rotation, and for each phase waits until every
 *   running replica applies it, publishes the bundle (root ConfigMaps, webhook caBundles: their
 *   change makes every proxy renew, see CaIdentityOptions.trustFile), then waits until the summed
 *   issued certificates cover every connected proxy (in `signing`: from the new root) before the
 *   next phase. Any replica that becomes the holder resumes at the stored phase.
 *
 * Like Istio's plugged-in root transition (both roots in the bundle while workloads move) and
 * Linkerd's trust-anchor rotation (bundle first, issuer second, old anchor last), without restarts.
 */
import { randomBytes } from 'node:crypto';
import type { KubernetesCluster, KubeObject } from '../../cluster/index.js';
import { KubernetesApiError } from '../../errors.js';
import { CA_ROTATION_CONFIGMAP, CONTROL_PLANE_POD_SELECTOR } from '../../protocol/well-known.js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { RootRotation, RotationPhase, RotationStatus } from '../ca/rotation.js';
import type { SecretCaStorage } from './ca-secret-storage.js';

/** What one replica reports about the phase it applies. */
export interface ReplicaReport {
  readonly phase: RotationPhase;
  readonly startedAt?: string;
  /** Connected proxies per SPIFFE ID. */
  readonly connected: Readonly<Record<string, number>>;
  /** Certificates this replica issued per SPIFFE ID since it applied the phase (in `signing`: from the new root). */
  readonly issued: Readonly<Record<string, number>>;
  /** A new id at each reset of the replica's issue ledger (a phase applied, a restart). */
  readonly ledger?: string;
}

/** The rotation's progress as `meshctl ca rotate` reads it (the shape of CaRotationProgress, plus the request). */
export interface StoredProgress {
  /** The request id (CA_ROTATE_REQUEST_ANNOTATION) this rotation answers; empty when resumed without one. */
  readonly request: string;
  readonly running: boolean;
  readonly steps: string[];
  readonly waitingFor: string[];
  readonly error?: string;
  readonly status: RotationStatus;
  /** The driving replica and the last transient problem it met (retried on its next pass). */
  readonly driver: string;
  readonly lastProblem?: string;
  /**
   * How many times this phase's bundle was published (its header names the round when above 1), and
   * the replicas' ledger ids when it last was: a ledger reset since (a replica restarted) lost the
   * renewals it had counted, so the bundle is published again and every proxy renews again.
   */
  readonly round?: number;
  readonly ledgers?: string[];
}

/** What the rotation needs from the replica it runs in. */
export interface KubernetesCaRotationDeps {
  readonly cluster: KubernetesCluster;
  readonly namespace: string;
  readonly podName: string;
  readonly authority: CertificateAuthority;
  readonly rotation: RootRotation;
  readonly storage: SecretCaStorage;
  /** The proxies connected to this replica's config stream. */
  views(): readonly { readonly spiffeId?: string }[];
  /** Re-issues this replica's serving certificates from the current signing root, trusting the current bundle. */
  reissue(): Promise<void>;
  /** Publishes the trust bundle: `configMap` in every namespace's root ConfigMap, `caBundle` in the webhooks. */
  publish(configMap: string, caBundle: string): Promise<void>;
  readonly log: (line: string) => void;
}

const PROGRESS_KEY = 'progress.json';
const REPLICA_PREFIX = 'replica.';
const REPORT_REFRESH_MS = 30_000;

/**
 * What the root ConfigMaps hold: the root alone when no rotation runs (what install writes), else a
 * header naming the phase and every root, so each phase changes the file every proxy watches.
 */
export function publishedBundle(status: RotationStatus, round = 1): string {
  if (status.phase === 'idle') return status.bundle.join('');
  const which = round > 1 ? `${status.phase}, round ${round}` : status.phase;
  return `# meshctl trust bundle (root rotation phase: ${which})\n${status.bundle.join('')}`;
}

function published(status: RotationStatus, round = 1): { configMap: string; caBundle: string } {
  return { configMap: publishedBundle(status, round), caBundle: status.bundle.join('') };
}

/** One replica's part of a root rotation; the Lease holder also drives it (drive()). */
export class KubernetesCaRotation {
  private lastReport = '';
  /** This replica's issue ledger: a new id at each reset (and at start, a restart loses what it counted). */
  private ledgerId = randomBytes(6).toString('hex');
  private lastReportAt = 0;
  private progress: StoredProgress | undefined;
  /** What the driver published last (a completed rotation's new root waits until every replica dropped the old). */
  private published: { configMap: string; caBundle: string } | undefined;
  /** No rotation to finish: the idle driver stops reading the progress ConfigMap until one starts. */
  private settled = false;

  constructor(private readonly d: KubernetesCaRotationDeps) {}

  /**
   * Every replica: re-reads the Secret, applies a new phase (ledger reset, serving certificates
   * re-issued), and reports. True when the phase, bundle or signing root changed.
   */
  async follow(): Promise<boolean> {
    const changed = await this.d.rotation.follow();
    if (changed) await this.applied();
    await this.report();
    return changed;
  }

  /** The Lease holder, after follow(): starts a requested rotation or moves the current one on. */
  async drive(): Promise<void> {
    const { rotation, storage } = this.d;
    let status = rotation.status();
    if (status.phase === 'idle') {
      const request = await storage.pendingRequest();
      if (!request) {
        await this.settleFinished();
        return;
      }
      await rotation.addNewRoot();
      await this.applied();
      await this.report();
      status = rotation.status();
      this.progress = this.fresh(request);
      this.step(`1/3 new root added to the trust bundle (${status.startedAt})`);
      await this.saveProgress();
    }
    if (!this.progress || this.progress.status.startedAt !== status.startedAt) {
      // This replica became the driver mid-rotation: keep the steps printed so far.
      const stored = await this.readProgress();
      this.progress =
        stored && stored.status.startedAt === status.startedAt ? { ...stored, driver: this.d.podName } : this.fresh('');
      this.step(`${this.d.podName} resumes the rotation started ${status.startedAt} at phase ${status.phase}`);
    }
    this.settled = false;
    const phase = status.phase as Exclude<RotationPhase, 'idle'>;
    const { reports, lagging } = await this.replicaReports(status);
    if (lagging.length) {
      await this.wait(lagging.map((p) => `control plane replica ${p} (applying phase ${phase})`));
      return;
    }
    const ledgers = reports.map((r) => r.ledger ?? '');
    const known = this.progress!.ledgers;
    let round = this.progress!.round ?? 1;
    if (known && ledgers.some((id) => !known.includes(id))) {
      round++;
      this.step(`a control plane replica restarted in phase ${phase}: every proxy renews again (round ${round})`);
    }
    if (!known || round !== this.progress!.round) this.progress = { ...this.progress!, round, ledgers };
    await this.publish(status, round);
    const waiting = unrenewed(reports);
    if (waiting.length) {
      await this.wait(waiting);
      return;
    }
    if (phase === 'added') {
      this.step('trust bundle (old + new root) delivered to every proxy');
      await rotation.signWithNewRoot();
      await this.applied();
      const { round: _round, ledgers: _ledgers, ...rest } = this.progress!;
      this.progress = rest;
      this.step('2/3 the CA signs with the new root');
    } else {
      this.step('every proxy holds a certificate from the new root');
      await rotation.complete();
      await this.applied();
      // The bundle without the old root is published once every replica stopped sending it (settle()).
      this.step('the CA stores the new root alone');
    }
    await this.report();
    await this.wait([]);
  }

  /** The trust bundle to publish now: what the driver published last, else the CA's as of its phase. */
  bundleToPublish(): { configMap: string; caBundle: string } {
    return this.published ?? published(this.d.rotation.status());
  }

  /** Records a transient failure of a pass (the next pass retries). */
  async problem(err: Error): Promise<void> {
    if (!this.progress) return;
    this.progress = { ...this.progress, lastProblem: err.message };
    await this.saveProgress().catch(() => undefined);
  }

  /** After a phase change in this replica: a fresh ledger for the phase, certificates from its signing root. */
  private async applied(): Promise<void> {
    this.d.authority.resetIssuedLedger();
    this.ledgerId = randomBytes(6).toString('hex');
    await this.d.reissue();
  }

  private fresh(request: string): StoredProgress {
    return {
      request,
      running: true,
      steps: [],
      waitingFor: [],
      status: this.d.rotation.status(),
      driver: this.d.podName,
    };
  }

  private step(line: string): void {
    this.progress = { ...this.progress!, steps: [...this.progress!.steps, line] };
    this.d.log(`CA rotation: ${line}`);
  }

  private async wait(waitingFor: string[]): Promise<void> {
    const { lastProblem: _cleared, ...rest } = this.progress!;
    this.progress = { ...rest, waitingFor, status: this.d.rotation.status() };
    await this.saveProgress();
  }

  /**
   * Idle with a stored progress still running: the driver stopped between completing the rotation
   * and saying so (or the record was removed by hand). Says it is over, so `ca rotate` stops waiting.
   */
  private async settleFinished(): Promise<void> {
    if (this.settled) return;
    const stored = this.progress ?? (await this.readProgress());
    if (!stored?.running) {
      this.settled = true;
      return;
    }
    this.progress = stored;
    const status = this.d.rotation.status();
    // Every replica serves the new root alone first: a proxy renewing at one that did not follow yet
    // would get the old root back in its bundle.
    const { lagging } = await this.replicaReports(status);
    if (lagging.length) {
      await this.wait(lagging.map((p) => `control plane replica ${p} (dropping the old root)`));
      return;
    }
    this.published = undefined;
    await this.publish(status);
    this.published = undefined;
    this.step('3/3 old root removed from the trust bundle; rotation complete');
    this.progress = { ...this.progress, running: false, waitingFor: [], status };
    await this.saveProgress();
  }

  private async publish(status: RotationStatus, round = 1): Promise<void> {
    this.published = published(status, round);
    await this.d.publish(this.published.configMap, this.published.caBundle);
  }

  /** This replica's report, written only when it changed. */
  private async report(): Promise<void> {
    const status = this.d.rotation.status();
    const connected: Record<string, number> = {};
    const issued: Record<string, number> = {};
    if (status.phase !== 'idle') {
      for (const v of this.d.views()) if (v.spiffeId) connected[v.spiffeId] = (connected[v.spiffeId] ?? 0) + 1;
      const root = status.phase === 'signing' ? status.signingRootPem : undefined;
      for (const [id, roots] of this.d.authority.issuedIdentities()) {
        const n = roots.filter((r) => root === undefined || r === root).length;
        if (n) issued[id] = n;
      }
    }
    const report: ReplicaReport = {
      phase: status.phase,
      ...(status.startedAt ? { startedAt: status.startedAt } : {}),
      connected,
      issued,
      ledger: this.ledgerId,
    };
    const text = JSON.stringify(report);
    // During a rotation, unchanged reports are written again now and then: an edited or deleted ConfigMap
    // must not stall it.
    const stale = status.phase !== 'idle' && Date.now() - this.lastReportAt >= REPORT_REFRESH_MS;
    if (text === this.lastReport && !stale) return;
    await this.patch({ [`${REPLICA_PREFIX}${this.d.podName}.json`]: text });
    this.lastReport = text;
    this.lastReportAt = Date.now();
  }

  /** The reports of the running control plane pods, and those that do not apply `status`'s phase yet. */
  private async replicaReports(status: RotationStatus): Promise<{ reports: ReplicaReport[]; lagging: string[] }> {
    const { cluster, namespace } = this.d;
    const pods = await cluster.list<KubeObject & { status?: { phase?: string } }>(
      { apiVersion: 'v1', kind: 'Pod', namespace },
      { labelSelector: CONTROL_PLANE_POD_SELECTOR },
    );
    const running = pods.items
      .filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running')
      .map((p) => p.metadata.name);
    const data = (await this.configMap())?.data ?? {};
    const reports: ReplicaReport[] = [];
    const lagging: string[] = [];
    for (const pod of running) {
      const report = parseReport(data[`${REPLICA_PREFIX}${pod}.json`]);
      if (!report || report.phase !== status.phase || report.startedAt !== status.startedAt) lagging.push(pod);
      else reports.push(report);
    }
    // Reports of pods that are gone would never change: drop them.
    const gone = Object.keys(data).filter(
      (k) => k.startsWith(REPLICA_PREFIX) && !running.includes(k.slice(REPLICA_PREFIX.length, -'.json'.length)),
    );
    if (gone.length) await this.patch(Object.fromEntries(gone.map((k) => [k, null])));
    return { reports, lagging };
  }

  private async readProgress(): Promise<StoredProgress | undefined> {
    const text = (await this.configMap())?.data?.[PROGRESS_KEY];
    if (!text) return undefined;
    try {
      return JSON.parse(text) as StoredProgress;
    } catch {
      return undefined;
    }
  }

  private async saveProgress(): Promise<void> {
    await this.patch({ [PROGRESS_KEY]: JSON.stringify(this.progress) });
  }

  private configMap(): Promise<(KubeObject & { data?: Record<string, string> }) | undefined> {
    return this.d.cluster.get({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: this.d.namespace,
      name: CA_ROTATION_CONFIGMAP,
    });
  }

  /** A merge patch of some keys (null removes one): replicas write their own keys without conflicts. */
  private async patch(data: Record<string, string | null>): Promise<void> {
    const { cluster, namespace } = this.d;
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace, name: CA_ROTATION_CONFIGMAP };
    try {
      await cluster.rest.json({
        method: 'PATCH',
        path: await cluster.objects.pathOf(ref),
        body: { data },
        contentType: 'application/merge-patch+json',
        what: `updating configmap ${namespace}/${CA_ROTATION_CONFIGMAP}`,
      });
    } catch (err) {
      if (!(err instanceof KubernetesApiError && err.status === 404)) throw err;
      const kept = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
      await cluster.objects.create({
        ...ref,
        metadata: {
          name: CA_ROTATION_CONFIGMAP,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' },
        },
        data: kept,
      } as KubeObject);
    }
  }
}

function parseReport(text: string | undefined): ReplicaReport | undefined {
  if (!text) return undefined;
  try {
    const r = JSON.parse(text) as Partial<ReplicaReport>;
    if (typeof r.phase !== 'string' || typeof r.connected !== 'object' || typeof r.issued !== 'object')
      return undefined;
    return r as ReplicaReport;
  } catch {
    return undefined;
  }
}

/**
 * The SPIFFE IDs with more connected proxies (over all replicas) than certificates issued to them
 * in this phase (over all replicas).
 */
export function unrenewed(reports: readonly ReplicaReport[]): string[] {
  const connected = new Map<string, number>();
  const issued = new Map<string, number>();
  for (const r of reports) {
    for (const [id, n] of Object.entries(r.connected)) connected.set(id, (connected.get(id) ?? 0) + n);
    for (const [id, n] of Object.entries(r.issued)) issued.set(id, (issued.get(id) ?? 0) + n);
  }
  return [...connected]
    .filter(([id, n]) => (issued.get(id) ?? 0) < n)
    .map(([id]) => id)
    .sort();
}
