/**
 * The sidecar injector's decision for one AdmissionReview: the same pure transform as
 * `meshctl inject`, expressed as a JSONPatch. Injection never blocks a pod: a pod that cannot be
 * injected (hostNetwork, another mesh's sidecar) is admitted unchanged with a warning, and the
 * decision is returned for the log.
 */
import { diffToPatch, injectObject, type InjectOptions, type ReportEntry } from '../../inject/index.js';

/** The parts of admission.k8s.io/v1 AdmissionReview the injector reads. */
export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: {
    uid: string;
    kind?: { group: string; version: string; kind: string };
    namespace?: string;
    operation?: string;
    object?: Record<string, unknown>;
    dryRun?: boolean;
  };
  response?: AdmissionResponse;
}

/** The response the API server expects. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

/** What was decided, for the log line. */
export interface AdmissionDecision {
  review: AdmissionReview;
  entry?: ReportEntry;
  /** `injected`, `skipped (<reasons>)`, `refused (<reason>)` or `invalid request`. */
  summary: string;
}

/** Decides one review. `options` are the mesh's inject settings (image, native sidecars, ...). */
export function decideAdmission(review: unknown, options: InjectOptions): AdmissionDecision {
  const r = review as AdmissionReview;
  const req = r?.request;
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' as const };
  if (!req || typeof req.uid !== 'string' || typeof req.object !== 'object' || req.object === null) {
    return {
      review: {
        ...base,
        response: {
          uid: req?.uid ?? '',
          allowed: true,
          warnings: ['meshctl: the admission request carried no pod; admitted unchanged'],
        },
      },
      summary: 'invalid request',
    };
  }
  const pod = structuredClone(req.object);
  // Pods created by controllers have no namespace in metadata yet; the request carries it.
  const metadata = (pod.metadata ?? {}) as Record<string, unknown>;
  const where = `admission ${req.namespace ?? String(metadata.namespace ?? '')}/${String(metadata.name ?? metadata.generateName ?? '')}`;
  const { object, entry } = injectObject(pod, options, where);
  if (entry.outcome !== 'injected') {
    const warnings = entry.error ? [`meshctl: ${entry.error.message}; ${entry.error.hint}`] : [];
    return {
      review: { ...base, response: { uid: req.uid, allowed: true, ...(warnings.length ? { warnings } : {}) } },
      entry,
      summary: `${entry.outcome} (${entry.reasons.join(', ') || 'no reason'})`,
    };
  }
  const patch = diffToPatch(req.object, object);
  return {
    review: {
      ...base,
      response: {
        uid: req.uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
        ...(entry.warnings.length ? { warnings: entry.warnings.map((w) => `meshctl: ${w}`) } : {}),
      },
    },
    entry,
    summary: 'injected',
  };
}
