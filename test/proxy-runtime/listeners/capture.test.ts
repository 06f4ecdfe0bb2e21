/**
 * Capture listeners take "where was this connection going" as an input (SO_ORIGINAL_DST in
 * production, provided by the capture layer). Here the input is a table of destinations handed
 * out in connection order, so the chain selection and passthrough can be checked on loopback.
 */
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { OriginalDestination } from '../../../src/proxy-runtime/listeners/original-destination.js';
import { closeAfter, send, startProxy, startUpstream } from '../support.js';

function destinationsInConnectOrder(list: OriginalDestination[]): () => OriginalDestination | undefined {
  return () => list.shift();
}

describe('capture listener', () => {
  it('chooses the chain by original destination port and passes unknown destinations through to where they were going', async () => {
    const reviews = await startUpstream('reviews-v1');
    const elsewhere = await startUpstream('elsewhere');
    const pg = createNetServer((s) => s.on('data', (d) => s.write(`pg:${d.toString()}`)));
    await new Promise<void>((r) => pg.listen(0, '127.0.0.1', () => r()));
    closeAfter({ close: () => new Promise<void>((r) => pg.close(() => r())) });
    const pgPort = (pg.address() as { port: number }).port;
    const cfg = {
      apiVersion: 'proxy.meshctl.dev/v1',
      listeners: [
        {
          name: 'virtual-outbound',
          port: 0,
          direction: 'outbound',
          mode: 'capture',
          chains: [
            { match: { destinationPort: 9080 }, routeConfig: '9080' },
            { match: { destinationPort: 5432 }, protocol: 'tcp', tcpCluster: 'pg' },
            { routeConfig: 'passthrough-http', tcpCluster: 'passthrough' },
          ],
        },
      ],
      routes: [
        {
          name: '9080',
          virtualHosts: [{ name: 'reviews', domains: ['*'], routes: [{ route: [{ cluster: 'reviews' }] }] }],
        },
        {
          name: 'passthrough-http',
          virtualHosts: [{ name: 'any', domains: ['*'], routes: [{ route: [{ cluster: 'passthrough' }] }] }],
        },
      ],
      clusters: [
        { name: 'reviews', endpoints: [{ address: '127.0.0.1', port: reviews.port }] },
        { name: 'pg', endpoints: [{ address: '127.0.0.1', port: pgPort }] },
        { name: 'passthrough', type: 'originalDst', loadBalancer: { simple: 'PASSTHROUGH' } },
      ],
    };
    const queue: OriginalDestination[] = [
      { address: '10.96.0.12', port: 9080 },
      { address: '10.96.0.40', port: 5432 },
      { address: '127.0.0.1', port: elsewhere.port },
    ];
    const { proxy } = await startProxy(cfg, { resolveOriginalDst: destinationsInConnectOrder(queue) });
    const port = proxy.listenerPort('virtual-outbound');
    expect((await send(port, { host: 'reviews:9080' })).body).toBe('reviews-v1');
    const pgReply = await new Promise<string>((resolve, reject) => {
      const s = netConnect(port, '127.0.0.1');
      s.on('data', (d) => {
        resolve(d.toString());
        s.destroy();
      });
      s.on('error', reject);
      s.write('SELECT 1');
    });
    expect(pgReply).toBe('pg:SELECT 1');
    expect((await send(port, { host: 'example.com' })).body).toBe('elsewhere');
    // No original destination (the queue is empty, as for a connection made straight to the port):
    // closed, never forwarded to the proxy's own address.
    await expect(send(port, { host: 'example.com' })).rejects.toThrow();
    expect(elsewhere.seen).toHaveLength(1);
  });
});

