/**
 * pods/exec through the real API server to the node agent's kubelet API (node-agent/exec-server.ts),
 * with meshctl's own exec client (src/cluster/kubernetes/exec.ts, WebSocket `v4.channel.k8s.io`):
 * output on both streams, the exit code, the container's user and environment, and the API server's
 * errors before the upgrade. Also records what reaches the kubelet for each sub-protocol a client
 * offers (the node agent logs every exec upgrade it receives): v4 alone is passed through as a
 * WebSocket; kubectl (v5 first) makes the API server speak SPDY to the kubelet.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it, vi } from 'vitest';
import { describeRequiring, isRoot } from '../support/requirements.js';
import { getTestCluster, kubernetesTestBinaries, type TestCluster } from './support.js';
import { execInPod } from '../../src/cluster/kubernetes/exec.js';
import { loadKubeconfig, type LoadedKubeconfig } from '../../src/cluster/kubernetes/kubeconfig.js';
import { KubernetesApiError } from '../../src/errors.js';

vi.setConfig({ testTimeout: 120_000 });

const shellPod = `
apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 4321, runAsGroup: 4321}
  containers:
  - name: main
    image: meshctl-test/shell
    command: [sh, -c, 'exec sleep 3600']
    env: [{name: GREETING, value: hello from the pod}]
`;

describeRequiring([isRoot, kubernetesTestBinaries], 'test cluster: pods/exec through the API server', () => {
  let cluster: TestCluster;
  let ns: string;
  let kubeconfig: LoadedKubeconfig;
  const agentLog = (): string => readFileSync(join(cluster.state.dir, 'logs', 'node-agent.log'), 'utf8');

  beforeAll(async () => {
    cluster = await getTestCluster();
    ns = await cluster.createNamespace('exec');
    expect((await cluster.kubectl(['-n', ns, 'apply', '-f', '-'], { input: shellPod })).code).toBe(0);
    await cluster.waitForPod(ns, 'shell', (p) => p.status?.phase === 'Running', 'running');
    kubeconfig = await loadKubeconfig({ kubeconfig: cluster.kubeconfigPath });
  }, 180_000);

  it('runs a command in the container: both streams, the exit code, its user and environment', async () => {
    const target = { namespace: ns, pod: 'shell', container: 'main' };
    const r = await execInPod(kubeconfig, target, [
      'sh',
      '-c',
      'echo "$GREETING"; id -u; hostname; echo to stderr >&2; exit 3',
    ]);
    expect(r).toEqual({ code: 3, stdout: 'hello from the pod\n4321\nshell\n', stderr: 'to stderr\n' });
    expect(await execInPod(kubeconfig, target, ['true'])).toEqual({ code: 0, stdout: '', stderr: '' });
    // Output larger than one read arrives whole and in order.
    const big = await execInPod(kubeconfig, target, ['sh', '-c', 'seq 1 20000']);
    expect(big.code).toBe(0);
    expect(big.stdout.split('\n').filter(Boolean)).toHaveLength(20000);
    expect(big.stdout.endsWith('19999\n20000\n')).toBe(true);

    // The API server passed meshctl's WebSocket through to the kubelet unchanged.
    expect(agentLog()).toMatch(
      new RegExp(`exec upgrade /exec/${ns}/shell/main: Upgrade: websocket; offered protocols: v4\\.channel\\.k8s\\.io`),
    );
  });

  it("answers the API server's refusals before the upgrade as errors naming the pod", async () => {
    const noContainer = await execInPod(kubeconfig, { namespace: ns, pod: 'shell', container: 'nope' }, ['true']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(noContainer).toBeInstanceOf(KubernetesApiError);
    expect((noContainer as KubernetesApiError).status).toBe(400);
    expect((noContainer as Error).message).toContain(`exec in pod ${ns}/shell (container nope)`);
    expect((noContainer as Error).message).toContain('container nope is not valid for pod shell');

    const noPod = await execInPod(kubeconfig, { namespace: ns, pod: 'missing', container: 'main' }, ['true']).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((noPod as KubernetesApiError).status).toBe(404);
  });

  it('kubectl exec (v5 first) reaches the kubelet as SPDY, which the node agent refuses (501)', async () => {
    const r = await cluster.kubectl(['-n', ns, 'exec', 'shell', '-c', 'main', '--', 'true']);
    // The API server's translator reports the kubelet's 501 without its text.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error stream protocol error');
    expect(agentLog()).toMatch(new RegExp(`exec upgrade /exec/${ns}/shell/main: Upgrade: SPDY/3\\.1`));
  });
});
