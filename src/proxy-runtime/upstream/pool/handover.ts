/**
 * Make-before-break for mTLS connections when the workload certificate changes. A renewed
 * certificate used to retire every pooled connection at once, so the next requests dialed peers
 * afresh; after a CA outage longer than a certificate's life those peers still held expired
 * certificates (each proxy renews within a second or two of the CA's return, not all at the same
 * moment), every new handshake failed `CERT_HAS_EXPIRED`, and requests failed although the
 * connections just closed had been serving them. Now connections from before the renewal keep
 * serving until a connection made with the new certificate has completed its handshake with that
 * peer (a "probe", tried at most once per {@link HANDOVER_RETRY_MS} per endpoint); then the older
 * ones close as their requests finish. A dial that fails on a certificate's validity while older
 * connections to the peer are open queues its request for one of them instead of failing it.
 * Nothing is accepted that x509 refuses: an expired certificate is still refused at every new
 * handshake, as Envoy refuses it; only connections already authenticated are kept, as Envoy keeps them.
 */
import type { MeshTls } from '../../ground/tls/contexts.js';

/** How long after a failed dial with the new certificate an endpoint's older connections are used without trying again. */
export const HANDOVER_RETRY_MS = 1000;

/** Whether a failed dial failed on a certificate's validity period (ours refused by the peer, or the peer's by us). */
export function isCertificateValidityFailure(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | undefined)?.cause as NodeJS.ErrnoException | undefined;
  const code = cause?.code ?? '';
  return code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID' || code.includes('ALERT_CERTIFICATE_EXPIRED');
}

/** Whether our own workload certificate has expired: a new handshake would be refused by the peer. */
export function ownCertificateExpired(mesh: MeshTls | undefined, now = Date.now()): boolean {
  return mesh !== undefined && mesh.current.summary.expiresAtSeconds * 1000 <= now;
}
