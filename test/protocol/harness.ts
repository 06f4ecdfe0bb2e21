/** A real control plane port (CA + config stream over TLS on loopback) and real proxy-side clients. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import {
  CertificateAuthority,
  FileCaStorage,
  LocalTokenAuthenticator,
  loadOrCreateCa,
} from '../../src/control-plane/ca/index.js';
import { startMeshServer, type MeshServer } from '../../src/control-plane/stream/server.js';
import type { GeneratedResources, ProxyConfigSource, ProxyNode } from '../../src/control-plane/stream/source.js';
import { CaIdentitySource } from '../../src/proxy-runtime/runtime/identity/ca-client.js';
import { grpcCertificateSigner } from '../../src/proxy-runtime/runtime/identity/grpc-signer.js';

/** A config source tests change by hand: per type, the resources every proxy gets. */
export class TableSourceForTest implements ProxyConfigSource {
  version = 'v0';
  readonly byType = new Map<string, unknown[]>();
  set(version: string, typeUrl: string, resources: unknown[]): void {
    this.version = version;
    this.byType.set(typeUrl, resources);
  }
  generate(_proxy: ProxyNode, typeUrl: string): GeneratedResources | undefined {
    const r = this.byType.get(typeUrl);
    return r ? { version: this.version, resources: r } : undefined;
  }
}

/** A control plane on loopback with its CA state in a temp dir. */
export interface TestControlPlane {
  readonly dir: string;
  readonly authority: CertificateAuthority;
  readonly tokens: LocalTokenAuthenticator;
  readonly source: TableSourceForTest;
  server: MeshServer;
  readonly address: () => string;
  readonly logs: string[];
  /** Stops the server (the port is free afterwards). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same CA. */
  restart(): Promise<void>;
}

export async function startTestControlPlane(): Promise<TestControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'meshctl-cp-'));
  const authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(join(dir, 'ca')) }));
  const tokens = new LocalTokenAuthenticator(join(dir, 'tokens.json'));
  const source = new TableSourceForTest();
  const logs: string[] = [];
  const start = (port: number) =>
    startMeshServer({ host: '127.0.0.1', port, authority, authenticator: tokens, source, log: (l) => logs.push(l) });
  const cp: TestControlPlane = {
    dir,
    authority,
    tokens,
    source,
    server: await start(0),
    address: () => `127.0.0.1:${cp.server.port}`,
    logs,
    stop: () => cp.server.close(),
    restart: async () => {
      cp.server = await start(cp.server.port);
    },
  };
  return cp;
}

/** A workload identity from the control plane's CA, as a proxy gets it. */
export async function identityFor(
  cp: TestControlPlane,
  workload: { namespace: string; serviceAccount: string; name: string },
  ttlSeconds?: number,
): Promise<CaIdentitySource> {
  const token = await cp.tokens.issue({
    namespace: workload.namespace,
    serviceAccount: workload.serviceAccount,
    workload: workload.name,
  });
  const signer = await grpcCertificateSigner({
    address: cp.address(),
    trustRoots: cp.authority.rootPem,
    credential: () => token,
  });
  return CaIdentitySource.start({
    signer,
    trustRoots: cp.authority.rootPem,
    ...(ttlSeconds ? { ttlSeconds } : {}),
    backoff: { initialMs: 100, maxMs: 500 },
  });
}

/** Resolves when `predicate` holds, polling; rejects with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    // Awaited: an async condition returns a promise, which is truthy, and would pass at once.
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A Service address whose only backend went away; see startBlackHoleThenForward. */
export interface BlackHoleThenForward {
  readonly address: string;
  /** From now on, new connections reach the target (kube-proxy's rules lead to the new pod). */
  forward(): void;
  /** Connections accepted while in the black hole (they are never answered). */
  held(): number;
  close(): Promise<void>;
}

/**
 * What a client of a Service sees when its pod is gone before kube-proxy knows: a fault loopback cannot
 * produce, so this real listener stands in for it. Until forward(), it accepts connections and never answers
 * (as a SYN to a dead pod IP is never answered, and stays pinned there by its conntrack entry); after, each
 * new connection is piped to `target`, while the ones held stay silent.
 */
export async function startBlackHoleThenForward(target: () => string): Promise<BlackHoleThenForward> {
  const held = new Set<Socket>();
  const piped = new Set<Socket>();
  let forwarding = false;
  const server = createServer((s) => {
    if (!forwarding) {
      held.add(s);
      s.on('error', () => undefined);
      return;
    }
    const [host, port] = target().split(':') as [string, string];
    const upstream = connect(Number(port), host);
    for (const x of [s, upstream]) {
      piped.add(x);
      x.on('error', () => {
        s.destroy();
        upstream.destroy();
      });
    }
    s.pipe(upstream).pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    forward: () => {
      forwarding = true;
    },
    held: () => held.size,
    close: async () => {
      for (const s of [...held, ...piped]) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
