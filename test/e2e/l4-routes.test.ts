/**
 * VirtualService `tcp` and `tls` routes at sidecars, on real traffic: TCP and TLS servers behind
 * their sidecars, clients reaching them through `meshctl run --outbound SVC:PORT=LOCALPORT`
 * listeners, every connection mTLS between sidecars. Counted per destination over N connections:
 * a weighted split, matches on sourceLabels, port and gateways (a block for a Gateway only is not
 * applied at sidecars), and tls routes choosing the backend by the client's SNI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createServer, type Server } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { LocalMeshForTest, SERVICE_PORT, freePort } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

let mesh: LocalMeshForTest;
/** 127.0.0.1 ports of the clients' sidecars: client -> {db, secure}. */
const local: Record<string, { db: number; secure: number }> = {};

/** A server-first TCP app: names itself to every connection, then closes it. */
const tcpApp = (who: string) => (): Server => createServer((s) => s.end(`${who}\n`));

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.apply(`apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  selector: {app: db}
  ports: [{name: tcp-db, port: ${SERVICE_PORT}}]
---
apiVersion: v1
kind: Service
metadata: {name: secure, namespace: default}
spec:
  selector: {app: secure}
  ports: [{name: tls-secure, port: ${SERVICE_PORT}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure}
spec:
  host: secure
  subsets:
  - {name: a, labels: {version: a}}
  - {name: b, labels: {version: b}}
`);
  await mesh.run('db-v1', { app: 'db', version: 'v1' }, { service: 'db', server: tcpApp('db-v1') });
  await mesh.run('db-v2', { app: 'db', version: 'v2' }, { service: 'db', server: tcpApp('db-v2') });
  // TLS backends: the sidecars carry the client's TLS opaquely; each backend answers inside it.
  const ca = await makeTestCa();
  const leaf = await makeTestLeaf(ca, { dns: ['a.example.com', 'b.example.com', 'other.example.com'] });
  for (const v of ['a', 'b'])
    await mesh.run(
      `secure-${v}`,
      { app: 'secure', version: v },
      {
        service: 'secure',
        server: () => createTlsServer({ cert: leaf.cert, key: leaf.key }, (s) => s.end(`secure-${v}\n`)),
      },
    );
  for (const [name, role] of [
    ['client-a', 'a'],
    ['client-b', 'b'],
  ] as const) {
    local[name] = { db: await freePort(), secure: await freePort() };
    await mesh.run(
      name,
      { app: 'client', role },
      {
        outboundPorts: [
          { service: 'db', port: SERVICE_PORT, localPort: local[name].db },
          { service: 'secure', port: SERVICE_PORT, localPort: local[name].secure },
        ],
      },
    );
  }
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

/** One TCP connection to a local port: what the server said, or the error. */
function tcpOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect(port, '127.0.0.1');
    s.setTimeout(15_000, () => s.destroy(new Error('no answer within 15 s')));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('close', () => resolve(data.trim() || 'closed without an answer'));
    s.on('error', (e) => (data ||= `error: ${e.message}`));
  });
}

/** One TLS connection naming `sni`: what the server said inside it, or the error. */
function tlsOnce(port: number, sni: string): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = tlsConnect({ host: '127.0.0.1', port, servername: sni, rejectUnauthorized: false });
    s.setTimeout(15_000, () => s.destroy(new Error('no answer within 15 s')));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('close', () => resolve(data.trim() || 'closed without an answer'));
    s.on('error', (e) => (data ||= `error: ${e.message}`));
  });
}

/** `n` connections, `concurrency` at a time, counted by answer. */
async function count(n: number, once: () => Promise<string>, concurrency = 4): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const a = await once();
      counts[a] = (counts[a] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

describe('VirtualService tcp routes at sidecars', () => {
  it('without a VirtualService, connections go to every endpoint of the service', async () => {
    const seen = await count(40, () => tcpOnce(local['client-a']!.db));
    expect(Object.keys(seen).sort()).toEqual(['db-v1', 'db-v2']);
  });

  it('a weighted route (75/25) splits connections by weight, each connection to one destination', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - route:
    - destination: {host: db, subset: v1}
      weight: 75
    - destination: {host: db, subset: v2}
      weight: 25
`);
    const seen = await count(200, () => tcpOnce(local['client-a']!.db));
    expect(Object.keys(seen).sort()).toEqual(['db-v1', 'db-v2']);
    // 200 draws at p = 0.25: mean 50, sd 6.1; [20, 85] is more than 4.9 sd away on both sides.
    expect(seen['db-v2']).toBeGreaterThanOrEqual(20);
    expect(seen['db-v2']).toBeLessThanOrEqual(85);
    expect(seen['db-v1']! + seen['db-v2']!).toBe(200);
  });

  it('sourceLabels and port pick the route per client; a block for a Gateway only is not applied at sidecars', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match:
    - gateways: [ingress]           # a Gateway's block: sidecars skip it
    route:
    - destination: {host: db, subset: v2}
  - match:
    - port: 5432                    # another port: does not apply to ${SERVICE_PORT}
    route:
    - destination: {host: db, subset: v2}
  - match:
    - sourceLabels: {role: b}
      port: ${SERVICE_PORT}
    route:
    - destination: {host: db, subset: v2}
  - route:
    - destination: {host: db, subset: v1}
`);
    expect(await count(30, () => tcpOnce(local['client-a']!.db))).toEqual({ 'db-v1': 30 });
    expect(await count(30, () => tcpOnce(local['client-b']!.db))).toEqual({ 'db-v2': 30 });
  });
});

describe('VirtualService tls routes at sidecars', () => {
  it('routes TLS connections by their SNI (sniHosts, wildcards), the rest to the service', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure}
spec:
  hosts: [secure]
  tls:
  - match:
    - sniHosts: [a.example.com]
    route:
    - destination: {host: secure, subset: a}
  - match:
    - sniHosts: ["*.example.com"]
      sourceLabels: {role: b}
    route:
    - destination: {host: secure, subset: b}
`);
    const port = local['client-a']!.secure;
    expect(await count(20, () => tlsOnce(port, 'a.example.com'))).toEqual({ 'secure-a': 20 });
    // client-a naming b.example.com matches no route (the wildcard is for role b): the service's endpoints.
    const rest = await count(40, () => tlsOnce(port, 'b.example.com'));
    expect(Object.keys(rest).sort()).toEqual(['secure-a', 'secure-b']);
    const portB = local['client-b']!.secure;
    expect(await count(20, () => tlsOnce(portB, 'other.example.com'))).toEqual({ 'secure-b': 20 });
    expect(await count(20, () => tlsOnce(portB, 'a.example.com'))).toEqual({ 'secure-a': 20 });
  });

  it('a weighted tls route splits connections of one SNI name', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure}
spec:
  hosts: [secure]
  tls:
  - match:
    - sniHosts: [a.example.com]
    route:
    - destination: {host: secure, subset: a}
      weight: 50
    - destination: {host: secure, subset: b}
      weight: 50
`);
    const seen = await count(100, () => tlsOnce(local['client-a']!.secure, 'a.example.com'));
    // 100 draws at p = 0.5: mean 50, sd 5; [25, 75] is 5 sd away.
    expect(seen['secure-a']).toBeGreaterThanOrEqual(25);
    expect(seen['secure-b']).toBeGreaterThanOrEqual(25);
    expect(seen['secure-a']! + seen['secure-b']!).toBe(100);
  });
});
