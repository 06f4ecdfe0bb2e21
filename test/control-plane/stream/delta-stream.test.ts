/**
 * The incremental config stream, over real TLS on loopback with the real translation: a change to
 * one service moves that service's virtual host only, the proxy holds the whole config after each
 * delta, what it rejects changes nothing it holds, a reconnecting proxy is sent only what differs,
 * and what the control plane would send equals what the proxy composed (proxy-status "Match").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configChange, GeneratorSet, PushPipeline, type ConfigObject } from '../../../src/control-plane/push/index.js';
import { translationGenerators } from '../../../src/control-plane/generators/translation.js';
import { telemetryGenerator } from '../../../src/control-plane/generators/telemetry.js';
import {
  encodeDeltaResponse,
  encodeLayer,
  encodeResource,
} from '../../../src/control-plane/stream/resource-encoding.js';
import type { ServiceRecord, WorkloadRecord } from '../../../src/control-plane/registry/model.js';
import { type ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { loadMeshProto } from '../../../src/protocol/stream/grpc.js';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';
import { assembleResources, splitRouteConfig } from '../../../src/protocol/stream/resources.js';
import type { CaIdentitySource } from '../../../src/proxy-runtime/runtime/identity/ca-client.js';
import { XdsClient } from '../../../src/proxy-runtime/runtime/xds-client/client.js';
import { CA_ISSUED_IDENTITY, ConfigComposer } from '../../../src/proxy-runtime/runtime/xds-client/compose.js';
import { SIDECAR_TYPES } from '../../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { eventually, identityFor, startTestControlPlane, type TestControlPlane } from '../../protocol/harness.js';

const SERVICES = 40;
const services: ServiceRecord[] = Array.from({ length: SERVICES }, (_, i) => ({
  name: `svc-${i}`,
  namespace: 'shop',
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'http' }],
  selector: { app: `svc-${i}` },
}));
// Clients that serve no service (no selector matches them): their config is the outbound part only.
const workloads: WorkloadRecord[] = ['a', 'b'].map((n, i) => ({
  name: `web-${n}`,
  namespace: 'shop',
  serviceAccount: 'web',
  labels: { app: `web-${n}`, version: 'v1' },
  address: '127.0.0.1',
  proxyPort: 16000 + i,
  ports: [9080],
  outboundPort: 17000 + i,
}));
const weights = (v2: number): ConfigObject[] => [
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'svc-3', namespace: 'shop' },
    spec: {
      host: 'svc-3',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'svc-3', namespace: 'shop' },
    spec: {
      hosts: ['svc-3'],
      http: [
        {
          route: [
            { destination: { host: 'svc-3', subset: 'v1' }, weight: 100 - v2 },
            { destination: { host: 'svc-3', subset: 'v2' }, weight: v2 },
          ],
        },
      ],
    },
  },
];

/** A proxy stand-in that accepts what the real proxy's validation accepts, and can be told to refuse. */
function validatingTargetForTest() {
  let refuse: string | undefined;
  return {
    applied: [] as ProxyConfig[],
    refuseNext(reason: string | undefined) {
      refuse = reason;
    },
    async applyConfig(config: unknown) {
      if (refuse) {
        const error = refuse;
        refuse = undefined;
        return { ok: false as const, error };
      }
      const v = validateProxyConfig(config);
      if (!v.ok) return { ok: false as const, error: v.errors.join('; ') };
      this.applied.push(v.config);
      return { ok: true as const };
    },
  };
}

