/** The push pipeline: debouncing, immutable snapshots, generators that skip changes that do not concern them, over a real stream. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configChange,
  Debouncer,
  GeneratorSet,
  PushPipeline,
  PushSnapshot,
  registryChange,
  type ChangeSet,
  type ConfigGenerator,
  type ConfigObject,
} from '../../../src/control-plane/push/index.js';
import type { ServiceRecord, WorkloadRecord } from '../../../src/control-plane/registry/model.js';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';
import { XdsClient } from '../../../src/proxy-runtime/runtime/xds-client/client.js';
import type { CaIdentitySource } from '../../../src/proxy-runtime/runtime/identity/ca-client.js';
import { eventually, identityFor, startTestControlPlane, type TestControlPlane } from '../../protocol/harness.js';

const vs = (name: string, ns: string, host: string): ConfigObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name, namespace: ns },
  spec: { hosts: [host] },
});

describe('debouncer', () => {
  it('merges a burst of changes into one push that names them all', async () => {
    const flushed: { change: ChangeSet; merged: number }[] = [];
    const d = new Debouncer((change, merged) => flushed.push({ change, merged }), { quietMs: 50, maxDelayMs: 1000 });
    for (let i = 0; i < 10; i++)
      d.add(configChange([{ kind: 'VirtualService', namespace: 'default', name: `vs-${i}` }], `edit ${i}`));
    d.add(configChange([{ kind: 'VirtualService', namespace: 'default', name: 'vs-3' }], 'edit 3 again'));
    await eventually('the flush', () => flushed.length === 1);
    await new Promise((r) => setTimeout(r, 120));
    expect(flushed).toHaveLength(1);
    expect(flushed[0]!.merged).toBe(11);
    expect(flushed[0]!.change.configs.map((k) => k.name).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `vs-${i}`).sort(),
    );
  });

  it('still pushes during a steady stream of changes (bounded delay)', async () => {
    let flushes = 0;
    const d = new Debouncer(() => flushes++, { quietMs: 50, maxDelayMs: 150 });
    // A change every 10 ms for 600 ms never leaves 50 ms of quiet: only the bound makes pushes happen.
    for (let i = 0; i < 60; i++) {
      d.add(registryChange(['endpoints'], `churn ${i}`));
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(flushes).toBeGreaterThanOrEqual(2);
    d.cancel();
  });
});

describe('snapshot', () => {
  it('is immutable: later edits of the inputs do not leak into it, and it cannot be modified', () => {
    const configs = [vs('reviews', 'default', 'reviews')];
    const services: ServiceRecord[] = [
      {
        name: 'reviews',
        namespace: 'default',
        ports: [{ port: 9080, protocol: 'http' }],
        selector: { app: 'reviews' },
      },
    ];
    const workloads: WorkloadRecord[] = [
      {
        name: 'reviews-v1',
        namespace: 'default',
        serviceAccount: 'reviews',
        labels: { app: 'reviews', version: 'v1' },
        address: '127.0.0.1',
        ports: [9081],
      },
      {
        name: 'ratings',
        namespace: 'default',
        serviceAccount: 'ratings',
        labels: { app: 'ratings' },
        address: '127.0.0.1',
        ports: [9082],
      },
      {
        name: 'reviews-v2',
        namespace: 'default',
        serviceAccount: 'reviews',
        labels: {},
        address: '127.0.0.1',
        ports: [9083],
        services: ['reviews'],
      },
    ];
    const snap = new PushSnapshot('t/1', { configs, services, workloads });
    (configs[0]!.spec as { hosts: string[] }).hosts.push('mutated');
    expect((snap.configs('VirtualService')[0]!.spec as { hosts: string[] }).hosts).toEqual(['reviews']);
    expect(() =>
      ((snap.configs('VirtualService')[0]!.spec as { hosts: string[] }).hosts as string[]).push('x'),
    ).toThrow();
    // Endpoints: by selector and by explicit membership, on the workload's own app port.
    expect(snap.endpointsOf('reviews', 'default', 9080).map((e) => `${e.workload}:${e.port}`)).toEqual([
      'reviews-v1:9081',
      'reviews-v2:9083',
    ]);
  });
});

/** Test generators: each lists the names of objects of one kind visible in the proxy's namespace. */
function namesOfKindGeneratorForTest(typeUrl: string, kind: string, calls: string[]): ConfigGenerator {
  return {
    typeUrl,
    reads: { kinds: [`networking.istio.io/${kind}`], registry: [] },
    generate: (proxy, snap) => {
      calls.push(`${typeUrl}:${proxy.id}`);
      return snap.configs(kind, proxy.namespace).map((c) => ({ name: c.metadata.name }));
    },
  };
}

