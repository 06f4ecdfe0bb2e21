/**
 * The seed's IstioOperator tracing and access-log settings on a test cluster, as a user runs them:
 * `meshctl install -f` an IstioOperator carrying both (100% sampling to a Zipkin address, access log
 * on /dev/stdout as JSON), then requests between two meshed pods (productpage -> details): the access
 * log lines are in the sidecar's output as `kubectl logs` shows it, in the configured encoding, and a
 * real Jaeger v2 (started by the test on the node's host address, which the pods reach through their
 * default route) holds the trace, client span on productpage's sidecar, server span on details'.
 * Then `meshctl install --set meshConfig.accessLogEncoding=TEXT` reaches the running sidecars (the
 * control plane re-reads its ConfigMap): TEXT lines follow, with no pod restarted.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, type TestCluster } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';
import { observabilityBinaries, startJaeger, type RunningJaeger } from '../observability/backends.js';

const BOOKINFO = readFileSync(new URL('../../templates/demo/bookinfo.yaml', import.meta.url), 'utf8');

/** Only productpage and details (their ServiceAccounts, Services and Deployments): two meshed pods. */
const TWO_APPS = parseAllDocuments(BOOKINFO)
  .map((d) => d.toJS() as { metadata?: { name?: string } })
  .filter((o) => /productpage|details/.test(o.metadata?.name ?? ''))
  .map((o) => stringify(o))
  .join('---\n');

/** The seed's two IstioOperator examples in one (the zipkin address is where this test's Jaeger listens). */
const operator = (zipkin: string) => `# Istio - Enable tracing, and access logs
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
spec:
  meshConfig:
    accessLogFile: "/dev/stdout"
    accessLogEncoding: JSON
    defaultConfig:
      tracing:
        sampling: 100.0  # 100% sampling
        zipkin:
          address: ${zipkin}
`;

interface JaegerSpan {
  spanID: string;
  operationName: string;
  references: { refType: string; spanID: string }[];
  processID: string;
  tags: { key: string; value: unknown }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

describeRequiring(
  [isRoot, kubernetesTestBinaries, observabilityBinaries],
  'kubernetes end to end: meshConfig tracing and access logs',
  () => {
    let own: OwnTestCluster | undefined;
    let cluster: TestCluster;
    let dir: string;
    let jaeger: RunningJaeger | undefined;
    let ns = '';
    let operatorFile = '';
    const cli = (...argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });
    const pod = async (app: string): Promise<k8s.V1Pod> => {
      const [p] = await cluster.pods(ns, `app=${app}`);
      if (!p) throw new Error(`no ${app} pod`);
      return p;
    };
    /** The sidecar's output as `kubectl logs POD -c mesh-proxy` prints it. */
    const sidecarLog = async (p: k8s.V1Pod): Promise<string[]> => {
      const r = await cluster.kubectl(['-n', ns, 'logs', p.metadata!.name!, '-c', 'mesh-proxy']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split('\n');
    };
    /** productpage calls details from inside its pod (captured by its sidecar, mTLS to details' sidecar). */
    const call = async (path: string, requestId: string) => {
      const svc = await cluster.core.readNamespacedService({ name: 'details', namespace: ns });
      return cluster.requestFromPod(await pod('productpage'), `http://${svc.spec!.clusterIP}:9080${path}`, {
        headers: { 'x-request-id': requestId },
      });
    };

    beforeAll(async () => {
      own = await startOwnTestCluster('telemetry');
      ({ cluster, dir } = own);
      // On the host's address of the node link: the pods' default route leads there.
      jaeger = await startJaeger(own.state.network.hostIP);
      operatorFile = join(mkdtempSync(join(dir, 'operator-')), 'control-plane.yaml');
      writeFileSync(operatorFile, operator(jaeger.zipkinAddress));
    }, 240_000);
    afterAll(async () => {
      await jaeger?.stop();
      await stopOwnTestCluster(own);
    }, 120_000);

    it('install -f IstioOperator: two meshed pods log each request as JSON and report one trace to Jaeger', async () => {
      const r = await cli('install', '--kubernetes', '-f', operatorFile, '--wait', '--timeout', '4m', '-y');
      expect(r.code, r.stderr).toBe(0);
      ns = await cluster.createNamespace('shop');
      expect((await cluster.kubectl(['label', 'namespace', ns, 'meshctl.dev/inject=enabled'])).code).toBe(0);
      await cluster.waitFor(
        'meshctl-ca-root in the namespace',
        async () => Boolean(await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns })),
        60_000,
      );
      const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: TWO_APPS });
      expect(applied.code, applied.stderr).toBe(0);
      await cluster.waitForReadyPods(ns, 'app', 2, 180_000);

      const id = 'seed-q7-json';
      // The first request can race the sidecars' first config; retry until details answers through both.
      await cluster.waitFor(
        'details answering productpage',
        async () => (await call('/', 'warm-up')).status === 200,
        60_000,
      );
      expect((await call('/details/0', id)).status).toBe(200);

