/**
 * The CA client's transport: CreateCertificate over TLS to port 15012, verifying the control plane
 * with the mesh root and presenting the workload's credential (re-read on every request, since
 * Kubernetes rotates projected tokens).
 */
import type { Client, ServiceError } from '@grpc/grpc-js';
import { loadMeshProto } from '../../../protocol/stream/grpc.js';
import type { CreateCertificateRequest, CreateCertificateResponse } from '../../../protocol/stream/messages.js';
import { CONTROL_PLANE_SERVICE, MESH_NAMESPACE } from '../../../protocol/well-known.js';
import { PermanentSigningError, type CertificateSigner, type SignedChain } from './ca-client.js';
import { resolveAddress, type AddressSource } from '../xds-client/client.js';

/** Where and how to reach the CA. */
export interface GrpcSignerOptions {
  /** host:port of the control plane, or how to find it (read before every request). */
  readonly address: AddressSource;
  /**
   * PEM roots that must have issued the control plane's serving certificate; a function to follow
   * the CA's trust bundle through a root rotation (read before every request).
   */
  readonly trustRoots: string | (() => string);
  /** The workload credential (token). */
  readonly credential: () => Promise<string> | string;
  /** The name expected in the control plane's certificate; default its Kubernetes service name. */
  readonly serverName?: string;
  readonly timeoutMs?: number;
}

/** The TLS server name proxies expect from the control plane. */
export const CONTROL_PLANE_SERVER_NAME = `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}.svc`;

/** Builds a signer that calls the CA over gRPC. */
export async function grpcCertificateSigner(opts: GrpcSignerOptions): Promise<CertificateSigner> {
  const { grpc, CaClient } = await loadMeshProto();
  const serverName = opts.serverName ?? CONTROL_PLANE_SERVER_NAME;
  // One channel per address: a control plane found elsewhere gets a new one.
  // One channel per address and trust bundle: a control plane found elsewhere, or new roots, get a new one.
  let channel: { address: string; roots: string; client: Client } | undefined;
  const clientFor = (address: string): Client => {
    const roots = typeof opts.trustRoots === 'function' ? opts.trustRoots() : opts.trustRoots;
    if (channel?.address === address && channel.roots === roots) return channel.client;
    channel?.client.close();
    const client: Client = new CaClient(address, grpc.credentials.createSsl(Buffer.from(roots)), {
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
    });
    channel = { address, roots, client };
    return client;
  };
  return {
    async sign(csrPem, ttlSeconds) {
      const address = await resolveAddress(opts.address);
      const client = clientFor(address);
      const credential = await opts.credential();
      const request: CreateCertificateRequest = { csr: csrPem, credential, ttl_seconds: ttlSeconds ?? 0 };
      const response = await new Promise<CreateCertificateResponse>((resolve, reject) => {
        const deadline = new Date(Date.now() + (opts.timeoutMs ?? 10_000));
        (
          client as unknown as Record<
            string,
            (
              req: unknown,
              meta: unknown,
              o: unknown,
              cb: (e: ServiceError | null, r?: CreateCertificateResponse) => void,
            ) => void
          >
        ).CreateCertificate!(request, new grpc.Metadata(), { deadline }, (err, res) => {
          if (err) {
            const permanent =
              err.code === grpc.status.UNAUTHENTICATED ||
              err.code === grpc.status.INVALID_ARGUMENT ||
              err.code === grpc.status.PERMISSION_DENIED;
            const message = `certificate request to ${address} failed: ${err.details || err.message}`;
            // Dial afresh next time: a channel whose connection attempt hangs (a SYN to a control plane pod that
            // is gone, pinned there by its conntrack entry) would fail every request until the kernel gives up
            // (~2 minutes), and gRPC's own reconnect backoff then grows to 2 minutes.
            if (!permanent && channel?.client === client) {
              client.close();
              channel = undefined;
            }
            reject(permanent ? new PermanentSigningError(message) : new Error(message));
          } else resolve(res!);
        });
      });
      if (!response.cert_chain.length) throw new Error(`certificate request to ${address} returned no certificate`);
      const chain: SignedChain = Object.assign([...response.cert_chain], { trustBundle: response.trust_bundle ?? [] });
      return chain;
    },
    close: () => channel?.client.close(),
  };
}