describe('capture listener: L4 chain matches (VirtualService tcp/tls routes, ServiceEntry addresses)', () => {
  it('matches destinationSubnets (IPv4 and IPv6 CIDRs, single addresses) and sourceLabels against this node, and splits weighted clusters per connection', async () => {
    const servers = await Promise.all(
      ['subnet-v4', 'subnet-v6', 'single', 'labelled', 'w1', 'w2', 'default'].map(async (who) => {
        const s = createNetServer((c) => c.end(who));
        await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
        closeAfter({ close: () => new Promise<void>((r) => s.close(() => r())) });
        return [who, (s.address() as { port: number }).port] as const;
      }),
    );
    const clusters = servers.map(([who, port]) => ({ name: who, endpoints: [{ address: '127.0.0.1', port }] }));
    const cfg = {
      apiVersion: 'proxy.meshctl.dev/v1',
      node: { workload: 'client', namespace: 'default', labels: { app: 'client', role: 'batch' } },
      listeners: [
        {
          name: 'virtual-outbound',
          port: 0,
          direction: 'outbound',
          mode: 'capture',
          chains: [
            { match: { destinationPort: 7000, sourceLabels: { role: 'web' } }, protocol: 'tcp', tcpCluster: 'w1' },
            {
              match: { destinationPort: 7000, sourceLabels: { role: 'batch' } },
              protocol: 'tcp',
              tcpCluster: 'labelled',
            },
            { match: { destinationSubnets: ['198.18.4.0/24'] }, protocol: 'tcp', tcpCluster: 'subnet-v4' },
            { match: { destinationSubnets: ['2001:db8::/64'] }, protocol: 'tcp', tcpCluster: 'subnet-v6' },
            {
              match: { destinationSubnets: ['198.18.9.9'], destinationPort: 8000 },
              protocol: 'tcp',
              tcpCluster: 'single',
            },
            {
              match: { destinationPort: 9000 },
              protocol: 'tcp',
              tcpCluster: 'w1',
              tcpWeightedClusters: [
                { cluster: 'w1', weight: 50 },
                { cluster: 'w2', weight: 50 },
                { cluster: 'default', weight: 0 },
              ],
            },
            { protocol: 'tcp', tcpCluster: 'default' },
          ],
        },
      ],
      clusters,
    };
    const queue: OriginalDestination[] = [
      { address: '10.0.0.1', port: 7000 }, // sourceLabels role=batch (this node), not role=web
      { address: '198.18.4.200', port: 1234 }, // in 198.18.4.0/24
      { address: '::ffff:198.18.4.7', port: 1234 }, // IPv4-mapped, as a dual-stack socket reports it
      { address: '2001:db8::42', port: 443 },
      { address: '198.18.9.9', port: 8000 },
      { address: '198.18.9.9', port: 8001 }, // the address matches, the port does not: default
      { address: '198.18.5.1', port: 1234 }, // outside every subnet: default
      ...Array.from({ length: 60 }, () => ({ address: '10.0.0.2', port: 9000 })),
    ];
    const { proxy } = await startProxy(cfg, { resolveOriginalDst: destinationsInConnectOrder(queue) });
    const port = proxy.listenerPort('virtual-outbound');
    const once = (): Promise<string> =>
      new Promise((resolve, reject) => {
        let data = '';
        const s = netConnect(port, '127.0.0.1');
        s.on('data', (d) => (data += d.toString()));
        s.on('close', () => resolve(data));
        s.on('error', reject);
      });
    // One at a time: the queue hands out destinations in connection order.
    const answers: string[] = [];
    for (let i = 0; i < 7; i++) answers.push(await once());
    expect(answers).toEqual(['labelled', 'subnet-v4', 'subnet-v4', 'subnet-v6', 'single', 'default', 'default']);
    const split: Record<string, number> = {};
    for (let i = 0; i < 60; i++) {
      const a = await once();
      split[a] = (split[a] ?? 0) + 1;
    }
    // 60 draws at p = 0.5: mean 30, sd 3.9; weight 0 is never chosen.
    expect(Object.keys(split).sort()).toEqual(['w1', 'w2']);
    expect(split.w1).toBeGreaterThanOrEqual(12);
    expect(split.w2).toBeGreaterThanOrEqual(12);
  });
});
