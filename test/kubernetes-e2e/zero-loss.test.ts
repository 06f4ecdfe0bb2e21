/**
 * Zero loss on a cluster (issue 17): a rolling restart of a meshed 2-replica Deployment under steady
 * load from another meshed pod fails no request.
 *
 * The app (the test echo server) is as careless as most: on SIGTERM it closes its listener and every
 * connection at once. What makes the restart lossless is the mesh: the control plane drops a pod from
 * every client's endpoints as soon as it is terminating (the pod's deletionTimestamp, EndpointSlice
 * `terminating`); the app's injected preStop hook holds it until its peers stopped sending; a request
 * that still reaches the old pod after its app exited is retried on the other endpoint (the sidecar
 * marks it not sent, so POSTs too); and the old pod's sidecar outlives its app (native sidecars stop
 * after the app; a classic one, signalled with it, serves until the app stops accepting).
 *
 * One mesh on a cluster of its own, as the other end-to-end files (the mesh is cluster-wide).
 */
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, TestCluster, isPodReady } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

/** A service of two replicas of the echo server, default grace period. */
const web = (name: string): string => `
apiVersion: v1
kind: ServiceAccount
metadata: { name: ${name} }
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, labels: { app: ${name} } }
spec:
  selector: { app: ${name} }
  ports: [{ name: http, port: 9080, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, labels: { app: ${name} } }
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      serviceAccountName: ${name}
      containers:
      - name: web
        image: meshctl-test/echo:1
        env:
        - { name: PORT, value: "8080" }
        - name: POD_NAME
          valueFrom: { fieldRef: { fieldPath: metadata.name } }
        ports: [{ name: http, containerPort: 8080 }]
        readinessProbe: { httpGet: { path: /readyz, port: http }, periodSeconds: 1 }
`;

/** A client that sends requests on command. */
const CLIENT = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: client }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: client, labels: { app: client } }
spec:
  replicas: 1
  selector: { matchLabels: { app: client } }
  template:
    metadata: { labels: { app: client } }
    spec:
      serviceAccountName: client
      terminationGracePeriodSeconds: 2
      containers:
      - name: client
        image: meshctl-test/client:1
        env: [{ name: PORT, value: "8080" }]
        ports: [{ name: http, containerPort: 8080 }]
