/**
 * Questions about the caller rather than the cluster: may I do this (SelfSubjectAccessReview, what
 * `kubectl auth can-i` asks), and how far apart are my clock and the API server's (its Date header).
 */
import type { KubernetesCluster } from './index.js';
import { readBody } from './rest.js';

/** One permission: a verb on a resource (group + plural), in a namespace or cluster-wide. */
export interface AccessQuestion {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
}

/** Whether the kubeconfig's user may do it; `reason` is the authorizer's explanation when it says no. */
export async function canI(
  cluster: KubernetesCluster,
  q: AccessQuestion,
): Promise<{ allowed: boolean; reason?: string }> {
  const review = await cluster.rest.json<{ status?: { allowed?: boolean; reason?: string; evaluationError?: string } }>(
    {
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: q.verb,
            group: q.group,
            resource: q.resource,
            ...(q.namespace ? { namespace: q.namespace } : {}),
          },
        },
      },
      what: `asking whether you may ${q.verb} ${q.resource}`,
    },
  );
  const reason = review.status?.reason || review.status?.evaluationError;
  return { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
}

/** The API server's clock minus ours, in milliseconds (from the Date header of a /version answer, taken at the request's midpoint). */
export async function clockSkewMs(cluster: KubernetesCluster, now: () => Date = () => new Date()): Promise<number> {
  const before = now().getTime();
  const res = await cluster.rest.open({ path: '/version', what: 'reading the server clock' });
  await readBody(res);
  const after = now().getTime();
  const date = res.headers.date;
  if (!date) throw new Error('the API server sent no Date header');
  // The header has one-second resolution: a skew under a second cannot be told apart from none.
  const server = Date.parse(date);
  const local = (before + after) / 2;
  const skew = server - local;
  return Math.abs(skew) < 1000 + (after - before) / 2 ? 0 : skew;
}
