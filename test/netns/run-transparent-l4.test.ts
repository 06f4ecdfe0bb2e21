/**
 * VirtualService tcp routes and ServiceEntry addresses at the capture listener, with the real
 * `meshctl run --transparent` (own network namespace, iptables capture, sidecar as UID 1337): an
 * unmodified TCP client dials a service VIP (by name, through the namespace's hosts file) and the
 * connections are split per connection by the tcp route's weights, or all sent to one subset by
 * `sourceLabels`; a connection to an address inside a ServiceEntry's CIDR reaches the entry's
 * endpoint. REGISTRY_ONLY, so nothing unknown leaves the namespaces.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { homeTag, meshNetwork } from '../../src/cluster/local/transparent/addresses.js';
import { netnsRequirements } from './support/requirements.js';
import { fixture, NODE } from './support/fixtures.js';
import { startMeshctl, stopMeshctl, type MeshctlProcess } from './support/meshctl-run.js';
import { eventually } from '../protocol/harness.js';

const APP_UID = 1000;

describeRequiring(
  netnsRequirements,
  'tcp routes and ServiceEntry addresses at the capture listener (meshctl run --transparent)',
  () => {
    let home: string;
    let cp: RunningControlPlane;
    const runs: MeshctlProcess[] = [];
    const start = (argv: string[]): MeshctlProcess => {
      const p = startMeshctl(home, ['run', '--transparent', ...argv]);
      runs.push(p);
      return p;
    };
    let v2Address = '';

    beforeAll(async () => {
      expect(existsSync(resolve('dist/cli.js')), 'dist/cli.js missing: npm test builds it (npm run build)').toBe(true);
      home = mkdtempSync(join(tmpdir(), 'meshctl-l4-'));
      cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
    });
    afterAll(async () => {
      await Promise.all(runs.map(stopMeshctl));
      await cp?.stop();
      const prefix = `msh${homeTag(home)}`;
      const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
      for (const ns of list
        .split('\n')
        .map((l) => l.split(' ')[0]!)
        .filter((n) => n.startsWith(prefix)))
        spawnSync('ip', ['netns', 'del', ns]);
      for (let n = 0; n < 128; n++) {
        const bridge = meshNetwork(home, n).bridge;
        if (spawnSync('ip', ['link', 'show', bridge], { stdio: 'ignore' }).status === 0)
          spawnSync('ip', ['link', 'del', bridge]);
      }
      for (const dir of ['/etc/netns', '/run/meshctl'])
        for (const entry of existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(prefix)) : [])
          rmSync(join(dir, entry), { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    }, 90_000);

    it('starts db v1 and v2 (a TCP app naming itself) behind one service VIP', async () => {
      const app = await fixture('named-tcp-app.ts');
      for (const v of ['v1', 'v2']) {
        const p = start([
          '--name',
          `db-${v}`,
          '--service',
          'db',
          '--service-port',
          '7000',
          '--port',
          '7000',
          '--labels',
          `version=${v}`,
          '--user',
          String(APP_UID),
          '--',
          NODE,
          app,
          '7000',
          `db-${v}`,
        ]);
        const m = await p.waitFor(/address (198\.19\.\d+\.\d+) and/);
        if (v === 'v2') v2Address = m[1]!;
        await p.waitFor(/READY uid=/);
      }
    }, 90_000);

    it('applies the routes: weighted 75/25, sourceLabels to v2, and a ServiceEntry for a CIDR', async () => {
      const platform = new LocalPlatform(home);
      const yaml = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: default}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: default}
spec:
  host: db
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db]
  tcp:
  - match:
    - sourceLabels: {role: batch}
    route:
    - destination: {host: db, subset: v2}
  - route:
    - destination: {host: db, subset: v1}
      weight: 75
    - destination: {host: db, subset: v2}
      weight: 25
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy-db, namespace: default}
spec:
  hosts: [legacy-db.internal]
  addresses: [198.18.250.0/24]
  location: MESH_EXTERNAL
  ports: [{number: 7100, name: tcp-legacy, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: ${v2Address}, ports: {tcp-legacy: 7000}}]
`;
      await platform.applyConfig([{ file: 'l4.yaml', text: yaml }], { defaultNamespace: 'default' });
      // Clients started from now on get a first config with these resources in it.
      await eventually(
        'the pushed snapshot holding the VirtualService and the ServiceEntry',
        () =>
          cp.pipeline.snapshot.resources.some((r) => r.kind === 'VirtualService' && r.metadata.name === 'db') &&
          cp.pipeline.snapshot.resources.some((r) => r.kind === 'ServiceEntry' && r.metadata.name === 'legacy-db'),
        30_000,
      );
    }, 60_000);

    /** Runs tcp-tally in a new client workload; its one JSON line. */
    async function tally(
      name: string,
      labels: string[],
      host: string,
      port: number,
      n: number,
    ): Promise<Record<string, number>> {
      const script = `${NODE} ${await fixture('tcp-tally.ts')} ${host} ${port} ${n}`;
      const p = start([
        '--name',
        name,
        ...labels,
        '--port',
        '9000',
        '--user',
        String(APP_UID),
        '--',
        'sh',
        '-c',
        script,
      ]);
      expect(await p.exited(120_000), p.stderr()).toBe(0);
      return JSON.parse(p.stdout().trim().split('\n').at(-1)!) as Record<string, number>;
    }

    it('a client dialling the VIP gets connections split by weight, each to one version', async () => {
      const seen = await tally('client', [], 'db', 7000, 80);
      expect(Object.keys(seen).sort()).toEqual(['db-v1', 'db-v2']);
      // 80 draws at p = 0.25: mean 20, sd 3.9; [5, 45] is more than 3.8 sd away on both sides.
      expect(seen['db-v2']).toBeGreaterThanOrEqual(5);
      expect(seen['db-v2']).toBeLessThanOrEqual(45);
      expect(seen['db-v1']! + seen['db-v2']!).toBe(80);
    }, 150_000);

    it('a client labelled role=batch gets every connection on v2 (sourceLabels)', async () => {
      expect(await tally('batch', ['--labels', 'role=batch'], 'db', 7000, 20)).toEqual({ 'db-v2': 20 });
    }, 150_000);

    it('a connection to an address inside the ServiceEntry CIDR reaches the entry endpoint; another address is refused', async () => {
      expect(await tally('legacy-client', [], '198.18.250.9', 7100, 5)).toEqual({ 'db-v2': 5 });
      const other = await tally('other-client', [], '198.18.251.9', 7100, 1);
      expect(Object.keys(other)).toHaveLength(1);
      expect(Object.keys(other)[0]).not.toMatch(/^db-/);
    }, 150_000);
  },
);
