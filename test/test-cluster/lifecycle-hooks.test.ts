/**
 * Lifecycle hooks as a kubelet runs them: exec hooks inside the container (its mount, UTS and network
 * namespaces, its user and environment, the image's paths such as /opt/meshctl/bin/meshctl), httpGet hooks
 * from the node; postStart holding the next container's start, a failing postStart killing the container
 * (then the restart policy decides), preStop before SIGTERM on deletion.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { containerPid, getTestCluster, isPodReady, kubernetesTestBinaries, type TestCluster } from './support.js';

// Event-driven waits (pods Ready, restarts after a back-off) can outlast 30 s on a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

/** Three containers started in order: a classic meshctl sidecar, a shell app, an echo server; all with hooks. */
const hooksPod = (hostDir: string, hookHost: string, hookPort: number): string => `
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 20
  volumes: [{name: out, hostPath: {path: ${hostDir}, type: Directory}}]
  containers:
  - name: sidecar
    image: ghcr.io/meshctl/meshctl
    command: [sh, -c, 'trap "exit 0" TERM; while :; do sleep 0.2; done']
    volumeMounts: [{name: out, mountPath: /var/lib/mtc-hooks}]
    lifecycle:
      postStart: {exec: {command: [/opt/meshctl/bin/meshctl, version, --client]}}
      preStop: {exec: {command: [sh, -c, 'echo sidecar-prestop >> /var/lib/mtc-hooks/log']}}
  - name: app
    image: meshctl-test/shell
    securityContext: {runAsUser: 1234, runAsGroup: 1234}
    env: [{name: MARK, value: from-env}]
    command: [sh, -c, 'echo app-start >> /var/lib/mtc-hooks/log; trap "echo app-term >> /var/lib/mtc-hooks/log; exit 0" TERM; while :; do sleep 0.2; done']
    volumeMounts: [{name: out, mountPath: /var/lib/mtc-hooks}]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'sleep 1; echo "poststart $(hostname) $(id -u) $MARK" >> /var/lib/mtc-hooks/log']}
      preStop:
        exec: {command: [sh, -c, 'echo app-prestop >> /var/lib/mtc-hooks/log; sleep 1; echo app-prestop-done >> /var/lib/mtc-hooks/log']}
  - name: web
    image: meshctl-test/echo
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: START_MARKER_FILE, value: /var/lib/mtc-hooks/log}
    - {name: START_MARKER, value: web-start}
    volumeMounts: [{name: out, mountPath: /var/lib/mtc-hooks}]
    lifecycle:
      postStart: {httpGet: {host: ${hookHost}, port: ${hookPort}, path: /post-start, httpHeaders: [{name: X-Hook, value: web}]}}
      preStop: {httpGet: {host: ${hookHost}, port: ${hookPort}, path: /pre-stop}}
`;

/** A container whose postStart hook fails, under a restart policy. */
const failingPod = (name: string, restartPolicy: string): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: ${restartPolicy}
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: meshctl-test/shell
    command: [sleep, "3600"]
    lifecycle:
      postStart: {exec: {command: [sh, -c, 'echo hook-broke >&2; exit 3']}}
