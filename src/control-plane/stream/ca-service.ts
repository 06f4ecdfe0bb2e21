/**
 * The CertificateService of port 15012: authenticate the credential, then sign the CSR for that
 * identity. Refusals carry a gRPC status a proxy can act on (UNAUTHENTICATED: get a new token;
 * INVALID_ARGUMENT: a bug in the proxy) and a message without secrets.
 */
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { MeshError, ErrorCode } from '../../errors.js';
import type { Grpc } from '../../protocol/stream/grpc.js';
import type { CreateCertificateRequest, CreateCertificateResponse } from '../../protocol/stream/messages.js';
import type { CertificateAuthority } from '../ca/authority.js';
import { splitPemCertificates } from '../../protocol/pki/x509.js';
import type { CredentialAuthenticator } from '../ca/authenticator.js';
import { controlPlaneMetrics } from '../metrics.js';

/** Builds the CertificateService implementation. `log` gets one line per request, never the credential. */
export function certificateService(
  grpc: Grpc,
  authority: CertificateAuthority,
  authenticator: CredentialAuthenticator,
  log: (line: string) => void,
): UntypedServiceImplementation {
  return {
    CreateCertificate(
      call: ServerUnaryCall<CreateCertificateRequest, CreateCertificateResponse>,
      callback: sendUnaryData<CreateCertificateResponse>,
    ) {
      const { csr, credential, ttl_seconds } = call.request;
      controlPlaneMetrics.csrReceived();
      void (async () => {
        try {
          const who = await authenticator.authenticate(credential);
          const issued = await authority.sign(csr, who, ttl_seconds > 0 ? ttl_seconds : undefined);
          controlPlaneMetrics.certificateIssued();
          callback(null, {
            cert_chain: [...issued.certChain],
            trust_bundle: splitPemCertificates(authority.trustBundlePem),
          });
        } catch (err) {
          const code =
            err instanceof MeshError && err.code === ErrorCode.CredentialRejected
              ? grpc.status.UNAUTHENTICATED
              : err instanceof MeshError && err.code === ErrorCode.CertificateRequestInvalid
                ? grpc.status.INVALID_ARGUMENT
                : grpc.status.INTERNAL;
          controlPlaneMetrics.signFailed(
            code === grpc.status.UNAUTHENTICATED
              ? 'credential_rejected'
              : code === grpc.status.INVALID_ARGUMENT
                ? 'csr_invalid'
                : 'internal',
          );
          const message = err instanceof Error ? err.message : String(err);
          log(`certificate request from ${call.getPeer()} refused: ${message}`);
          callback({ code, details: message });
        }
      })();
    },
  };
}
