/**
 * `meshctl ca rotate` on Kubernetes, the CLI's half. The rotation runs in the control plane
 * (src/control-plane/kubernetes/ca-rotation.ts); the CLI asks for one with an annotation of the CA
 * Secret (so only who may update that Secret can start one, and a request outlives any replica) and
 * reads the progress the driving replica keeps in the ConfigMap `meshctl-ca-rotation`. A rotation
 * already in progress (its record in the Secret) is followed, not started again.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, KubernetesApiError, MeshError } from '../../errors.js';
import {
  CA_ROTATE_REQUEST_ANNOTATION,
  CA_ROTATION_CONFIGMAP,
  CA_SECRET,
  CONTROL_PLANE_SERVICE,
} from '../../protocol/well-known.js';
import { controlPlanePods } from './control-plane-pods.js';
import type { KubernetesCluster } from './index.js';
import type { KubeObject } from './objects.js';
import { podReady } from './readiness.js';

/** The rotation record's key in the CA Secret (RootRotation's ROTATION_FILE). */
const RECORD_KEY = 'rotation.json';
const PROGRESS_KEY = 'progress.json';

/** The progress `meshctl ca rotate` prints (the shape the local control plane answers too). */
export interface RotationProgressView {
  running: boolean;
  steps: string[];
  waitingFor: string[];
  error?: string;
  status: { phase: string; bundle: string[]; signingRootPem: string };
}

interface StoredProgress extends RotationProgressView {
  request: string;
  lastProblem?: string;
}

type WithData = KubeObject & { data?: Record<string, string> };

/** One `meshctl ca rotate` on a cluster: start() once, then progress() until it says it is not running. */
export class KubernetesCaRotationClient {
  /** The request this command made or joined; '' when it follows a rotation already under way. */
  private request = '';

  constructor(
    private readonly cluster: KubernetesCluster,
    private readonly namespace: string,
  ) {}

  /** Asks the control plane for a rotation, unless one is requested or running already; returns the progress. */
  async start(): Promise<RotationProgressView> {
    const secret = await this.secret();
    if (!secret) {
      throw new MeshError(
        ErrorCode.PlatformUnavailable,
        `no mesh CA: secret ${this.namespace}/${CA_SECRET} not found`,
        {
          hint: 'install the mesh first (meshctl install --wait)',
        },
      );
    }
    const pods = (await controlPlanePods(this.cluster, this.namespace)).filter((p) => podReady(p));
    if (!pods.length) {
      throw new MeshError(ErrorCode.PlatformUnavailable, `no ready control plane pod in namespace ${this.namespace}`, {
        hint: `the control plane runs the rotation: see why it is not ready (kubectl -n ${this.namespace} describe pods -l app=${CONTROL_PLANE_SERVICE})`,
      });
    }
    for (let current = secret; ;) {
      const pending = current.metadata.annotations?.[CA_ROTATE_REQUEST_ANNOTATION];
      if (current.data?.[RECORD_KEY]) this.request = '';
      else if (pending) this.request = pending;
      else {
        const request = `${new Date().toISOString()}-${randomBytes(4).toString('hex')}`;
        try {
          // One annotation, on the version just read: two commands at once make one request, the
          // other sees it (409) and follows it.
          await this.cluster.rest.json({
            method: 'PATCH',
            path: await this.cluster.objects.pathOf(this.secretRef()),
            body: {
              metadata: {
                resourceVersion: current.metadata.resourceVersion,
                annotations: { [CA_ROTATE_REQUEST_ANNOTATION]: request },
              },
            },
            contentType: 'application/merge-patch+json',
            what: `requesting a root rotation on secret ${this.namespace}/${CA_SECRET}`,
          });
          this.request = request;
        } catch (err) {
          if (!(err instanceof KubernetesApiError && err.status === 409)) throw err;
          const again = await this.secret();
          if (!again) throw err;
          current = again;
          continue;
        }
      }
      return this.progress();
    }
  }

  /** Where the rotation stands, as the driving control plane replica last wrote it. */
  async progress(): Promise<RotationProgressView> {
    const [secret, cm] = await Promise.all([
      this.secret(),
      this.cluster.get<WithData>({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace: this.namespace,
        name: CA_ROTATION_CONFIGMAP,
      }),
    ]);
    const recorded = Boolean(secret?.data?.[RECORD_KEY]);
    const pending = secret?.metadata.annotations?.[CA_ROTATE_REQUEST_ANNOTATION];
    const stored = parseProgress(cm?.data?.[PROGRESS_KEY]);
    // Ours, or (followed, or the driver that started ours stopped and another resumed it) the one under way.
    const current = this.request === '' || stored?.request === this.request || (stored?.request === '' && recorded);
    if (stored && current) {
      const { request: _r, lastProblem, ...view } = stored;
      return {
        ...view,
        running: view.running || recorded,
        // A transient problem of the driver (it retries): shown with what it waits for.
        waitingFor: lastProblem ? [...view.waitingFor, `a retry after: ${lastProblem}`] : view.waitingFor,
      };
    }
    return {
      running: Boolean(pending) || recorded,
      steps: [],
      waitingFor: ['the control plane to start the rotation'],
      status: { phase: recorded ? 'added' : 'idle', bundle: [], signingRootPem: '' },
    };
  }

  private secretRef(): { apiVersion: string; kind: string; namespace: string; name: string } {
    return { apiVersion: 'v1', kind: 'Secret', namespace: this.namespace, name: CA_SECRET };
  }

  private secret(): Promise<WithData | undefined> {
    return this.cluster.get<WithData>(this.secretRef());
  }
}

function parseProgress(text: string | undefined): StoredProgress | undefined {
  if (!text) return undefined;
  try {
    const p = JSON.parse(text) as Partial<StoredProgress>;
    if (typeof p.running !== 'boolean' || !Array.isArray(p.steps) || typeof p.status !== 'object') return undefined;
    return { request: '', waitingFor: [], ...p } as StoredProgress;
  } catch {
    return undefined;
  }
}
