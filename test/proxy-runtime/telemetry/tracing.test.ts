/**
 * Span export: a client span on the source sidecar and a server span on the destination's, parented
 * through the propagated context, with Istio's tags; Zipkin v2 and OTLP/HTTP JSON batches sent to
 * real collectors on loopback; sampling; a collector that hangs costs no request, only counted drops.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Proxy } from '../../../src/proxy-runtime/proxy.js';
import { closeAfter, cluster, eventually, send, simpleConfig, startProxy, startUpstream } from '../support.js';

/** An unlabelled sample of the proxy's Prometheus text. */
async function plainMetric(proxy: Proxy, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  kind: string;
  name: string;
  timestamp: number;
  duration: number;
  localEndpoint: { serviceName: string };
  tags: Record<string, string>;
}

/** A real HTTP collector on loopback that records every batch posted to it. */
async function startCollector(
  answer: 'ok' | 'hang' = 'ok',
): Promise<{ address: string; batches: { path: string; body: unknown }[] }> {
  const batches: { path: string; body: unknown }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      batches.push({ path: req.url ?? '', body: JSON.parse(body) as unknown });
      if (answer === 'ok') res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, batches };
}

/** One sidecar sending to an upstream `svc`, exporting spans as `tracing` says; `config` builds its next config. */
async function tracedProxy(tracing: Record<string, unknown>) {
  const up = await startUpstream('svc');
  const config = (t: Record<string, unknown>, version?: string) =>
    simpleConfig({
      ...(version ? { version } : {}),
      clusters: [cluster('svc', [up.port])],
      extra: { telemetry: { tracing: t } },
    });
  const { proxy } = await startProxy(config(tracing));
  return { up, proxy, config };
}

/** Every Zipkin span the collector received so far. */
const zipkinSpans = (collector: { batches: { body: unknown }[] }) =>
  collector.batches.flatMap((b) => b.body as ZipkinSpan[]);

/** Source sidecar (outbound) -> destination sidecar (inbound) -> app, both exporting to `tracing`. */
async function twoSidecars(tracing: Record<string, unknown>) {
  const app = await startUpstream('app');
  const node = (workload: string, app: string) => ({
    node: { id: `sidecar~${workload}`, workload, namespace: 'default', labels: { app, version: 'v1' } },
  });
  const dest = await startProxy({
    ...simpleConfig({
      clusters: [cluster('inbound|9080||', [app.port], { service: 'reviews.default.svc.cluster.local' })],
      listener: { direction: 'inbound' },
      extra: { ...node('reviews-v1', 'reviews'), telemetry: { tracing } },
    }),
  });
  const src = await startProxy(
    simpleConfig({
      clusters: [
        cluster('outbound|9080||reviews.default.svc.cluster.local', [dest.proxy.listenerPort('out')], {
          service: 'reviews.default.svc.cluster.local',
        }),
      ],
      extra: { ...node('productpage-v1', 'productpage'), telemetry: { tracing } },
    }),
  );
  return { app, src: src.proxy, dest: dest.proxy };
}

