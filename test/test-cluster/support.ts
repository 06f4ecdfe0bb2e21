/**
 * The shared test cluster for any suite that needs a real Kubernetes API server and pods:
 *
 *   describeRequiring([isRoot, kubernetesTestBinaries], 'my suite', () => {
 *     let cluster: TestCluster;
 *     beforeAll(async () => { cluster = await getTestCluster(); });
 *     ...
 *   });
 *
 * One cluster per test run, started by the first caller (under a lock, shared by every test file of the
 * run) and stopped by the global setup when the run ends. With MESHCTL_TEST_CLUSTER_STATE pointing at
 * the state.json of a cluster from `npm run cluster:up`, that cluster is used (and left running).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { inject } from 'vitest';
import { binaryPath } from './harness/binaries.js';
import { readState, startCluster, type TestClusterState } from './harness/cluster.js';

export { kubernetesTestBinaries } from './harness/binaries.js';
export type { TestClusterState } from './harness/cluster.js';

/** What a command run in a pod (or kubectl) printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === 1 ? err.message : '') });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A running test cluster and helpers to use it. */
export class TestCluster {
  readonly kubeConfig = new k8s.KubeConfig();
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly objects: k8s.KubernetesObjectApi;

  readonly state: TestClusterState;

  constructor(state: TestClusterState) {
    this.state = state;
    this.kubeConfig.loadFromFile(state.kubeconfig);
    this.core = this.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.apps = this.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(this.kubeConfig);
  }

  /** Path of the admin kubeconfig (system:masters). */
  get kubeconfigPath(): string {
    return this.state.kubeconfig;
  }

