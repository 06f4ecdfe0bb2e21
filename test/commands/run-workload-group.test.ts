/**
 * `meshctl run --workload-group NAME` on the local platform: a process joins as a member of an Istio
 * WorkloadGroup, as a VM auto-registers from one. Its template's labels (and the group's metadata
 * labels) make it an endpoint of the Service selecting them, its serviceAccount is its identity, its
 * port is the one the app gets, and its weight shares the load with a WorkloadEntry of the same
 * Service; disagreements between the group and the flags are refused before anything starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalMeshForTest, eventually, freePort, versionsSeen, type Sidecar } from '../e2e/support/local-mesh.js';
import { runCli, type CliResult } from '../support/cli.js';
import { findWorkloadGroup, groupMembership } from '../../src/commands/run-workload-group.js';
import { SIDECAR_TYPES } from '../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { TypeUrl } from '../../src/protocol/stream/messages.js';

const GROUP = (port: number): string => `apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: legacy}
spec:
  metadata:
    labels: {tier: vm}
  template:
    labels: {app: legacy, tier: template}
    serviceAccount: legacy-vm
    ports: {http: ${port}}
    weight: 3
`;

describe('meshctl run --workload-group', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let plain: Server;
  let memberPort: number;
  let running: Promise<CliResult> | undefined;

  const cli = (...argv: string[]): Promise<CliResult> =>
    runCli(['--local', ...argv], { env: { MESHCTL_HOME: mesh.home, PATH: process.env.PATH } });

  beforeAll(async () => {
    plain = createServer((_req, res) => res.end('entry'));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    mesh = await LocalMeshForTest.start();
    client = await mesh.run('sleep', { app: 'sleep' });
    memberPort = await freePort();
    await mesh.applyAndSync(
      GROUP(memberPort),
      `apiVersion: v1
kind: Service
metadata: {name: legacy}
spec:
  selector: {app: legacy}
  ports: [{name: http, port: 9080}]
`,
      `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: legacy-entry}
spec:
  address: 127.0.0.1
  labels: {app: legacy}
  ports: {http: ${(plain.address() as AddressInfo).port}}
`,
    );
  }, 120_000);

  afterAll(async () => {
    if (running) {
      await fetch(`http://127.0.0.1:${memberPort}/stop`).catch(() => undefined);
      await running;
    }
    await mesh?.stop();
    plain?.closeAllConnections();
    plain?.close();
  });

  it("registers with the group's labels, identity, port and weight and serves the Service selecting them", async () => {
    // The app answers on $PORT (the template's port: no --port given) until GET /stop.
    const app = `const s=require('http').createServer((q,r)=>{r.end('member '+process.env.PORT);if(q.url==='/stop')setTimeout(()=>s.close(),20)});s.listen(Number(process.env.PORT),'127.0.0.1')`;
    running = cli('run', '--name', 'legacy-vm-1', '--workload-group', 'legacy', '--', process.execPath, '-e', app);
    await eventually(
      'the member announced',
      async () => (await mesh.platform.listWorkloads()).some((w) => w.name === 'legacy-vm-1' && w.serving !== false),
      30_000,
    );
    const w = (await mesh.platform.listWorkloads()).find((x) => x.name === 'legacy-vm-1')!;
    expect(w).toMatchObject({
      serviceAccount: 'legacy-vm',
      // Template labels, then the group's metadata labels over them.
      labels: { app: 'legacy', tier: 'vm' },
      ports: [memberPort],
      weight: 3,
    });
    // The member's sidecar (started by the command) and the client's have ACKed the snapshot with the member serving.
    await eventually(
      'both sidecars synced with the member serving',
      () => {
        const views = mesh.cp.server.ads.views();
        return (
          views.length === 2 &&
          views.every(
            (v) =>
              SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED') &&
              v.types[TypeUrl.clusters]?.ackedVersion === mesh.cp.pipeline.version,
          ) &&
          mesh.cp.pipeline.snapshot.workloads.some((x) => x.name === 'legacy-vm-1' && x.serving !== false)
        );
      },
      30_000,
    );
    // Weight 3 against the WorkloadEntry's default 1; the member only through its sidecar's mTLS port.
    const seen = await versionsSeen(client, 200, 'http://legacy:9080/');
    expect(Object.keys(seen).sort()).toEqual(['entry', `member ${memberPort}`]);
    expect(seen[`member ${memberPort}`]).toBeGreaterThanOrEqual(130);
    expect(seen[`member ${memberPort}`]).toBeLessThanOrEqual(170);
    await fetch(`http://127.0.0.1:${memberPort}/stop`);
    expect((await running).code).toBe(0);
    running = undefined;
  }, 90_000);

  it('refuses what disagrees with the group, and a group that is not there, before starting anything', async () => {
    const otherSa = await cli(
      'run',
      '--name',
      'x',
      '--workload-group',
      'legacy',
      '--service-account',
      'someone-else',
      '--',
      'true',
    );
    expect(otherSa.code).toBe(64);
    expect(otherSa.stderr).toContain(
      '--service-account someone-else: WorkloadGroup legacy.default runs its workloads as legacy-vm',
    );
    const missing = await cli('run', '--name', 'x', '--workload-group', 'nope', '--', 'true');
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain('--workload-group nope: no WorkloadGroup nope in namespace default');
    expect(missing.stderr).toContain('meshctl apply');
    expect((await mesh.platform.listWorkloads()).map((w) => w.name)).not.toContain('x');
  });

  it('membership: several template ports need --port; the run flags win over the group labels', () => {
    const group = findWorkloadGroup(
      [
        {
          kind: 'WorkloadGroup',
          metadata: { name: 'g', namespace: 'vms' },
          spec: { template: { labels: { app: 'a', version: 'v1' }, ports: { http: 8080, grpc: 9090 } } },
        },
      ],
      'g',
      'vms',
    );
    expect(() => groupMembership(group, {})).toThrow('--port is required: WorkloadGroup g.vms lists ports 8080, 9090');
    expect(groupMembership(group, { port: 8080 })).toEqual({ labels: { app: 'a', version: 'v1' } });
    expect(() => findWorkloadGroup([], 'g', 'vms')).toThrow('no WorkloadGroup g in namespace vms');
  });
});