`;

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: lifecycle hooks as on a kubelet', () => {
  let cluster: TestCluster;
  let ns: string;
  let hostDir: string;
  let server: Server;
  const hookRequests: { path: string; userAgent: string; hook: string }[] = [];

  beforeAll(async () => {
    hostDir = mkdtempSync(join(tmpdir(), 'mtc-hooks-'));
    // The sidecar runs as the image's user (1337) and the app as 1234: both append to the log.
    chmodSync(hostDir, 0o777);
    writeFileSync(join(hostDir, 'log'), '');
    chmodSync(join(hostDir, 'log'), 0o666);
    server = createServer((req, res) => {
      hookRequests.push({
        path: req.url ?? '',
        userAgent: String(req.headers['user-agent'] ?? ''),
        hook: String(req.headers['x-hook'] ?? ''),
      });
      res.end('ok');
    });
    cluster = await getTestCluster();
    // httpGet hooks come from the node (its network namespace), which reaches the host at hostIP.
    await new Promise<void>((r) => server.listen(0, cluster.state.network.hostIP, r));
    ns = await cluster.createNamespace('mtc-hooks');
  });
  afterAll(async () => {
    if (cluster && ns) await cluster.deleteNamespace(ns);
    server?.close();
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  });

  const log = (): string[] =>
    existsSync(join(hostDir, 'log')) ? readFileSync(join(hostDir, 'log'), 'utf8').trim().split('\n') : [];

  it('runs exec hooks in the container (image paths, user, env, hostname, mounts) and httpGet hooks from the node; postStart holds the next container', async () => {
    await cluster.apply(hooksPod(hostDir, cluster.state.network.hostIP, (server.address() as AddressInfo).port), ns);
    const pod = await cluster.waitForPod(ns, 'hooks', isPodReady, 'Ready');
    // The classic sidecar's `/opt/meshctl/bin/meshctl version --client` hook ran from the image: no kill, no restart.
    expect(pod.status?.containerStatuses?.map((s) => [s.name, s.restartCount, s.state?.running !== undefined])).toEqual(
      [
        ['sidecar', 0, true],
        ['app', 0, true],
        ['web', 0, true],
      ],
    );
    const events = await cluster.core.listNamespacedEvent({ namespace: ns });
    expect(events.items.filter((e) => e.reason === 'FailedPostStartHook' && e.involvedObject.name === 'hooks')).toEqual(
      [],
    );
    // The app's hook ran as its user, with its env and hostname, writing through its volume mount.
    const lines = await cluster.waitFor('web started', async () => log().includes('web-start') && log());
    // (A hook entering the namespaces before the container's entry script made them wrote the node's hostname.)
    expect(lines).toEqual(expect.arrayContaining(['poststart hooks 1234 from-env', 'app-start']));
    // The web container starts only once the app's postStart hook (1 s) has finished.
    expect(lines.indexOf('poststart hooks 1234 from-env')).toBeLessThan(lines.indexOf('web-start'));
    await cluster.waitFor('postStart httpGet', async () => hookRequests.some((r) => r.path === '/post-start'));
    expect(hookRequests).toEqual([{ path: '/post-start', userAgent: 'kube-lifecycle/1.34', hook: 'web' }]);
  });

  it('on deletion runs preStop (exec in the container, httpGet from the node) before SIGTERM', async () => {
    const pod = await cluster.waitForPod(ns, 'hooks', isPodReady, 'Ready');
    const pids = (pod.status?.containerStatuses ?? []).map((s) => containerPid(s));
    await cluster.core.deleteNamespacedPod({ name: 'hooks', namespace: ns });
    await cluster.waitFor('pod hooks deleted', async () =>
      (await cluster.pods(ns)).every((p) => p.metadata?.name !== 'hooks'),
    );
    for (const pid of pids) expect(pid !== undefined && !existsSync(`/proc/${pid}`)).toBe(true);
    const lines = log();
    const events = await cluster.core.listNamespacedEvent({ namespace: ns });
    expect(events.items.filter((e) => e.reason === 'FailedPreStopHook').map((e) => e.message)).toEqual([]);
    expect(lines).toContain('sidecar-prestop');
    const order = ['app-prestop', 'app-prestop-done', 'app-term'].map((l) => lines.indexOf(l));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(hookRequests.map((r) => r.path)).toEqual(['/post-start', '/pre-stop']);
    expect(hookRequests[1]?.userAgent).toBe('kube-lifecycle/1.34');
  });

  it('a failing postStart hook kills the container (event FailedPostStartHook); restartPolicy then decides', async () => {
    await cluster.apply(failingPod('poststart-never', 'Never'), ns);
    await cluster.apply(failingPod('poststart-always', 'Always'), ns);
    const never = await cluster.waitForPod(
      ns,
      'poststart-never',
      (p) => p.status?.containerStatuses?.[0]?.state?.terminated !== undefined,
      'container terminated',
    );
    expect(never.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).not.toBe(0);
    expect(never.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const always = await cluster.waitForPod(
      ns,
      'poststart-always',
      (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
      'restarted after its postStart hook failed',
    );
    expect(always.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).not.toBe(0);
    const events = await cluster.waitFor('FailedPostStartHook events', async () => {
      const items = (await cluster.core.listNamespacedEvent({ namespace: ns })).items.filter(
        (e) => e.reason === 'FailedPostStartHook' && e.involvedObject.name?.startsWith('poststart-'),
      );
      const pods = new Set(items.map((e) => e.involvedObject.name));
      return pods.has('poststart-never') && pods.has('poststart-always') && items;
    });
    for (const e of events) {
      expect(e.involvedObject.fieldPath).toBe('spec.containers{main}');
      expect(e.message).toContain('exited with 3');
      expect(e.message).toContain('hook-broke');
    }
  });
});
