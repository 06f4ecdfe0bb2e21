/** Routing with VirtualService semantics, against real upstreams. */
import { describe, expect, it } from 'vitest';
import { cluster, send, simpleConfig, startProxy, startUpstream } from '../support.js';

describe('routing', () => {
  it('matches uri exact/prefix/regex, headers, method, query, authority; first match wins; NR otherwise', async () => {
    const names = ['exact', 'prefix', 'regex', 'header', 'method', 'query', 'absent', 'authority'];
    const ups = await Promise.all(names.map((n) => startUpstream(n)));
    const clusters = names.map((n, i) => cluster(n, [ups[i]!.port]));
    const r = (name: string, match: unknown) => ({ name, match: [match], route: [{ cluster: name }] });
    const cfg = simpleConfig({
      clusters,
      routes: [
        r('exact', { uri: { exact: '/exact' } }),
        r('prefix', { uri: { prefix: '/api/' } }),
        r('regex', { uri: { regex: '/items/[0-9]+' } }),
        r('header', { headers: { 'x-user': { exact: 'jason' } } }),
        r('method', { method: { exact: 'DELETE' } }),
        r('query', { queryParams: { debug: { exact: '1' } } }),
        r('absent', { uri: { prefix: '/opt' }, headers: { 'x-skip': { present: false } } }),
        r('authority', { authority: { prefix: 'special.' } }),
      ],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    expect((await send(port, { path: '/exact' })).body).toBe('exact');
    expect((await send(port, { path: '/api/v1' })).body).toBe('prefix');
    expect((await send(port, { path: '/items/42' })).body).toBe('regex');
    // RE2 full match: a partial match does not count.
    expect((await send(port, { path: '/items/42x' })).status).toBe(404);
    expect((await send(port, { path: '/x', headers: { 'x-user': 'jason' } })).body).toBe('header');
    expect((await send(port, { path: '/x', method: 'DELETE' })).body).toBe('method');
    expect((await send(port, { path: '/x?debug=1' })).body).toBe('query');
    expect((await send(port, { path: '/opt' })).body).toBe('absent');
    expect((await send(port, { path: '/opt', headers: { 'x-skip': '1' } })).status).toBe(404);
    expect((await send(port, { path: '/x', host: 'special.example' })).body).toBe('authority');
    // first match wins: /exact also carries x-user, but the exact route comes first
    expect((await send(port, { path: '/exact', headers: { 'x-user': 'jason' } })).body).toBe('exact');
    const nr = await send(port, { path: '/nothing' });
    expect(nr.status).toBe(404);
    expect(accessLog().at(-1)).toMatchObject({ response_code: 404, response_flags: 'NR', path: '/nothing' });
    expect(ups.every((u) => u.seen.every((s) => s.url !== '/nothing'))).toBe(true);
  });

  it('chooses the virtual host by authority: exact, *.suffix, then *', async () => {
    const [a, b, c] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('c')]);
    const cfg = {
      ...simpleConfig({ clusters: [cluster('a', [a.port]), cluster('b', [b.port]), cluster('c', [c.port])] }),
      routes: [
        {
          name: 'rc',
          virtualHosts: [
            { name: 'fallback', domains: ['*'], routes: [{ route: [{ cluster: 'c' }] }] },
            { name: 'reviews', domains: ['reviews', 'reviews:9080'], routes: [{ route: [{ cluster: 'a' }] }] },
            { name: 'wild', domains: ['*.example.com'], routes: [{ route: [{ cluster: 'b' }] }] },
          ],
        },
      ],
    };
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    expect((await send(port, { host: 'reviews:9080' })).body).toBe('a');
    expect((await send(port, { host: 'reviews' })).body).toBe('a');
    expect((await send(port, { host: 'api.example.com:80' })).body).toBe('b');
    expect((await send(port, { host: 'other' })).body).toBe('c');
  });

  it('splits traffic by weight across subsets (90/10 within ±5 points over 1000 requests)', async () => {
    const [v1, v2] = await Promise.all([startUpstream('v1'), startUpstream('v2')]);
    const cfg = simpleConfig({
      clusters: [
        {
          ...cluster('reviews', [v1.port, v2.port], {}, [{ version: 'v1' }, { version: 'v2' }]),
          subsets: [
            { name: 'v1', labels: { version: 'v1' } },
            { name: 'v2', labels: { version: 'v2' } },
          ],
        },
      ],
      routes: [
        {
          route: [
            { cluster: 'reviews', subset: 'v1', weight: 90 },
            { cluster: 'reviews', subset: 'v2', weight: 10 },
          ],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 10 });
    const replies = await Promise.all(Array.from({ length: 1000 }, () => send(port, { agent })));
    agent.destroy();
    const v2share = replies.filter((r) => r.body === 'v2').length / 10;
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(v2share).toBeGreaterThanOrEqual(5);
    expect(v2share).toBeLessThanOrEqual(15);
  });

  it('rewrites uri (prefix part) and authority, and edits request and response headers', async () => {
    const up = await startUpstream('svc', (req, res) => {
      res.setHeader('x-internal', 'secret');
      res.setHeader('x-upstream', 'yes');
      res.end(`${req.headers.host} ${req.url}`);
    });
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [
        {
          match: [{ uri: { prefix: '/v1/' } }],
          rewrite: { uri: '/api/', authority: 'backend.internal' },
          headers: {
            request: { set: { 'x-env': 'prod' }, add: { 'x-tag': 'mesh' }, remove: ['x-drop'] },
            response: { set: { 'x-served-by': 'meshctl' }, remove: ['x-internal'] },
          },
          route: [
            {
              cluster: 'svc',
              headers: { request: { set: { 'x-dest': 'd1' } }, response: { add: { 'x-dest-resp': 'r1' } } },
            },
          ],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'), {
      path: '/v1/users?id=3',
      headers: { 'x-drop': 'x', 'x-tag': 'client', 'x-env': 'dev' },
    });
    expect(r.body).toBe('backend.internal /api/users?id=3');
    const seen = up.seen[0]!.headers;
    expect(seen['x-env']).toBe('prod');
    expect(seen['x-tag']).toBe('client, mesh');
    expect(seen['x-drop']).toBeUndefined();
    expect(seen['x-dest']).toBe('d1');
    expect(r.headers['x-served-by']).toBe('meshctl');
    expect(r.headers['x-internal']).toBeUndefined();
    expect(r.headers['x-upstream']).toBe('yes');
    expect(r.headers['x-dest-resp']).toBe('r1');
  });

  it('rewrites the path with an RE2 regex (uriRegexRewrite), every match, groups as \\1, query kept', async () => {
    const up = await startUpstream('svc', (req, res) => res.end(req.url));
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [
        {
          rewrite: { uriRegex: { match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1' } },
          route: [{ cluster: 'svc' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'), { path: '/service/foo/v1/api?x=1' })).body).toBe(
      '/v1/api/instance/foo?x=1',
    );
    expect((await send(proxy.listenerPort('out'), { path: '/other' })).body).toBe('/other');
  });

  it('redirects with derivePort (scheme default or the request port) and prefixRewrite', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [
        {
          match: [{ uri: { prefix: '/default/' } }],
          redirect: { scheme: 'https', derivePort: 'FROM_PROTOCOL_DEFAULT' },
        },
        {
          match: [{ uri: { prefix: '/keep/' } }],
          redirect: { authority: 'new.example', derivePort: 'FROM_REQUEST_PORT' },
        },
        { match: [{ uri: { prefix: '/old/' } }], redirect: { prefixRewrite: '/new/', redirectCode: 308 } },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    expect((await send(port, { host: 'shop.example:8080', path: '/default/a' })).headers.location).toBe(
      'https://shop.example/default/a',
    );
    expect((await send(port, { host: 'shop.example:8080', path: '/keep/b' })).headers.location).toBe(
      'http://new.example:8080/keep/b',
    );
    const moved = await send(port, { host: 'shop.example:8080', path: '/old/c/d?q=1' });
    expect(moved.status).toBe(308);
    expect(moved.headers.location).toBe('http://shop.example:8080/new/c/d?q=1');
    expect(up.seen).toHaveLength(0);
  });

  it('answers redirects and direct responses itself', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [
        { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'example.com', redirectCode: 302 } },
        { match: [{ uri: { exact: '/health' } }], directResponse: { status: 200, body: 'ok from proxy' } },
        { route: [{ cluster: 'svc' }] },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    const red = await send(port, { path: '/old?q=1' });
    expect(red.status).toBe(302);
    expect(red.headers.location).toBe('http://example.com/new?q=1');
    const direct = await send(port, { path: '/health' });
    expect(direct).toMatchObject({ status: 200, body: 'ok from proxy' });
    expect(up.seen).toHaveLength(0);
  });

  it('matches sourceLabels against the proxy node and port against the destination port', async () => {
    const [a, b] = await Promise.all([startUpstream('canary'), startUpstream('stable')]);
    const cfg = simpleConfig({
      clusters: [cluster('canary', [a.port]), cluster('stable', [b.port])],
      routes: [
        { match: [{ sourceLabels: { app: 'productpage', version: 'v2' } }], route: [{ cluster: 'canary' }] },
        { match: [{ port: 1 }], route: [{ cluster: 'canary' }] },
        { route: [{ cluster: 'stable' }] },
      ],
      extra: { node: { labels: { app: 'productpage', version: 'v1' } } },
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).body).toBe('stable');
    const v2 = await proxy.applyConfig({
      ...cfg,
      version: 'v2',
      node: { labels: { app: 'productpage', version: 'v2' } },
    });
    expect(v2.ok).toBe(true);
    expect((await send(proxy.listenerPort('out'))).body).toBe('canary');
  });
});
