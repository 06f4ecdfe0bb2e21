/** Istio metrics on the telemetry port, the JSON access log, request ids and trace propagation. */
import { Agent } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cluster, eventually, metricValue, send, simpleConfig, startProxy, startUpstream } from '../support.js';
import { prepareTracing, releaseIds, requestId } from '../../../src/proxy-runtime/telemetry/trace.js';
import type { Exchange } from '../../../src/proxy-runtime/http/exchange.js';

describe('metrics', () => {
  it('exposes istio_* metrics with Istio labels, plus the proxy gauges, on /stats/prometheus', async () => {
    const up = await startUpstream('svc', (req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('body!');
    });
    const c = {
      ...cluster('reviews', [up.port], { service: 'reviews.default.svc.cluster.local' }, [
        { app: 'reviews', version: 'v2', namespace: 'default' },
      ]),
    };
    const cfg = simpleConfig({
      clusters: [c],
      version: 'metrics-1',
      extra: {
        node: { workload: 'productpage-v1', namespace: 'default', labels: { app: 'productpage', version: 'v1' } },
      },
    });
    const { proxy } = await startProxy(cfg);
    await send(proxy.listenerPort('out'), { method: 'POST', body: '12345' });
    await send(proxy.listenerPort('out'), { path: '/missing' });
    const base = {
      reporter: 'source',
      source_workload: 'productpage-v1',
      source_app: 'productpage',
      source_version: 'v1',
      destination_app: 'reviews',
      destination_version: 'v2',
      destination_service: 'reviews.default.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'default',
      request_protocol: 'http',
      response_flags: '-',
    };
    expect(await metricValue(proxy, 'istio_requests_total', { ...base, response_code: '200' })).toBe(1);
    expect(await metricValue(proxy, 'istio_requests_total', { ...base, response_code: '404' })).toBe(1);
    expect(
      await metricValue(proxy, 'istio_request_duration_milliseconds_count', { ...base, response_code: '200' }),
    ).toBe(1);
    expect(await metricValue(proxy, 'istio_request_bytes_sum', { ...base, response_code: '200' })).toBe(5);
    expect(await metricValue(proxy, 'istio_response_bytes_sum', { ...base, response_code: '200' })).toBe(5);
    expect(await metricValue(proxy, 'meshctl_proxy_config_version_info', { version: 'metrics-1' })).toBe(1);
    expect(await metricValue(proxy, 'meshctl_proxy_config_applies_total', { result: 'accepted' })).toBe(1);
    const ready = await fetch(`http://127.0.0.1:${proxy.telemetryPort}/healthz/ready`);
    expect(ready.status).toBe(200);
  });

  it('counts each response code of one kept-alive connection in its own series', async () => {
    const up = await startUpstream('svc', (req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('ok');
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const connections = new Set<unknown>();
    agent.on('free', (socket) => connections.add(socket));
    try {
      for (const path of ['/', '/missing', '/', '/', '/missing'])
        expect((await send(proxy.listenerPort('out'), { path, agent })).status).toBe(path === '/' ? 200 : 404);
    } finally {
      agent.destroy();
    }
    expect(connections.size).toBe(1);
    expect(await metricValue(proxy, 'istio_requests_total', { response_code: '200' })).toBe(3);
    expect(await metricValue(proxy, 'istio_requests_total', { response_code: '404' })).toBe(2);
  });

  it('labels each request with the route that matched (route=""), also on one kept-alive connection', async () => {
    const up = await startUpstream('svc');
    const routes = [
      { name: 'GET /books/{id}', match: [{ uri: { prefix: '/books/' } }], route: [{ cluster: 'svc' }] },
      { name: 'default', route: [{ cluster: 'svc' }] },
    ];
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])], routes }));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const path of ['/books/1', '/', '/books/2', '/books/3', '/authors'])
        expect((await send(proxy.listenerPort('out'), { path, agent })).status).toBe(200);
    } finally {
      agent.destroy();
    }
    expect(await metricValue(proxy, 'istio_requests_total', { route: 'GET /books/{id}' })).toBe(3);
    expect(await metricValue(proxy, 'istio_requests_total', { route: 'default' })).toBe(2);
    expect(await metricValue(proxy, 'istio_request_duration_milliseconds_count', { route: 'GET /books/{id}' })).toBe(3);
  });

  it('keeps one series per label set, never going back, across config swaps on kept-alive and new connections', async () => {
    const up = await startUpstream('svc');
    const cfg = (version: string) =>
      simpleConfig({ version, clusters: [cluster('svc', [up.port], { service: 'svc.default.svc.cluster.local' })] });
    const { proxy } = await startProxy(cfg('v1'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const seen: number[] = [];
    const scrape = async () => {
      const text = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
      return text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    };
    try {
      for (const version of ['v1', 'v2', 'v3', 'v4']) {
        if (version !== 'v1') expect((await proxy.applyConfig(cfg(version))).ok).toBe(true);
        await send(proxy.listenerPort('out'), { agent });
        await send(proxy.listenerPort('out'));
        const lines = await scrape();
        // one line: identical label sets would make Prometheus refuse the scrape (or keep an arbitrary sample)
        expect(lines).toHaveLength(1);
        seen.push(Number(lines[0]!.slice(lines[0]!.lastIndexOf(' ') + 1)));
      }
    } finally {
      agent.destroy();
    }
    expect(seen).toEqual([2, 4, 6, 8]);
    const text = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
    const keys = text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.slice(0, l.lastIndexOf(' ')));
    expect(keys.length).toBe(new Set(keys).size);
  });

  it('uses Istio (Envoy default) histogram buckets for duration and both sizes', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    await send(proxy.listenerPort('out'));
    const text = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
    const istio = [
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
    ];
    const more = ['300000', '600000', '1800000', '3600000', '+Inf'];
    for (const name of ['istio_request_duration_milliseconds', 'istio_request_bytes', 'istio_response_bytes']) {
      const les = text
        .split('\n')
        .filter((l) => l.startsWith(name + '_bucket{'))
        .map((l) => /le="([^"]+)"/.exec(l)![1]);
      expect(les).toEqual([...istio, ...more]);
    }
  });

  it('labels local replies with their response flags', async () => {
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('down', [1])] }));
    await send(proxy.listenerPort('out'));
    expect(await metricValue(proxy, 'istio_requests_total', { response_code: '503', response_flags: 'UF' })).toBe(1);
  });
});