describe('push pipeline over the config stream', () => {
  let cp: TestControlPlane;
  const ids: CaIdentitySource[] = [];
  const clients: XdsClient[] = [];
  beforeAll(async () => {
    cp = await startTestControlPlane();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const i of ids) i.close();
    await cp.stop();
  });

  it('sends each proxy its own resources, and only the types a change concerns', async () => {
    let configs: ConfigObject[] = [vs('a', 'shop', 'a'), vs('b', 'blog', 'b')];
    const calls: string[] = [];
    const pipeline = new PushPipeline({
      generators: new GeneratorSet([
        namesOfKindGeneratorForTest(TypeUrl.routes, 'VirtualService', calls),
        namesOfKindGeneratorForTest(TypeUrl.clusters, 'DestinationRule', calls),
      ]),
      inputs: () => ({ configs, services: [], workloads: [] }),
      debounce: { quietMs: 20, maxDelayMs: 200 },
    });
    pipeline.attach(cp.server.ads);
    const applied = new Map<string, Map<string, unknown[]>>();
    for (const ns of ['shop', 'blog']) {
      const identity = await identityFor(cp, { namespace: ns, serviceAccount: 'app', name: `app.${ns}` });
      ids.push(identity);
      const got = new Map<string, unknown[]>();
      applied.set(ns, got);
      const client = new XdsClient({
        address: cp.address(),
        identity,
        node: { id: `app.${ns}`, workload: 'app', namespace: ns, serviceAccount: 'app', proxyVersion: 'test' },
        types: [TypeUrl.clusters, TypeUrl.routes],
        apply: (t, r) => (got.set(t, r), { ok: true }),
        backoff: { initialMs: 50, maxMs: 200 },
      });
      clients.push(client);
      await client.start();
    }
    await eventually(
      'both proxies synced',
      () =>
        cp.server.ads.views().length === 2 &&
        cp.server.ads
          .views()
          .every(
            (v) => Object.values(v.types).length === 2 && Object.values(v.types).every((t) => t.status === 'SYNCED'),
          ),
    );
    expect(applied.get('shop')!.get(TypeUrl.routes)).toEqual([{ name: 'a' }]);
    expect(applied.get('blog')!.get(TypeUrl.routes)).toEqual([{ name: 'b' }]);

    // A VirtualService change in shop: routes regenerate, clusters are not even computed.
    calls.length = 0;
    configs = [...configs, vs('a2', 'shop', 'a2')];
    const pushed = new Promise<{ sent: number; merged: number }>((r) => pipeline.once('pushed', r));
    pipeline.notify(configChange([{ kind: 'VirtualService', namespace: 'shop', name: 'a2' }], 'apply a2'));
    const record = await pushed;
    expect(calls.every((c) => c.startsWith(TypeUrl.routes))).toBe(true);
    // Only shop's routes differ; blog's regenerated routes are identical and not resent.
    expect(record.sent).toBe(1);
    await eventually('shop got a2', () => (applied.get('shop')!.get(TypeUrl.routes) ?? []).length === 2);
    expect(applied.get('blog')!.get(TypeUrl.routes)).toEqual([{ name: 'b' }]);
    const shopView = cp.server.ads.views().find((v) => v.proxy.namespace === 'shop')!;
    await eventually(
      'shop acked the new version',
      () =>
        cp.server.ads.views().find((v) => v.proxy.namespace === 'shop')!.types[TypeUrl.routes]!.ackedVersion ===
        pipeline.version,
    );
    expect(shopView.types[TypeUrl.clusters]!.sentVersion).not.toBe(pipeline.version);

    // What the control plane would send is available for the debug API.
    expect(pipeline.desired(cp.server.ads.views()[0]!.proxy)[TypeUrl.routes]).toBeDefined();
    pipeline.close();
  });
});