      // Access logs: one JSON object per line on the sidecars' stdout (kubectl logs), on both sides.
      const jsonLine = async (p: k8s.V1Pod) =>
        cluster.waitFor(
          `the JSON access log line of ${p.metadata?.name}`,
          async () =>
            (await sidecarLog(p))
              .filter((l) => l.startsWith('{'))
              .map((l) => JSON.parse(l) as Record<string, unknown>)
              .find((o) => o.request_id === id),
          30_000,
        );
      for (const app of ['productpage', 'details']) {
        const entry = await jsonLine(await pod(app));
        if (app === 'productpage') expect(entry.upstream_service).toBe(`details.${ns}.svc.cluster.local`);
        expect(entry).toMatchObject({
          method: 'GET',
          path: '/details/0',
          protocol: 'HTTP/1.1',
          response_code: 200,
          response_flags: '-',
          request_id: id,
        });
      }

      // Tracing: the client span (productpage's sidecar) is the parent of the server span (details'), one trace.
      const trace = await cluster
        .waitFor(
          'the trace in Jaeger',
          async () => {
            const res = await fetch(
              `${jaeger!.queryUrl}/api/traces?service=${encodeURIComponent(`productpage.${ns}`)}`,
            );
            const traces = ((await res.json()) as { data: JaegerTrace[] | null }).data ?? [];
            return traces.find(
              (t) =>
                t.spans.length === 2 &&
                t.spans.some((s) => s.tags.some((g) => g.key === 'guid:x-request-id' && g.value === id)),
            );
          },
          60_000,
        )
        .catch(async (err: Error) => {
          // What a user would look at next: what Jaeger holds, and the sidecar's span counters.
          const services = await (await fetch(`${jaeger!.queryUrl}/api/services`)).text();
          const p = await pod('productpage');
          const stats = await (await fetch(`http://${p.status!.podIP}:15020/stats/prometheus`)).text();
          const spans = stats.split('\n').filter((l) => l.startsWith('meshctl_proxy_spans'));
          const dump = await cli('proxy-config', 'all', `${p.metadata!.name}.${ns}`, '-o', 'json');
          const telemetry = dump.stdout.slice(
            dump.stdout.indexOf('"telemetry"'),
            dump.stdout.indexOf('"telemetry"') + 400,
          );
          throw new Error(`${err.message}\nJaeger services: ${services}\n${spans.join('\n')}\n${telemetry}`);
        });
      const service = (s: JaegerSpan) => trace.processes[s.processID]!.serviceName;
      const kind = (s: JaegerSpan) => s.tags.find((t) => t.key === 'span.kind')?.value;
      const clientSpan = trace.spans.find((s) => kind(s) === 'client')!;
      const serverSpan = trace.spans.find((s) => kind(s) === 'server')!;
      expect(service(clientSpan)).toBe(`productpage.${ns}`);
      expect(service(serverSpan)).toBe(`details.${ns}`);
      expect(serverSpan.references).toEqual([
        expect.objectContaining({ refType: 'CHILD_OF', spanID: clientSpan.spanID }),
      ]);
      // Metrics name the pods by their app labels (the control plane sends them: a sidecar starts knowing its pod name only).
      const details = await pod('details');
      const stats = await (await fetch(`http://${details.status!.podIP}:15020/stats/prometheus`)).text();
      const line = stats
        .split('\n')
        .find((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"'));
      expect(line).toContain('source_app="productpage"');
      expect(line).toContain('destination_app="details"');
      expect(line).toContain('destination_version="v1"');
      expect(clientSpan.tags).toEqual(
        expect.arrayContaining([{ key: 'http.status_code', type: 'string', value: '200' }]),
      );
    }, 600_000);

    it('install --set meshConfig.accessLogEncoding=TEXT reaches the running sidecars: TEXT lines, no restart', async () => {
      const before = await Promise.all(['productpage', 'details'].map(pod));
      const r = await cli(
        'install',
        '--kubernetes',
        '-f',
        operatorFile,
        '--set',
        'meshConfig.accessLogEncoding=TEXT',
        '-y',
      );
      expect(r.code, r.stderr).toBe(0);
      const id = 'seed-q7-text';
      // The control plane follows its ConfigMap (re-read every 5 s) and pushes the change to the proxies.
      const textLine = await cluster.waitFor(
        'a TEXT access log line on productpage',
        async () => {
          expect((await call('/details/1', id)).status).toBe(200);
          return (await sidecarLog(before[0]!)).find((l) => l.startsWith('[') && l.includes(`"${id}"`));
        },
        90_000,
      );
      // Envoy's default format: [START] "METHOD PATH PROTOCOL" CODE FLAGS RX TX DURATION UPSTREAM_TIME "XFF" "UA" "ID" "AUTHORITY" "UPSTREAM"
      expect(textLine).toMatch(
        new RegExp(
          `^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET /details/1 HTTP/1.1" 200 - \\d+ \\d+ \\d+ \\S+ "[^"]*" "[^"]*" "${id}" "[^"]*" "[^"]*"$`,
        ),
      );
      await cluster.waitFor(
        'a TEXT access log line on details',
        async () => (await sidecarLog(before[1]!)).some((l) => l.startsWith('[') && l.includes(`"${id}"`)),
        60_000,
      );
      // the same pods, their sidecars never restarted
      const after = await Promise.all(['productpage', 'details'].map(pod));
      for (const [i, p] of after.entries()) {
        expect(p.metadata?.uid).toBe(before[i]!.metadata?.uid);
        const proxy = p.status?.initContainerStatuses?.find((c) => c.name === 'mesh-proxy');
        expect(proxy?.restartCount).toBe(0);
      }
    }, 300_000);
  },
);
