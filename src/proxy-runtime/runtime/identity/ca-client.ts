/**
 * The proxy's workload identity from the mesh CA. The proxy makes its own ECDSA P-256 key (it never
 * leaves the process: no file, no log), sends a CSR with its credential, and gets a certificate
 * whose SPIFFE ID the CA derived from that credential. It renews at half-life with a new key,
 * retries failures with backoff, and keeps serving with the old certificate until the new one is
 * in place. It satisfies the proxy's `IdentitySource` (src/proxy-runtime/ground/tls/identity.ts):
 * `current()` gives {certChain, privateKey, trustRoots}; 'rotated' is emitted after a change.
 *
 * Other events: 'renewalFailed' (Error) after each failed attempt; the old material stays current.
 */
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { unwatchFile, watchFile } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { EC_P256, generateP256, loadX509, privateKeyToPem } from '../../../protocol/pki/x509.js';
import type { CryptoKey, CryptoKeyPair } from '../../../protocol/pki/x509.js';

/** The PEM material of the current identity (the shape of the proxy's IdentityMaterial). */
export interface CaIdentityMaterial {
  readonly certChain: string;
  readonly privateKey: string;
  readonly trustRoots: string;
}

/** A PEM chain, leaf first, with the CA's trust bundle when it sent one (old + new roots during a rotation). */
export type SignedChain = string[] & { readonly trustBundle?: readonly string[] };

/** Sends a CSR to the CA; returns the PEM chain, leaf first. Errors carry `permanent` when retrying cannot help. */
export interface CertificateSigner {
  sign(csrPem: string, ttlSeconds: number | undefined): Promise<SignedChain>;
  close?(): void;
}

/** A refusal retrying cannot fix (bad credential, bad request). */
export class PermanentSigningError extends Error {
  readonly permanent = true;
}

/** Options of a CA-backed identity. */
export interface CaIdentityOptions {
  readonly signer: CertificateSigner;
  /** PEM roots the proxy trusts for peers (the mesh root) until the CA sends its trust bundle. */
  readonly trustRoots: string;
  /**
   * A file holding the mesh's trust bundle (local: the control plane's ca-root.pem; Kubernetes: the
   * root ConfigMap). It is polled once a second; a change (a root rotation) renews the certificate
   * at once, which also brings the CA's new bundle.
   */
  readonly trustFile?: string;
  /** Requested certificate lifetime; the CA's default (24h) when absent. */
  readonly ttlSeconds?: number;
  /** Retry backoff after a failed request. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long start() keeps retrying transient failures for the first certificate. */
  readonly firstCertificateDeadlineMs?: number;
}

/** Facts about the current certificate, for the admin API and proxy-status. */
export interface CaIdentityStatus {
  readonly spiffeId: string | undefined;
  readonly notAfter: string;
  readonly renewals: number;
  readonly nextRenewalAt: string | undefined;
  readonly lastError: string | undefined;
}

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };

/** A workload identity obtained from, and renewed with, the mesh CA. */
export class CaIdentitySource extends EventEmitter {
  private material: CaIdentityMaterial | undefined;
  private leaf: X509Certificate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private renewals = 0;
  private failures = 0;
  private lastError: string | undefined;
  private nextRenewalAt: Date | undefined;
  private trustRoots: string;
  private trustFileText: string | undefined;
  private watching = false;

  private constructor(private readonly opts: CaIdentityOptions) {
    super();
    this.trustRoots = opts.trustRoots;
  }

  /** The roots trusted now (the CA's latest bundle). */
  get trustBundlePem(): string {
    return this.trustRoots;
  }

