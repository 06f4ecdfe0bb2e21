/**
 * The validating admission webhook's decision for one AdmissionReview of a mesh config object
 * (Istio, Linkerd, SMI kinds), as istiod's `/validate`: what `meshctl apply` refuses is denied with
 * the field and the fix in the message kubectl prints (a regex RE2 cannot compile, an unknown
 * field, a header with CRLF...: things the CRD's OpenAPI schema cannot say); what the mesh accepts
 * but does not enforce (MESH0002) and kinds it does not implement are admitted with admission
 * warnings, which kubectl prints as `Warning: ...`. Pure: review in, review out.
 */
import { validateResource, formatIssue } from '../../config/index.js';
import { forValidation } from '../kubernetes/registry.js';
import type { AdmissionReview } from './admission.js';

/** The start of every denial's message, so a readiness probe can tell this webhook's denial from another's. */
export const VALIDATION_DENIAL_PREFIX = 'meshctl validation:';

/** What was decided, for the log line. */
export interface ValidationDecision {
  review: AdmissionReview;
  /** `Kind namespace/name: allowed|denied|...` */
  summary: string;
}

/**
 * Semantic findings (the analyzers of `meshctl analyze`, over the config the cluster holds) about
 * an object that validates, as warning lines; supplied by the command that starts the control plane.
 */
export type SemanticFindings = (object: Record<string, unknown>) => string[];

/** Decides one review; `semantic` adds the analyzers' findings about a valid object as warnings. */
export function decideValidation(review: unknown, semantic?: SemanticFindings): ValidationDecision {
  const r = review as AdmissionReview;
  const req = r?.request;
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' as const };
  const uid = typeof req?.uid === 'string' ? req.uid : '';
  if (!req || !uid || typeof req.object !== 'object' || req.object === null || Array.isArray(req.object)) {
    // Nothing to validate (a malformed review): the API server's own checks still run.
    return {
      review: {
        ...base,
        response: { uid, allowed: true, warnings: ['meshctl: the admission request carried no object'] },
      },
      summary: 'invalid request',
    };
  }
  type Stored = Parameters<typeof forValidation>[0];
  const obj = req.object as unknown as Stored;
  const meta = (obj.metadata ?? {}) as Stored['metadata'] & { generateName?: string };
  const name = meta.name || meta.generateName || '<no name>';
  const namespace = meta.namespace ?? req.namespace;
  const subject = `${String(obj.kind)} ${namespace ? `${namespace}/` : ''}${name}`;
  const object = forValidation({ ...obj, metadata: { ...meta, name, ...(namespace ? { namespace } : {}) } });
  const result = validateResource({ object }, { defaultNamespace: namespace ?? 'default' });
  if (!result.kind) {
    return {
      review: {
        ...base,
        response: {
          uid,
          allowed: true,
          warnings: [`meshctl: ${subject}: not a kind meshctl implements; it is stored but has no effect on the mesh`],
        },
      },
      summary: `${subject}: allowed (kind not implemented)`,
    };
  }
  if (result.errors.length > 0) {
    const problems = result.errors.map(formatIssue);
    return {
      review: {
        ...base,
        response: {
          uid,
          allowed: false,
          status: {
            code: 422,
            message: `${VALIDATION_DENIAL_PREFIX} ${subject}: ${problems.join('; ')} (meshctl apply and meshctl analyze report the same)`,
          },
        },
      },
      summary: `${subject}: denied (${problems.length} problem(s))`,
    };
  }
  const warnings = result.warnings.map(
    (w) => `${w.rule === 'unsupported' ? '[MESH0002] ' : ''}${subject}: ${w.field ? `${w.field}: ` : ''}${w.message}`,
  );
  try {
    warnings.push(...(semantic?.(object as unknown as Record<string, unknown>) ?? []));
  } catch {
    // An analyzer's failure must not refuse or delay a valid object: its findings are advice.
  }
  return {
    review: { ...base, response: { uid, allowed: true, ...(warnings.length ? { warnings } : {}) } },
    summary: `${subject}: allowed${warnings.length ? ` with ${warnings.length} warning(s)` : ''}`,
  };
}
