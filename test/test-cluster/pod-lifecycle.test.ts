/**
 * Pods behave as on a real kubelet: init containers in order, native sidecars started (and kept) before
 * the app, probes driving readiness and restarts, back-off, env and volumes resolved as the kubelet does,
 * runAsUser honoured, unknown images reported as ErrImagePull.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { containerPid, getTestCluster, isPodReady, kubernetesTestBinaries, type TestCluster } from './support.js';

// Waits here are event-driven (pods becoming Ready, restarting with back-off): on a loaded 2-core machine they
// can outlast the default 30 s without anything being wrong, and a passing run is not slowed by a larger budget.
vi.setConfig({ testTimeout: 120_000 });

const lifecyclePod = `
apiVersion: v1
kind: Pod
metadata: {name: lifecycle}
spec:
  terminationGracePeriodSeconds: 3
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: init
    image: meshctl-test/shell
    command: [sh, -c, 'echo init >> /var/lib/mtc-shared/order']
    volumeMounts: [{name: shared, mountPath: /var/lib/mtc-shared}]
  - name: sidecar
    image: meshctl-test/echo
    restartPolicy: Always
    env:
    - {name: PORT, value: "9090"}
    - {name: START_MARKER_FILE, value: /var/lib/mtc-shared/order}
    - {name: START_MARKER, value: sidecar}
    volumeMounts: [{name: shared, mountPath: /var/lib/mtc-shared}]
    startupProbe:
      httpGet: {path: /healthz, port: 9090}
      periodSeconds: 1
  containers:
  - name: app
    image: meshctl-test/echo
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: START_MARKER_FILE, value: /var/lib/mtc-shared/order}
    - {name: START_MARKER, value: app}
    volumeMounts: [{name: shared, mountPath: /var/lib/mtc-shared}]
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
      failureThreshold: 2
`;

const envVolumesPod = `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {color: blue, size: large}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret, token: abc}
---
apiVersion: v1
kind: Pod
metadata:
  name: env-volumes
  labels: {app: env-volumes, tier: backend}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1337, runAsGroup: 1337}
  containers:
  - name: main
    image: meshctl-test/shell
    command: [sleep, "3600"]
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: "1", memory: 128Mi}
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    env:
    - {name: GREETING, value: hello}
    - {name: EXPANDED, value: "$(GREETING) from $(MY_POD)"}
    - name: MY_POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: MY_NAMESPACE
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
    - name: MY_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: TIER
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['tier']"}}
    - name: CPU_LIMIT_MILLIS
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: MEMORY_REQUEST_MI
      valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: settings, key: color}}
    - name: MISSING_OPTIONAL
      valueFrom: {configMapKeyRef: {name: settings, key: nope, optional: true}}
    volumeMounts:
    - {name: config, mountPath: /etc/mtc-config}
    - {name: secret, mountPath: /etc/mtc-secret, readOnly: true}
    - {name: podinfo, mountPath: /etc/mtc-podinfo}
    - {name: token, mountPath: /var/run/secrets/mtc-tokens}
  volumes:
  - name: config
    configMap: {name: settings, items: [{key: size, path: dims/size}]}
  - name: secret
    secret: {secretName: creds}
  - name: podinfo
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
  - name: token
    projected:
      sources:
      - serviceAccountToken: {path: mesh-token, audience: meshctl-test, expirationSeconds: 3600}
`;

function processEnv(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: pods as on a kubelet', () => {
  let cluster: TestCluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('mtc-pods');
  });
  afterAll(async () => {
    if (cluster && ns) await cluster.deleteNamespace(ns);
  });

  it('runs the init container, then the native sidecar (until its startup probe passes), then the app; all Ready', async () => {
    await cluster.apply(lifecyclePod, ns);
    const pod = await cluster.waitForPod(ns, 'lifecycle', isPodReady, 'Ready');
    const order = await cluster.execInContainer(pod, 'app', ['cat', '/var/lib/mtc-shared/order']);
    expect(order.stdout).toBe('init\nsidecar\napp\n');
    // The volume is mounted in the pod's mount namespaces only.
    expect(existsSync('/var/lib/mtc-shared')).toBe(false);

    const [init, sidecar] = pod.status?.initContainerStatuses ?? [];
    expect(init?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(sidecar).toMatchObject({ name: 'sidecar', ready: true, started: true, restartCount: 0 });
    expect(sidecar?.state?.running).toBeDefined();
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({ name: 'app', ready: true, restartCount: 0 });
    const conditions = Object.fromEntries((pod.status?.conditions ?? []).map((c) => [c.type, c.status]));
    expect(conditions).toMatchObject({
      PodScheduled: 'True',
      Initialized: 'True',
      ContainersReady: 'True',
      Ready: 'True',
      PodReadyToStartContainers: 'True',
    });
  });

  it('a failing readiness probe takes the pod out of Ready, and back in when it passes again', async () => {
    const pod = await cluster.waitForPod(ns, 'lifecycle', isPodReady, 'Ready');
    const app = `http://${pod.status?.podIP}:8080`;
    expect((await fetch(`${app}/control/unready`, { method: 'POST' })).status).toBe(200);
    const unready = await cluster.waitForPod(ns, 'lifecycle', (p) => !isPodReady(p), 'not Ready');
    const ready = unready.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [app]',
    });
    expect((await fetch(`${app}/control/ready`, { method: 'POST' })).status).toBe(200);
    await cluster.waitForPod(ns, 'lifecycle', isPodReady, 'Ready again');
  });

  it('a failing liveness probe restarts the app (not the sidecar, not the init container); a crash restarts it after a back-off', async () => {
    const pod = await cluster.waitForPod(ns, 'lifecycle', isPodReady, 'Ready');
    const app = `http://${pod.status?.podIP}:8080`;
    await fetch(`${app}/control/unhealthy`, { method: 'POST' });
    const restarted = await cluster.waitForPod(
      ns,
      'lifecycle',
      (p) => p.status?.containerStatuses?.[0]?.restartCount === 1 && isPodReady(p),
      'app restarted once and Ready',
    );
    const appStatus = restarted.status?.containerStatuses?.[0];
    expect(appStatus?.lastState?.terminated).toBeDefined();
    expect(restarted.status?.initContainerStatuses?.[1]).toMatchObject({
      name: 'sidecar',
      restartCount: 0,
      ready: true,
    });
    const order = await cluster.execInContainer(restarted, 'app', ['cat', '/var/lib/mtc-shared/order']);
    expect(order.stdout).toBe('init\nsidecar\napp\napp\n');
    const previous = await cluster.kubectl(['logs', '-n', ns, 'lifecycle', '-c', 'app', '--previous']);
    expect(previous.stdout).toContain('echo server lifecycle listening on 8080');
    expect(previous.stdout).toContain('SIGTERM, shutting down');

    // The second crash in a row waits out the kubelet's back-off, shown as CrashLoopBackOff.
    await fetch(`http://${restarted.status?.podIP}:8080/control/exit?code=3`, { method: 'POST' });
    const backingOff = await cluster.waitForPod(
      ns,
      'lifecycle',
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
      'app in CrashLoopBackOff',
    );
    expect(backingOff.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({
      exitCode: 3,
      reason: 'Error',
    });
    expect(isPodReady(backingOff)).toBe(false);
    const back = await cluster.waitForPod(
      ns,
      'lifecycle',
      (p) => p.status?.containerStatuses?.[0]?.restartCount === 2 && isPodReady(p),
      'app restarted twice and Ready',
      40_000,
    );
    expect(back.status?.phase).toBe('Running');
  });

  it('deleting the pod stops the app, then the sidecar, and removes the pod', async () => {
    const pod = await cluster.waitForPod(ns, 'lifecycle', isPodReady, 'Ready');
    const pids = [
      containerPid(pod.status?.containerStatuses?.[0]),
      containerPid(pod.status?.initContainerStatuses?.[1]),
    ];
    await cluster.core.deleteNamespacedPod({ name: 'lifecycle', namespace: ns });
    await cluster.waitFor('pod lifecycle deleted', async () =>
      (await cluster.pods(ns)).every((p) => p.metadata?.name !== 'lifecycle'),
    );
    for (const pid of pids) expect(pid !== undefined && !existsSync(`/proc/${pid}`)).toBe(true);
  });

  it('resolves env (values, $(VAR), fieldRef, resourceFieldRef, secretKeyRef, configMapKeyRef, envFrom), mounts volumes, runs as runAsUser', async () => {
    await cluster.apply(envVolumesPod, ns);
    const pod = await cluster.waitForPod(ns, 'env-volumes', isPodReady, 'Ready');
    const pid = containerPid(pod.status?.containerStatuses?.[0]);
    if (!pid) throw new Error('no pid in the container status');
    // The pid first runs the node agent's entry script as root (mounts), which then execs the program as
    // runAsUser: on a loaded machine the test can look before that exec, so wait for it.
    await expect
      .poll(() => readFileSync(`/proc/${pid}/status`, 'utf8'), { timeout: 20_000, interval: 100 })
      .toMatch(/^Uid:\s+1337\s+1337\s+1337\s+1337$/m);
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Gid:\s+1337\s+1337\s+1337\s+1337$/m);

    const env = processEnv(pid);
    expect(env).toMatchObject({
      CFG_color: 'blue',
      CFG_size: 'large',
      GREETING: 'hello',
      // MY_POD is defined after EXPANDED, so as in Kubernetes its reference stays as written.
      EXPANDED: 'hello from $(MY_POD)',
      MY_POD: 'env-volumes',
      MY_NAMESPACE: ns,
      MY_IP: pod.status?.podIP,
      TIER: 'backend',
      CPU_LIMIT_MILLIS: '1000',
      MEMORY_REQUEST_MI: '64',
      PASSWORD: 's3cret',
      COLOR: 'blue',
      // The `kubernetes` Service's ClusterIP, which the node's kube-proxy leads to the API server.
      KUBERNETES_SERVICE_HOST: '198.18.128.1',
      KUBERNETES_SERVICE_PORT: '443',
    });
    expect(env).not.toHaveProperty('MISSING_OPTIONAL');

    const inPod = (argv: string[]): Promise<string> => cluster.execInContainer(pod, 'main', argv).then((r) => r.stdout);
    expect(await inPod(['hostname'])).toBe('env-volumes\n');
    expect(await inPod(['cat', '/etc/mtc-config/dims/size'])).toBe('large');
    expect(await inPod(['cat', '/etc/mtc-secret/password'])).toBe('s3cret');
    expect(await inPod(['cat', '/etc/mtc-podinfo/name'])).toBe('env-volumes');
    expect(await inPod(['cat', '/etc/mtc-podinfo/labels'])).toBe('app="env-volumes"\ntier="backend"');
    const readOnly = await cluster.execInContainer(pod, 'main', ['sh', '-c', 'echo x > /etc/mtc-secret/new']);
    expect(readOnly.code).not.toBe(0);
    expect(existsSync('/etc/mtc-config')).toBe(false);

    // The projected token is a real bound ServiceAccount token for the requested audience.
    const token = await inPod(['cat', '/var/run/secrets/mtc-tokens/mesh-token']);
    const auth = cluster.kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
    const review = await auth.createTokenReview({ body: { spec: { token, audiences: ['meshctl-test'] } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:default`);
    expect(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['env-volumes']);
    const wrongAudience = await auth.createTokenReview({ body: { spec: { token, audiences: ['someone-else'] } } });
    // `authenticated: false` is omitted from the JSON, as Kubernetes omits empty fields.
    expect(wrongAudience.status?.authenticated ?? false).toBe(false);
    expect(wrongAudience.status?.error).toMatch(/audience/i);

    // As on a kubelet, a changed ConfigMap or Secret reaches the mounted files (the environment keeps its values).
    for (const [kind, name, data] of [
      ['configmap', 'settings', '{"data":{"size":"small"}}'],
      ['secret', 'creds', '{"stringData":{"password":"n3w"}}'],
    ] as const) {
      const patched = await cluster.kubectl(['-n', ns, 'patch', kind, name, '--type', 'merge', '-p', data]);
      expect(patched.code, patched.stderr).toBe(0);
    }
    await expect.poll(() => inPod(['cat', '/etc/mtc-config/dims/size']), { timeout: 30_000 }).toBe('small');
    await expect.poll(() => inPod(['cat', '/etc/mtc-secret/password']), { timeout: 30_000 }).toBe('n3w');
    expect(processEnv(pid).CFG_size).toBe('large');
  });

  it('a Job whose pod has a native sidecar completes: the sidecar is stopped once the app container exits', async () => {
    await cluster.apply(
      `
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 2
      initContainers:
      - name: sidecar
        image: meshctl-test/echo
        restartPolicy: Always
      containers:
      - name: work
        image: meshctl-test/shell
        command: [sh, -c, 'echo working; exit 0']
`,
      ns,
    );
    const batch = cluster.kubeConfig.makeApiClient(k8s.BatchV1Api);
    const job = await cluster.waitFor('job once to complete', async () => {
      const j = await batch.readNamespacedJob({ name: 'once', namespace: ns });
      return (j.status?.succeeded ?? 0) === 1 ? j : undefined;
    });
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).toBe('True');
    const [pod] = await cluster.pods(ns, 'job-name=once');
    expect(pod?.status?.phase).toBe('Succeeded');
    expect(pod?.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(pod?.status?.initContainerStatuses?.[0]?.state?.terminated).toBeDefined();
  });

  it('an image missing from the image table leaves the pod Pending in ErrImagePull with a clear message', async () => {
    await cluster.apply(
      'apiVersion: v1\nkind: Pod\nmetadata: {name: no-such-image}\nspec:\n  containers:\n  - {name: main, image: "registry.example/nothing:1.0"}\n',
      ns,
    );
    const pod = await cluster.waitForPod(
      ns,
      'no-such-image',
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull',
      'ErrImagePull',
    );
    expect(pod.status?.phase).toBe('Pending');
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain(
      'Failed to pull image "registry.example/nothing:1.0"',
    );
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.message).toContain(
      'test/test-cluster/node-agent/image-table.ts',
    );
  });
});
