/**
 * `meshctl ca rotate` on a cluster (issue 17): the default install (2 control plane replicas), a
 * meshed 2-replica service and a meshed client sending without pause; the root is rotated under that
 * load and no request fails (counted, asserted 0). Afterwards the CA Secret holds a new root, every
 * proxy's certificate is issued by it and it is the only root each proxy trusts, and the old root is
 * gone from the root ConfigMap and the webhooks' caBundle. A second rotation asked twice at once
 * (`-o json`) is one rotation that both commands follow to the end.
 *
 * One mesh on a cluster of its own, as the other end-to-end files (the mesh is cluster-wide).
 */
import { X509Certificate } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isKubernetesPlatform, platformFor, type MeshPlatform } from '../../src/cluster/index.js';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { runCli } from '../support/cli.js';
import { kubernetesTestBinaries, TestCluster, isPodReady } from '../test-cluster/support.js';
import { startOwnTestCluster, stopOwnTestCluster, type OwnTestCluster } from './own-cluster.js';

const WEB = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: web }
---
apiVersion: v1
kind: Service
metadata: { name: web, labels: { app: web } }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 9080, targetPort: 8080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, labels: { app: web } }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: meshctl-test/echo:1
        env:
        - { name: PORT, value: "8080" }
        - name: POD_NAME
          valueFrom: { fieldRef: { fieldPath: metadata.name } }
        ports: [{ name: http, containerPort: 8080 }]
        readinessProbe: { httpGet: { path: /readyz, port: http }, periodSeconds: 1 }
---
# Every request a new connection, so a new mTLS handshake between the sidecars: a proxy handed a peer
# certificate it cannot verify fails a request (on pooled connections the old handshake would hide it).
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web }
spec:
  host: web
  trafficPolicy:
    connectionPool:
      http: { maxRequestsPerConnection: 1 }
---
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

/** What one request of the client pod got. */
interface Outcome {
  status: number;
  pod?: string;
  error?: string;
  detail?: string;
}

/** A proxy's /certs (its admin API, through pods/exec). */
interface Certs {
  identity: { issuer: string; spiffeId: string } | null;
  trustRoots: string[];
}

const subject = (pem: string): string => new X509Certificate(pem).subject.replace(/\n/g, ', ');

describeRequiring([isRoot, kubernetesTestBinaries], 'kubernetes: meshctl ca rotate under load', () => {
  let own: OwnTestCluster | undefined;
  let cluster: TestCluster;
  let dir: string;
  let ns: string;
  let webIp: string;
  let platform: MeshPlatform;
  const cli = (argv: string[]) => runCli(argv, { env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir } });

  const clientPod = async (): Promise<k8s.V1Pod> => (await cluster.pods(ns, 'app=client')).find(isPodReady)!;
  const meshedPods = async (): Promise<string[]> =>
    (await cluster.pods(ns)).filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata!.name!);

  const caSecretRoot = async (): Promise<string> => {
    const s = await cluster.core.readNamespacedSecret({ name: 'meshctl-ca', namespace: 'mesh-system' });
    return Buffer.from(s.data!['ca-cert.pem']!, 'base64').toString('utf8');
  };

  /** `count` requests, one after another, from the client pod's app to web (through both sidecars). */
  const send = async (client: k8s.V1Pod, count: number): Promise<Outcome[]> => {
    const order = JSON.stringify({ url: `http://${webIp}:9080/`, count, method: 'GET', timeoutMs: 10_000 });
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
        /* not the echo server's answer: a failure below */
      }
      return {
        status: x.status,
        ...(pod ? { pod } : { detail: x.body.slice(0, 160) }),
        ...(x.error ? { error: x.error } : {}),
      };
    });
  };

  /** Runs `during` while two request loops of the client pod send without pause; returns what they got. */
  const underLoad = async (during: () => Promise<void>): Promise<Outcome[]> => {
    const client = await clientPod();
    const outcomes: Outcome[] = [];
    let loading = true;
    const loop = async (): Promise<void> => {
      while (loading) outcomes.push(...(await send(client, 20)));
    };
    const running = [loop(), loop()];
    try {
      await cluster.waitFor('the load to start', async () => outcomes.length >= 20, 60_000);
      await during();
    } finally {
      const seen = outcomes.length;
      // The load goes on after the rotation, so failures that follow it are counted too.
      await cluster
        .waitFor('load after the rotation', async () => outcomes.length >= seen + 60, 120_000)
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

  /** Every meshed pod's proxy: a certificate from `root` and `root` the only root it trusts. */
  const everyProxyOn = async (root: string): Promise<void> => {
    const want = subject(root);
    const pods = await meshedPods();
    expect(pods).toHaveLength(3);
    await cluster.waitFor(
      `every proxy on the new root alone (${pods.join(', ')})`,
      async () => {
        for (const name of pods) {
          const certs = await platform.proxyAdminGet<Certs>({ name, namespace: ns }, '/certs');
          if (certs.identity?.issuer !== want || certs.trustRoots.join('|') !== want) return false;
        }
        return true;
      },
      60_000,
    );
  };

  /** The caBundles of a webhook configuration's webhooks, decoded. */
  const caBundles = async (kind: string, name: string): Promise<string[]> => {
    const r = await cluster.kubectl(['get', kind, name, '-o', 'json']);
    if (r.code !== 0) throw new Error(`kubectl get ${kind} ${name}: ${r.stderr}`);
    const cfg = JSON.parse(r.stdout) as { webhooks: { clientConfig: { caBundle?: string } }[] };
    return cfg.webhooks.map((w) => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8'));
  };

  /** The root ConfigMap of the app namespace and both webhook configurations' caBundles hold `root` alone. */
  const publishedOnly = async (root: string): Promise<void> => {
    await cluster.waitFor(
      "the root ConfigMap and the webhooks' caBundle holding the new root alone",
      async () => {
        const cm = await cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns });
        const bundles = [
          ...(await caBundles('mutatingwebhookconfiguration', 'meshctl-sidecar-injector')),
          ...(await caBundles('validatingwebhookconfiguration', 'meshctl-validator')),
        ];
        return cm.data?.['root-cert.pem'] === root && bundles.length >= 2 && bundles.every((b) => b === root);
      },
      60_000,
    );
  };

  /**
   * Both webhooks still answer the API server (their certificates from the new root, which their
   * caBundle now holds alone): the validating one warns about a VirtualService to a missing subset,
   * the mutating one injects a pod of a labelled namespace.
   */
  const webhooksAnswer = async (): Promise<void> => {
    const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-v3, namespace: ${ns}}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web, subset: v3}}]
