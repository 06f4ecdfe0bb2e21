/**
 * The control plane restarted as the README shows (`--stream-port 0`: a new port each time) is
 * found again: `meshctl run` sidecars (real processes) read its address from $MESHCTL_HOME on every
 * reconnect, come back SYNCED, and the client app's steady traffic fails no request meanwhile.
 * `proxy-status` and `check` say when a registered workload has no connected proxy (exit 1), and
 * `proxy-status --ignore-stale` returns 0. The client's access log rotates by size, keeping two files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { SIDECAR_TYPES } from '../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { SERVICE_PORT, eventually, freePort } from './support/local-mesh.js';
import { startMeshctl, stopMeshctl, type MeshctlProcess } from '../netns/support/meshctl-run.js';
import { runCli } from '../support/cli.js';

let home: string;
let cp: RunningControlPlane;
const runs: MeshctlProcess[] = [];

const start = (): Promise<RunningControlPlane> =>
  startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

/** Every proxy of `names` connected to `plane` and SYNCED on every type. */
const synced = (plane: RunningControlPlane, names: string[]): boolean => {
  const views = plane.server.ads.views();
  return names.every((n) =>
    views.some((v) => v.proxy.workload === n && SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED')),
  );
};

/**
 * A client app: requests back to back through HTTP_PROXY (absolute-form, as curl sends them: one
 * access log line per request) until SIGTERM, then prints its tally.
 */
const CLIENT = `const http=require('http');const p=new URL(process.env.HTTP_PROXY);let ok=0,failed=[],run=true;process.on('SIGTERM',()=>run=false);
const get=()=>new Promise((res)=>{const q=http.get({host:p.hostname,port:p.port,path:'http://reviews:${SERVICE_PORT}/',headers:{host:'reviews:${SERVICE_PORT}'},agent:false},(r)=>{let b='';r.on('data',(d)=>b+=d);r.on('end',()=>res([r.statusCode,b]))});q.on('error',(e)=>res([0,String(e)]))});
(async()=>{while(run){const [s,b]=await get();if(s===200&&b==='reviews')ok++;else failed.push(s+' '+b.slice(0,80))}console.log(JSON.stringify({ok,failed}))})()`;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-cp-restart-'));
  cp = await start();
}, 60_000);
/** processes left behind by a `meshctl run` killed with SIGKILL (its app), ended after the test */
const orphans: number[] = [];

/** The children of a process, and theirs (Linux /proc). */
function childPids(pid: number): number[] {
  let direct: number[] = [];
  try {
    direct = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((c) => [c, ...childPids(c)]);
}

afterAll(async () => {
  for (const pid of orphans)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  for (const p of runs) await stopMeshctl(p);
  await cp?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('a control plane restarted on a new port', () => {
  it('is found again by every proxy, with no failed request, and proxy-status/check report the gap', async () => {
    const server = startMeshctl(home, [
      'run',
      '--name',
      'reviews-v1',
      '--service',
      'reviews',
      '--service-port',
      String(SERVICE_PORT),
      '--port',
      String(await freePort()),
      '--',
      process.execPath,
      '-e',
      "require('http').createServer((q,r)=>r.end('reviews')).listen(Number(process.env.PORT),'127.0.0.1')",
    ]);
    runs.push(server);
    await server.waitFor(/now an endpoint of reviews/);
    // Its access log rotates every ~5 KiB (a few requests), two rotated files kept.
    const client = startMeshctl(home, [
      'run',
      '--name',
      'productpage',
      '--port',
      String(await freePort()),
      '--access-log-max-size',
      '0.005',
      '--access-log-keep',
      '2',
      '--',
      process.execPath,
      '-e',
      CLIENT,
    ]);
    runs.push(client);
    await client.waitFor(/sidecar ready as/);
    await eventually('both proxies synced', () => synced(cp, ['reviews-v1', 'productpage']), 30_000);
    const before = cp.state.streamAddress;
    expect((await cli('proxy-status')).code).toBe(0);

    await cp.stop();
    await new Promise((r) => setTimeout(r, 1_000));
    cp = await start();
    expect(cp.state.streamAddress).not.toBe(before);
    await eventually(
      'both proxies back and synced on the new port',
      () => synced(cp, ['reviews-v1', 'productpage']),
      30_000,
    );
    const status = await cli('proxy-status');
    expect(status.stdout).toMatch(/productpage\.default .*SYNCED\s+SYNCED\s+SYNCED/);
    expect(status.code).toBe(0);
    const check = await cli('check');
    expect(check.stdout).toContain('every registered workload has a connected proxy');
    expect(check.code).toBe(0);

    // Traffic went on through the restart.
    client.proc.kill('SIGTERM');
    await client.exited();
    const tally = JSON.parse(/\{"ok".*\}/.exec(client.stdout())![0]) as { ok: number; failed: string[] };
    expect(tally.failed).toEqual([]);
    expect(tally.ok).toBeGreaterThan(20);
    const logs = (await readdir(join(home, 'logs')))
      .filter((f) => f.startsWith('productpage.default.access.log'))
      .sort();
    expect(logs).toEqual([
      'productpage.default.access.log',
      'productpage.default.access.log.1',
      'productpage.default.access.log.2',
    ]);
    const rotated = await readFile(join(home, 'logs', 'productpage.default.access.log.1'), 'utf8');
    expect(rotated.length).toBeLessThanOrEqual(Math.round(0.005 * 1024 * 1024));
    for (const line of rotated.trim().split('\n'))
      expect(JSON.parse(line)).toMatchObject({ authority: `reviews:${SERVICE_PORT}` });

    // A workload whose sidecar died stays registered: proxy-status and check say so and fail. Killed with SIGKILL,
    // `meshctl run` cannot stop its app: the test ends it (by pid) when it is done.
    orphans.push(...childPids(server.proc.pid!));
    server.proc.kill('SIGKILL');
    await server.exited();
    await eventually(
      'the dead proxy disconnected',
      () => !cp.server.ads.views().some((v) => v.proxy.workload === 'reviews-v1'),
      20_000,
    );
    const stale = await cli('proxy-status');
    expect(stale.stderr).toContain('Registered workloads without a connected proxy: reviews-v1.default');
    expect(stale.code).toBe(1);
    expect((await cli('proxy-status', '--ignore-stale')).code).toBe(0);
    const failing = await cli('check');
    expect(failing.stdout).toMatch(/✖ every registered workload has a connected proxy/);
    expect(failing.stdout).toContain('no proxy connected for: reviews-v1.default');
    expect(failing.code).toBe(1);
  }, 180_000);
});
