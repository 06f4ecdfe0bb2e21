/**
 * ServiceEntry `addresses`: an app calling the entry's address through its sidecar's HTTP_PROXY
 * listener reaches the entry (REGISTRY_ONLY refuses any other address). And `resolution: DNS` and
 * `DNS_ROUND_ROBIN` resolved by the sidecar itself with the
 * record's TTL, against a real DNS server the test runs on loopback: a changed record moves the
 * traffic once its TTL runs out (no config push involved, kept-alive upstream connections follow),
 * a long TTL is respected (one query for many requests), DNS spreads connections over every
 * address and DNS_ROUND_ROBIN uses the first. The backends are HTTP servers on 127.0.0.1 and
 * 127.0.0.2, the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalMeshForTest, eventually, send, versionsSeen, type Sidecar } from './support/local-mesh.js';
import { TestDnsServer } from '../support/dns-server.js';

let dns: TestDnsServer;
let mesh: LocalMeshForTest;
let client: Sidecar;
let port = 0;
const backends: Server[] = [];

/** Listens `who` on `address`:`port` (0: any), resolves with the port. */
async function backend(who: string, address: string, at: number): Promise<number> {
  const s = createServer((_req, res) => res.end(who));
  backends.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(at, address, () => resolve());
  });
  return (s.address() as AddressInfo).port;
}

const serviceEntry = (name: string, host: string, resolution: string): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: ${resolution}
`;

beforeAll(async () => {
  dns = await TestDnsServer.start();
  // Two servers on one port, at two loopback addresses: which one answers shows which address was dialled.
  port = await backend('backend-1', '127.0.0.1', 0);
  await backend('backend-2', '127.0.0.2', port);
  mesh = await LocalMeshForTest.start({ dnsServers: [dns.address] });
  client = await mesh.run('client', { app: 'client' });
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
  for (const s of backends) {
    s.closeAllConnections();
    s.close();
  }
  await dns?.close();
});

describe('ServiceEntry DNS resolution in the sidecar, with the record TTL', () => {
  it('re-resolves when the TTL runs out: a changed record moves new requests without a config push', async () => {
    dns.set('api.dns.test', ['127.0.0.1'], 2);
    await mesh.applyAndSync(serviceEntry('api', 'api.dns.test', 'DNS'));
    const url = `http://api.dns.test:${port}/`;
    expect(await versionsSeen(client, 10, url)).toEqual({ 'backend-1': 10 });
    const version = mesh.cp.pipeline.version;
    dns.set('api.dns.test', ['127.0.0.2'], 2);
    // Within the TTL the cached address may still be used; after it, the new one.
    await eventually(
      'a request answered by the new address',
      async () => (await send(client, url)).body === 'backend-2',
      30_000,
    );
    // Every request from now on (kept-alive connections to the old address are not reused).
    expect(await versionsSeen(client, 10, url)).toEqual({ 'backend-2': 10 });
    expect(mesh.cp.pipeline.version).toBe(version);
    expect(dns.aQueries.get('api.dns.test')).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('keeps an answer for its TTL: one query for many requests', async () => {
    dns.set('cached.dns.test', ['127.0.0.1'], 3600);
    await mesh.applyAndSync(serviceEntry('cached', 'cached.dns.test', 'DNS'));
    expect(await versionsSeen(client, 30, `http://cached.dns.test:${port}/`)).toEqual({ 'backend-1': 30 });
    expect(dns.aQueries.get('cached.dns.test')).toBe(1);
  });

  it('DNS spreads connections over every address of the answer; DNS_ROUND_ROBIN uses the first', async () => {
    dns.set('pair.dns.test', ['127.0.0.1', '127.0.0.2'], 3600);
    dns.set('first.dns.test', ['127.0.0.2', '127.0.0.1'], 3600);
    await mesh.applyAndSync(
      serviceEntry('pair', 'pair.dns.test', 'DNS'),
      serviceEntry('first', 'first.dns.test', 'DNS_ROUND_ROBIN'),
    );
    // Four at a time: the sidecar opens several upstream connections, each to the next address.
    const spread = await versionsSeen(client, 40, `http://pair.dns.test:${port}/`, undefined, 4);
    expect(Object.keys(spread).sort()).toEqual(['backend-1', 'backend-2']);
    expect(await versionsSeen(client, 40, `http://first.dns.test:${port}/`, undefined, 4)).toEqual({
      'backend-2': 40,
    });
  });
});

describe('ServiceEntry addresses', () => {
  it("a request to the entry's address reaches the entry; REGISTRY_ONLY refuses an address no entry has", async () => {
    await mesh.applyAndSync(
      `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
`,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy}
spec:
  hosts: [legacy.internal]
  addresses: [198.18.77.7]
  location: MESH_EXTERNAL
  ports: [{number: ${port}, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.2}]
`,
    );
    expect(await versionsSeen(client, 10, `http://198.18.77.7:${port}/`)).toEqual({ 'backend-2': 10 });
    expect(await versionsSeen(client, 5, `http://legacy.internal:${port}/`)).toEqual({ 'backend-2': 5 });
    const other = await send(client, `http://198.18.77.8:${port}/`);
    expect(other.status).toBe(502);
    expect(client.accessLog.at(-1)?.response_flags).toBe('NR');
  });
});