describe('span export', () => {
  it('reports a client span on the source and a server span on the destination, one trace, parented, with Istio tags (Zipkin v2)', async () => {
    const collector = await startCollector();
    const { app, src } = await twoSidecars({
      sampling: 100,
      zipkin: { address: collector.address },
      customTags: {
        team: { literal: { value: 'books' } },
        tenant: { header: { name: 'x-tenant', defaultValue: 'none' } },
      },
    });
    const callerSpan = '00f067aa0ba902b7';
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const r = await send(src.listenerPort('out'), {
      path: '/reviews/1',
      headers: { traceparent: `00-${traceId}-${callerSpan}-01`, 'x-tenant': 'acme', host: 'reviews:9080' },
    });
    expect(r.status).toBe(200);
    await eventually(() => zipkinSpans(collector).length === 2, 'two spans exported', 500);
    expect(collector.batches.every((b) => b.path === '/api/v2/spans')).toBe(true);
    const spans = zipkinSpans(collector);
    const client = spans.find((s) => s.kind === 'CLIENT')!;
    const server = spans.find((s) => s.kind === 'SERVER')!;
    expect(client.traceId).toBe(traceId);
    expect(server.traceId).toBe(traceId);
    expect(client.parentId).toBe(callerSpan);
    expect(server.parentId).toBe(client.id);
    // the app sees the server span as its parent
    expect(String(app.seen[0]!.headers.traceparent).split('-')[2]).toBe(server.id);
    expect(client.localEndpoint.serviceName).toBe('productpage.default');
    expect(server.localEndpoint.serviceName).toBe('reviews.default');
    expect(client.name).toBe('reviews.default.svc.cluster.local:9080/*');
    expect(client.tags).toMatchObject({
      node_id: 'sidecar~productpage-v1',
      'istio.canonical_service': 'productpage',
      'istio.canonical_revision': 'v1',
      'istio.namespace': 'default',
      'http.method': 'GET',
      'http.url': 'http://reviews:9080/reviews/1',
      'http.status_code': '200',
      response_flags: '-',
      upstream_cluster: 'outbound|9080||reviews.default.svc.cluster.local',
      component: 'proxy',
      'guid:x-request-id': app.seen[0]!.headers['x-request-id'],
      team: 'books',
      tenant: 'acme',
    });
    expect(client.tags['peer.address']).toBe('127.0.0.1');
    expect(client.duration).toBeGreaterThan(0);
    expect(Math.abs(client.timestamp / 1000 - Date.now())).toBeLessThan(60_000);
  });

  it('sends OTLP/HTTP JSON with hex ids, span kinds and attributes', async () => {
    const collector = await startCollector();
    const { src } = await twoSidecars({ sampling: 100, openTelemetry: { address: `http://${collector.address}` } });
    expect((await send(src.listenerPort('out'))).status).toBe(200);
    type Otlp = {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue: string } }[] };
        scopeSpans: {
          spans: {
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            kind: number;
            attributes: { key: string }[];
          }[];
        }[];
      }[];
    };
    const spans = () =>
      collector.batches.flatMap((b) =>
        (b.body as Otlp).resourceSpans.flatMap((rs) =>
          rs.scopeSpans.flatMap((ss) =>
            ss.spans.map((s) => ({ ...s, service: rs.resource.attributes[0]!.value.stringValue })),
          ),
        ),
      );
    await eventually(() => spans().length === 2, 'two spans exported', 500);
    expect(collector.batches.every((b) => b.path === '/v1/traces')).toBe(true);
    const client = spans().find((s) => s.kind === 3)!;
    const server = spans().find((s) => s.kind === 2)!;
    expect(client.service).toBe('productpage.default');
    expect(server.service).toBe('reviews.default');
    expect(client.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.traceId).toBe(client.traceId);
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.parentSpanId).toBeUndefined();
    expect(client.attributes.map((a) => a.key)).toContain('istio.canonical_service');
  });

  it('samples new traces at the configured percentage and honours an incoming decision', async () => {
    const collector = await startCollector();
    const { up, proxy, config } = await tracedProxy({ sampling: 0, zipkin: { address: collector.address } });
    for (let i = 0; i < 5; i++) await send(proxy.listenerPort('out'));
    await send(proxy.listenerPort('out'), {
      headers: {
        'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
        'x-b3-spanid': 'e457b5a2e4d86bd1',
        'x-b3-sampled': '1',
      },
    });
    await send(proxy.listenerPort('out'), { headers: { b3: '80f198ee56343ba864fe8b2a57d3eff8-05e3ac9a4f6e3b90-0' } });
    expect(up.seen.slice(0, 5).every((s) => s.headers['x-b3-sampled'] === '0')).toBe(true);
    await eventually(() => collector.batches.length > 0, 'a batch exported', 500);
    proxy.telemetry.spans.flush();
    const spans = zipkinSpans(collector);
    expect(spans.map((s) => s.traceId)).toEqual(['80f198ee56343ba864fe8b2a57d3eff7']);
    expect(spans[0]!.parentId).toBe('e457b5a2e4d86bd1');

    // a config change reaches the running proxy: 100% now
    expect((await proxy.applyConfig(config({ sampling: 100, zipkin: { address: collector.address } }, 'v2'))).ok).toBe(
      true,
    );
    await send(proxy.listenerPort('out'));
    await eventually(() => zipkinSpans(collector).length === 2, 'the new trace exported', 500);
  });

  it('exports valid JSON whatever trace context and request id a caller sends: hostile ids start a new trace', async () => {
    const collector = await startCollector();
    const { proxy } = await tracedProxy({ sampling: 100, zipkin: { address: collector.address } });
    const hostile = [
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e473"-00f067aa0ba902b7-01', 'x-request-id': 'say "hi"' },
      { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', 'x-request-id': 'back\\slash' },
      { 'x-b3-traceid': '80f198ee56343ba8"},"x":"', 'x-b3-spanid': 'e457b5a2e4d86bd"', 'x-request-id': 'caf\u00e9' },
      { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd\\-1', 'x-request-id': 'a\tb' },
    ];
    for (const headers of hostile) expect((await send(proxy.listenerPort('out'), { headers })).status).toBe(200);
    proxy.telemetry.spans.flush();
    // the collector parses every batch: a span written unescaped would have failed it
    await eventually(() => zipkinSpans(collector).length === 4, 'all spans', 500);
    const spans = zipkinSpans(collector);
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.id).toMatch(/^[0-9a-f]{16}$/);
      expect(s.parentId ?? '0123456789abcdef').toMatch(/^[0-9a-f]{16}$/);
    }
    expect(spans.map((s) => s.tags['guid:x-request-id'])).toEqual(hostile.map((h) => h['x-request-id']));
    // the single b3 header's trace id was sound: its trace goes on, its bad span id is not taken as the parent
    expect(spans[3]!.traceId).toBe('80f198ee56343ba864fe8b2a57d3eff7');
    expect(spans[3]!.parentId).toBeUndefined();
  });

  it('never fails or holds a request when the collector hangs: spans beyond the queue are dropped and counted', async () => {
    const collector = await startCollector('hang');
    const { proxy } = await tracedProxy({ sampling: 100, maxQueuedSpans: 10, zipkin: { address: collector.address } });
    let failed = 0;
    for (let i = 0; i < 40; i++) if ((await send(proxy.listenerPort('out'))).status !== 200) failed++;
    expect(failed).toBe(0);
    proxy.telemetry.spans.flush();
    await eventually(() => collector.batches.length === 1, 'the first batch reached the hanging collector', 500);
    // every span is either in the batch the collector holds, queued behind it, or counted as dropped
    const held = (collector.batches[0]!.body as unknown[]).length;
    const dropped = await plainMetric(proxy, 'meshctl_proxy_spans_dropped_total');
    expect(dropped).toBe(40 - held - proxy.telemetry.spans.queued);
    expect(dropped).toBeGreaterThanOrEqual(20);
    expect(await plainMetric(proxy, 'meshctl_proxy_spans_exported_total')).toBe(0);
  });

  it('counts a batch the collector is not there to take as dropped, and requests still pass', async () => {
    const { proxy } = await tracedProxy({ sampling: 100, zipkin: { address: '127.0.0.1:1' } });
    for (let i = 0; i < 3; i++) expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    proxy.telemetry.spans.flush();
    await eventually(
      async () => (await plainMetric(proxy, 'meshctl_proxy_spans_dropped_total')) === 3,
      'three spans counted as dropped',
      500,
    );
  });
});
