/**
 * Wires a running proxy to the control plane: the config stream client, applying through the
 * composer into the proxy's applyConfig. The identity (a CaIdentitySource) is made first by the
 * caller, since Proxy.start needs it; `startCaIdentity` does that from a token and the mesh root.
 */
import { CaIdentitySource } from '../identity/ca-client.js';
import { grpcCertificateSigner } from '../identity/grpc-signer.js';
import { TypeUrl } from '../../../protocol/stream/messages.js';
import { XdsClient, type AddressSource, type XdsNode } from './client.js';
import { CA_ISSUED_IDENTITY, ConfigComposer, type ConfigTarget, type StaticParts } from './compose.js';

/** The types a sidecar subscribes to, in dependency order. */
export const SIDECAR_TYPES: readonly string[] = [
  TypeUrl.clusters,
  TypeUrl.routes,
  TypeUrl.listeners,
  TypeUrl.telemetry,
];

/** Gets the workload certificate from the CA at `address` with `token`, and keeps it renewed. */
export async function startCaIdentity(opts: {
  address: AddressSource;
  trustRoots: string;
  token: () => Promise<string> | string;
  ttlSeconds?: number;
  serverName?: string;
  /** The mesh's trust bundle file, watched for a root rotation (see CaIdentityOptions.trustFile). */
  trustFile?: string;
}): Promise<CaIdentitySource> {
  // The signer trusts whatever bundle the CA last sent, so the control plane's certificate may move to a new root.
  let source: CaIdentitySource | undefined;
  const trustRoots = (): string => source?.trustBundlePem ?? opts.trustRoots;
  const signer = await grpcCertificateSigner({
    address: opts.address,
    trustRoots,
    credential: opts.token,
    ...(opts.serverName ? { serverName: opts.serverName } : {}),
  });
  source = await CaIdentitySource.start({
    signer,
    trustRoots: opts.trustRoots,
    ...(opts.ttlSeconds ? { ttlSeconds: opts.ttlSeconds } : {}),
    ...(opts.trustFile ? { trustFile: opts.trustFile } : {}),
  });
  return source;
}

/** A proxy's connection to the control plane. */
export interface SidecarStream {
  readonly client: XdsClient;
  readonly composer: ConfigComposer;
  close(): void;
}

/** Starts the config stream of a proxy that uses `identity` (from startCaIdentity). */
export async function startSidecarStream(opts: {
  address: AddressSource;
  serverName?: string;
  proxy: ConfigTarget;
  identity: CaIdentitySource;
  node: XdsNode;
  /** Config parts the stream does not carry (admin, telemetry); node and identity are filled in. */
  staticParts?: StaticParts;
  log?: (line: string) => void;
}): Promise<SidecarStream> {
  const composer = new ConfigComposer(opts.proxy, {
    ...opts.staticParts,
    identity: CA_ISSUED_IDENTITY,
    node: {
      id: opts.node.id,
      workload: opts.node.workload,
      namespace: opts.node.namespace,
      serviceAccount: opts.node.serviceAccount,
      ...(opts.node.labels ? { labels: { ...opts.node.labels } } : {}),
    },
  });
  const client = new XdsClient({
    address: opts.address,
    ...(opts.serverName ? { serverName: opts.serverName } : {}),
    identity: opts.identity,
    node: opts.node,
    types: SIDECAR_TYPES,
    apply: composer.apply,
    ...(opts.log ? { log: opts.log } : {}),
  });
  await client.start();
  // Tokens signed with a key the proxy lacks: the control plane fetches that issuer's keys again.
  opts.proxy.jwtKeyMiss = (issuer, kid) => client.reportUnknownJwtKey(issuer, kid);
  return { client, composer, close: () => client.close() };
}
