/** The config stream over real TLS on loopback: ACK, NACK, reconnect, and the sync states proxy-status shows. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';
import { deriveSyncStatus } from '../../../src/protocol/stream/sync-status.js';
import type { CaIdentitySource } from '../../../src/proxy-runtime/runtime/identity/ca-client.js';
import { XdsClient, type ApplyResult } from '../../../src/proxy-runtime/runtime/xds-client/client.js';
import {
  eventually,
  identityFor,
  startBlackHoleThenForward,
  startTestControlPlane,
  type TestControlPlane,
} from '../harness.js';

let cp: TestControlPlane;
let identity: CaIdentitySource;
const node = {
  id: 'web-1.default',
  workload: 'web-1',
  namespace: 'default',
  serviceAccount: 'web',
  labels: { app: 'web', version: 'v1' },
  proxyVersion: 'test',
};

beforeAll(async () => {
  cp = await startTestControlPlane();
  identity = await identityFor(cp, { namespace: 'default', serviceAccount: 'web', name: 'web-1' });
});
afterAll(async () => {
  identity.close();
  await cp.stop();
});

/** A proxy's config as the apply callback leaves it: per type, the last resources it accepted. */
function proxyState() {
  const applied = new Map<string, { version: string; resources: unknown[] }>();
  let reject: ((resources: unknown[]) => string | undefined) | undefined;
  const apply = (typeUrl: string, resources: unknown[], version: string): ApplyResult => {
    const why = reject?.(resources);
    if (why) return { ok: false, error: why };
    applied.set(typeUrl, { version, resources });
    return { ok: true };
  };
  return { applied, apply, setRejector: (r: typeof reject) => (reject = r) };
}

function serverView(id = node.id) {
  return cp.server.ads.views().find((v) => v.proxy.id === id);
}

