/** The admin API on 127.0.0.1, config swap (ACK/NACK, under load) and drain. */
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { admin, cluster, send, simpleConfig, startProxy, startUpstream } from '../../support.js';

describe('admin API', () => {
  it('is bound to 127.0.0.1 and serves ready, config_dump, clusters, listeners, routes, certs, stats, logging', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({ clusters: [cluster('svc', [up.port], {}, [{ app: 'svc' }])], version: 'admin-1' });
    const { proxy } = await startProxy(cfg);
    await send(proxy.listenerPort('out'));
    const base = `http://127.0.0.1:${proxy.adminPort}`;
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toBe('LIVE\n');
    const dump = await admin<{ version: string; config: { clusters: { name: string }[] }; lastRejected: unknown }>(
      proxy,
      '/config_dump',
    );
    expect(dump.version).toBe('admin-1');
    expect(dump.config.clusters[0]!.name).toBe('svc');
    expect(dump.lastRejected).toBeNull();
    const clusters = await admin<
      {
        name: string;
        endpoints: { port: number; health: string; totalRequests: number; labels: Record<string, string> }[];
      }[]
    >(proxy, '/clusters');
    expect(clusters[0]).toMatchObject({
      name: 'svc',
      endpoints: [{ port: up.port, health: 'HEALTHY', totalRequests: 1, labels: { app: 'svc' } }],
    });
    const listeners = await admin<{ name: string; port: number; direction: string }[]>(proxy, '/listeners');
    expect(listeners[0]).toMatchObject({ name: 'out', port: proxy.listenerPort('out'), direction: 'outbound' });
    expect(await admin<{ name: string }[]>(proxy, '/routes')).toMatchObject([{ name: 'rc' }]);
    expect(await admin(proxy, '/certs')).toEqual({ identity: null });
    const stats = await (await fetch(`${base}/stats`)).text();
    expect(stats).toContain('istio_requests_total{');
    expect(await admin(proxy, '/logging?level=debug', 'POST')).toEqual({ level: 'debug' });
    expect(proxy.log.level).toBe('debug');
    const bad = await fetch(`${base}/logging?level=loud`, {
      method: 'POST',
      headers: { authorization: `Bearer ${proxy.adminToken}` },
    });
    expect(bad.status).toBe(400);
    // Only loopback: the admin server is not reachable on other addresses of the host.
    const { networkInterfaces } = await import('node:os');
    const other = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (other) await expect(fetch(`http://${other.address}:${proxy.adminPort}/ready`)).rejects.toThrow();
  });
});

