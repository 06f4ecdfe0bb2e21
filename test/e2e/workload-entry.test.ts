/**
 * WorkloadEntry on the local platform, end to end: plain HTTP servers with no sidecar (a VM's
 * process, as far as the mesh knows) described by WorkloadEntries become endpoints of the Service
 * and of the ServiceEntry selecting their labels; a meshed client reaches them through its sidecar
 * by those hosts (plain text to them, mTLS to the meshed endpoint of the same Service), their
 * `weight` shares the load, and deleting an entry under load takes it out with no failed request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalMeshForTest, eventually, send, versionsSeen, type Sidecar } from './support/local-mesh.js';

/** A plain server (no sidecar) answering its name; counts requests and remembers whether they were TLS. */
async function plainServer(name: string): Promise<{ server: Server; port: number; requests: number }> {
  const s = { server: createServer(), port: 0, requests: 0 };
  s.server.on('request', (req, res) => {
    s.requests++;
    res.end(name);
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.port = (s.server.address() as AddressInfo).port;
  return s;
}

const entry = (name: string, port: number, extra = ''): string => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}}
spec:
  address: 127.0.0.1
  labels: {app: legacy, tier: vm}
  ports: {http: ${port}}
${extra}`;

describe('WorkloadEntry (local platform)', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let vmA: Awaited<ReturnType<typeof plainServer>>;
  let vmB: Awaited<ReturnType<typeof plainServer>>;

  beforeAll(async () => {
    vmA = await plainServer('vm-a');
    vmB = await plainServer('vm-b');
    mesh = await LocalMeshForTest.start();
    client = await mesh.run('sleep', { app: 'sleep' });
    // A meshed endpoint of the same Service: its sidecar accepts mTLS only.
    await mesh.run('legacy-run', { app: 'legacy' }, { service: 'legacy' });
    await mesh.settle();
  }, 120_000);

  afterAll(async () => {
    await mesh?.stop();
    for (const s of [vmA, vmB]) {
      s?.server.closeAllConnections();
      s?.server.close();
    }
  });

  it('a plain server described by a WorkloadEntry is an endpoint of the Service selecting its labels, beside the meshed one', async () => {
    await mesh.applyAndSync(
      `apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 9080}]
`,
      entry('vm-a', vmA.port),
    );
    const seen = await versionsSeen(client, 40, 'http://legacy:9080/');
    // Round robin over the two endpoints (20 each; a retried connect may move one): the meshed one over mTLS,
    // the entry in plain text. Every request answered 200 by one of them.
    expect(Object.keys(seen).sort()).toEqual(['legacy-run ', 'vm-a']);
    expect(seen['legacy-run ']! + seen['vm-a']!).toBe(40);
    expect(seen['vm-a']).toBeGreaterThanOrEqual(15);
    expect(seen['vm-a']).toBeLessThanOrEqual(25);
    expect(vmA.requests).toBe(seen['vm-a']);
  });

  it('and of a ServiceEntry whose workloadSelector matches it, by the entry host', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-vms}
spec:
  hosts: [legacy.example.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {tier: vm}}
`);
    expect(await versionsSeen(client, 10, 'http://legacy.example.internal/')).toEqual({ 'vm-a': 10 });
  });

  it('weight shares the load among the endpoints (1:3 over 200 requests)', async () => {
    await mesh.applyAndSync(entry('vm-a', vmA.port, '  weight: 1\n'), entry('vm-b', vmB.port, '  weight: 3\n'));
    const seen = await versionsSeen(client, 200, 'http://legacy.example.internal/');
    expect(Object.keys(seen).sort()).toEqual(['vm-a', 'vm-b']);
    expect(seen['vm-a']! + seen['vm-b']!).toBe(200);
    // Roughly three times as many to vm-b (weighted round robin; a little slack for the order of connections).
    expect(seen['vm-b']).toBeGreaterThanOrEqual(130);
    expect(seen['vm-b']).toBeLessThanOrEqual(170);
  });

  it('deleting a WorkloadEntry under load takes its endpoint out with 0 failed requests', async () => {
    let running = true;
    let ok = 0;
    const failed: string[] = [];
    const bodies: Record<string, number> = {};
    const loop = async (): Promise<void> => {
      while (running) {
        const r = await send(client, 'http://legacy.example.internal/').catch((e: Error) => ({
          status: 0,
          body: e.message,
        }));
        if (r.status === 200) {
          ok++;
          bodies[r.body] = (bodies[r.body] ?? 0) + 1;
        } else failed.push(`${r.status} ${r.body.slice(0, 100)}`);
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    try {
      await eventually('load reaching both entries', () => (bodies['vm-a'] ?? 0) > 10 && (bodies['vm-b'] ?? 0) > 10);
      const before = mesh.cp.pipeline.version;
      await mesh.platform.deleteConfig([
        { group: 'networking.istio.io', kind: 'WorkloadEntry', namespace: 'default', name: 'vm-b' },
      ]);
      await eventually(
        'the deletion pushed and ACKed by every sidecar',
        () => mesh.cp.pipeline.version !== before && mesh.allSynced(),
        60_000,
      );
      // The server stays up until no proxy routes to it: what was already sent to it still gets its answer.
      const bAfterDelete = vmB.requests;
      const okAfterDelete = ok;
      await eventually('100 more answers after the deletion', () => ok >= okAfterDelete + 100, 60_000);
      // Requests on connections accepted after the push: none reached vm-b (at most those in flight at the push).
      expect(vmB.requests - bAfterDelete).toBeLessThanOrEqual(4);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(failed).toEqual([]);
    // Now vm-b goes away entirely: every request still succeeds, on vm-a.
    vmB.server.closeAllConnections();
    vmB.server.close();
    expect(await versionsSeen(client, 20, 'http://legacy.example.internal/')).toEqual({ 'vm-a': 20 });
  });
});
