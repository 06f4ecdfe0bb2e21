/**
 * Telemetry `metrics` overrides on a live local mesh, seen through a real Prometheus scraping the
 * sidecars: a mesh-wide Telemetry removes a tag (REMOVE), adds tags from CEL expressions (UPSERT
 * `value`) on the SERVER side and disables a metric on the CLIENT side; a selector-scoped one adds
 * a tag and disables a metric for its workload only. Taking them away brings the standard labels
 * back, their counters continuing. What meshctl does not implement (custom metrics, gRPC message
 * metrics, other providers) is MESH0002 at `apply` and `analyze`; a bad expression is refused.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { observabilityBinaries, startPrometheus, type RunningPrometheus } from './backends.js';
import { LocalMeshForTest, eventually, steadyLoad, SERVICE_PORT, type Sidecar } from '../e2e/support/local-mesh.js';
import { runCli } from '../support/cli.js';

const meshWide = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: mesh-default
  namespace: mesh-system
spec:
  metrics:
  - providers:
    - name: prometheus
    overrides:
    - match:
        metric: REQUEST_COUNT
        mode: CLIENT_AND_SERVER
      tagOverrides:
        request_protocol:
          operation: REMOVE
    - match:
        metric: REQUEST_COUNT
        mode: SERVER
      tagOverrides:
        request_method:
          value: request.method
        request_host:
          value: request.host
    - match:
        metric: REQUEST_DURATION
        mode: CLIENT
      disabled: true
`;

const reviewsOnly = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: reviews-metrics
  namespace: default
spec:
  selector:
    matchLabels:
      app: reviews
  metrics:
  - overrides:
    - match:
        metric: REQUEST_SIZE
      disabled: true
    - match:
        metric: REQUEST_COUNT
        mode: SERVER
      tagOverrides:
        api_kind:
          value: 'request.url_path == "/health" ? "probe" : "api/" + string(response.code)'
`;

/** The same two resources with nothing in them: every metric back to its standard labels. */
const cleared = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: mesh-system}
spec: {}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews-metrics, namespace: default}
spec: {}
`;

describeRequiring([observabilityBinaries], 'Telemetry metrics overrides scraped by a real Prometheus', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let reviews: Sidecar;
  let prometheus: RunningPrometheus;
  let load: ReturnType<typeof steadyLoad>;
  const has = async (expr: string) => (await prometheus.query(expr)).length > 0;
  /** Waits until `expr` returns data (or, with `present: false`, none: Prometheus marks a series gone at the next scrape). */
  const until = async (expr: string, present = true) =>
    eventually(`${expr} ${present ? 'present' : 'absent'}`, async () => (await has(expr)) === present, 60_000);

  beforeAll(async () => {
    mesh = await LocalMeshForTest.start();
    reviews = await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
    client = await mesh.run('productpage-v1', { app: 'productpage', version: 'v1' });
    await mesh.settle();
    const status = await runCli(['--local', 'proxy-status', '-o', 'json'], { env: { MESHCTL_HOME: mesh.home } });
    const proxies = (JSON.parse(status.stdout) as { proxies: { telemetryAddress: string | null }[] }).proxies;
    prometheus = await startPrometheus([
      {
        name: 'meshctl-proxies',
        path: '/stats/prometheus',
        targets: proxies.map((p) => p.telemetryAddress).filter((a): a is string => a !== null),
      },
    ]);
    load = steadyLoad(client, 2, `http://reviews:${SERVICE_PORT}/`, 'reviews-v1');
  }, 180_000);

  afterAll(async () => {
    await load?.stop();
    await prometheus?.stop();
    await mesh?.stop();
  });

  it('a disabled metric disappears, a removed tag disappears, upserted tags appear: mesh-wide and per workload', async () => {
    // before: Istio's standard labels on both sides, every metric there
    await until('istio_requests_total{reporter="source",request_protocol="http"}');
    await until('istio_requests_total{reporter="destination",request_protocol="http"}');
    await until('istio_request_duration_milliseconds_count{reporter="source"}');
    await until('istio_request_bytes_count{reporter="destination"}');

    await mesh.applyAndSync(meshWide, reviewsOnly);

    // UPSERT: new tags from CEL expressions on the server side, the mesh-wide ones and the workload's merged
    await until(
      'istio_requests_total{reporter="destination",request_method="GET",request_host="reviews:9080",api_kind="api/200"}',
    );
    // REMOVE (CLIENT_AND_SERVER): no series of either side carries request_protocol any more
    await until('istio_requests_total{request_protocol!=""}', false);
    expect(await has('istio_requests_total{reporter="source"}')).toBe(true);
    // the client side got no server-side tags
    expect(await has('istio_requests_total{reporter="source",request_method!=""}')).toBe(false);
    // disabled on CLIENT only: the source side's durations are gone, the destination's stay
    await until('istio_request_duration_milliseconds_count{reporter="source"}', false);
    expect(await has('istio_request_duration_milliseconds_count{reporter="destination"}')).toBe(true);
    // the selector's REQUEST_SIZE off for reviews (both sides), still on for productpage (its source side)
    await until('istio_request_bytes_count{reporter="destination"}', false);
    expect(await has('istio_request_bytes_count{reporter="source",source_workload="productpage-v1"}')).toBe(true);
    // and the sidecar's own scrape says the same
    const scrape = await (await fetch(`http://127.0.0.1:${reviews.proxy.telemetryPort}/stats/prometheus`)).text();
    const requestLines = scrape.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    expect(requestLines.length).toBeGreaterThan(0);
    for (const l of requestLines) {
      expect(l).toContain(',request_host="reviews:9080",request_method="GET"}');
      expect(l).not.toContain('request_protocol=');
    }
    expect(scrape).not.toContain('istio_request_bytes_bucket');
    // the series that are shown keep counting: the upserted one grows
    const upserted = 'sum(istio_requests_total{reporter="destination",api_kind="api/200"})';
    const first = Number((await prometheus.query(upserted))[0]!.value![1]);
    await eventually(
      'the upserted series counting',
      async () => Number((await prometheus.query(upserted))[0]?.value?.[1] ?? 0) > first,
      60_000,
    );
    // no scrape failed or held two samples of one series across these changes
    const targets = await prometheus.api<{ activeTargets: { health: string; lastError: string }[] }>('/api/v1/targets');
    expect(targets.activeTargets.map((t) => [t.health, t.lastError])).toEqual([
      ['up', ''],
      ['up', ''],
    ]);
    const self = await (await fetch(`${prometheus.url}/metrics`)).text();
    expect(self).toContain('prometheus_target_scrapes_sample_duplicate_timestamp_total 0');
  }, 300_000);

  it('taking the overrides away brings the standard labels back, their counters continuing where they were', async () => {
    await mesh.applyAndSync(cleared);
    await until('istio_requests_total{api_kind!=""}', false);
    await until('istio_requests_total{reporter="destination",request_protocol="http"}');
    await until('istio_request_duration_milliseconds_count{reporter="source"}');
    await until('istio_request_bytes_count{reporter="destination"}');
    // the standard series were kept while hidden: back with their old counts, never reset
    await eventually(
      'a few scrapes of the restored series',
      async () =>
        Number(
          (
            await prometheus.query(
              'count_over_time(istio_requests_total{reporter="destination",request_protocol="http"}[10m])',
            )
          )[0]?.value?.[1] ?? 0,
        ) > 10,
      60_000,
    );
    const resets = await prometheus.query(
      'sum(resets(istio_requests_total{reporter="destination",request_protocol="http"}[10m]))',
    );
    expect(resets.map((r) => r.value![1])).toEqual(['0']);
    const { failed } = await load.stop();
    expect(failed).toEqual([]);
  }, 300_000);

  it('apply and analyze warn (MESH0002) for what is not implemented, and refuse an expression they cannot evaluate', async () => {
    const file = join(mesh.home, 'telemetry-partial.yaml');
    await writeFile(
      file,
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: partial
  namespace: default
spec:
  metrics:
  - providers:
    - name: stackdriver
    reportingInterval: 30s
    overrides:
    - match:
        customMetric: my_requests
      disabled: true
    - match:
        metric: GRPC_REQUEST_MESSAGES
      disabled: true
`,
    );
    const env = { MESHCTL_HOME: mesh.home };
    const applied = await runCli(['--local', 'apply', '-f', file], { env });
    expect(applied.code).toBe(0);
    const warnings = applied.stderr + applied.stdout;
    for (const field of [
      'spec.metrics[0].providers[0].name: only the prometheus metrics provider is implemented',
      'spec.metrics[0].reportingInterval: accepted but not implemented',
      'spec.metrics[0].overrides[0].match.customMetric: accepted but not implemented',
      'spec.metrics[0].overrides[1].match.metric: GRPC_REQUEST_MESSAGES is accepted but not implemented',
    ])
      expect(warnings).toContain(field);
    expect(warnings).toMatch(/Warning \[MESH0002\] \(Telemetry partial\.default\) .*telemetry-partial\.yaml:9 /);
    const analyzed = await runCli(['--local', 'analyze', '-f', file], { env });
    expect(analyzed.stdout + analyzed.stderr).toContain('MESH0002');
    expect(analyzed.stdout + analyzed.stderr).toContain('customMetric');

    const bad = join(mesh.home, 'telemetry-bad.yaml');
    await writeFile(
      bad,
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: bad
  namespace: default
spec:
  metrics:
  - overrides:
    - tagOverrides:
        upstream_app:
          value: upstream_peer.labels['app'].value
        empty_tag: {}
`,
    );
    const refused = await runCli(['--local', 'apply', '-f', bad], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('telemetry-bad.yaml');
    expect(refused.stderr).toContain('"upstream_peer.labels" is not supported');
    expect(refused.stderr).toContain('UPSERT needs a value');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
