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
