/**
 * The serving half of a control plane, the same on every platform: the push pipeline over the
 * generators, the config stream + CA gRPC server, and the debug API. A platform's daemon brings
 * what differs (where config, workloads and credentials come from) and notifies the pipeline
 * when its inputs change.
 */
import type { CertificateAuthority } from './ca/authority.js';
import type { CredentialAuthenticator } from './ca/authenticator.js';
import { startHttpApi, type LocalApiDeps } from './debug/http-api.js';
import { meshGeneratorSet } from './generators/index.js';
import { fullChange, PushPipeline, type ConfigGenerator } from './push/index.js';
import type { SnapshotInputs } from './push/snapshot.js';
import { startMeshServer, type MeshServer } from './stream/server.js';

/** What the serving half needs. */
export interface MeshServingOptions {
  /** Address of the config stream + CA server. */
  readonly host: string;
  readonly streamPort: number;
  /** Address of the debug API (default: host). */
  readonly debugHost?: string;
  readonly debugPort: number;
  readonly authority: CertificateAuthority;
  readonly authenticator: CredentialAuthenticator;
  /** Default: every mesh generator. Checked against the kind claims: an unclaimed kind refuses to start. */
  readonly generators?: readonly ConfigGenerator[];
  readonly inputs: () => SnapshotInputs;
  /** Extra DNS names of the stream server's certificate. */
  readonly dnsNames?: readonly string[];
  /** Lifetime of the stream server's certificate (default 24 h, renewed at half-life). */
  readonly servingTtlSeconds?: number;
  /** The local platform's /api (config store, workload registry). */
  readonly local?: LocalApiDeps;
  /** /debug/info, given the stream address. */
  readonly info: (streamAddress: string) => Record<string, unknown>;
  readonly log: (line: string) => void;
}

/** A running serving half. */
export interface MeshServing {
  readonly pipeline: PushPipeline;
  readonly server: MeshServer;
  /** host:port of the config stream + CA. */
  readonly streamAddress: string;
  readonly apiPort: number;
  close(): Promise<void>;
}

/** Starts the pipeline, the stream server and the debug API; the first push goes out at once. */
export async function startMeshServing(o: MeshServingOptions): Promise<MeshServing> {
  const pipeline = new PushPipeline({ generators: meshGeneratorSet(o.generators), inputs: o.inputs, log: o.log });
  let server: MeshServer;
  try {
    server = await startMeshServer({ host: o.host, port: o.streamPort, authority: o.authority, authenticator: o.authenticator, source: pipeline, log: o.log, ...(o.dnsNames ? { dnsNames: o.dnsNames } : {}), ...(o.servingTtlSeconds ? { servingTtlSeconds: o.servingTtlSeconds } : {}) });
  } catch (err) {
    pipeline.close();
    throw err;
  }
  pipeline.attach(server.ads);
  pipeline.pushNow(fullChange('start'));
  const streamAddress = `${o.host}:${server.port}`;
  let api;
  try {
    api = await startHttpApi(
      { ads: server.ads, pipeline, authority: o.authority, streamAddress: () => streamAddress, info: () => o.info(streamAddress), ...(o.local ? { local: o.local } : {}) },
      o.debugHost ?? o.host,
      o.debugPort,
    );
  } catch (err) {
    pipeline.close();
    await server.close();
    throw err;
  }
  let closed = false;
  return {
    pipeline,
    server,
    streamAddress,
    apiPort: api.port,
    async close() {
      if (closed) return;
      closed = true;
      pipeline.close();
      await Promise.all([server.close(), api.close()]);
    },
  };
}