  /** Runs the pinned kubectl against the cluster. */
  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
    return run(binaryPath('kubectl'), args, { env: { ...process.env, KUBECONFIG: this.state.kubeconfig }, ...opts });
  }

  /** Creates a namespace with a unique name and waits until pods can be created in it (default ServiceAccount, root CA). */
  async createNamespace(prefix: string): Promise<string> {
    const name = `${prefix}-${Math.random().toString(36).slice(2, 7)}`;
    await this.core.createNamespace({ body: { metadata: { name } } });
    await this.waitFor(
      `namespace ${name} ready`,
      async () => {
        await this.core.readNamespacedServiceAccount({ name: 'default', namespace: name });
        await this.core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: name });
        return true;
      },
      30_000,
    );
    return name;
  }

  /** Deletes a namespace (and so everything in it); does not wait. */
  async deleteNamespace(name: string): Promise<void> {
    await this.core.deleteNamespace({ name }).catch(() => {});
  }

  /** Creates every object of a multi-document YAML text (in `namespace` when they have none). */
  async apply(yamlText: string, namespace?: string): Promise<k8s.KubernetesObject[]> {
    const created: k8s.KubernetesObject[] = [];
    for (const obj of k8s.loadAllYaml(yamlText) as k8s.KubernetesObject[]) {
      if (!obj) continue;
      if (namespace && obj.metadata && !obj.metadata.namespace) obj.metadata.namespace = namespace;
      created.push(await this.objects.create(obj));
    }
    return created;
  }

  /** Polls until `check` returns a truthy value (errors count as "not yet"); returns it. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      try {
        const v = await check();
        if (v) return v;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline)
        throw new Error(
          `timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
        );
      await sleep(250);
    }
  }

  /** Pods of a namespace matching a label selector. */
  async pods(namespace: string, labelSelector?: string): Promise<k8s.V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items;
  }

  /** Waits until `count` pods matching the selector are Running and Ready; returns them. */
  async waitForReadyPods(
    namespace: string,
    labelSelector: string,
    count: number,
    timeoutMs = 60_000,
  ): Promise<k8s.V1Pod[]> {
    return this.waitFor(
      `${count} ready pod(s) ${labelSelector} in ${namespace}`,
      async () => {
        const pods = (await this.pods(namespace, labelSelector)).filter(
          (p) => !p.metadata?.deletionTimestamp && isPodReady(p),
        );
        return pods.length === count ? pods : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits until the named pod satisfies `predicate`; returns it. */
  async waitForPod(
    namespace: string,
    name: string,
    predicate: (p: k8s.V1Pod) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<k8s.V1Pod> {
    return this.waitFor(
      `pod ${namespace}/${name}: ${what}`,
      async () => {
        const p = await this.core.readNamespacedPod({ name, namespace });
        return predicate(p) ? p : undefined;
      },
      timeoutMs,
    );
  }

  /** The network namespace a pod runs in (named by the node agent from the pod's UID). */
  podNetns(pod: k8s.V1Pod): string {
    return `${this.state.network.netnsPrefix}${(pod.metadata?.uid ?? '').slice(0, 13)}`;
  }

  /** Runs argv as root in the pod's network namespace (host filesystem), e.g. curl or iptables. */
  execInPodNetns(pod: k8s.V1Pod, argv: string[], timeoutMs = 20_000): Promise<CommandResult> {
    return run('ip', ['netns', 'exec', this.podNetns(pod), ...argv], { timeoutMs });
  }

  /** Runs argv as root on the node (its network namespace: kube-proxy's rules, NodePorts, the node's address). */
  execOnNode(argv: string[], timeoutMs = 20_000): Promise<CommandResult> {
    return run('nsenter', [`--net=/run/netns/${this.state.network.nodeNetns}`, '--', ...argv], { timeoutMs });
  }

  /** Runs argv in a running container (its network, mount and UTS namespaces), like `kubectl exec`, as root. */
  async execInContainer(pod: k8s.V1Pod, container: string, argv: string[], timeoutMs = 20_000): Promise<CommandResult> {
    const fresh = await this.core.readNamespacedPod({
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? '',
    });
    const status = [...(fresh.status?.containerStatuses ?? []), ...(fresh.status?.initContainerStatuses ?? [])].find(
      (c) => c.name === container,
    );
    const pid = containerPid(status);
    if (!pid || !status?.state?.running)
      throw new Error(`container ${container} of pod ${fresh.metadata?.name} is not running`);
    return run('nsenter', ['-t', String(pid), '-n', '-m', '-u', '--', ...argv], { timeoutMs });
  }

  /** Makes an HTTP request from inside the pod's network namespace (curl), as an app in the pod would. */
  async requestFromPod(
    pod: k8s.V1Pod,
    url: string,
    opts: { method?: string; headers?: Record<string, string>; timeoutSeconds?: number } = {},
  ): Promise<{ status: number; body: string }> {
    const args = [
      'curl',
      '-sS',
      '--max-time',
      String(opts.timeoutSeconds ?? 5),
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      '-X',
      opts.method ?? 'GET',
    ];
    for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
    const r = await this.execInPodNetns(pod, [...args, url]);
    const cut = r.stdout.lastIndexOf('\n');
    const status = Number(r.stdout.slice(cut + 1));
    if (r.code !== 0 && !status)
      throw new Error(`request from pod ${pod.metadata?.name} to ${url} failed: ${r.stderr.trim()}`);
    return { status, body: r.stdout.slice(0, cut) };
  }

  /** What a container wrote to stdout/stderr (its current run, or `restart` N). */
  podLogs(pod: k8s.V1Pod, container: string, restart?: number): string {
    const dir = join(
      this.state.podsDir,
      `${pod.metadata?.namespace}_${pod.metadata?.name}_${pod.metadata?.uid}`,
      'logs',
      container,
    );
    if (!existsSync(dir)) return '';
    const runs = readdirSync(dir)
      .map((f) => Number(f.replace('.log', '')))
      .sort((a, b) => a - b);
    const n = restart ?? runs[runs.length - 1];
    return n === undefined ? '' : readFileSync(join(dir, `${n}.log`), 'utf8');
  }
}

/** The pid of a container from its status (`mtc://<pid>`), if it has one. */
export function containerPid(status: k8s.V1ContainerStatus | undefined): number | undefined {
  const m = /^mtc:\/\/(\d+)$/.exec(status?.containerID ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The pod's Ready condition is True. */
export function isPodReady(p: k8s.V1Pod): boolean {
  return (
    p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

let shared: Promise<TestCluster> | undefined;

async function startOrJoin(runDir: string): Promise<TestClusterState> {
  const lock = join(runDir, 'starting.lock');
  const failure = join(runDir, 'start-error.txt');
  const stateFile = (): string | undefined => {
    const dir = readdirSync(runDir).find((d) => existsSync(join(runDir, d, 'state.json')));
    return dir && join(runDir, dir, 'state.json');
  };
  for (;;) {
    const existing = stateFile();
    if (existing) return readState(existing);
    if (existsSync(failure))
      throw new Error(`the test cluster failed to start in another test file: ${readFileSync(failure, 'utf8')}`);
    try {
      mkdirSync(lock);
    } catch {
      await sleep(250);
      continue;
    }
    try {
      // Another file may have finished between our check and the lock.
      const again = stateFile();
      if (again) return readState(again);
      return await startCluster(runDir, (m) => process.stderr.write(`[test cluster] ${m}\n`));
    } catch (e) {
      writeFileSync(failure, (e as Error).message);
      throw e;
    } finally {
      rmdirSync(lock);
    }
  }
}

/** The run's test cluster, started on first use. Call it from beforeAll (start-up takes ~20-40 s). */
export function getTestCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const reuse = process.env.MESHCTL_TEST_CLUSTER_STATE;
    if (reuse) return new TestCluster(readState(reuse));
    const runDir = inject('meshctlTestClusterRunDir');
    if (!runDir)
      throw new Error(
        'no test cluster run directory: vitest.config.ts must list test/test-cluster/harness/global-setup.ts in globalSetup',
      );
    return new TestCluster(await startOrJoin(runDir));
  })();
  return shared;
}
