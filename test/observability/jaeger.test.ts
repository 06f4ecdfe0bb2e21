/**
 * A real Jaeger v2 (OTLP/HTTP and Zipkin receivers, query API): one request through two sidecars is
 * one trace with the right parents and Istio's tags, whichever protocol each sidecar exports with;
 * and killing the collector under load costs no request, only counted span drops.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { observabilityBinaries, startJaeger, type RunningJaeger } from './backends.js';
import { cluster, eventually, send, simpleConfig, startProxy, startUpstream } from '../proxy-runtime/support.js';
import type { Proxy } from '../../src/proxy-runtime/proxy.js';

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: { refType: string; spanID: string }[];
  tags: { key: string; value: unknown }[];
  processID: string;
}
interface JaegerTrace {
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

async function trace(jaeger: RunningJaeger, traceId: string): Promise<JaegerTrace | undefined> {
  const r = await fetch(`${jaeger.queryUrl}/api/traces/${traceId}`);
  if (!r.ok) return undefined;
  return ((await r.json()) as { data: JaegerTrace[] }).data[0];
}

/** productpage's sidecar (outbound) -> reviews' sidecar (inbound) -> the app; each exporting as `tracing` says. */
async function twoSidecars(srcTracing: Record<string, unknown>, destTracing: Record<string, unknown>) {
  const app = await startUpstream('app');
  const node = (workload: string, app: string) => ({
    node: { id: `sidecar~${workload}`, workload, namespace: 'bookinfo', labels: { app, version: 'v1' } },
  });
  const dest = await startProxy(
    simpleConfig({
      clusters: [cluster('inbound|9080||', [app.port], { service: 'reviews.bookinfo.svc.cluster.local' })],
      listener: { direction: 'inbound' },
      extra: { ...node('reviews-v1', 'reviews'), telemetry: { tracing: destTracing } },
    }),
  );
  const src = await startProxy(
    simpleConfig({
      clusters: [
        cluster('outbound|9080||reviews.bookinfo.svc.cluster.local', [dest.proxy.listenerPort('out')], {
          service: 'reviews.bookinfo.svc.cluster.local',
        }),
      ],
      extra: { ...node('productpage-v1', 'productpage'), telemetry: { tracing: srcTracing } },
    }),
  );
  return { app, src: src.proxy, dest: dest.proxy };
}

function plain(proxy: Proxy, name: string): Promise<number> {
  return fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)
    .then((r) => r.text())
    .then((t) =>
      Number(
        t
          .split('\n')
          .find((l) => l.startsWith(name + ' '))
          ?.slice(name.length + 1) ?? NaN,
      ),
    );
}

describeRequiring([observabilityBinaries], "Jaeger receiving the sidecars' spans", () => {
  let jaeger: RunningJaeger;
  beforeAll(async () => {
    jaeger = await startJaeger();
  }, 120_000);
  afterAll(async () => {
    await jaeger?.stop();
  });

  it('shows one request through two sidecars as one trace: client span (OTLP) parent of server span (Zipkin), Istio tags', async () => {
    const { app, src } = await twoSidecars(
      { sampling: 100, openTelemetry: { address: jaeger.otlpAddress } },
      { sampling: 100, zipkin: { address: jaeger.zipkinAddress } },
    );
    const r = await send(src.listenerPort('out'), { path: '/reviews/0', headers: { host: 'reviews.bookinfo:9080' } });
    expect(r.status).toBe(200);
    const traceId = String(app.seen[0]!.headers['x-b3-traceid']);
    src.telemetry.spans.flush();
    const t = await eventually(
      async () => ((await trace(jaeger, traceId))?.spans.length ?? 0) === 2,
      'both spans in Jaeger',
      3000,
    ).then(() => trace(jaeger, traceId));
    const service = (s: JaegerSpan) => t!.processes[s.processID]!.serviceName;
    const tag = (s: JaegerSpan, k: string) => s.tags.find((x) => x.key === k)?.value;
    const client = t!.spans.find((s) => tag(s, 'span.kind') === 'client')!;
    const server = t!.spans.find((s) => tag(s, 'span.kind') === 'server')!;
    expect(service(client)).toBe('productpage.bookinfo');
    expect(service(server)).toBe('reviews.bookinfo');
    expect(client.references).toEqual([]);
    expect(server.references).toEqual([expect.objectContaining({ refType: 'CHILD_OF', spanID: client.spanID })]);
    // the app's parent is the server span
    expect(String(app.seen[0]!.headers['x-b3-spanid'])).toBe(server.spanID);
    for (const s of [client, server]) {
      expect(tag(s, 'http.method')).toBe('GET');
      expect(tag(s, 'http.status_code')).toBe('200');
      expect(tag(s, 'component')).toBe('proxy');
      expect(tag(s, 'istio.namespace')).toBe('bookinfo');
      expect(tag(s, 'guid:x-request-id')).toBe(app.seen[0]!.headers['x-request-id']);
    }
    expect(tag(client, 'istio.canonical_service')).toBe('productpage');
    expect(tag(client, 'upstream_cluster')).toBe('outbound|9080||reviews.bookinfo.svc.cluster.local');
    expect(tag(client, 'http.url')).toBe('http://reviews.bookinfo:9080/reviews/0');
    expect(client.operationName).toBe('reviews.bookinfo.svc.cluster.local:9080/*');
  }, 60_000);

  it('loses no request when the collector is killed under load; the spans it could not take are counted', async () => {
    const { src, dest } = await twoSidecars(
      { sampling: 100, zipkin: { address: jaeger.zipkinAddress } },
      { sampling: 100, openTelemetry: { address: jaeger.otlpAddress } },
    );
    let failed = 0;
    let sent = 0;
    let running = true;
    const workers = Array.from({ length: 4 }, async () => {
      while (running) {
        const r = await send(src.listenerPort('out')).catch(() => ({ status: 0 }));
        sent++;
        if (r.status !== 200) failed++;
      }
    });
    await eventually(() => sent > 200, 'load running', 3000);
    src.telemetry.spans.flush();
    await jaeger.stop();
    const atKill = sent;
    await eventually(() => sent > atKill + 400, 'load while the collector is down', 6000);
    src.telemetry.spans.flush();
    dest.telemetry.spans.flush();
    await eventually(
      async () =>
        (await plain(src, 'meshctl_proxy_spans_dropped_total')) > 0 &&
        (await plain(dest, 'meshctl_proxy_spans_dropped_total')) > 0,
      'drops counted on both sidecars',
      3000,
    );
    await jaeger.restart();
    const exportedAtRestart = await plain(src, 'meshctl_proxy_spans_exported_total');
    const atRestart = sent;
    await eventually(() => sent > atRestart + 200, 'load after the collector is back', 6000);
    running = false;
    await Promise.all(workers);
    expect(failed).toBe(0);
    expect(sent).toBeGreaterThan(800);
    // exporting resumed once the collector was back
    src.telemetry.spans.flush();
    await eventually(
      async () => (await plain(src, 'meshctl_proxy_spans_exported_total')) > exportedAtRestart,
      'spans exported again',
      3000,
    );
  }, 120_000);
});
