/**
 * The test cluster's node agent (a small kubelet), run in the node's network namespace: registers a Node,
 * keeps its Lease fresh, runs the node's kube-proxy, gives LoadBalancer Services an address on the node and
 * runs the pods bound to it as processes (see pod-worker.ts).
 * Run: nsenter --net=/run/netns/<node> node test/test-cluster/run-ts.mjs test/test-cluster/node-agent/main.ts CONFIG.json
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { NodeAgentConfig } from '../harness/cluster.js';
import { versions } from '../harness/binaries.js';
import { kubeTime, type AgentContext, type PodApi } from './agent-context.js';
import { imageTable } from './image-table.js';
import { startKubeProxy, waitForKubeProxy } from './kube-proxy.js';
import { startKubeletServer } from './kubelet-server.js';
import { LoadBalancerController, loadBalancerPool } from './load-balancer.js';
import { PodNetworker } from './pod-network.js';
import { PodWorker } from './pod-worker.js';
import type { VolumeSources } from './volumes.js';

const configFile = process.argv[2];
if (!configFile) throw new Error('usage: main.ts CONFIG.json');
const config = JSON.parse(readFileSync(configFile, 'utf8')) as NodeAgentConfig;
const log = (msg: string): void => void process.stdout.write(`${new Date().toISOString()} ${msg}\n`);

const kc = new k8s.KubeConfig();
kc.loadFromFile(config.kubeconfig);
const core = kc.makeApiClient(k8s.CoreV1Api);
const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
const strategicMerge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const notFound = (e: unknown): boolean => (e as { code?: number }).code === 404;

const allocatable = { cpu: '16', memory: '32Gi', 'ephemeral-storage': '100Gi', pods: '110' };
const hostIP = config.network.nodeIP;
// Ready only once kube-proxy has programmed the node: before that no Service works from a pod.
let proxyReady = false;
let stopping = false;

const sources: VolumeSources = {
  async configMap(namespace, name) {
    const bytes = await this.configMapBytes(namespace, name);
    return bytes && Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v.toString('utf8')]));
  },
  async secret(namespace, name) {
    const bytes = await this.secretBytes(namespace, name);
    return bytes && Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v.toString('utf8')]));
  },
  async configMapBytes(namespace, name) {
    try {
      const cm = await core.readNamespacedConfigMap({ name, namespace });
      return {
        ...Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
        ...Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
      };
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  },
  async secretBytes(namespace, name) {
    try {
      const s = await core.readNamespacedSecret({ name, namespace });
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  },
  async services(namespace) {
    return (await core.listNamespacedService({ namespace })).items;
  },
  async token(pod, audience, expirationSeconds) {
    const tr = await core.createNamespacedServiceAccountToken({
      name: pod.spec?.serviceAccountName ?? 'default',
      namespace: pod.metadata?.namespace ?? 'default',
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds,
          boundObjectRef: {
            kind: 'Pod',
            apiVersion: 'v1',
            name: pod.metadata?.name ?? '',
            uid: pod.metadata?.uid ?? '',
          },
        },
      },
    });
    return {
      token: tr.status?.token ?? '',
      expiresAt: new Date(tr.status?.expirationTimestamp ?? Date.now() + expirationSeconds * 1000),
    };
  },
};

const podApi: PodApi = {
  async patchStatus(pod, status) {
    try {
      await core.patchNamespacedPodStatus(
        { name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? '', body: { status } },
        strategicMerge,
      );
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  },
  async deletePod(pod) {
    try {
      await core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid ?? '' } },
      });
    } catch (e) {
      if (!notFound(e) && (e as { code?: number }).code !== 409) throw e;
    }
  },
  event(pod, type, reason, message, fieldPath) {
    const now = new Date();
    void core
      .createNamespacedEvent({
        namespace: pod.metadata?.namespace ?? 'default',
        body: {
          metadata: { generateName: `${pod.metadata?.name}.` },
          involvedObject: {
            kind: 'Pod',
            apiVersion: 'v1',
            name: pod.metadata?.name,
            namespace: pod.metadata?.namespace,
            uid: pod.metadata?.uid,
            ...(fieldPath ? { fieldPath } : {}),
          },
          type,
          reason,
          message,
          source: { component: 'kubelet', host: config.nodeName },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          reportingComponent: 'kubelet',
          reportingInstance: config.nodeName,
        },
      })
      .catch(() => {});
  },
};

const ctx: AgentContext = {
  nodeName: config.nodeName,
  kubeletVersion: versions.kubernetes,
  podsDir: config.podsDir,
  images: imageTable(config.checkoutDir),
  networker: new PodNetworker(config.network),
  node: { hostIP, allocatable },
  dns: { cluster: config.dns, nodeResolvConf: readFileSync('/etc/resolv.conf', 'utf8') },
  sources,
  api: podApi,
  backoffBaseMs: Number(process.env.MTC_BACKOFF_BASE_MS ?? 10_000),
  backoffMaxMs: Number(process.env.MTC_BACKOFF_MAX_MS ?? 300_000),
  log,
};

const workers = new Map<string, PodWorker>();
const kubeletServer = await startKubeletServer(
  hostIP,
  config.kubeletTls,
  (namespace, name) => [...workers.values()].find((w) => w.namespace === namespace && w.name === name),
  log,
);
const kubeletPort = (kubeletServer.address() as import('node:net').AddressInfo).port;

function nodeStatus(): k8s.V1NodeStatus {
  const now = kubeTime() as unknown as Date;
  const cond = (type: string, status: string, reason: string, message: string): k8s.V1NodeCondition => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  return {
    capacity: allocatable,
    allocatable,
    daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
    addresses: [
      { type: 'InternalIP', address: hostIP },
      { type: 'Hostname', address: config.nodeName },
    ],
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      proxyReady
        ? cond('Ready', 'True', 'KubeletReady', 'meshctl test node agent is posting ready status')
        : cond('Ready', 'False', 'KubeletNotReady', 'kube-proxy has not programmed the node yet'),
    ],
    nodeInfo: {
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      bootID: '',
      containerRuntimeVersion: 'meshctl-test://1',
      kernelVersion: '',
      kubeProxyVersion: '',
      kubeletVersion: versions.kubernetes,
      machineID: '',
      operatingSystem: 'linux',
      osImage: 'meshctl test node (processes in network namespaces)',
      systemUUID: '',
    },
  };
}

async function registerNode(): Promise<void> {
  try {
    await core.createNode({
      body: {
        metadata: {
          name: config.nodeName,
          labels: {
            'kubernetes.io/hostname': config.nodeName,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'meshctl.dev/test-node': 'true',
          },
        },
        spec: { podCIDR: config.network.subnet, podCIDRs: [config.network.subnet] },
      },
    });
  } catch (e) {
    if ((e as { code?: number }).code !== 409) throw e;
  }
  await core.patchNodeStatus({ name: config.nodeName, body: { status: nodeStatus() } }, strategicMerge);
}

async function renewLease(): Promise<void> {
  const now = new Date().toISOString().replace('Z', '000Z');
  try {
    await coordination.patchNamespacedLease(
      { name: config.nodeName, namespace: 'kube-node-lease', body: { spec: { renewTime: now } } },
      mergePatch,
    );
  } catch (e) {
    if (!notFound(e)) throw e;
    await coordination.createNamespacedLease({
      namespace: 'kube-node-lease',
      body: {
        metadata: { name: config.nodeName, ownerReferences: [] },
        spec: { holderIdentity: config.nodeName, leaseDurationSeconds: 40, renewTime: now as unknown as Date },
      },
    });
  }
}

await registerNode();
await renewLease();
const kubeProxy = startKubeProxy({
  kubeconfig: config.kubeProxyKubeconfig,
  nodeName: config.nodeName,
  clusterCidr: config.network.subnet,
  masqueradeAll: !config.network.bridgeNetfilter,
  dir: config.clusterDir,
});
kubeProxy.on('exit', (code, signal) => {
  if (!stopping) log(`kube-proxy exited (${code ?? signal}): Services stop following their endpoints`);
});
await waitForKubeProxy(kubeProxy, 60_000);
proxyReady = true;
await core.patchNodeStatus({ name: config.nodeName, body: { status: nodeStatus() } }, strategicMerge);
const loadBalancers = new LoadBalancerController(kc, loadBalancerPool(config.network.linkSubnet), log);
await loadBalancers.start();
const heartbeat = setInterval(() => {
  void renewLease().catch((e: Error) => log(`lease: ${e.message}`));
  void core
    .patchNodeStatus({ name: config.nodeName, body: { status: nodeStatus() } }, strategicMerge)
    .catch((e: Error) => log(`node status: ${e.message}`));
}, 10_000);

const terminal = (pod: k8s.V1Pod): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
function sync(pod: k8s.V1Pod): void {
  const uid = pod.metadata?.uid ?? '';
  const existing = workers.get(uid);
  if (existing) {
    existing.update(pod);
    return;
  }
  // A pod that finished before (on an earlier agent) or is being deleted and was never run here.
  if (terminal(pod)) return;
  if (pod.metadata?.deletionTimestamp) {
    void podApi.deletePod(pod);
    return;
  }
  const worker = new PodWorker(ctx, pod);
  workers.set(uid, worker);
  void worker.done.then(() => workers.delete(uid));
  log(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: starting`);
  void worker.run().catch((e: Error) => log(`pod ${pod.metadata?.name}: ${e.stack ?? e.message}`));
}

const informer = new k8s.ListWatch<k8s.V1Pod>(
  '/api/v1/pods',
  new k8s.Watch(kc),
  () => core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${config.nodeName}` }),
  false,
  undefined,
  `spec.nodeName=${config.nodeName}`,
);
informer.on('add', sync);
informer.on('update', sync);
informer.on('delete', (pod) => workers.get(pod.metadata?.uid ?? '')?.forget());
informer.on('error', (e) => {
  log(`pod watch: ${String(e)}; restarting in 1s`);
  setTimeout(() => void informer.start().catch(() => {}), 1000);
});
await informer.start();
log(`node ${config.nodeName} ready: pods on ${config.network.subnet} via ${config.network.bridge}`);

async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping: terminating pods');
  clearInterval(heartbeat);
  await informer.stop();
  await loadBalancers.stop();
  kubeletServer.close();
  await Promise.all([...workers.values()].map((w) => w.terminate(3, false)));
  kubeProxy.kill('SIGTERM');
  log('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