  /** Obtains the first certificate (retrying transient failures), then keeps it renewed. */
  static async start(opts: CaIdentityOptions): Promise<CaIdentitySource> {
    const source = new CaIdentitySource(opts);
    const deadline = Date.now() + (opts.firstCertificateDeadlineMs ?? 60_000);
    for (;;) {
      try {
        await source.renew();
        source.watchTrustFile();
        return source;
      } catch (err) {
        const delay = source.nextBackoff();
        if ((err as { permanent?: boolean }).permanent || Date.now() + delay > deadline) {
          source.close();
          throw err;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** The current material. */
  current(): CaIdentityMaterial {
    if (!this.material) throw new Error('no certificate yet');
    return this.material;
  }

  status(): CaIdentityStatus {
    const san = this.leaf?.subjectAltName ?? '';
    return {
      spiffeId: san
        .split(/,\s*/)
        .find((s) => s.startsWith('URI:spiffe://'))
        ?.slice(4),
      notAfter: this.leaf ? new Date(this.leaf.validTo).toISOString() : '',
      renewals: this.renewals,
      nextRenewalAt: this.nextRenewalAt?.toISOString(),
      lastError: this.lastError,
    };
  }

  /** Stops renewing (the current material stays readable). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watching && this.opts.trustFile) unwatchFile(this.opts.trustFile, this.onTrustFile);
    this.opts.signer.close?.();
  }

  /** Requests a new certificate now; on success swaps it in and emits 'rotated'. */
  async renew(): Promise<void> {
    const x509 = await loadX509();
    // Extractable only so node:tls can use it as PEM; it stays in this process's memory.
    const keys: CryptoKeyPair = await generateP256(true);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'],
      signingAlgorithm: EC_P256,
    });
    let chain: SignedChain;
    try {
      chain = await this.opts.signer.sign(csr.toString('pem'), this.opts.ttlSeconds);
    } catch (err) {
      this.lastError = (err as Error).message;
      throw err;
    }
    const leaf = new X509Certificate(chain[0] ?? '');
    if (!(await matchesKey(leaf, keys.publicKey))) throw new Error('the CA returned a certificate for a different key');
    const privateKey = await privateKeyToPem(keys.privateKey);
    // Present the leaf and any intermediates; the root is what peers already trust.
    const presented = chain.length > 1 ? chain.slice(0, -1) : chain;
    const first = this.material === undefined;
    if (chain.trustBundle?.length) this.trustRoots = chain.trustBundle.join('');
    this.material = { certChain: presented.join(''), privateKey, trustRoots: this.trustRoots };
    this.leaf = leaf;
    this.failures = 0;
    this.lastError = undefined;
    if (!first) this.renewals++;
    this.schedule(halfLifeFromNow(leaf));
    if (!first) this.emit('rotated');
  }

  private watchTrustFile(): void {
    if (!this.opts.trustFile || this.watching || this.closed) return;
    this.watching = true;
    watchFile(this.opts.trustFile, { interval: 1000, persistent: false }, this.onTrustFile);
  }

  /** The trust file changed: renew now (retrying as a failed renewal does) to get the new bundle. */
  private readonly onTrustFile = (): void => {
    readFile(this.opts.trustFile!, 'utf8').then(
      (text) => {
        if (this.closed || !text.includes('BEGIN CERTIFICATE') || text === this.trustFileText) return;
        const firstRead = this.trustFileText === undefined;
        this.trustFileText = text;
        // The control plane rewrites the file at each rotation phase (its header names the phase), so
        // even an unchanged bundle (phase 2: sign with the new root) makes every proxy renew.
        if (firstRead && text === this.trustRoots) return;
        this.schedule(0);
      },
      () => undefined,
    );
  };

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextRenewalAt = new Date(Date.now() + delayMs);
    this.timer = setTimeout(() => {
      this.renew().catch((err: Error) => {
        this.lastError = err.message;
        this.emit('renewalFailed', err);
        // Retry sooner than half-life, but never past the point the current certificate expires;
        // once it has expired (a CA outage longer than its lifetime), every 1-2 s (jittered), so
        // the proxy has a valid certificate again within about a second of the CA's return.
        const left = this.leaf ? Date.parse(this.leaf.validTo) - Date.now() : 0;
        const expired = Math.round(1000 + Math.random() * 1000);
        this.schedule(Math.max(50, Math.min(this.nextBackoff(), left > 0 ? Math.max(left / 2, 50) : expired)));
      });
    }, delayMs);
    this.timer.unref();
  }

  private nextBackoff(): number {
    const { initialMs, maxMs } = this.opts.backoff ?? DEFAULT_BACKOFF;
    const base = Math.min(maxMs, initialMs * 2 ** this.failures++);
    // Jitter spreads the retries of many proxies after a control-plane restart.
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }
}

/** Milliseconds until half the remaining lifetime of `leaf` has passed. */
function halfLifeFromNow(leaf: X509Certificate): number {
  const remaining = Date.parse(leaf.validTo) - Date.now();
  return Math.max(100, Math.floor(remaining / 2));
}

async function matchesKey(leaf: X509Certificate, publicKey: CryptoKey): Promise<boolean> {
  const { webcrypto } = await import('node:crypto');
  const ours = Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey));
  const theirs = leaf.publicKey.export({ type: 'spki', format: 'der' });
  return ours.equals(theirs);
}
