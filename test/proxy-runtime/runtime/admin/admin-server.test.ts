/**
 * Finding 4: the admin API refuses what a web page or another local process could send. Real
 * requests over loopback, shaped as a browser sends them (cross-site form POST, fetch with no-cors,
 * DNS rebinding), and as a local process without the token would.
 */
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { admin, cluster, send, simpleConfig, startProxy, startUpstream } from '../../support.js';

/** One raw request to the admin port (node:http lets the test set Host and Origin as a browser would). */
function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function proxyWithRoutes() {
  const good = await startUpstream('good');
  const evil = await startUpstream('evil');
  const cfg = simpleConfig({ clusters: [cluster('good', [good.port]), cluster('evil', [evil.port])], version: 'v1' });
  const started = await startProxy(cfg);
  return {
    ...started,
    cfg,
    evilConfig: JSON.stringify({
      ...cfg,
      version: 'pwned',
      routes: [
        { name: 'rc', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'evil' }] }] }] },
      ],
    }),
  };
}

describe('admin API: browser-shaped and unauthenticated requests', () => {
  it('refuses the cross-site POST /config from the finding; the routes stay', async () => {
    const { proxy, evilConfig } = await proxyWithRoutes();
    const host = `127.0.0.1:${proxy.adminPort}`;
    const attacks: Record<string, string>[] = [
      { host, origin: 'http://evil.example', 'content-type': 'text/plain' },
      { host, 'content-type': 'text/plain' },
      { host, 'content-type': 'application/x-www-form-urlencoded' },
      { host, 'content-type': 'application/json' },
      { host: 'rebound.evil.example', 'content-type': 'application/json', authorization: `Bearer ${proxy.adminToken}` },
      {
        host,
        'content-type': 'application/json',
        authorization: `Bearer ${proxy.adminToken}`,
        'sec-fetch-site': 'cross-site',
      },
      { host, 'content-type': 'application/json', authorization: 'Bearer wrong' },
    ];
    const statuses = [];
    for (const h of attacks) statuses.push((await call(proxy.adminPort, 'POST', '/config', h, evilConfig)).status);
    expect(statuses).toEqual([403, 415, 415, 401, 403, 403, 401]);
    expect(proxy.version).toBe('v1');
    expect(await send(proxy.listenerPort('out'))).toMatchObject({ status: 200, body: 'good' });
  });

  it('refuses /quitquitquit, /drain and POST /logging without the token; the proxy keeps serving', async () => {
    const { proxy } = await proxyWithRoutes();
    const host = `127.0.0.1:${proxy.adminPort}`;
    for (const path of ['/quitquitquit', '/drain', '/drain_listeners', '/logging?level=off']) {
      const r = await call(proxy.adminPort, 'POST', path, { host });
      expect(r.status, path).toBe(401);
      expect(r.body).toContain('Authorization: Bearer');
    }
    expect(proxy.draining).toBe(false);
    expect(proxy.log.level).toBe('warn');
    expect(await send(proxy.listenerPort('out'))).toMatchObject({ status: 200, body: 'good' });
  });

  it('refuses cross-origin and rebound reads; same-host reads are served', async () => {
    const { proxy } = await proxyWithRoutes();
    const host = `127.0.0.1:${proxy.adminPort}`;
    expect((await call(proxy.adminPort, 'GET', '/config_dump', { host, origin: 'http://evil.example' })).status).toBe(
      403,
    );
    expect((await call(proxy.adminPort, 'GET', '/config_dump', { host: 'evil.example' })).status).toBe(403);
    expect((await call(proxy.adminPort, 'OPTIONS', '/config', { host })).status).toBe(405);
    for (const h of [host, `localhost:${proxy.adminPort}`, '[::1]'])
      expect((await call(proxy.adminPort, 'GET', '/ready', { host: h })).status).toBe(200);
  });

  it('serves the mutating endpoints with the token, and says when the config is no longer what the stream sent', async () => {
    const { proxy, cfg, evilConfig } = await proxyWithRoutes();
    await proxy.applyConfig({ ...cfg, version: 'from-stream' }, 'stream');
    const before = await admin<{ configHash: string; streamConfigHash: string }>(proxy, '/config_hash');
    expect(before.configHash).toBe(before.streamConfigHash);
    const r = await call(
      proxy.adminPort,
      'POST',
      '/config',
      {
        host: `127.0.0.1:${proxy.adminPort}`,
        'content-type': 'application/json',
        authorization: `Bearer ${proxy.adminToken}`,
      },
      evilConfig,
    );
    expect(r.status).toBe(200);
    const after = await admin<{ configHash: string; streamConfigHash: string }>(proxy, '/config_hash');
    expect(after.streamConfigHash).toBe(before.streamConfigHash);
    expect(after.configHash).not.toBe(after.streamConfigHash);
  });

  it('writes the token to a 0600 file when asked', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'admin-token-')), 'id', 'admin-token');
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }), {
      adminTokenFile: file,
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(proxy.adminToken);
    expect(proxy.adminToken.length).toBeGreaterThanOrEqual(43);
  });
});
