/**
 * Loads mesh.proto into gRPC service definitions, once, on first use: @grpc/grpc-js and the
 * proto loader are heavy, so only the control plane, proxies and commands that talk to them pay.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as GrpcModule from '@grpc/grpc-js';

/** The grpc-js module. */
export type Grpc = typeof GrpcModule;

/** The service definitions and client constructors of mesh.proto. */
export interface MeshProto {
  readonly grpc: Grpc;
  readonly ads: GrpcModule.ServiceDefinition;
  readonly ca: GrpcModule.ServiceDefinition;
  readonly AdsClient: GrpcModule.ServiceClientConstructor;
  readonly CaClient: GrpcModule.ServiceClientConstructor;
}

/** Full method paths, for tests and logs. */
export const ADS_METHOD = '/meshctl.v1.AggregatedDiscoveryService/StreamAggregatedResources';
/** The incremental (delta) config stream. */
export const ADS_DELTA_METHOD = '/meshctl.v1.AggregatedDiscoveryService/DeltaAggregatedResources';
export const CA_METHOD = '/meshctl.v1.CertificateService/CreateCertificate';

/**
 * Where mesh.proto is: beside this module when running from src/ (tests), in src/protocol/ of the
 * package when running the compiled dist/ (tsc does not copy .proto files).
 */
export function protoPath(): string {
  const candidates = [
    new URL('../mesh.proto', import.meta.url),
    new URL('../../../src/protocol/mesh.proto', import.meta.url),
  ];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new Error(
    `mesh.proto not found (looked at ${candidates.map((c) => fileURLToPath(c)).join(', ')}); the package is incomplete`,
  );
}

let loaded: Promise<MeshProto> | undefined;

/** Loads grpc-js and mesh.proto once. */
export function loadMeshProto(): Promise<MeshProto> {
  loaded ??= (async () => {
    const [grpc, protoLoader] = await Promise.all([import('@grpc/grpc-js'), import('@grpc/proto-loader')]);
    const def = protoLoader.loadSync(protoPath(), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      meshctl: { v1: Record<string, GrpcModule.ServiceClientConstructor> };
    };
    const AdsClient = pkg.meshctl.v1.AggregatedDiscoveryService!;
    const CaClient = pkg.meshctl.v1.CertificateService!;
    return { grpc, ads: AdsClient.service, ca: CaClient.service, AdsClient, CaClient };
  })();
  return loaded;
}
