/**
 * `meshctl run --transparent`, the real command as a process, in a local mesh the suite starts:
 * each workload gets its own network namespace, proxy init rules, a sidecar as UID 1337 and the
 * app as another user. An unmodified client (curl, a Node http client) in one workload reaches
 * another by its address, its service VIP and its service name, through both sidecars with mTLS;
 * Ctrl-C removes the namespace, veth, hosts file and lease; a killed run's leftovers are swept by
 * the next run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { homeTag, meshNetwork } from '../../src/cluster/local/transparent/addresses.js';
import { hasCurl, netnsRequirements } from './support/requirements.js';
import { fixture, NODE } from './support/fixtures.js';
import { startMeshctl, stopMeshctl, type MeshctlProcess } from './support/meshctl-run.js';

const APP_UID = 1000;

function netnsList(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

function linkExists(name: string): boolean {
  return spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;
}

/** uid and command line of every process in a namespace. */
function processesIn(netns: string): { pid: number; uids: string; gids: string; cmdline: string }[] {
  const pids = execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number);
  return pids.flatMap((pid) => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      return [
        {
          pid,
          uids: /^Uid:\s+(.*)$/m.exec(status)![1]!.trim(),
          gids: /^Gid:\s+(.*)$/m.exec(status)![1]!.trim(),
          cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '),
        },
      ];
    } catch {
      return [];
    }
  });
}

async function prometheus(address: string): Promise<string[]> {
  const text = await (await fetch(`http://${address}:15020/stats/prometheus`)).text();
  return text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
}