`;

/** What one request of the client pod got: its status, the pod that answered, or the error. */
interface Outcome {
  status: number;
  pod?: string;
  error?: string;
  /** What a failed request got (the proxy's answer names its reason). */
  detail?: string;
}

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes zero loss: rolling restart', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let ns: string;
  const ips = new Map<string, string>();
  const cli = (argv: string[], stdin?: string) =>
    runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir }, ...(stdin !== undefined ? { stdin } : {}) });

  const clientPod = async (): Promise<k8s.V1Pod> => (await cluster.pods(ns, 'app=client')).find(isPodReady)!;
  const webPods = async (name: string): Promise<string[]> =>
    (await cluster.pods(ns, `app=${name}`))
      .filter((p) => !p.metadata?.deletionTimestamp && isPodReady(p))
      .map((p) => p.metadata!.name!)
      .sort();

  /** `count` requests, one after another, from the client pod's app to web's ClusterIP (through its sidecar). */
  const sendFromClient = async (client: k8s.V1Pod, to: string, count: number, method = 'GET'): Promise<Outcome[]> => {
    const order = JSON.stringify({
      url: `http://${ips.get(to)}:9080/`,
      count,
      method,
      ...(method === 'POST' ? { body: 'order' } : {}),
      timeoutMs: 10_000,
    });
    const r = await cluster.execInPodNetns(
      client,
      ['curl', '-sS', '--fail-with-body', '--max-time', '120', '--data-binary', order, 'http://127.0.0.1:8080/request'],
      125_000,
    );
    if (r.code !== 0) throw new Error(`ordering requests from the client pod failed: ${r.stderr.trim()} ${r.stdout}`);
    const { results } = JSON.parse(r.stdout) as { results: { status: number; body: string; error?: string }[] };
    return results.map((x) => {
      let pod: string | undefined;
      try {
        pod = (JSON.parse(x.body) as { pod?: string }).pod;
      } catch {
        /* not the echo server's answer: kept as a failure below */
      }
      return {
        status: x.status,
        ...(pod ? { pod } : { detail: `${method} ${x.body.slice(0, 160)}` }),
        ...(x.error ? { error: x.error } : {}),
      };
    });
  };

  /**
   * Runs `during` while request loops of the client pod send without pause, one per method of
   * `methods` (a POST is not idempotent: the mesh may retry it only when it surely never reached the
   * app); returns what they got.
   */
  const underLoad = async (to: string, methods: string[], during: () => Promise<void>): Promise<Outcome[]> => {
    const client = await clientPod();
    const outcomes: Outcome[] = [];
    let loading = true;
    const loop = async (method: string): Promise<void> => {
      while (loading) outcomes.push(...(await sendFromClient(client, to, 20, method)));
    };
    const running = methods.map(loop);
    try {
      // The load is running (a first batch came back) before the change starts.
      await cluster.waitFor('the load to start', async () => outcomes.length >= 20, 60_000);
      await during();
    } finally {
      const seen = outcomes.length;
      // ... and keeps running a while after it, so late failures are counted too.
      await cluster
        .waitFor('load after the change', async () => outcomes.length >= seen + 60, 120_000)
        .finally(() => {
          loading = false;
        });
      await Promise.all(running);
    }
    return outcomes;
  };

  const failures = (outcomes: Outcome[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const o of outcomes) {
      if (o.status === 200 && o.pod) continue;
      const what = `status ${o.status}${o.error ? ` (${o.error})` : ''} ${o.detail ?? ''}`.trim();
      out[what] = (out[what] ?? 0) + 1;
    }
    return out;
  };

  beforeAll(async () => {
    own = await startOwnTestCluster('zero-loss');
    ({ cluster, dir } = own);
    const installed = await cli(['install', '--kubernetes', '--wait', '--timeout', '3m', '-y']);
    expect(installed.code, installed.stderr).toBe(0);
    ns = await cluster.createNamespace('zl');
    await cluster.waitFor(
      'the root CA ConfigMap in the app namespace',
      async () => cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns }),
      60_000,
    );
    // web: native sidecars (the default); web-classic: classic sidecar containers, stopped with the app.
    for (const [name, flags] of [
      ['web', []],
      ['web-classic', ['--set', 'nativeSidecar=false']],
      ['client', []],
    ] as const) {
      const injected = await cli(['inject', ...flags, '-f', '-'], name === 'client' ? CLIENT : web(name));
      expect(injected.code, injected.stderr).toBe(0);
      const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: injected.stdout });
      expect(applied.code, applied.stderr).toBe(0);
    }
    await cluster.waitForReadyPods(ns, 'app', 5, 240_000);
    const client = await clientPod();
    for (const name of ['web', 'web-classic']) {
      ips.set(name, (await cluster.core.readNamespacedService({ name, namespace: ns })).spec!.clusterIP!);
      // Both replicas answer through the client's sidecar before the load starts.
      await cluster.waitFor(
        `both ${name} replicas answering the client`,
        async () => new Set((await sendFromClient(client, name, 10)).map((o) => o.pod)).size === 2,
        60_000,
      );
    }
  }, 400_000);

  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  it.each([
    { name: 'web', sidecar: 'native sidecars' },
    { name: 'web-classic', sidecar: 'classic sidecar containers' },
  ])(
    'kubectl rollout restart of a 2-replica meshed Deployment ($sidecar) under steady load fails no request',
    async ({ name }) => {
      const before = await webPods(name);
      expect(before).toHaveLength(2);
      const outcomes = await underLoad(name, ['GET', 'GET', 'POST', 'POST'], async () => {
        const restarted = await cluster.kubectl(['-n', ns, 'rollout', 'restart', `deployment/${name}`]);
        expect(restarted.code, restarted.stderr).toBe(0);
        const done = await cluster.kubectl(['-n', ns, 'rollout', 'status', `deployment/${name}`, '--timeout', '240s'], {
          timeoutMs: 250_000,
        });
        expect(done.code, done.stderr + done.stdout).toBe(0);
        // The old pods are gone (their sidecars drained and exited), not merely replaced in the Deployment.
        await cluster.waitFor(
          `the old ${name} pods to be deleted`,
          async () => (await cluster.pods(ns, `app=${name}`)).every((p) => !before.includes(p.metadata!.name!)),
          180_000,
        );
      });
      process.stderr.write(
        `[zero-loss] rolling restart of ${name}: ${outcomes.length} requests (${outcomes.filter((o) => o.status === 200).length} answered 200) from ${before.join(', ')} to ${(await webPods(name)).join(', ')}\n`,
      );
      const after = await webPods(name);
      expect(after).toHaveLength(2);
      expect(after.filter((p) => before.includes(p))).toEqual([]);
      // Both generations answered under the load: the restart happened while requests were flowing.
      const answered = new Set(outcomes.map((o) => o.pod));
      expect(before.filter((p) => answered.has(p)).length, `old pods answered: ${[...answered].join(', ')}`).toBe(2);
      expect(after.filter((p) => answered.has(p)).length, `new pods answered: ${[...answered].join(', ')}`).toBe(2);
      expect(failures(outcomes), `${outcomes.length} requests`).toEqual({});
      expect(outcomes.length).toBeGreaterThan(200);
    },
    600_000,
  );
});
