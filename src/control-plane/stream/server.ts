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
import { keepLargeBuffersOffTheHeap } from './native-memory.js';
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
  /** Lifetime of the serving certificate (default 24 h); it is renewed at half-life. */
  readonly servingTtlSeconds?: number;
  readonly log?: (line: string) => void;
}

/** A running server. */
export interface MeshServer {
  readonly port: number;
  readonly ads: AdsServer;
  /** The serving certificate chain in use (PEM): it changes at each rotation. */
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
    out[name] = {
      ...method,
      responseSerialize: (m: unknown) => (m instanceof EncodedMessage ? m.bytes : serialize(m)),
    };
  }
  return out as ServiceDefinition;
}

/** Default lifetime of the control plane's serving certificate: a day, like workload certificates. */
export const DEFAULT_SERVING_TTL_SECONDS = 86_400;

/** Starts the server; resolves once it listens. */
export async function startMeshServer(opts: MeshServerOptions): Promise<MeshServer> {
  // Thousands of ~1 MiB initial syncs come and go: keep the C heap from keeping what they freed.
  keepLargeBuffersOffTheHeap();
  const proto = await loadMeshProto();
  const { grpc } = proto;
  const log = opts.log ?? (() => undefined);
  const ttlSeconds = opts.servingTtlSeconds ?? DEFAULT_SERVING_TTL_SECONDS;
  const issue = () =>
    opts.authority.issueServing(
      { dns: controlPlaneDnsNames(opts.dnsNames), ips: ['127.0.0.1', '::1'] },
      { namespace: MESH_NAMESPACE, serviceAccount: CONTROL_PLANE_SERVICE },
      ttlSeconds,
    );
  let serving = await issue();
  const provider = new MemoryCertificateProvider({
    certChainPem: serving.certChainPem,
    keyPem: serving.keyPem,
    trustRootsPem: opts.authority.rootPem,
  });
  // Renewed at half-life; new handshakes get the new certificate, open streams keep theirs (TLS
  // checks a certificate at the handshake only), so no proxy is disconnected by a rotation.
  let rotation: NodeJS.Timeout | undefined;
  let closed = false;
  const schedule = (delayMs: number): void => {
    if (closed) return;
    rotation = setTimeout(() => void rotate(), delayMs);
    rotation.unref();
  };
  const rotate = async (): Promise<void> => {
    try {
      const next = await issue();
      if (closed) return;
      serving = next;
      provider.update({ certChainPem: next.certChainPem, keyPem: next.keyPem, trustRootsPem: opts.authority.rootPem });
      log(`serving certificate rotated; valid until ${next.notAfter.toISOString()}`);
      schedule(halfLifeMs(next.notAfter));
    } catch (err) {
      // The current certificate is still valid for a while: retry well before it expires.
      log(`serving certificate rotation failed (${(err as Error).message}); retrying`);
      schedule(Math.min(60_000, Math.max(1000, (ttlSeconds * 1000) / 20)));
    }
  };
  const halfLifeMs = (notAfter: Date): number => Math.max(1000, (notAfter.getTime() - Date.now()) / 2);
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
    server.bindAsync(
      `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`,
      provider.serverCredentials(grpc),
      (err, p) => (err ? reject(err) : resolve(p)),
    );
  });
  // grpc-js (1.14) registers its context watcher after the provider's first update and drops
  // connections until the next one: publish the material once more now that it listens.
  provider.update(provider.material);
  schedule(halfLifeMs(serving.notAfter));
  return {
    port,
    ads,
    get servingCertPem() {
      return serving.certChainPem;
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (rotation) clearTimeout(rotation);
        // Give streams a moment to end cleanly, then cut whatever is left.
        const timer = setTimeout(() => server.forceShutdown(), 250);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