function sum(lines: string[]): number {
  return lines.reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describeRequiring(
  [...netnsRequirements, hasCurl],
  'meshctl run --transparent (network namespace, proxy init, sidecar as 1337)',
  () => {
    let home: string;
    let cp: RunningControlPlane;
    const runs: MeshctlProcess[] = [];
    const start = (argv: string[]): MeshctlProcess => {
      const p = startMeshctl(home, ['run', '--transparent', ...argv]);
      runs.push(p);
      return p;
    };
    let server: MeshctlProcess;
    let serverAddress: string;
    let serverIpv6: string;
    let vip: string;

    beforeAll(async () => {
      expect(existsSync(resolve('dist/cli.js')), 'dist/cli.js missing: npm test builds it (npm run build)').toBe(true);
      home = mkdtempSync(join(tmpdir(), 'meshctl-transparent-'));
      cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
    });
    afterAll(async () => {
      await Promise.all(runs.map(stopMeshctl));
      await cp?.stop();
      // Whatever a failed test left: this home's namespaces, veths and bridge only.
      const prefix = `msh${homeTag(home)}`;
      for (const ns of netnsList().filter((n) => n.startsWith(prefix))) spawnSync('ip', ['netns', 'del', ns]);
      for (let n = 0; n < 128; n++)
        if (linkExists(meshNetwork(home, n).bridge)) spawnSync('ip', ['link', 'del', meshNetwork(home, n).bridge]);
      for (const dir of ['/etc/netns', '/run/meshctl']) {
        for (const entry of existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(prefix)) : [])
          rmSync(join(dir, entry), { recursive: true, force: true });
      }
      rmSync(home, { recursive: true, force: true });
    }, 90_000);

    it('refuses to run without root, naming the requirement and the fix (no stack trace)', () => {
      const r = spawnSync(
        'setpriv',
        [
          `--reuid=${APP_UID}`,
          `--regid=${APP_UID}`,
          '--clear-groups',
          '--',
          NODE,
          resolve('bin/meshctl'),
          '--local',
          'run',
          '--transparent',
          '--name',
          'x',
          '--port',
          '1',
          '--',
          'true',
        ],
        {
          encoding: 'utf8',
          env: { PATH: process.env.PATH, NO_COLOR: '1', MESHCTL_HOME: home },
        },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('meshctl run --transparent must run as root');
      expect(r.stderr).toContain('run it with sudo');
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });

    it('starts a service workload: its own namespace and address, a VIP, the sidecar ready, the app as the given user', async () => {
      server = start([
        '--name',
        'reviews-v1',
        '--service',
        'reviews',
        '--service-port',
        '9080',
        '--port',
        '9080',
        '--user',
        String(APP_UID),
        '--',
        NODE,
        await fixture('http-app.ts'),
        '9080',
        '9081',
      ]);
      const m = await server.waitFor(
        /address (198\.19\.\d+\.\d+) and (fd00:198:19:[0-9a-f:]+), service reviews at (198\.19\.\d+\.\d+)/,
      );
      [serverAddress, serverIpv6, vip] = [m[1]!, m[2]!, m[3]!];
      await server.waitFor(/READY uid=(\d+)/);
      expect(server.stdout()).toContain(`READY uid=${APP_UID}`);
    }, 60_000);

    it('meshctl proxy-config reads the sidecar in the namespace: capture listeners 15001 and 15006', async () => {
      const pc = startMeshctl(home, ['proxy-config', 'listeners', 'reviews-v1', '-o', 'json']);
      expect(await pc.exited(), pc.stderr()).toBe(0);
      const listeners = JSON.parse(pc.stdout()) as { name: string; port?: number; mode?: string }[];
      expect(
        listeners
          .filter((l) => l.mode === 'capture')
          .map((l) => [l.name, l.port])
          .sort(),
      ).toEqual([
        ['inbound', 15006],
        ['outbound', 15001],
      ]);
    }, 30_000);

    let client: MeshctlProcess;
    let clientNetns: string;
    it('an unmodified client (curl, Node http) reaches it by address (IPv4 and IPv6), VIP and name through both sidecars', async () => {
      const get = await fixture('http-get.ts');
      const script = [
        `curl -sS --max-time 8 http://${serverAddress}:9080/by-address`,
        `curl -sS --max-time 8 http://${vip}:9080/by-vip`,
        'curl -sS --max-time 8 http://reviews:9080/by-name',
        `curl -sS --max-time 8 http://[${serverIpv6}]:9080/by-ipv6`,
        `${NODE} ${get} http://reviews.default.svc.cluster.local:9080/node; echo`,
        'echo CLIENT-DONE',
        'exec sleep 300',
      ].join('; ');
      client = start(['--name', 'productpage', '--port', '9000', '--user', String(APP_UID), '--', 'sh', '-c', script]);
      clientNetns = (await client.waitFor(/network namespace (\S+),/))[1]!;
      await client.waitFor(/CLIENT-DONE/);
      const lines = client.stdout().trim().split('\n');
      expect(
        lines.slice(0, 4).every((l) => l.startsWith('{')),
        `client output:\n${client.stdout()}\n${client.stderr()}`,
      ).toBe(true);
      const seen = { app: 'http-app', port: 9080, peer: '::ffff:127.0.0.1' };
      expect(lines.slice(0, 4).map((l) => JSON.parse(l) as unknown)).toEqual([
        { ...seen, path: '/by-address' },
        { ...seen, path: '/by-vip' },
        { ...seen, path: '/by-name' },
        { ...seen, path: '/by-ipv6' },
      ]);
      expect(lines[4]).toBe(`200 ${JSON.stringify({ ...seen, path: '/node' })}`);
      // The name resolves through the namespace's hosts file, which names the VIP.
      expect(readFileSync(`/etc/netns/${clientNetns}/hosts`, 'utf8')).toMatch(
        new RegExp(
          `^${vip.replace(/\./g, '\\.')}\\treviews reviews\\.default reviews\\.default\\.svc reviews\\.default\\.svc\\.cluster\\.local$`,
          'm',
        ),
      );
    }, 60_000);

    it('both sidecars count the requests: mutual_tls at the server, the verified server identity at the client', async () => {
      const clientAddress = (client.stderr().match(/address (198\.19\.\d+\.\d+)/) ?? [])[1]!;
      const destination = (await prometheus(serverAddress)).filter(
        (l) => l.includes('reporter="destination"') && l.includes('response_code="200"'),
      );
      const source = (await prometheus(clientAddress)).filter(
        (l) => l.includes('reporter="source"') && l.includes('response_code="200"'),
      );
      expect(sum(destination)).toBeGreaterThanOrEqual(5);
      expect(sum(source)).toBeGreaterThanOrEqual(5);
      for (const l of destination) {
        expect(l).toContain('connection_security_policy="mutual_tls"');
        expect(l).toContain('source_principal="spiffe://cluster.local/ns/default/sa/productpage"');
      }
      for (const l of source)
        expect(l).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/reviews"');
    });

    it('runs the sidecar as UID/GID 1337 and the app as the other user (/proc/PID/status)', () => {
      const procs = processesIn(clientNetns);
      const sidecar = procs.find((p) => p.cmdline.includes('proxy run'));
      const app = procs.find((p) => p.cmdline.startsWith('sleep'));
      expect(sidecar?.uids).toBe('1337\t1337\t1337\t1337');
      expect(sidecar?.gids).toBe('1337\t1337\t1337\t1337');
      expect(app?.uids).toBe(`${APP_UID}\t${APP_UID}\t${APP_UID}\t${APP_UID}`);
    });

    it('Ctrl-C (SIGINT) removes the namespace, veth, hosts file and lease, and unregisters the workload', async () => {
      const veth = clientNetns.replace(/-(\d+)$/, 'v$1');
      expect(linkExists(veth)).toBe(true);
      client.proc.kill('SIGINT');
      await client.exited();
      expect(client.stderr()).toContain('removing its sidecar and namespace');
      expect(netnsList()).not.toContain(clientNetns);
      expect(linkExists(veth)).toBe(false);
      expect(existsSync(`/etc/netns/${clientNetns}`)).toBe(false);
      const leases = JSON.parse(readFileSync(join(home, 'transparent', 'leases.json'), 'utf8')) as {
        workloads: { name: string }[];
      };
      expect(leases.workloads.map((w) => w.name)).toEqual(['reviews-v1']);
      expect((await new LocalPlatform(home).listWorkloads()).map((w) => w.name)).toEqual(['reviews-v1']);
    }, 30_000);

    it('--exclude-outbound-ports: the excluded port bypasses the client sidecar (plaintext, accepted by the PERMISSIVE server)', async () => {
      const byPolicy = async (policy: string) =>
        sum(
          (await prometheus(serverAddress)).filter(
            (l) => l.includes('reporter="destination"') && l.includes(`connection_security_policy="${policy}"`),
          ),
        );
      const [plainBefore, mtlsBefore] = [await byPolicy('none'), await byPolicy('mutual_tls')];
      const direct = start([
        '--name',
        'direct',
        '--port',
        '9001',
        '--user',
        String(APP_UID),
        '--exclude-outbound-ports',
        '9080',
        '--',
        'curl',
        '-sS',
        '--max-time',
        '8',
        `http://${serverAddress}:9080/excluded`,
      ]);
      expect(await direct.exited(), direct.stderr()).toBe(0);
      expect(JSON.parse(direct.stdout())).toMatchObject({ path: '/excluded' });
      expect(await byPolicy('none')).toBe(plainBefore + 1);
      expect(await byPolicy('mutual_tls')).toBe(mtlsBefore);
    }, 60_000);

    it('a port the app listens on but no Service declares is passed through to the app from 127.0.0.6 (no capture loop)', async () => {
      // The server's inbound passthrough dials its own pod address; from any other source than 127.0.0.6
      // that connection would be captured again (MESH_IN_REDIRECT) and loop inside the sidecar.
      const direct = start([
        '--name',
        'undeclared',
        '--port',
        '9003',
        '--user',
        String(APP_UID),
        '--',
        'curl',
        '-sS',
        '--max-time',
        '8',
        `http://${serverAddress}:9081/undeclared`,
      ]);
      expect(await direct.exited(), direct.stderr()).toBe(0);
      expect(JSON.parse(direct.stdout())).toEqual({
        app: 'http-app',
        port: 9081,
        peer: '::ffff:127.0.0.6',
        path: '/undeclared',
      });
    }, 60_000);

    it('a service started after a client is reachable by name from that client (its hosts file is updated in place)', async () => {
      // The name resolves as soon as the VIP is leased; until the new sidecar and app listen, the mesh answers 503 (curl -f retries).
      const script =
        'for i in $(seq 1 150); do curl -sf --max-time 2 http://ratings:9080/late && break; sleep 0.2; done; echo EARLY-DONE';
      const early = start(['--name', 'early', '--port', '9002', '--user', String(APP_UID), '--', 'sh', '-c', script]);
      await early.waitFor(/starting the app/);
      const ratings = start([
        '--name',
        'ratings-v1',
        '--service',
        'ratings',
        '--service-port',
        '9080',
        '--port',
        '9080',
        '--user',
        String(APP_UID),
        '--',
        NODE,
        await fixture('http-app.ts'),
        '9080',
      ]);
      await ratings.waitFor(/READY uid=/);
      expect(await early.exited(), early.stderr()).toBe(0);
      expect(early.stdout()).toBe(
        `${JSON.stringify({ app: 'http-app', port: 9080, peer: '::ffff:127.0.0.1', path: '/late' })}\nEARLY-DONE\n`,
      );
      await stopMeshctl(ratings);
      expect(ratings.proc.exitCode, ratings.stderr()).toBe(0);
    }, 60_000);

    it('when the sidecar dies, the command is stopped and everything removed', async () => {
      const fragile = start(['--name', 'fragile', '--port', '9103', '--', 'sleep', '300']);
      const netns = (await fragile.waitFor(/network namespace (\S+),/))[1]!;
      await fragile.waitFor(/starting the app/);
      const sidecar = processesIn(netns).find((p) => p.cmdline.includes('proxy run'))!;
      process.kill(sidecar.pid, 'SIGKILL');
      expect(await fragile.exited()).toBe(143);
      expect(fragile.stderr()).toContain('the sidecar exited (SIGKILL) while the command ran; stopping the command');
      expect(netnsList()).not.toContain(netns);
    }, 60_000);

    it("a killed run's namespace, processes and lease are swept by the next run", async () => {
      const crashed = start(['--name', 'crashy', '--port', '9100', '--', 'sleep', '300']);
      const netns = (await crashed.waitFor(/network namespace (\S+),/))[1]!;
      await crashed.waitFor(/starting the app/);
      crashed.proc.kill('SIGKILL');
      await crashed.exited();
      expect(netnsList()).toContain(netns);
      const next = start(['--name', 'after', '--port', '9101', '--', 'true']);
      expect(await next.exited(), next.stderr()).toBe(0);
      expect(next.stderr()).toContain(`removing what a stopped run left behind: default/crashy (namespace ${netns}`);
      expect(netnsList()).not.toContain(netns);
      expect((await new LocalPlatform(home).listWorkloads()).map((w) => w.name)).toEqual(['reviews-v1']);
    }, 60_000);

    it('stopping the last workload removes the bridge and every lease', async () => {
      await stopMeshctl(server);
      expect(server.stderr()).toContain('command exited with 0; removing its sidecar and namespace');
      expect(server.proc.exitCode, server.stderr()).toBe(0);
      const leases = JSON.parse(readFileSync(join(home, 'transparent', 'leases.json'), 'utf8')) as {
        network: number;
        workloads: unknown[];
      };
      expect(leases.workloads).toEqual([]);
      expect(linkExists(meshNetwork(home, leases.network).bridge)).toBe(false);
      expect(netnsList().filter((n) => n.startsWith(`msh${homeTag(home)}`))).toEqual([]);
    }, 40_000);
  },
);