describe('incremental config stream', () => {
  let cp: TestControlPlane;
  let pipeline: PushPipeline;
  let configs: ConfigObject[] = weights(0);
  const identities: CaIdentitySource[] = [];
  const clients: XdsClient[] = [];
  const proxies: {
    client: XdsClient;
    composer: ConfigComposer;
    target: ReturnType<typeof validatingTargetForTest>;
    responses: { type: string; changed: string[]; removed: string[] }[];
  }[] = [];

  beforeAll(async () => {
    cp = await startTestControlPlane();
    pipeline = new PushPipeline({
      generators: new GeneratorSet([...translationGenerators(), telemetryGenerator()]),
      inputs: () => ({ configs, services, workloads }),
      debounce: { quietMs: 10, maxDelayMs: 100 },
    });
    pipeline.attach(cp.server.ads);
    pipeline.pushNow();
    for (const w of workloads) {
      const identity = await identityFor(cp, {
        namespace: w.namespace,
        serviceAccount: w.serviceAccount,
        name: w.name,
      });
      identities.push(identity);
      const target = validatingTargetForTest();
      // As the sidecar composes: its CA-issued identity backs the mTLS the endpoints ask for.
      const composer = new ConfigComposer(target, { identity: CA_ISSUED_IDENTITY });
      const client = new XdsClient({
        address: cp.address(),
        identity,
        node: {
          id: `${w.name}.shop`,
          workload: w.name,
          namespace: 'shop',
          serviceAccount: 'web',
          proxyVersion: 'test',
        },
        types: SIDECAR_TYPES,
        apply: composer.apply,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      const responses: (typeof proxies)[number]['responses'] = [];
      client.on('response', (type: string, r: { changed: string[]; removed: string[] }) =>
        responses.push({ type, ...r }),
      );
      clients.push(client);
      proxies.push({ client, composer, target, responses });
      await client.start();
    }
    await eventually(
      'both proxies synced',
      () =>
        cp.server.ads.views().length === 2 &&
        cp.server.ads
          .views()
          .every(
            (v) =>
              Object.values(v.types).length === SIDECAR_TYPES.length &&
              Object.values(v.types).every((t) => t.status === 'SYNCED'),
          ),
    );
  });
  afterAll(async () => {
    pipeline.close();
    for (const c of clients) c.close();
    for (const i of identities) i.close();
    await cp.stop();
  });

  const routesOf = (p: (typeof proxies)[number]) => p.composer.current!.routes!.find((r) => r.name === 'outbound')!;
  const svc3 = 'svc-3.shop.svc.cluster.local:9080';

  it('gives each proxy the whole config first: every service a virtual host of one outbound route table', () => {
    for (const p of proxies) {
      // one virtual host per service, plus outboundTrafficPolicy's catch-all (ALLOW_ANY: passthrough)
      expect(routesOf(p).virtualHosts.filter((v) => v.name !== 'allow_any')).toHaveLength(SERVICES);
      expect(
        routesOf(p)
          .virtualHosts.find((v) => v.name === svc3)!
          .routes[0]!.route!.map((d) => d.weight),
      ).toEqual([100, 0]);
      expect(p.client.state()[TypeUrl.routes]!.resources).toBe(SERVICES + 2); // the head + one per service + the ALLOW_ANY catch-all (no inbound: these serve no service)
    }
  });

  it('sends a weight change on one service as that one virtual host, to every proxy', async () => {
    for (const p of proxies) p.responses.length = 0;
    configs = weights(30);
    pipeline.notify(configChange([{ kind: 'VirtualService', namespace: 'shop', name: 'svc-3' }], 'shift'));
    await eventually('both proxies route 70/30', () =>
      proxies.every((p) => routesOf(p).virtualHosts.find((v) => v.name === svc3)!.routes[0]!.route![1]!.weight === 30),
    );
    for (const p of proxies) {
      expect(p.responses).toEqual([{ type: TypeUrl.routes, changed: [`outbound/${svc3}`], removed: [] }]);
      expect(routesOf(p).virtualHosts.filter((v) => v.name !== 'allow_any')).toHaveLength(SERVICES);
    }
    // What the control plane would send is what the proxy composed (proxy-status shows Match).
    const view = cp.server.ads.views().find((v) => v.proxy.workload === 'web-a')!;
    const desired = pipeline.desired(view.proxy);
    const running = proxies[0]!.composer.current!;
    expect(desired[TypeUrl.routes]).toEqual(running.routes);
    expect(desired[TypeUrl.clusters]).toEqual(running.clusters);
    expect(desired[TypeUrl.listeners]).toEqual(running.listeners);
  });

  it('a rejected delta changes nothing the proxy holds; it shows NACKED, and the next good change recovers', async () => {
    const p = proxies[0]!;
    const before = p.composer.current!;
    p.target.refuseNext('routes: refused by the test');
    configs = weights(50);
    pipeline.notify(configChange([{ kind: 'VirtualService', namespace: 'shop', name: 'svc-3' }], 'shift 50'));
    await eventually(
      'NACKED',
      () => cp.server.ads.views().find((v) => v.proxy.workload === 'web-a')?.types[TypeUrl.routes]?.status === 'NACKED',
    );
    expect(p.composer.current).toBe(before);
    expect(p.client.state()[TypeUrl.routes]!.resources).toBe(SERVICES + 2);
    configs = weights(60);
    pipeline.notify(configChange([{ kind: 'VirtualService', namespace: 'shop', name: 'svc-3' }], 'shift 60'));
    await eventually(
      'SYNCED again with 40/60',
      () =>
        cp.server.ads.views().find((v) => v.proxy.workload === 'web-a')?.types[TypeUrl.routes]?.status === 'SYNCED' &&
        routesOf(p).virtualHosts.find((v) => v.name === svc3)!.routes[0]!.route![1]!.weight === 60,
    );
    expect(routesOf(p).virtualHosts.filter((v) => v.name !== 'allow_any')).toHaveLength(SERVICES);
  });

  it('removes what is gone by name', async () => {
    for (const p of proxies) p.responses.length = 0;
    configs = [];
    pipeline.notify(
      configChange(
        [
          { kind: 'VirtualService', namespace: 'shop', name: 'svc-3' },
          { kind: 'DestinationRule', namespace: 'shop', name: 'svc-3' },
        ],
        'delete',
      ),
    );
    await eventually('subset clusters dropped', () =>
      proxies.every((p) => !p.composer.current!.clusters!.some((c) => c.name.includes('|v2|'))),
    );
    const clusterResponse = proxies[0]!.responses.find((r) => r.type === TypeUrl.clusters)!;
    expect(clusterResponse.removed.sort()).toEqual([
      'outbound|9080|v1|svc-3.shop.svc.cluster.local',
      'outbound|9080|v2|svc-3.shop.svc.cluster.local',
    ]);
    expect(clusterResponse.changed).toEqual([]);
  });

  it('a proxy reconnecting to a restarted control plane is sent only what differs from what it holds', async () => {
    for (const p of proxies) p.responses.length = 0;
    await cp.stop();
    await eventually('disconnected', () => proxies.every((p) => !p.client.connected));
    configs = weights(80);
    // The restarted server answers from the pipeline from its first request on (as the daemon's does).
    pipeline.pushNow();
    cp.source.generate = (proxy, typeUrl) => pipeline.generate(proxy, typeUrl);
    await cp.restart();
    pipeline.attach(cp.server.ads);
    await eventually('both resynced with 20/80', () =>
      proxies.every(
        (p) =>
          p.client.connected &&
          routesOf(p).virtualHosts.find((v) => v.name === svc3)!.routes[0]!.route![1]!.weight === 80,
      ),
    );
    await eventually(
      'every type of both proxies SYNCED on the new server',
      () =>
        cp.server.ads.views().length === 2 &&
        cp.server.ads
          .views()
          .every(
            (v) =>
              Object.values(v.types).length === SIDECAR_TYPES.length &&
              Object.values(v.types).every((t) => t.status === 'SYNCED'),
          ),
    );
    // Everything the reconnected proxies were sent, per type (one response each, or a few under load).
    const sent = (p: (typeof proxies)[number], type: string) => {
      const rs = p.responses.filter((r) => r.type === type);
      return {
        responses: rs.length,
        changed: [...new Set(rs.flatMap((r) => r.changed))].sort(),
        removed: [...new Set(rs.flatMap((r) => r.removed))].sort(),
      };
    };
    for (const p of proxies) {
      expect(sent(p, TypeUrl.routes)).toMatchObject({ changed: [`outbound/${svc3}`], removed: [] });
      // The DestinationRule is back: its two subset clusters, nothing else of the 40 services' clusters.
      expect(sent(p, TypeUrl.clusters)).toMatchObject({
        changed: ['outbound|9080|v1|svc-3.shop.svc.cluster.local', 'outbound|9080|v2|svc-3.shop.svc.cluster.local'],
        removed: [],
      });
      expect(sent(p, TypeUrl.listeners)).toMatchObject({ changed: [], removed: [] });
      expect(sent(p, TypeUrl.listeners).responses).toBeGreaterThanOrEqual(1);
      expect(routesOf(p).virtualHosts.filter((v) => v.name !== 'allow_any')).toHaveLength(SERVICES);
    }
  });
});

describe('delta encoding', () => {
  it('a response concatenated from pre-encoded resources decodes as the DeltaDiscoveryResponse of mesh.proto', async () => {
    const { ads } = await loadMeshProto();
    const deserialize = (ads as unknown as Record<string, { responseDeserialize(b: Buffer): unknown }>)
      .DeltaAggregatedResources!.responseDeserialize;
    const big = {
      name: 'big',
      endpoints: Array.from({ length: 300 }, (_, i) => ({ address: '198.18.0.1', port: 1000 + i })),
    };
    const layer = encodeLayer({
      key: 'x',
      resources: [
        { name: 'big', resource: big },
        { name: 'ünï', resource: { name: 'ünï' } },
      ],
    });
    const bytes = encodeDeltaResponse(
      '2026/7',
      [...layer.byName.values()].map((r) => r.wire),
      TypeUrl.clusters,
      'n-1',
      ['gone', 'also-gone'],
    );
    const m = deserialize(bytes) as {
      system_version_info: string;
      type_url: string;
      nonce: string;
      removed_resources: string[];
      resources: { name: string; version: string; resource: Buffer }[];
    };
    expect(m).toMatchObject({
      system_version_info: '2026/7',
      type_url: TypeUrl.clusters,
      nonce: 'n-1',
      removed_resources: ['gone', 'also-gone'],
    });
    expect(m.resources.map((r) => [r.name, r.version, JSON.parse(r.resource.toString('utf8'))])).toEqual([
      ['big', layer.byName.get('big')!.version, big],
      ['ünï', layer.byName.get('ünï')!.version, { name: 'ünï' }],
    ]);
    // The same content has the same version; other content another.
    expect(encodeResource({ name: 'big', resource: structuredClone(big) }).version).toBe(
      layer.byName.get('big')!.version,
    );
    expect(encodeResource({ name: 'big', resource: { ...big, endpoints: [] } }).version).not.toBe(
      layer.byName.get('big')!.version,
    );
  });

  it('a split route table joins back to the table, virtual hosts in name order', () => {
    const table = {
      name: 'outbound',
      virtualHosts: ['b', 'a', 'c'].map((n) => ({ name: n, domains: [n], routes: [] })),
    };
    const pieces = splitRouteConfig(table);
    expect(pieces.map((p) => p.name)).toEqual(['outbound', 'outbound/b', 'outbound/a', 'outbound/c']);
    expect(assembleResources(TypeUrl.routes, [...pieces].reverse())).toEqual([
      { name: 'outbound', virtualHosts: ['a', 'b', 'c'].map((n) => ({ name: n, domains: [n], routes: [] })) },
    ]);
    expect(
      assembleResources(TypeUrl.routes, [{ name: 'empty', resource: { name: 'empty', virtualHosts: [] } }]),
    ).toEqual([{ name: 'empty', virtualHosts: [] }]);
  });
});