describe('access log', () => {
  it('writes one JSON line per request with method, path, code, flags, duration, upstream, ids', async () => {
    const up = await startUpstream('svc');
    const { proxy, accessLog } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    await send(proxy.listenerPort('out'), {
      path: '/a?b=1',
      headers: { 'user-agent': 'test-agent', 'x-request-id': 'rid-1' },
    });
    const [line] = accessLog();
    expect(line).toMatchObject({
      method: 'GET',
      path: '/a?b=1',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      upstream_cluster: 'svc',
      upstream_host: `127.0.0.1:${up.port}`,
      request_id: 'rid-1',
      user_agent: 'test-agent',
      bytes_sent: 3,
    });
    expect(typeof line!.duration).toBe('number');
    expect(line!.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('access log settings', () => {
  it("writes TEXT lines in Envoy's default format, to a 0600 file, as a config change says, without a restart", async () => {
    const up = await startUpstream('svc');
    const dir = mkdtempSync(join(tmpdir(), 'meshctl-access-'));
    const file = join(dir, 'access.log');
    const cfg = (version: string, telemetry: Record<string, unknown>) =>
      simpleConfig({ version, clusters: [cluster('svc', [up.port])], extra: { telemetry } });
    const { proxy, accessLog } = await startProxy(cfg('v1', {}));
    await send(proxy.listenerPort('out'), { path: '/json' });
    expect(accessLog().map((l) => l.path)).toEqual(['/json']);

    expect((await proxy.applyConfig(cfg('v2', { accessLog: file, accessLogEncoding: 'TEXT' }))).ok).toBe(true);
    await send(proxy.listenerPort('out'), {
      path: '/text?q=1',
      headers: { 'user-agent': 'curl/8', 'x-request-id': 'rid-7', 'x-forwarded-for': '10.0.0.1' },
    });
    proxy.telemetry.accessLog.flush();
    await eventually(
      () => existsSync(file) && readFileSync(file, 'utf8').includes('\n'),
      'the line reached the file',
      500,
    );
    const line = readFileSync(file, 'utf8').trim();
    expect(line).toMatch(
      new RegExp(
        `^\\[\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\] "GET /text\\?q=1 HTTP/1.1" 200 - 0 3 \\d+ - "10.0.0.1" "curl/8" "rid-7" "svc" "127.0.0.1:${up.port}"$`,
      ),
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);

    expect((await proxy.applyConfig(cfg('v3', { accessLog: 'off' }))).ok).toBe(true);
    await send(proxy.listenerPort('out'), { path: '/off' });
    proxy.telemetry.accessLog.flush();
    expect(accessLog().map((l) => l.path)).toEqual(['/json']);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  });
});

describe('metrics overrides (Telemetry metrics, as the control plane resolves them)', () => {
  it('disables, removes and upserts per metric and side on HTTP and TCP; a missing attribute is unknown; a bad expression is NACKed', async () => {
    const up = await startUpstream('svc');
    const echo = createTcpServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const cfg = (version: string, metrics: Record<string, unknown> | undefined) =>
      simpleConfig({
        version,
        clusters: [cluster('svc', [up.port]), cluster('db', [echoPort], { service: 'db.default.svc.cluster.local' })],
        extra: {
          telemetry: metrics ? { metrics } : {},
          listeners: [
            { name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'rc' }] },
            { name: 'db', port: 0, direction: 'outbound', chains: [{ protocol: 'tcp', tcpCluster: 'db' }] },
          ],
        },
      });
    const overrides = {
      overrides: [
        {
          metric: 'REQUEST_COUNT',
          mode: 'CLIENT',
          tags: [
            { name: 'response_flags', remove: true },
            { name: 'ua', value: "request.headers['user-agent']" },
          ],
        },
        { metric: 'REQUEST_DURATION', mode: 'CLIENT', disabled: true },
        { metric: 'TCP_OPENED_CONNECTIONS', mode: 'CLIENT', disabled: true },
        {
          metric: 'TCP_SENT_BYTES',
          mode: 'CLIENT',
          tags: [
            { name: 'peer', value: 'destination.port' },
            { name: 'method', value: 'request.method' },
          ],
        },
      ],
    };
    const { proxy } = await startProxy(cfg('v1', overrides));
    await send(proxy.listenerPort('out'), { headers: { 'user-agent': 'curl/8' } });
    await send(proxy.listenerPort('out'), {});
    await new Promise<void>((resolve) => {
      const s = connect(proxy.listenerPort('db'), '127.0.0.1', () => s.end('ping'));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
    });
    const scrape = async () => (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
    await eventually(
      async () => (await scrape()).includes('istio_tcp_connections_closed_total{'),
      'the TCP close counted',
    );
    const text = await scrape();
    const lines = (name: string) => text.split('\n').filter((l) => l.startsWith(name + '{'));
    expect(
      lines('istio_requests_total')
        .map((l) => l.match(/ua="([^"]*)"/)?.[1])
        .sort(),
    ).toEqual(['curl/8', 'unknown']);
    expect(lines('istio_requests_total').every((l) => !l.includes('response_flags='))).toBe(true);
    expect(lines('istio_request_duration_milliseconds_bucket')).toEqual([]);
    // REQUEST_SIZE untouched: its standard labels, both requests in one series
    expect(lines('istio_request_bytes_count').map((l) => l.split(' ').pop())).toEqual(['2']);
    expect(lines('istio_tcp_connections_opened_total')).toEqual([]);
    const sent = lines('istio_tcp_sent_bytes_total');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain(`peer="${echoPort}",method="unknown"}`);
    expect(lines('istio_tcp_received_bytes_total')[0]).toContain('response_flags=');

    const bad = await proxy.applyConfig(
      cfg('v2', {
        overrides: [{ metric: 'REQUEST_COUNT', mode: 'SERVER', tags: [{ name: 'x', value: 'size(request.path)' }] }],
      }),
    );
    expect(bad.ok ? '' : bad.error).toContain('telemetry.metrics.overrides[0] tag x: "size" is not supported');
    expect(proxy.version).toBe('v1');
    // no Prometheus provider in scope: no Istio metric at all
    expect((await proxy.applyConfig(cfg('v3', { disabled: true }))).ok).toBe(true);
    expect((await scrape()).includes('istio_')).toBe(false);
    echo.close();
  });
});

describe('access log filter', () => {
  it('logs only the requests the filter selects, and refuses a filter it cannot evaluate (NACK, the old config stays)', async () => {
    const up = await startUpstream('svc', (req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('x');
    });
    const cfg = (version: string, accessLogFilter: string) =>
      simpleConfig({ version, clusters: [cluster('svc', [up.port])], extra: { telemetry: { accessLogFilter } } });
    const { proxy, accessLog } = await startProxy(cfg('v1', 'response.code >= 400'));
    for (const path of ['/', '/missing', '/ok']) await send(proxy.listenerPort('out'), { path });
    expect(accessLog().map((l) => [l.path, l.response_code])).toEqual([['/missing', 404]]);
    const bad = await proxy.applyConfig(cfg('v2', 'response.duration > 10'));
    expect(bad.ok).toBe(false);
    expect(bad.ok ? '' : bad.error).toContain('telemetry.accessLogFilter: "response.duration" is not supported');
    expect(proxy.version).toBe('v1');
  });
});

describe('request id and tracing', () => {
  it('generates x-request-id when absent and keeps it when present', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    await send(proxy.listenerPort('out'));
    await send(proxy.listenerPort('out'), { headers: { 'x-request-id': 'keep-me' } });
    expect(up.seen[0]!.headers['x-request-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(up.seen[1]!.headers['x-request-id']).toBe('keep-me');
  });

  it('continues a W3C trace as a child span and writes the same trace in B3 headers', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await send(proxy.listenerPort('out'), {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=x' },
    });
    const h = up.seen[0]!.headers;
    const [, tid, span, flags] = String(h.traceparent).split('-');
    expect(tid).toBe(traceId);
    expect(span).not.toBe('00f067aa0ba902b7');
    expect(flags).toBe('01');
    expect(h.tracestate).toBe('vendor=x');
    expect(h['x-b3-traceid']).toBe(traceId);
    expect(h['x-b3-spanid']).toBe(span);
    expect(h['x-b3-parentspanid']).toBe('00f067aa0ba902b7');
    expect(h['x-b3-sampled']).toBe('1');
  });

  it('continues a B3 trace (multi-header and single b3) and starts one when there is none', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    await send(proxy.listenerPort('out'), {
      headers: {
        'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
        'x-b3-spanid': 'e457b5a2e4d86bd1',
        'x-b3-sampled': '0',
      },
    });
    await send(proxy.listenerPort('out'), { headers: { b3: '80f198ee56343ba864fe8b2a57d3eff8-05e3ac9a4f6e3b90-1' } });
    await send(proxy.listenerPort('out'));
    const [multi, single, none] = up.seen.map((s) => s.headers);
    expect(String(multi!.traceparent)).toMatch(/^00-80f198ee56343ba864fe8b2a57d3eff7-[0-9a-f]{16}-00$/);
    expect(multi!['x-b3-parentspanid']).toBe('e457b5a2e4d86bd1');
    expect(String(single!.b3)).toMatch(/^80f198ee56343ba864fe8b2a57d3eff8-[0-9a-f]{16}-1-05e3ac9a4f6e3b90$/);
    expect(String(none!.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(none!['x-b3-traceid']).toBe(String(none!.traceparent).split('-')[1]);
  });
});

describe('request ids', () => {
  it('are version 4 UUIDs, all different, across refills of the random pool', () => {
    const ids = Array.from({ length: 2000 }, () => requestId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('hand spans the bytes of the ids they generated, still the same after later refills and batches', () => {
    const traced = { telemetry: { tracing: { sampling: 100 } } };
    const exchange = (headers: Record<string, string> = {}, config: object = traced) =>
      ({ headers, runtime: { config } }) as unknown as Exchange;
    // enough requests for several refills of the random pool and batches of UUIDs
    const made = Array.from({ length: 3000 }, () => {
      const ex = exchange();
      prepareTracing(ex);
      return ex;
    });
    for (const ex of made) {
      expect(ex.idBytes!.toString('latin1', ex.idBytesAt, ex.idBytesAt + 48)).toBe(ex.traceId + ex.spanId);
      expect(ex.requestIdBytes!.toString('latin1', ex.requestIdAt, ex.requestIdAt + 36)).toBe(ex.requestId);
    }
    expect(new Set(made.map((ex) => ex.traceId)).size).toBe(made.length);
    // ids that came with the request have no bytes: a span writes them from the strings
    const continued = exchange({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-request-id': 'from-the-caller',
    });
    prepareTracing(continued);
    expect(continued.idBytes).toBeUndefined();
    expect(continued.requestIdBytes).toBeUndefined();
    expect(continued.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    // no span will be exported (tracing off, or not sampled): the request holds no bytes (they would keep a whole
    // generation of the pool alive for as long as it lasts)
    for (const ex of [
      exchange({}, {}),
      exchange({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' }),
    ]) {
      prepareTracing(ex);
      expect(ex.idBytes).toBeUndefined();
      expect(ex.requestIdBytes).toBeUndefined();
    }
    const unsampled = exchange({}, { telemetry: { tracing: { sampling: 0 } } });
    prepareTracing(unsampled);
    expect(unsampled.sampled).toBe(false);
    expect(unsampled.idBytes).toBeUndefined();
    expect(unsampled.requestIdBytes).toBeUndefined();
  });

  it('a request that outlives two refills of the pool gets ids of its own, the same ids, header fields and bytes', () => {
    const traced = { telemetry: { tracing: { sampling: 100 } } };
    const exchange = (headers: Record<string, string> = {}) =>
      ({ headers, runtime: { config: traced } }) as unknown as Exchange;
    const stream = exchange({ b3: '1' });
    prepareTracing(stream);
    const finished = exchange();
    prepareTracing(finished);
    releaseIds(finished);
    const before = { ...stream.headers };
    const ids = [stream.requestId, stream.traceId, stream.spanId];
    const poolBytes = stream.idBytes;
    const finishedBytes = finished.idBytes;
    // other requests: enough to refill the pool twice (each takes 24 bytes, and 16 per UUID)
    for (let i = 0; i < 600; i++) prepareTracing(exchange());
    expect(stream.idBytes).not.toBe(poolBytes);
    expect(stream.idBytes!.length).toBe(48);
    expect(stream.requestIdBytes!.length).toBe(36);
    expect([stream.requestId, stream.traceId, stream.spanId]).toEqual(ids);
    expect(stream.headers).toEqual(before);
    expect(stream.idBytes!.toString('latin1', stream.idBytesAt, stream.idBytesAt + 48)).toBe(ids[1]! + ids[2]!);
    expect(stream.requestIdBytes!.toString('latin1', stream.requestIdAt, stream.requestIdAt + 36)).toBe(ids[0]);
    // a finished request is left alone: nothing is copied for it
    expect(finished.idBytes).toBe(finishedBytes);
  });
});
