/**
 * Restarting a workload loses no request: two `meshctl run` processes (real CLI, real sidecars)
 * serve `reviews`; a client sidecar sends steady traffic while each is stopped with SIGTERM and
 * started again, one after the other. The app exits at once on SIGTERM and takes 300 ms to start
 * listening, so only the lifecycle (announce when ready; withdraw, wait for ACKs, drain, then stop)
 * and the default retry policy keep the count of failed requests at zero.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LocalMeshForTest,
  SERVICE_PORT,
  eventually,
  freePort,
  steadyLoad,
  type Sidecar,
} from './support/local-mesh.js';
import { startMeshctl, stopMeshctl, type MeshctlProcess } from '../netns/support/meshctl-run.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
const runs = new Map<string, MeshctlProcess>();

/** An app that starts listening after 300 ms, answers its name, and dies at once on SIGTERM (Node's default). */
const APP =
  "setTimeout(()=>require('http').createServer((q,r)=>r.end(process.env.NAME)).listen(Number(process.env.PORT),'127.0.0.1'),300)";

async function start(name: string): Promise<MeshctlProcess> {
  const port = await freePort();
  const p = startMeshctl(
    mesh.home,
    [
      'run',
      '--name',
      name,
      '--service',
      'reviews',
      '--service-port',
      String(SERVICE_PORT),
      '--labels',
      'version=v1',
      '--port',
      String(port),
      '--drain-duration',
      '2',
      '--',
      process.execPath,
      '-e',
      APP,
    ],
    { NAME: name },
  );
  runs.set(name, p);
  await p.waitFor(/now an endpoint of reviews/);
  return p;
}

/** Whether the control plane lists `name` as serving. */
async function serving(name: string): Promise<boolean> {
  return (await mesh.platform.listWorkloads()).some((w) => w.name === name && w.serving !== false);
}

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  client = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await Promise.all([start('reviews-a'), start('reviews-b')]);
}, 120_000);
afterAll(async () => {
  await Promise.all([...runs.values()].map((p) => stopMeshctl(p)));
  await mesh?.stop();
});

describe('restarting workloads under load', () => {
  it('announces an endpoint only once its app is ready', async () => {
    const p = startMeshctl(
      mesh.home,
      [
        'run',
        '--name',
        'reviews-slow',
        '--service',
        'reviews',
        '--service-port',
        String(SERVICE_PORT),
        '--port',
        String(await freePort()),
        '--ready-path',
        '/healthz',
        '--',
        process.execPath,
        '-e',
        "let ok=false;setTimeout(()=>ok=true,800);require('http').createServer((q,r)=>{r.statusCode=q.url==='/healthz'&&!ok?503:200;r.end(process.env.NAME)}).listen(Number(process.env.PORT),'127.0.0.1')",
      ],
      { NAME: 'reviews-slow' },
    );
    runs.set('reviews-slow', p);
    await p.waitFor(/sidecar ready as/);
    // Its sidecar is up and its port accepts, but /healthz says 503: not an endpoint yet.
    expect(await serving('reviews-slow')).toBe(false);
    await p.waitFor(/now an endpoint of reviews/);
    expect(await serving('reviews-slow')).toBe(true);
    await stopMeshctl(p);
    runs.delete('reviews-slow');
    expect(p.stderr()).toContain('stopping: withdrawing the endpoint, draining, then stopping the app');
    expect((await mesh.platform.listWorkloads()).map((w) => w.name)).not.toContain('reviews-slow');
  }, 60_000);

  it('fails no request while each endpoint is stopped and started again', async () => {
    await eventually(
      'the client reaching both endpoints',
      async () => {
        const load = steadyLoad(client, 2);
        await new Promise((r) => setTimeout(r, 300));
        const r = await load.stop();
        return r.bodies['reviews-a'] && r.bodies['reviews-b'];
      },
      30_000,
    );
    const load = steadyLoad(client, 4);
    for (const name of ['reviews-a', 'reviews-b', 'reviews-a']) {
      await new Promise((r) => setTimeout(r, 500));
      const p = runs.get(name)!;
      await stopMeshctl(p);
      expect(p.stderr()).toContain('stopping: withdrawing the endpoint, draining, then stopping the app');
      expect(p.stderr()).not.toContain('not acknowledged');
      await start(name);
    }
    await new Promise((r) => setTimeout(r, 500));
    const { ok, failed, bodies } = await load.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect(Object.keys(bodies).sort()).toEqual(['reviews-a', 'reviews-b']);
  }, 120_000);
});