describe('config swap', () => {
  it('NACKs an invalid config with the field path, keeps serving the last good one, and shows the rejection', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({ clusters: [cluster('svc', [up.port])], version: 'good' });
    const { proxy } = await startProxy(cfg);
    const bad = {
      ...cfg,
      version: 'bad',
      clusters: [{ name: 'svc', endpoints: [{ address: '127.0.0.1', port: 'eighty' }] }],
    };
    const r = await proxy.applyConfig(bad);
    expect(r).toMatchObject({ ok: false, version: 'bad' });
    expect(r.ok === false && r.error).toContain('clusters[0].endpoints[0].port');
    const unknownRef = await proxy.applyConfig({
      ...cfg,
      version: 'bad2',
      routes: [
        { name: 'rc', virtualHosts: [{ name: 'x', domains: ['*'], routes: [{ route: [{ cluster: 'nope' }] }] }] },
      ],
    });
    expect(unknownRef.ok === false && unknownRef.error).toContain(
      'routes[0].virtualHosts[0].routes[0].route[0].cluster: no cluster named "nope"',
    );
    expect(proxy.version).toBe('good');
    expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    const dump = await admin<{ version: string; lastRejected: { version: string; error: string } }>(
      proxy,
      '/config_dump',
    );
    expect(dump.version).toBe('good');
    expect(dump.lastRejected.version).toBe('bad2');
    const viaAdmin = await fetch(`http://127.0.0.1:${proxy.adminPort}/config`, {
      method: 'POST',
      headers: { authorization: `Bearer ${proxy.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'nope' }),
    });
    expect(viaAdmin.status).toBe(400);
    expect(((await viaAdmin.json()) as { error: string }).error).toContain('apiVersion');
  });

  it('NACKs a config whose identity files cannot be read, naming the field', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({ clusters: [cluster('svc', [up.port])], version: 'good' });
    const { proxy } = await startProxy(cfg);
    const r = await proxy.applyConfig({
      ...cfg,
      version: 'no-certs',
      identity: {
        certChain: '/nonexistent/cert.pem',
        privateKey: '/nonexistent/key.pem',
        trustRoots: '/nonexistent/ca.pem',
      },
    });
    expect(r.ok === false && r.error).toContain('identity.certChain: cannot read /nonexistent/cert.pem: ENOENT');
    expect(proxy.version).toBe('good');
  });

  it('swaps configs under load without failing a single request', async () => {
    const a = await startUpstream('A');
    const b = await startUpstream('B');
    const cfgFor = (port: number, v: string) => simpleConfig({ clusters: [cluster('svc', [port])], version: v });
    const { proxy } = await startProxy(cfgFor(a.port, 'v0'));
    const port = proxy.listenerPort('out');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    const statuses: number[] = [];
    const bodies = new Set<string>();
    const workers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const r = await send(port, { agent, method: 'POST', body: 'x' });
        statuses.push(r.status);
        bodies.add(r.body);
      }
    });
    for (let i = 1; i <= 10; i++) {
      // Each version serves some requests before the next swap, however slow the machine is.
      const target = statuses.length + 10;
      while (statuses.length < target) await new Promise((r) => setTimeout(r, 5));
      expect((await proxy.applyConfig(cfgFor(i % 2 ? b.port : a.port, `v${i}`))).ok).toBe(true);
    }
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(bodies).toEqual(new Set(['A', 'B']));
    expect(proxy.version).toBe('v10');
  });

  it('adds and removes listeners with a config', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({ clusters: [cluster('svc', [up.port])] });
    const { proxy } = await startProxy(cfg);
    const two = {
      ...cfg,
      version: 'two',
      listeners: [
        ...(cfg.listeners as object[]),
        { name: 'second', port: 0, direction: 'outbound', chains: [{ routeConfig: 'rc' }] },
      ],
    };
    expect((await proxy.applyConfig(two)).ok).toBe(true);
    expect((await send(proxy.listenerPort('second'))).body).toBe('svc');
    const secondPort = proxy.listenerPort('second');
    expect((await proxy.applyConfig({ ...cfg, version: 'three' })).ok).toBe(true);
    await expect(send(secondPort)).rejects.toThrow();
  });
});

describe('drain', () => {
  it('stops accepting, reports not ready, lets in-flight requests finish, then resolves', async () => {
    const held: (() => void)[] = [];
    const up = await startUpstream('svc', (_req, res) => held.push(() => res.end('finished')));
    const { proxy } = await startProxy(
      simpleConfig({ clusters: [cluster('svc', [up.port])], extra: { drainPeriod: '5s' } }),
    );
    const inFlight = send(proxy.listenerPort('out'));
    while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    let drained = false;
    const port = proxy.listenerPort('out');
    expect(
      (
        await fetch(`http://127.0.0.1:${proxy.adminPort}/drain`, {
          method: 'POST',
          headers: { authorization: `Bearer ${proxy.adminToken}` },
        })
      ).status,
    ).toBe(200);
    const draining = proxy.drain().then(() => (drained = true));
    expect((await fetch(`http://127.0.0.1:${proxy.telemetryPort}/healthz/ready`)).status).toBe(503);
    await expect(send(port)).rejects.toThrow();
    expect(drained).toBe(false);
    held[0]!();
    const r = await inFlight;
    expect(r).toMatchObject({ status: 200, body: 'finished' });
    expect(r.headers.connection).toBe('close');
    await draining;
    expect(drained).toBe(true);
  });
});
