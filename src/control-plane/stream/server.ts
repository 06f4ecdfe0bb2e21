/**
 * Port 15012: one gRPC server over TLS carrying the config stream and the CA service. The serving
 * certificate comes from the mesh CA (so proxies verify it with the mesh root) and names every
 * address proxies may dial.
 */
import type { MethodDefinition, Server, ServiceDefinition } from '@grpc/grpc-js';
import { loadMeshProto } from '../../protocol/stream/grpc.js';
import { CONTROL_PLANE_SERVICE, MESH_NAMESPACE } from '../../protocol/well-known.js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { CredentialAuthenticator } from '../ca/authenticator.js';
import { AdsServer } from './ads-server.js';
import { certificateService } from './ca-service.js';
import { MemoryCertificateProvider } from './certificate-provider.js';
import { EncodedMessage } from './resource-encoding.js';
import type { ProxyConfigSource } from './source.js';

/** Options of the stream + CA server. */
export interface MeshServerOptions {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly authority: CertificateAuthority;
  readonly authenticator: CredentialAuthenticator;
  readonly source: ProxyConfigSource;
  /** Extra DNS names for the serving certificate. */
  readonly dnsNames?: readonly string[];
  readonly log?: (line: string) => void;
}

/** A running server. */
export interface MeshServer {
  readonly port: number;
  readonly ads: AdsServer;
  /** The serving certificate chain (PEM), for clients pinning it in tests. */
  readonly servingCertPem: string;
  close(): Promise<void>;
}

/** The DNS names the control plane answers to (Kubernetes service names and loopback). */
export function controlPlaneDnsNames(extra: readonly string[] = []): string[] {
  const svc = `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}`;
  return [...new Set(['localhost', CONTROL_PLANE_SERVICE, svc, `${svc}.svc`, `${svc}.svc.cluster.local`, ...extra])];
}

/**
 * The config stream's service definition, with response serialisers that pass pre-encoded
 * messages through: a delta response is concatenated from resources encoded once per snapshot.
 */
function withPreEncodedResponses(def: ServiceDefinition): ServiceDefinition {
  const out: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(def as Record<string, MethodDefinition<unknown, unknown>>)) {
    const serialize = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (m: unknown) => (m instanceof EncodedMessage ? m.bytes : serialize(m)) };
  }
  return out as ServiceDefinition;
}

/** Starts the server; resolves once it listens. */
export async function startMeshServer(opts: MeshServerOptions): Promise<MeshServer> {
  const proto = await loadMeshProto();
  const { grpc } = proto;
  const log = opts.log ?? (() => undefined);
  const serving = await opts.authority.issueServing(
    { dns: controlPlaneDnsNames(opts.dnsNames), ips: ['127.0.0.1', '::1'] },
    { namespace: MESH_NAMESPACE, serviceAccount: CONTROL_PLANE_SERVICE },
    365 * 86_400,
  );
  const provider = new MemoryCertificateProvider({ certChainPem: serving.certChainPem, keyPem: serving.keyPem, trustRootsPem: opts.authority.rootPem });
  const server: Server = new grpc.Server({
    // Keepalive so a proxy that vanished without closing (killed, network gone) is noticed.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  const ads = new AdsServer(grpc, opts.source, log);
  server.addService(withPreEncodedResponses(proto.ads), ads.service());
  server.addService(proto.ca, certificateService(grpc, opts.authority, opts.authenticator, log));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`, provider.serverCredentials(grpc), (err, p) => (err ? reject(err) : resolve(p)));
  });
  // grpc-js (1.14) registers its context watcher after the provider's first update and drops
  // connections until the next one: publish the material once more now that it listens.
  provider.update(provider.material);
  return {
    port,
    ads,
    servingCertPem: serving.certChainPem,
    close: () =>
      new Promise<void>((resolve) => {
        // Give streams a moment to end cleanly, then cut whatever is left.
        const timer = setTimeout(() => server.forceShutdown(), 250);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
