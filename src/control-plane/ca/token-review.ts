/**
 * The Kubernetes credential authenticator: a proxy presents its projected ServiceAccount token
 * (audience `meshctl`), and the API server's TokenReview says whether it is valid, for that audience,
 * and whose it is. The identity comes only from the review (`system:serviceaccount:NS:SA`), never from
 * anything the proxy claims; a token minted for another audience (the API server's own, another
 * mesh's) proves nothing here.
 */
import { CredentialRejectedError } from '../../errors.js';
import { TOKEN_AUDIENCE } from '../../protocol/well-known.js';
import type { KubeRest } from '../../cluster/index.js';
import type { AuthenticatedWorkload, CredentialAuthenticator } from './authenticator.js';

/** What the TokenReview API answers (status part). */
interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

const SA_PREFIX = 'system:serviceaccount:';
const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';

/** Checks ServiceAccount tokens with the TokenReview API (needs `create` on tokenreviews, which install's ClusterRole grants). */
export class TokenReviewAuthenticator implements CredentialAuthenticator {
  readonly name = 'kubernetes-token-review';

  constructor(
    private readonly rest: KubeRest,
    private readonly audience: string = TOKEN_AUDIENCE,
  ) {}

  async authenticate(credential: string): Promise<AuthenticatedWorkload> {
    if (!credential)
      throw new CredentialRejectedError(
        'no credential was presented',
        'mount a projected ServiceAccount token with audience meshctl (meshctl inject does)',
      );
    const review = await this.rest.json<{ status?: TokenReviewStatus }>({
      method: 'POST',
      path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token: credential, audiences: [this.audience] },
      },
      // Never the token itself in messages.
      what: 'reviewing a ServiceAccount token',
    });
    const st = review.status ?? {};
    if (!st.authenticated) {
      throw new CredentialRejectedError(
        `the API server does not accept the token for audience "${this.audience}"${st.error ? `: ${st.error}` : ''}`,
        `present a projected ServiceAccount token requested for audience ${this.audience} (serviceAccountToken.audience in the pod's projected volume)`,
      );
    }
    // With spec.audiences set, the API server answers the audiences the token is valid for among them.
    if (!(st.audiences ?? []).includes(this.audience)) {
      throw new CredentialRejectedError(
        `the token is not valid for audience "${this.audience}"`,
        `request the token with audience ${this.audience}`,
      );
    }
    const username = st.user?.username ?? '';
    if (!username.startsWith(SA_PREFIX)) {
      throw new CredentialRejectedError(
        `the token belongs to "${username}", not to a ServiceAccount`,
        "proxies authenticate with their pod's ServiceAccount token",
      );
    }
    const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
    if (!namespace || !serviceAccount || rest.length > 0)
      throw new CredentialRejectedError(`unexpected ServiceAccount user name "${username}"`);
    const pod = st.user?.extra?.[POD_NAME_EXTRA]?.[0];
    return { namespace, serviceAccount, ...(pod ? { workload: pod } : {}) };
  }
}
