/**
 * One whole test cluster: pod network, control plane and node agent, started together and described by a
 * state file (state.json in the cluster's directory) so that any process can use or stop it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryDir, checkoutDir, clusterDir, versions } from './binaries.js';
import type { ClusterDns } from '../node-agent/pod-dns.js';
import { startClusterDns } from './cluster-dns.js';
import { startControlPlane } from './control-plane.js';
import {
  clusterDnsIP,
  clusterDomain,
  createPodNetwork,
  inNodeNetns,
  removePodNetwork,
  type PodNetwork,
} from './network.js';
import { isAlive, startDetached, stopProcess, waitFor, type ClusterProcess } from './processes.js';

/** Everything known about a running cluster; written to `<dir>/state.json`. */
export interface TestClusterState {
  id: string;
  dir: string;
  kubernetesVersion: string;
  kubeconfig: string;
  apiServerUrl: string;
  apiServerPort: number;
  caFile: string;
  nodeName: string;
  network: PodNetwork;
  /** Where the node agent keeps each pod's volumes and container logs. */
  podsDir: string;
  /** Control-plane processes then the node agent, in start order. */
  processes: ClusterProcess[];
  startedAt: string;
  startSeconds: number;
}

/** What the node agent reads at start (see node-agent/main.ts). */
export interface NodeAgentConfig {
  kubeconfig: string;
  nodeName: string;
  network: PodNetwork;
  podsDir: string;
  checkoutDir: string;
  apiServerPort: number;
  kubeletTls: { cert: string; key: string };
  kubeProxyKubeconfig: string;
  /** The cluster's directory (kube-proxy's configuration; logs/). */
  clusterDir: string;
  dns: ClusterDns;
}

/** The pinned Node.js of the checkout (what bin/meshctl uses too). */
export function pinnedNode(): string {
  const p = join(checkoutDir, 'node_modules', 'node', 'bin', 'node');
  return existsSync(p) ? p : process.execPath;
}

/** Reads a cluster's state file. */
export function readState(stateFile: string): TestClusterState {
  return JSON.parse(readFileSync(stateFile, 'utf8')) as TestClusterState;
}

/** Starts a cluster in a new directory under `parentDir`; resolves once a pod can be scheduled and run. */
export async function startCluster(
  parentDir: string,
  progress: (msg: string) => void = () => {},
  opts: {
    /** Zones CoreDNS forwards to a test's DNS server (zone -> `ip:port`), given the network before it starts. */
    dnsForwardZones?: (net: PodNetwork) => Promise<Record<string, string>>;
  } = {},
): Promise<TestClusterState> {
  const started = Date.now();
  const id = randomBytes(3).toString('hex');
  const dir = join(parentDir, `mtc-${id}`);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const podsDir = join(dir, 'pods');
  mkdirSync(podsDir, { mode: 0o755 });
  progress(`cluster ${id}: pod network`);
  const network = await createPodNetwork(id);
  const processes: ClusterProcess[] = [];
  try {
    const cp = await startControlPlane(dir, network, (m) => progress(`cluster ${id}: ${m}`));
    processes.push(...cp.processes);
    const nodeName = `mtc-node-${id}`;
    const agentConfig: NodeAgentConfig = {
      kubeconfig: cp.kubeconfig,
      nodeName,
      network,
      podsDir,
      checkoutDir,
      apiServerPort: cp.apiServerPort,
      kubeletTls: cp.kubeletTls,
      kubeProxyKubeconfig: cp.kubeProxyKubeconfig,
      clusterDir: dir,
      dns: { serverIP: clusterDnsIP, domain: clusterDomain },
    };
    const agentConfigFile = join(dir, 'node-agent.json');
    writeFileSync(agentConfigFile, JSON.stringify(agentConfig, null, 2));
    progress(`cluster ${id}: starting node agent`);
    const agent = startDetached(
      'node-agent',
      inNodeNetns(network, [
        pinnedNode(),
        join(clusterDir, 'run-ts.mjs'),
        join(clusterDir, 'node-agent', 'main.ts'),
        agentConfigFile,
      ]),
      join(dir, 'logs', 'node-agent.log'),
    );
    processes.push(agent);
    const state: TestClusterState = {
      id,
      dir,
      kubernetesVersion: versions.kubernetes,
      kubeconfig: cp.kubeconfig,
      apiServerUrl: cp.apiServerUrl,
      apiServerPort: cp.apiServerPort,
      caFile: cp.caFile,
      nodeName,
      network,
      podsDir,
      processes,
      startedAt: new Date(started).toISOString(),
      startSeconds: 0,
    };
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await waitFor(
      `node ${nodeName} Ready`,
      async () =>
        (await core.readNode({ name: nodeName })).status?.conditions?.some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ) ?? false,
      60_000,
      agent,
    );
    progress(`cluster ${id}: starting CoreDNS`);
    const forwardZones = await opts.dnsForwardZones?.(network);
    processes.push(
      await startClusterDns({ dir, net: network, nodeName, kubeconfig: cp.corednsKubeconfig, kc, forwardZones }),
    );
    await waitFor(
      'the default ServiceAccount',
      async () => Boolean(await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' })),
      30_000,
    );
    state.startSeconds = Math.round((Date.now() - started) / 100) / 10;
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2));
    progress(`cluster ${id}: up in ${state.startSeconds}s (binaries ${binaryDir()})`);
    return state;
  } catch (e) {
    await stopAll(processes, network, dir, true);
    throw e;
  }
}

async function stopAll(processes: ClusterProcess[], network: PodNetwork, dir: string, keepDir: boolean): Promise<void> {
  // The agent first (it stops pods and removes their namespaces), then the control plane, newest first.
  for (const p of [...processes].reverse()) await stopProcess(p, p.name === 'node-agent' ? 30_000 : 5_000);
  removePodNetwork(network);
  if (!keepDir && process.env.MESHCTL_TEST_CLUSTER_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
}

/** Stops a cluster and removes its processes, namespaces, bridge and directory (MESHCTL_TEST_CLUSTER_KEEP=1 keeps the directory). */
export async function stopCluster(state: TestClusterState): Promise<void> {
  await stopAll(state.processes, state.network, state.dir, false);
}

/** Whether every process of the cluster is still running. */
export function clusterAlive(state: TestClusterState): boolean {
  return state.processes.every((p) => isAlive(p.pid));
}
