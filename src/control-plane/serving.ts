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
import { configChange, fullChange, PushPipeline, type ConfigGenerator } from './push/index.js';
import type { ConfigObject, SnapshotInputs } from './push/snapshot.js';
import { JwksCache, type JwksFetchOptions, type JwksSource } from './jwks/jwks-cache.js';
import { parseDuration } from '../protocol/proxy-config/index.js';
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
  /** How issuers' key sets are fetched (trust roots, connect-to, refresh interval). */
  readonly jwks?: JwksFetchOptions;
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
  // Keys of RequestAuthentication jwksUris: fetched here, pushed inline; new keys push again.
  let pipeline: PushPipeline | undefined;
  const jwks = new JwksCache({
    ...o.jwks,
    log: o.log,
    onChange: (uri) =>
      pipeline?.notify(configChange([{ kind: 'RequestAuthentication', namespace: '', name: uri }], `JWKS ${uri}`)),
  });
  const inputs = (): SnapshotInputs => {
    const i = o.inputs();
    jwks.track(jwksSources(i.configs));
    return { ...i, jwks: jwks.current() };
  };
  pipeline = new PushPipeline({ generators: meshGeneratorSet(o.generators), inputs, log: o.log });
  let server: MeshServer;
  try {
    server = await startMeshServer({
      host: o.host,
      port: o.streamPort,
      authority: o.authority,
      authenticator: o.authenticator,
      source: pipeline,
      log: o.log,
      ...(o.dnsNames ? { dnsNames: o.dnsNames } : {}),
      ...(o.servingTtlSeconds ? { servingTtlSeconds: o.servingTtlSeconds } : {}),
    });
  } catch (err) {
    pipeline.close();
    jwks.close();
    throw err;
  }
  pipeline.attach(server.ads);
  // A sidecar met a token signed with a key it does not have: the issuer may have rotated.
  server.ads.on('unknownJwtKeys', (keys: readonly { issuer: string; kid: string }[]) => {
    for (const k of keys) jwks.unknownKey(k.issuer, k.kid);
  });
  pipeline.pushNow(fullChange('start'));
  const streamAddress = `${o.host}:${server.port}`;
  let api;
  try {
    api = await startHttpApi(
      {
        ads: server.ads,
        pipeline,
        authority: o.authority,
        streamAddress: () => streamAddress,
        info: () => o.info(streamAddress),
        ...(o.local ? { local: o.local } : {}),
      },
      o.debugHost ?? o.host,
      o.debugPort,
    );
  } catch (err) {
    pipeline.close();
    jwks.close();
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
      jwks.close();
      await Promise.all([server.close(), api.close()]);
    },
  };
}

/** The jwksUris of the RequestAuthentications in `configs`, with their fetch timeouts (default 5 s) and issuers. */
function jwksSources(configs: readonly ConfigObject[]): JwksSource[] {
  const out = new Map<string, { timeoutMs: number; issuers: Set<string> }>();
  for (const c of configs) {
    if (c.kind !== 'RequestAuthentication') continue;
    const rules =
      (
        c.spec as
          | { jwtRules?: { issuer?: string; jwksUri?: string; jwks_uri?: string; jwks?: string; timeout?: string }[] }
          | undefined
      )?.jwtRules ?? [];
    for (const r of rules) {
      const uri = r.jwksUri ?? r.jwks_uri;
      if (!uri || r.jwks) continue;
      const ms = (r.timeout ? parseDuration(r.timeout) : undefined) ?? 5_000;
      const e = out.get(uri) ?? { timeoutMs: 0, issuers: new Set<string>() };
      e.timeoutMs = Math.max(e.timeoutMs, ms);
      if (r.issuer) e.issuers.add(r.issuer);
      out.set(uri, e);
    }
  }
  return [...out].map(([uri, e]) => ({ uri, timeoutMs: e.timeoutMs, issuers: [...e.issuers] }));
}