describe('config stream', () => {
  it('sends the current config on subscribe and records the ACK (SYNCED); types with nothing to send are NOT SENT', async () => {
    cp.source.set('v1', TypeUrl.clusters, [{ name: 'reviews', endpoints: [] }]);
    const proxy = proxyState();
    const client = new XdsClient({
      address: cp.address(),
      identity,
      node,
      types: [TypeUrl.clusters, TypeUrl.listeners],
      apply: proxy.apply,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await client.start();
    try {
      await eventually('the ACK of v1', () => serverView()?.types[TypeUrl.clusters]?.status === 'SYNCED');
      expect(proxy.applied.get(TypeUrl.clusters)).toEqual({
        version: 'v1',
        resources: [{ name: 'reviews', endpoints: [] }],
      });
      const view = serverView()!;
      expect(view.types[TypeUrl.clusters]).toMatchObject({ sentVersion: 'v1', ackedVersion: 'v1', status: 'SYNCED' });
      expect(view.types[TypeUrl.listeners]?.status).toBe('NOT SENT');
      expect(view.spiffeId).toBe('spiffe://cluster.local/ns/default/sa/web');
      expect(view.proxy).toMatchObject({ workload: 'web-1', labels: { app: 'web', version: 'v1' } });
      expect(Date.parse(view.certificateExpiry!)).toBeGreaterThan(Date.now());

      // A new snapshot is pushed and ACKed.
      cp.source.set('v2', TypeUrl.clusters, [{ name: 'reviews', endpoints: [{ address: '127.0.0.1:9080' }] }]);
      expect(cp.server.ads.push()).toBe(1);
      await eventually('the ACK of v2', () => serverView()?.types[TypeUrl.clusters]?.ackedVersion === 'v2');
      // An identical snapshot is not sent again.
      cp.source.set('v3', TypeUrl.clusters, [{ name: 'reviews', endpoints: [{ address: '127.0.0.1:9080' }] }]);
      expect(cp.server.ads.push()).toBe(0);
    } finally {
      client.close();
    }
  });

  it('records a NACK with the proxy reason while the proxy keeps its last good config, and recovers when fixed', async () => {
    cp.source.set('v10', TypeUrl.routes, [{ name: 'good' }]);
    const proxy = proxyState();
    proxy.setRejector((rs) =>
      rs.some((r) => (r as { name: string }).name === 'bad') ? 'routes[0].name: "bad" is not allowed' : undefined,
    );
    const client = new XdsClient({
      address: cp.address(),
      identity,
      node,
      types: [TypeUrl.routes],
      apply: proxy.apply,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await client.start();
    try {
      await eventually('v10 synced', () => serverView()?.types[TypeUrl.routes]?.status === 'SYNCED');
      cp.source.set('v11', TypeUrl.routes, [{ name: 'bad' }]);
      cp.server.ads.push();
      await eventually('the NACK', () => serverView()?.types[TypeUrl.routes]?.status === 'NACKED');
      const st = serverView()!.types[TypeUrl.routes]!;
      expect(st.lastNack).toMatchObject({ keptVersion: 'v10', message: 'routes[0].name: "bad" is not allowed' });
      expect(st.ackedVersion).toBe('v10');
      expect(proxy.applied.get(TypeUrl.routes)).toEqual({ version: 'v10', resources: [{ name: 'good' }] });
      expect(client.state()[TypeUrl.routes]).toMatchObject({
        appliedVersion: 'v10',
        lastError: 'routes[0].name: "bad" is not allowed',
      });
      expect(cp.logs.some((l) => l.includes('rejected') && l.includes('is not allowed'))).toBe(true);

      cp.source.set('v12', TypeUrl.routes, [{ name: 'fixed' }]);
      cp.server.ads.push();
      await eventually('recovery', () => serverView()?.types[TypeUrl.routes]?.status === 'SYNCED');
      expect(proxy.applied.get(TypeUrl.routes)?.version).toBe('v12');
    } finally {
      client.close();
    }
  });

  it('shows STALE while a response is sent but not yet answered', async () => {
    cp.source.set('v20', TypeUrl.endpoints, [{ cluster: 'a' }]);
    let release: (() => void) | undefined;
    const client = new XdsClient({
      address: cp.address(),
      identity,
      node,
      types: [TypeUrl.endpoints],
      backoff: { initialMs: 50, maxMs: 200 },
      apply: () => new Promise<ApplyResult>((resolve) => (release = () => resolve({ ok: true }))),
    });
    await client.start();
    try {
      await eventually('the response reached the proxy', () => release !== undefined);
      expect(serverView()?.types[TypeUrl.endpoints]?.status).toBe('STALE');
      release!();
      await eventually('SYNCED after the ACK', () => serverView()?.types[TypeUrl.endpoints]?.status === 'SYNCED');
    } finally {
      client.close();
    }
  });

  it('keeps the last good config while the control plane is down and gets the current config at once on reconnect', async () => {
    cp.source.set('v30', TypeUrl.clusters, [{ name: 'before' }]);
    const proxy = proxyState();
    const client = new XdsClient({
      address: cp.address(),
      identity,
      node,
      types: [TypeUrl.clusters],
      apply: proxy.apply,
      backoff: { initialMs: 50, maxMs: 300 },
    });
    await client.start();
    try {
      await eventually('v30 applied', () => proxy.applied.get(TypeUrl.clusters)?.version === 'v30');
      const disconnected = new Promise<void>((r) => client.once('disconnected', () => r()));
      await cp.stop();
      await disconnected;
      expect(client.connected).toBe(false);
      expect(proxy.applied.get(TypeUrl.clusters)).toEqual({ version: 'v30', resources: [{ name: 'before' }] });
      cp.source.set('v31', TypeUrl.clusters, [{ name: 'after' }]);
      await cp.restart();
      await eventually('v31 applied after reconnect', () => proxy.applied.get(TypeUrl.clusters)?.version === 'v31');
      await eventually('SYNCED on the new server', () => serverView()?.types[TypeUrl.clusters]?.status === 'SYNCED');
    } finally {
      client.close();
    }
  });

  it('drops a connection attempt that never completes after connectTimeoutMs and dials again (a control plane pod gone behind a Service)', async () => {
    // One Service address throughout: first its only pod is gone (the attempt is never answered), then it leads
    // to the control plane. Without a connect deadline the proxy would wait on the first attempt for good.
    const service = await startBlackHoleThenForward(() => cp.address());
    cp.source.set('v40', TypeUrl.clusters, [{ name: 'found' }]);
    const proxy = proxyState();
    const lines: string[] = [];
    const client = new XdsClient({
      address: service.address,
      identity,
      node,
      types: [TypeUrl.clusters],
      apply: proxy.apply,
      backoff: { initialMs: 50, maxMs: 200 },
      connectTimeoutMs: 1000,
      log: (l) => lines.push(l),
    });
    await client.start();
    try {
      await eventually('the first attempt held', () => service.held() === 1);
      service.forward();
      await eventually(
        'v40 applied after the silent attempt was dropped',
        () => proxy.applied.get(TypeUrl.clusters)?.version === 'v40',
        20_000,
      );
      expect(service.held()).toBe(1);
      expect(lines[0]).toBe(
        `config stream to ${service.address} lost (no connection to ${service.address} within 1000 ms); reconnecting in ${/in (\d+) ms$/.exec(lines[0]!)?.[1]} ms`,
      );
    } finally {
      client.close();
      await service.close();
    }
  });

  it('refuses a proxy whose node claims another identity than its certificate', async () => {
    const client = new XdsClient({
      address: cp.address(),
      identity,
      node: { ...node, id: 'impostor', serviceAccount: 'admin' },
      types: [TypeUrl.clusters],
      apply: () => ({ ok: true }),
      backoff: { initialMs: 1000, maxMs: 1000 },
      log: () => undefined,
    });
    await client.start();
    try {
      await eventually('the refusal', () =>
        cp.logs.find((l) =>
          l.includes(
            'node impostor claims spiffe://cluster.local/ns/default/sa/admin but its certificate is spiffe://cluster.local/ns/default/sa/web',
          ),
        ),
      );
      expect(serverView('impostor')).toBeUndefined();
    } finally {
      client.close();
    }
  });
});

describe('config stream without a workload certificate', () => {
  it('is refused as UNAUTHENTICATED, pointing at the CA', async () => {
    const { loadMeshProto } = await import('../../../src/protocol/stream/grpc.js');
    const { grpc, AdsClient } = await loadMeshProto();
    const serverName = 'meshctl-control-plane.mesh-system.svc';
    const c = new AdsClient(cp.address(), grpc.credentials.createSsl(Buffer.from(cp.authority.rootPem)), {
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
    });
    const call = (
      c as unknown as { StreamAggregatedResources(): import('@grpc/grpc-js').ClientDuplexStream<unknown, unknown> }
    ).StreamAggregatedResources();
    const err = await new Promise<{ code: number; details: string }>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write({
        version_info: '',
        node: { id: 'x', metadata: { namespace: 'default', service_account: 'web' } },
        type_url: TypeUrl.clusters,
        response_nonce: '',
      });
    });
    c.close();
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/no client certificate.*get one from the CA first/);
  });
});

describe('sync status derivation', () => {
  it('derives NOT SENT, STALE, SYNCED and NACKED from nonces sent and answered', () => {
    expect(deriveSyncStatus(undefined)).toBe('NOT SENT');
    expect(deriveSyncStatus({})).toBe('NOT SENT');
    expect(deriveSyncStatus({ sentNonce: 'n2', ackedNonce: 'n1' })).toBe('STALE');
    expect(deriveSyncStatus({ sentNonce: 'n2', ackedNonce: 'n2' })).toBe('SYNCED');
    expect(
      deriveSyncStatus({
        sentNonce: 'n2',
        ackedNonce: 'n1',
        lastNack: { nonce: 'n2', keptVersion: 'v1', message: 'x', at: '' },
      }),
    ).toBe('NACKED');
    // A NACK of an older response does not make a newer, unanswered one NACKED.
    expect(
      deriveSyncStatus({
        sentNonce: 'n3',
        ackedNonce: 'n1',
        lastNack: { nonce: 'n2', keptVersion: 'v1', message: 'x', at: '' },
      }),
    ).toBe('STALE');
  });
});
