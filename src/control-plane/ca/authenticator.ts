/**
 * Who is asking for a certificate. An authenticator turns the credential a proxy presents into a
 * workload identity; the CA then issues for that identity only. The local platform's authenticator
 * checks tokens the local control plane issued to workloads (kept as SHA-256 hashes, so the token
 * file alone cannot be replayed); the Kubernetes one (later) checks ServiceAccount tokens with TokenReview.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CredentialRejectedError } from '../../errors.js';
import { isValidNamespace, isValidServiceAccount } from '../../protocol/pki/spiffe.js';
import { writeFileAtomic } from '../atomic-file.js';

/** What a credential proves: the workload's namespace and service account (and its name, when known). */
export interface AuthenticatedWorkload {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly workload?: string;
}

/** Checks a credential; throws CredentialRejectedError when it proves nothing. */
export interface CredentialAuthenticator {
  readonly name: string;
  authenticate(credential: string): Promise<AuthenticatedWorkload>;
}

/** One issued token, as stored: never the token itself. */
export interface StoredToken extends AuthenticatedWorkload {
  readonly sha256: string;
  readonly issuedAt: string;
  /** ISO time after which the token is refused; absent for tokens that live as long as the workload. */
  readonly expiresAt?: string;
}

/** Prefix of local workload tokens, so a leaked one is recognisable in a secret scanner. */
export const LOCAL_TOKEN_PREFIX = 'meshtk_';

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Issues and checks local workload tokens; persisted in a `0600` JSON file of hashes. */
export class LocalTokenAuthenticator implements CredentialAuthenticator {
  readonly name = 'local-token';
  private tokens: StoredToken[] = [];
  // One load for every caller: concurrent first registrations used to read the file again after an
  // earlier one had issued a token, dropping it ("unknown or revoked token").
  private loading: Promise<void> | undefined;
  // Writes run one after another, each writing the tokens as they are then, so the last write wins
  // with the newest list (concurrent atomic renames could otherwise land an older list last).
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Issues a token for a workload; the caller hands it to the workload and never logs it. */
  async issue(workload: AuthenticatedWorkload, ttlSeconds?: number): Promise<string> {
    if (!isValidNamespace(workload.namespace))
      throw new CredentialRejectedError(
        `namespace "${workload.namespace}" is not a valid name`,
        'use a lowercase DNS label (a-z, 0-9, -)',
      );
    if (!isValidServiceAccount(workload.serviceAccount))
      throw new CredentialRejectedError(
        `service account "${workload.serviceAccount}" is not a valid name`,
        'use a lowercase DNS name (a-z, 0-9, -, .)',
      );
    await this.load();
    const token = LOCAL_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = this.now();
    const entry: StoredToken = {
      namespace: workload.namespace,
      serviceAccount: workload.serviceAccount,
      ...(workload.workload ? { workload: workload.workload } : {}),
      sha256: hashToken(token),
      issuedAt: now.toISOString(),
      ...(ttlSeconds ? { expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString() } : {}),
    };
    // A workload registered again replaces its previous token.
    this.tokens = [
      ...this.tokens.filter(
        (t) => !(workload.workload && t.workload === workload.workload && t.namespace === workload.namespace),
      ),
      entry,
    ];
    await this.persist();
    return token;
  }

  /** Revokes the tokens of a workload (when it stops). Returns how many were removed. */
  async revoke(namespace: string, workload: string): Promise<number> {
    await this.load();
    const before = this.tokens.length;
    this.tokens = this.tokens.filter((t) => !(t.namespace === namespace && t.workload === workload));
    if (this.tokens.length !== before) await this.persist();
    return before - this.tokens.length;
  }

  async authenticate(credential: string): Promise<AuthenticatedWorkload> {
    if (!credential) throw new CredentialRejectedError('no credential was presented');
    if (!credential.startsWith(LOCAL_TOKEN_PREFIX))
      throw new CredentialRejectedError('not a token issued by this mesh');
    await this.load();
    const digest = Buffer.from(hashToken(credential), 'hex');
    const match = this.tokens.find((t) => timingSafeEqual(Buffer.from(t.sha256, 'hex'), digest));
    if (!match) throw new CredentialRejectedError('unknown or revoked token');
    if (match.expiresAt && Date.parse(match.expiresAt) <= this.now().getTime()) {
      throw new CredentialRejectedError(
        `token of ${match.namespace}/${match.workload ?? match.serviceAccount} expired at ${match.expiresAt}`,
      );
    }
    return {
      namespace: match.namespace,
      serviceAccount: match.serviceAccount,
      ...(match.workload ? { workload: match.workload } : {}),
    };
  }

  private load(): Promise<void> {
    this.loading ??= this.readTokens().catch((err: unknown) => {
      this.loading = undefined;
      throw err;
    });
    return this.loading;
  }

  private async readTokens(): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as { tokens?: StoredToken[] };
      this.tokens = Array.isArray(parsed.tokens) ? parsed.tokens : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.tokens = [];
    }
  }

  private persist(): Promise<void> {
    const write = this.writing.then(() =>
      writeFileAtomic(this.file, JSON.stringify({ tokens: this.tokens }, null, 2) + '\n', 0o600),
    );
    this.writing = write.catch(() => undefined);
    return write;
  }
}