`;
    await cluster.waitFor(
      'the validating webhook warning about subset v3',
      async () => {
        const r = await cluster.kubectl(['apply', '-f', '-'], { input: vs });
        await cluster.kubectl(['-n', ns, 'delete', 'virtualservice', 'web-v3', '--ignore-not-found']);
        return r.code === 0 && /Warning: Error \[MESH0101\] \(VirtualService web-v3\./.test(r.stderr);
      },
      60_000,
    );
    const hookNs = await cluster.createNamespace('rot-hook');
    const labelled = await cluster.kubectl(['label', 'namespace', hookNs, 'meshctl.dev/inject=enabled']);
    expect(labelled.code, labelled.stderr).toBe(0);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hooked' },
      spec: { containers: [{ name: 'app', image: 'meshctl-test/echo:1' }] },
    };
    const created = await cluster.kubectl(['-n', hookNs, 'apply', '-f', '-'], { input: JSON.stringify(pod) });
    expect(created.code, created.stderr).toBe(0);
    const stored = await cluster.core.readNamespacedPod({ name: 'hooked', namespace: hookNs });
    expect(stored.spec?.initContainers?.map((c) => c.name)).toContain('mesh-proxy');
    await cluster.deleteNamespace(hookNs);
  };

  beforeAll(async () => {
    own = await startOwnTestCluster('ca-rotate');
    ({ cluster, dir } = own);
    const installed = await cli(['install', '--kubernetes', '--wait', '--timeout', '3m', '-y']);
    expect(installed.code, installed.stderr).toBe(0);
    await cluster.waitForReadyPods('mesh-system', 'app=meshctl-control-plane', 2, 180_000);
    ns = await cluster.createNamespace('rot');
    await cluster.waitFor(
      'the root CA ConfigMap in the app namespace',
      async () => cluster.core.readNamespacedConfigMap({ name: 'meshctl-ca-root', namespace: ns }),
      60_000,
    );
    const inj = await runCli(['inject', '-f', '-'], {
      env: { KUBECONFIG: cluster.kubeconfigPath, HOME: dir },
      stdin: WEB,
    });
    expect(inj.code, inj.stderr).toBe(0);
    const applied = await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: inj.stdout });
    expect(applied.code, applied.stderr).toBe(0);
    await cluster.waitForReadyPods(ns, 'app', 3, 240_000);
    webIp = (await cluster.core.readNamespacedService({ name: 'web', namespace: ns })).spec!.clusterIP!;
    const client = await clientPod();
    await cluster.waitFor(
      'both web replicas answering the client',
      async () => new Set((await send(client, 10)).map((o) => o.pod)).size === 2,
      60_000,
    );
    platform = await platformFor('kubernetes', { home: dir, kubeconfig: cluster.kubeconfigPath });
  }, 480_000);

  afterAll(async () => {
    await stopOwnTestCluster(own);
  }, 120_000);

  it('rotates the root under steady load with 0 failed requests; then every proxy, the root ConfigMap and the webhooks hold only the new root', async () => {
    const oldRoot = await caSecretRoot();
    await everyProxyOn(oldRoot);
    let rotated: Awaited<ReturnType<typeof cli>> | undefined;
    const outcomes = await underLoad(async () => {
      rotated = await cli(['ca', 'rotate', '--yes']);
    });
    expect(rotated!.code, rotated!.stderr + rotated!.stdout).toBe(0);
    for (const step of [
      '1/3 new root added to the trust bundle',
      'trust bundle (old + new root) delivered to every proxy',
      '2/3 the CA signs with the new root',
      'every proxy holds a certificate from the new root',
      '3/3 old root removed from the trust bundle; rotation complete',
    ])
      expect(rotated!.stdout).toContain(step);
    process.stderr.write(`[ca-rotate] ${outcomes.length} requests during the rotation\n${rotated!.stdout}`);
    expect(failures(outcomes), `${outcomes.length} requests`).toEqual({});
    expect(outcomes.length).toBeGreaterThan(200);
    expect(new Set(outcomes.map((o) => o.pod)).size).toBe(2);

    const newRoot = await caSecretRoot();
    expect(newRoot).not.toBe(oldRoot);
    expect(subject(newRoot)).not.toBe(subject(oldRoot));
    await publishedOnly(newRoot);
    await everyProxyOn(newRoot);
    await webhooksAnswer();
    // Both replicas serve the new root alone.
    for (const pod of (await cluster.pods('mesh-system', 'app=meshctl-control-plane')).map((p) => p.metadata!.name!)) {
      const ca = await cluster.waitFor(`replica ${pod} on the new root`, async () => {
        if (!isKubernetesPlatform(platform)) throw new Error('not a cluster');
        const r = await platform.replicaGet<{ rootPem: string; trustBundlePem: string }>(
          'mesh-system',
          pod,
          '/debug/ca',
        );
        return r.trustBundlePem === newRoot ? r : undefined;
      });
      expect(ca.rootPem).toBe(newRoot);
    }
  }, 600_000);

  it('the Lease holder deleted mid-rotation: a new holder resumes it, the new replica joins, 0 failed requests', async () => {
    const before = await caSecretRoot();
    let rotated: Awaited<ReturnType<typeof cli>> | undefined;
    let deleted = '';
    const outcomes = await underLoad(async () => {
      const running = cli(['ca', 'rotate', '--yes']);
      // Once the rotation is under way (its record in the Secret), the replica driving it goes.
      await cluster.waitFor(
        'the rotation record in the CA Secret',
        async () => {
          const s = await cluster.core.readNamespacedSecret({ name: 'meshctl-ca', namespace: 'mesh-system' });
          return Boolean(s.data?.['rotation.json']);
        },
        60_000,
      );
      const lease = await cluster.kubectl([
        '-n',
        'mesh-system',
        'get',
        'lease',
        'meshctl-control-plane-leader',
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      deleted = lease.stdout.trim();
      expect(deleted).toMatch(/^meshctl-control-plane-/);
      const gone = await cluster.kubectl(['-n', 'mesh-system', 'delete', 'pod', deleted, '--wait=false']);
      expect(gone.code, gone.stderr).toBe(0);
      rotated = await running;
    });
    expect(rotated!.code, rotated!.stderr + rotated!.stdout).toBe(0);
    process.stderr.write(`[ca-rotate] leader ${deleted} deleted: ${outcomes.length} requests\n${rotated!.stdout}`);
    expect(rotated!.stdout).toMatch(/resumes the rotation started .* at phase/);
    expect(rotated!.stdout).toContain('3/3 old root removed from the trust bundle; rotation complete');
    expect(failures(outcomes), `${outcomes.length} requests`).toEqual({});
    expect(outcomes.length).toBeGreaterThan(200);
    const after = await caSecretRoot();
    expect(after).not.toBe(before);
    await publishedOnly(after);
    await everyProxyOn(after);
    const replicas = await cluster.waitForReadyPods('mesh-system', 'app=meshctl-control-plane', 2, 180_000);
    expect(replicas.map((p) => p.metadata!.name)).not.toContain(deleted);
  }, 600_000);

  it('asked twice at once (-o json), it is one rotation both commands follow to the end, with 0 failed requests', async () => {
    const before = await caSecretRoot();
    let results: Awaited<ReturnType<typeof cli>>[] = [];
    const outcomes = await underLoad(async () => {
      results = await Promise.all([
        cli(['ca', 'rotate', '--yes', '-o', 'json']),
        cli(['ca', 'rotate', '--yes', '-o', 'json']),
      ]);
    });
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { ok: boolean; phase: string; steps: string[]; bundleSize: number };
      expect(report).toMatchObject({ ok: true, phase: 'idle', bundleSize: 1 });
      expect(report.steps.filter((l) => l.startsWith('1/3')).length).toBe(1);
      expect(report.steps.at(-1)).toBe('3/3 old root removed from the trust bundle; rotation complete');
    }
    expect(failures(outcomes), `${outcomes.length} requests`).toEqual({});
    const after = await caSecretRoot();
    expect(after).not.toBe(before);
    await publishedOnly(after);
    await everyProxyOn(after);
  }, 600_000);
});
