/**
 * A terminating pod's sidecar (src/proxy-runtime/bootstrap/termination.ts), on a real proxy with a
 * real app on loopback: the app's preStop hold waits until inbound is quiet; on SIGTERM inbound keeps
 * accepting while the app does, then refuses (a peer retries elsewhere), outbound keeps working,
 * and the sidecar is done only once nothing is in flight.
 */
import { connect } from 'node:net';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { PodTermination } from '../../../src/proxy-runtime/bootstrap/termination.js';
import { podEnvironment } from '../../../src/proxy-runtime/bootstrap/kubernetes.js';
import { ProxyLog } from '../../../src/proxy-runtime/ground/log.js';
import { eventually, send, startProxy, startUpstream } from '../support.js';

/** A sidecar with an inbound listener to the app and an outbound one to `outboundPort`. */
function sidecar(appPort: number, outboundPort: number): Record<string, unknown> {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'v1',
    listeners: [
      { name: 'inbound', address: '127.0.0.1', port: 0, direction: 'inbound', chains: [{ routeConfig: 'in' }] },
      { name: 'outbound', address: '127.0.0.1', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] },
    ],
    routes: [
      { name: 'in', virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
      { name: 'out', virtualHosts: [{ name: 'ext', domains: ['*'], routes: [{ route: [{ cluster: 'ext' }] }] }] },
    ],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: appPort }] },
      { name: 'ext', endpoints: [{ address: '127.0.0.1', port: outboundPort }] },
    ],
  };
}

/** Whether a TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const log = new ProxyLog('off');

describe('a terminating pod, seen from its sidecar', () => {
  it("holds the app's preStop while peers keep sending, and lets it go once inbound is quiet", async () => {
    const app = await startUpstream('app');
    const ext = await startUpstream('ext');
    const { proxy } = await startProxy(sidecar(app.port, ext.port));
    const t = new PodTermination(proxy, { drainMs: 60_000, quietMs: 2_000, appPorts: [app.port], log, pollMs: 20 });
    let sending = true;
    let sent = 0;
    const peer = (async () => {
      while (sending) {
        const r = await send(proxy.listenerPort('inbound'), { path: `/r${sent}` });
        expect(r.status).toBe(200);
        sent++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // Peers are sending when the pod's deletion calls the hook.
    await eventually(() => sent >= 1, 'the first request');
    let released: string | undefined;
    const hold = t.holdApp().then((why) => (released = why));
    await eventually(() => sent >= 10, 'ten requests while the app is held');
    expect(released).toBeUndefined();
    sending = false;
    await peer;
    expect(await hold).toBe('quiet');
    // The hold changes nothing: the pod is not terminating and still serves.
    expect(t.terminating).toBe(false);
    expect((await send(proxy.listenerPort('inbound'))).status).toBe(200);
  });

  it('lets the app go after the drain duration when peers never stop', async () => {
    const app = await startUpstream('app');
    const { proxy } = await startProxy(sidecar(app.port, app.port));
    const t = new PodTermination(proxy, { drainMs: 400, quietMs: 60_000, appPorts: [app.port], log, pollMs: 20 });
    expect((await send(proxy.listenerPort('inbound'))).status).toBe(200);
    expect(await t.holdApp()).toBe('drain duration reached');
  });

  it('on SIGTERM serves inbound while the app accepts, then refuses it; outbound works; done once nothing is in flight', async () => {
    let slow: ServerResponse | undefined;
    const app = await startUpstream('app', (req, res) => {
      if (req.url === '/slow') slow = res;
      else res.end('app');
    });
    const ext = await startUpstream('ext');
    const { proxy } = await startProxy(sidecar(app.port, ext.port));
    const inbound = proxy.listenerPort('inbound');
    const t = new PodTermination(proxy, { drainMs: 200, appPorts: [app.port], log, pollMs: 20 });
    let finished = false;
    const done = t.untilDone().then(() => (finished = true));
    expect(t.terminating).toBe(true);
    // The app still runs (a classic sidecar gets SIGTERM with it): new inbound requests are served.
    expect((await send(inbound, { path: '/new' })).body).toBe('app');
    const inFlight = send(inbound, { path: '/slow' });
    await eventually(() => slow !== undefined, 'the slow request reached the app');
    // The app stops listening, finishing what it has.
    app.server.close();
    await eventually(async () => !(await accepts(inbound)), 'inbound refuses connections once the app is gone');
    expect((await send(proxy.listenerPort('outbound'))).body).toBe('ext');
    await new Promise((r) => setTimeout(r, 400));
    expect(finished, 'not done while a request is in flight').toBe(false);
    slow!.end('slow done');
    expect((await inFlight).body).toBe('slow done');
    await done;
  });

  it('reads the drain duration and the app ports from the environment inject writes', () => {
    const env = (extra: Record<string, string>) =>
      podEnvironment({
        MESH_CONTROL_PLANE_ADDRESS: 'meshctl-control-plane.mesh-system.svc:15012',
        MESH_POD_NAME: 'web-1',
        MESH_POD_NAMESPACE: 'shop',
        MESH_TOKEN_PATH: '/var/run/secrets/tokens/meshctl-token',
        MESH_CA_ROOT_PATH: '/var/run/meshctl/ca-root/root-cert.pem',
        ...extra,
      });
    expect(env({}).drainMs).toBe(5_000);
    expect(env({ MESH_TERMINATION_DRAIN_DURATION: '1m30s' }).drainMs).toBe(90_000);
    expect(env({ MESH_TERMINATION_DRAIN_DURATION: '500ms' }).drainMs).toBe(500);
    expect(() => env({ MESH_TERMINATION_DRAIN_DURATION: 'five' })).toThrow(/not a duration: write it as 5s/);
    expect(env({ MESH_APP_PORTS: '8080,9090' }).appPorts).toEqual([8080, 9090]);
  });
});
