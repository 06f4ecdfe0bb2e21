/**
 * Issue 15's delivery promise, end to end on the local platform: a policy change reaches the
 * affected proxies within the usual push time and never drops an in-flight request. Two meshed
 * workloads with mTLS; steady concurrent load from the client's sidecar to the server (fast loops
 * and slow requests the app answers after 300 ms, so some are in flight while each change lands);
 * meanwhile AuthorizationPolicies are applied as `meshctl apply` applies them (an ALLOW that keeps
 * the client allowed, a DENY on a path the load does not use, edits, deletes). Every load response
 * is counted: none may fail, and a probe shows each change took effect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshForTest, eventually, send, type Sidecar } from './support/local-mesh.js';

const URL_SERVER = 'http://server:9080';
let mesh: LocalMeshForTest;
let client: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run(
    'server',
    { app: 'server' },
    {
      service: 'server',
      handler: (req, res) => {
        const answer = () => res.end(`server saw ${req.method} ${req.url}`);
        if (req.url?.startsWith('/slow')) setTimeout(answer, 300);
        else answer();
      },
    },
  );
  client = await mesh.run('client', { app: 'client' });
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
});

const allow = (paths: string[]) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server-allow}
spec:
  selector: {matchLabels: {app: server}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/default/sa/client"]}
    to:
    - operation: {paths: ${JSON.stringify(paths)}}
`;
const deny = (paths: string[]) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server-deny}
spec:
  selector: {matchLabels: {app: server}}
  action: DENY
  rules:
  - to:
    - operation: {paths: ${JSON.stringify(paths)}}
`;

/** Load loops until stop(): each request is counted; ok only when 200 with the app's answer. */
function load(paths: string[]): { inFlight: () => number; stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let inFlight = 0;
  let ok = 0;
  const failed: string[] = [];
  const loop = async (path: string): Promise<void> => {
    while (running) {
      inFlight++;
      const r = await send(client, `${URL_SERVER}${path}`).catch((e: Error) => ({ status: 0, body: e.message }));
      inFlight--;
      if (r.status === 200 && r.body === `server saw GET ${path}`) ok++;
      else failed.push(`${path}: ${r.status} ${r.body.slice(0, 100)}`);
    }
  };
  const loops = paths.map(loop);
  return {
    inFlight: () => inFlight,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed };
    },
  };
}

const probe = async (path: string) => (await send(client, `${URL_SERVER}${path}`)).status;

describe('AuthorizationPolicy delivery under load', () => {
  it('ALLOW/DENY applied, edited and deleted while requests run: every load request 200, each change takes effect', async () => {
    expect(await probe('/secret/x')).toBe(200);
    const running = load(['/api/a', '/api/b', '/api/c', '/slow/1', '/slow/2', '/slow/3', '/slow/4']);
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Requests in flight when each change is applied and when every sidecar has ACKed it.
    const inFlightAtChange: number[] = [];
    const change = async (apply: () => Promise<void>) => {
      inFlightAtChange.push(running.inFlight());
      await apply();
      inFlightAtChange.push(running.inFlight());
    };
    await pause(500);

    // An ALLOW that keeps the client allowed (the load and the probe paths).
    await change(() => mesh.applyAndSync(allow(['/api/*', '/slow/*', '/secret/*', '/public/*'])));
    expect(await probe('/secret/x')).toBe(200);
    await pause(400);

    // A DENY on a path the load does not use.
    await change(() => mesh.applyAndSync(deny(['/secret/*'])));
    expect(await probe('/secret/x')).toBe(403);
    expect(await probe('/public/x')).toBe(200);
    await pause(400);

    // Edit the DENY: another path the load does not use.
    await change(() => mesh.applyAndSync(deny(['/public/*'])));
    expect(await probe('/public/x')).toBe(403);
    expect(await probe('/secret/x')).toBe(200);
    await pause(400);

    // Edit the ALLOW: still allows the client on every path it uses.
    await change(() => mesh.applyAndSync(allow(['/api/*', '/slow/*', '/secret/*', '/public/*', '/other/*'])));
    expect(await probe('/other/x')).toBe(200);
    await pause(400);

    // Delete the DENY, then the ALLOW (as `meshctl delete` does).
    const del = async (name: string) => {
      const before = mesh.cp.pipeline.version;
      await mesh.platform.deleteConfig([
        { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'default', name },
      ]);
      await eventually(
        `a push after deleting ${name}, ACKed by every sidecar`,
        () => mesh.cp.pipeline.version !== before && mesh.allSynced(),
        60_000,
      );
    };
    await change(() => del('server-deny'));
    expect(await probe('/public/x')).toBe(200);
    await pause(400);
    await change(() => del('server-allow'));
    // No policy left: every path is allowed again.
    expect(await probe('/secret/x')).toBe(200);
    expect(await probe('/anything')).toBe(200);
    await pause(500);
    const result = await running.stop();
    expect(result.failed).toEqual([]);
    expect(inFlightAtChange).toHaveLength(12);
    expect(inFlightAtChange.every((n) => n >= 1)).toBe(true);
    expect(result.ok).toBeGreaterThanOrEqual(500);
  }, 120_000);
});
