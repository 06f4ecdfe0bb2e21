/**
 * A config that moves a listener to another address on the same port (0.0.0.0:P becoming [::]:P, as a
 * capture listener turning dual stack does) is applied, not refused with EADDRINUSE; and when the rest
 * of that config cannot be applied, the old listener takes its port back and keeps serving.
 */
import { createServer } from 'node:net';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { cluster, closeAfter, freePort, send, simpleConfig, startProxy, startUpstream } from '../support.js';

/** One GET to [::1]:port; the status, or the connection error's code. */
function sendIpv6(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '::1', port, path: '/', headers: { host: 'svc' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

describe('listener moved to another address on the same port', () => {
  it('binds the new address in place of the old one (IPv4-only to dual stack)', async () => {
    const up = await startUpstream('A');
    const port = await freePort();
    const config = (version: string, address: string) =>
      simpleConfig({ version, clusters: [cluster('a', [up.port])], listener: { address, port } });
    const { proxy } = await startProxy(config('v1', '0.0.0.0'));
    expect((await send(port)).status).toBe(200);
    expect(await sendIpv6(port)).toBe('ECONNREFUSED');

    const r = await proxy.applyConfig(config('v2', '::'));
    expect(r).toMatchObject({ ok: true, version: 'v2' });
    expect((await send(port)).status).toBe(200);
    expect(await sendIpv6(port)).toBe(200);
  });

  it('a refused config gives the port back to the old listener, which keeps serving', async () => {
    const up = await startUpstream('A');
    const [port, taken] = [await freePort(), await freePort()];
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(taken, '127.0.0.1', () => r()));
    closeAfter({ close: () => void blocker.close() });
    const v1 = simpleConfig({
      version: 'v1',
      clusters: [cluster('a', [up.port])],
      listener: { address: '0.0.0.0', port },
    });
    const { proxy } = await startProxy(v1);
    const v2 = simpleConfig({
      version: 'v2',
      clusters: [cluster('a', [up.port])],
      listener: { address: '::', port },
    }) as { listeners: Record<string, unknown>[] };
    v2.listeners.push({
      name: 'second',
      address: '127.0.0.1',
      port: taken,
      direction: 'outbound',
      chains: [{ routeConfig: 'rc' }],
    });

    const r = await proxy.applyConfig(v2);
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toContain(`cannot listen on 127.0.0.1:${taken}: EADDRINUSE`);
    expect((await send(port)).status).toBe(200);
    expect(await sendIpv6(port)).toBe('ECONNREFUSED');
  });
});
